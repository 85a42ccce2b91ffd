//! Serving a router on a TCP listener: HTTP/1.1 and cleartext HTTP/2 (h2c) on the same port.
//!
//! The accept loop and the per-connection service are shared with the TLS server (`tls.rs`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use crate::body::Body;
use crate::coalesce::Coalesce;
use crate::server::PeerCertificates;
use crate::server::Router;

/// Serves `router` on `listener` until the process ends. Each connection speaks HTTP/1.1, or HTTP/2 when
/// the client opens with the HTTP/2 preface (h2c with prior knowledge).
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    serve_with_shutdown(listener, router, std::future::pending()).await
}

/// Like [`serve`], but stops accepting when `signal` resolves, then waits for open connections to finish
/// their calls.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    router: Router,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let builder = router.connection_builder();
    accept_loop(listener, signal, |stream, peer, watcher| {
        let service = ConnectionService::new(&router, peer, None);
        let (io, turns) = Coalesce::server(stream);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let connection = watcher.watch(connection);
        tokio::spawn(turns.track(async move {
            // Connection errors (the peer vanished, protocol violations) end that connection only.
            let _ = connection.await;
        }));
    })
    .await
}

/// Accepts connections until `signal` resolves, handing each to `on_connection` with a graceful-shutdown
/// watcher; then tells the watched connections to finish and waits for them.
///
/// `on_connection` must not block: it spawns whatever the connection needs.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    signal: impl Future<Output = ()>,
    mut on_connection: impl FnMut(TcpStream, SocketAddr, Watcher),
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
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
        on_connection(stream, peer, graceful.watcher());
    }
    graceful.shutdown().await;
    Ok(())
}

/// The router as one connection sees it: every request carries the peer's address and, over TLS with
/// client certificates, the peer's verified certificates, as request extensions.
#[derive(Clone)]
pub(crate) struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    certificates: Option<PeerCertificates>,
}

impl ConnectionService {
    pub(crate) fn new(
        router: &Router,
        peer: SocketAddr,
        certificates: Option<PeerCertificates>,
    ) -> Self {
        Self {
            router: router.clone(),
            peer,
            certificates,
        }
    }
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for ConnectionService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = <Router as tower::Service<http::Request<hyper::body::Incoming>>>::Future;

    fn call(&self, mut request: http::Request<hyper::body::Incoming>) -> Self::Future {
        let extensions = request.extensions_mut();
        extensions.insert::<SocketAddr>(self.peer);
        if let Some(certificates) = &self.certificates {
            extensions.insert(certificates.clone());
        }
        // The router is always ready.
        tower::Service::call(&mut self.router.clone(), request)
    }
}
