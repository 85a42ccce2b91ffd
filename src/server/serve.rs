//! Serving a router on a TCP listener: HTTP/1.1 and cleartext HTTP/2 (h2c) on the same port.

use std::future::Future;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt as _;

use crate::server::Router;

/// Serves `router` on `listener` until the process ends. Each connection speaks HTTP/1.1, or HTTP/2 when
/// the client opens with the HTTP/2 preface (h2c with prior knowledge).
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    serve_with_shutdown(listener, router, std::future::pending()).await
}

/// Like [`serve`], but stops accepting when `signal` resolves, then waits for open connections to finish
/// their calls.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    router: Router,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Per-connection failures (the peer reset before accept, fd exhaustion) must not stop the
                // server; back off briefly and keep accepting.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: http::Request<_>| {
                request.extensions_mut().insert::<SocketAddr>(peer);
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Connection errors (the peer vanished, protocol violations) end that connection only.
            let _ = connection.await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}
