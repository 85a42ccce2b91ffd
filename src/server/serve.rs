//! Running a [`Server`]: the accept loop, one task per connection, and the graceful shutdown.
//!
//! Shutdown, once the signal given to [`Serve::with_graceful_shutdown`] fires:
//! 1. The listener is dropped at once, so new connections are refused instead of left hanging.
//! 2. Every open connection is told to finish: HTTP/2 connections send GOAWAY and finish the streams
//!    they have; HTTP/1.1 connections close after the response in progress (idle ones at once); TLS
//!    handshakes still in progress are abandoned.
//! 3. When all of them have closed, the serve future resolves. If the grace period runs out first, the
//!    remaining connections are dropped: their calls' response bodies with them, which cancels the
//!    calls, and each request's [`ServerShutdown`] token is cancelled. The serve future then resolves.
//!
//! Dropping the serve future is an immediate, hard stop: the listener closes and every connection is
//! dropped as in step 3.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tower::util::Oneshot;

use crate::PeerCertificates;
use crate::body::Body;
use crate::coalesce::Coalesce;
use crate::server::{Router, Server};
use crate::server_shutdown::ServerShutdown;

/// How long the accept loop pauses after an accept error that is not about one connection (out of
/// file descriptors, say), before it tries again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(5);

/// A [`Server`] serving a [`Router`] (or a tower stack around one) on a listener, made by
/// [`Server::serve`]. Await it to run the server (it resolves only on shutdown); call
/// [`with_graceful_shutdown`](Self::with_graceful_shutdown) first to be able to stop it gracefully.
///
/// Dropping the future stops the server at once: the listener closes, open connections are closed
/// and their calls cancelled.
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<S = Router> {
    server: Server,
    listener: TcpListener,
    service: S,
}

impl Server {
    /// Serves `service` on `listener`: a [`Router`], or any tower service that takes requests with a
    /// [`Body`] and never fails, such as a `tower::ServiceBuilder` stack of middleware (authentication,
    /// tracing, request ids) around a router. Every request carries the peer's address and, over
    /// mutual TLS, its certificates as extensions, which handlers read through
    /// [`CallContext`](crate::CallContext).
    ///
    /// The returned [`Serve`] does nothing until awaited (it is [`IntoFuture`]); it then runs until the
    /// process ends, or until the signal given to [`Serve::with_graceful_shutdown`] fires and the
    /// shutdown is complete.
    pub fn serve<S>(self, listener: TcpListener, service: S) -> Serve<S> {
        Serve {
            server: self,
            listener,
            service,
        }
    }
}

impl<S> Serve<S> {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Shuts the server down gracefully when `signal` resolves: the listener closes at once (new
    /// connections are refused), open connections are asked to finish (HTTP/2 GOAWAY; HTTP/1.1 closes
    /// after the response in progress), and calls still running after the
    /// [grace period](Server::grace_period) are cancelled. The serve future resolves when every
    /// connection has closed.
    ///
    /// ```no_run
    /// # async fn demo(listener: tokio::net::TcpListener, router: trident::Router) -> std::io::Result<()> {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // `stop.send(())` shuts down
    /// # drop(stop);
    /// trident::Server::new()
    ///     .serve(listener, router)
    ///     .with_graceful_shutdown(async {
    ///         // Or `tokio::signal::ctrl_c()`, with Tokio's `signal` feature.
    ///         let _ = stopped.await;
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<F, S>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            serve: self,
            signal,
        }
    }
}

impl<S> fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("server", &self.server)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = io::Result<()>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        ServeFuture(Box::pin(run(
            self.server,
            self.listener,
            self.service,
            std::future::pending(),
        )))
    }
}

/// A [`Serve`] that shuts down gracefully when its signal resolves; made by
/// [`Serve::with_graceful_shutdown`]. Await it to run the server.
#[must_use = "a WithGracefulShutdown does nothing until awaited"]
pub struct WithGracefulShutdown<F, S = Router> {
    serve: Serve<S>,
    signal: F,
}

impl<F, S> WithGracefulShutdown<F, S> {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.serve.local_addr()
    }
}

impl<F, S> fmt::Debug for WithGracefulShutdown<F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .field("serve", &self.serve)
            .finish_non_exhaustive()
    }
}

impl<F, S, B> IntoFuture for WithGracefulShutdown<F, S>
where
    F: Future<Output = ()> + Send + 'static,
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = io::Result<()>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        let Serve {
            server,
            listener,
            service,
        } = self.serve;
        ServeFuture(Box::pin(run(server, listener, service, self.signal)))
    }
}

/// The running server: what awaiting a [`Serve`] or a [`WithGracefulShutdown`] drives. It is `Send`,
/// so it can be spawned; it resolves once the server has shut down.
#[must_use = "futures do nothing unless polled"]
pub struct ServeFuture(Pin<Box<dyn Future<Output = io::Result<()>> + Send>>);

impl Future for ServeFuture {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for ServeFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture").finish_non_exhaustive()
    }
}

/// What every connection task of one serve future shares.
struct Shared<S> {
    service: S,
    builders: Builders,
    #[cfg(feature = "tls")]
    tls: Option<crate::server::TlsConfig>,
}

/// Connection builders for each way a connection's HTTP version is settled.
struct Builders {
    /// Cleartext, or TLS without ALPN: detect the version from the first bytes.
    detect: auto::Builder<TokioExecutor>,
    /// ALPN chose `h2`.
    #[cfg(feature = "tls")]
    http2: auto::Builder<TokioExecutor>,
    /// ALPN chose `http/1.1`.
    #[cfg(feature = "tls")]
    http1: auto::Builder<TokioExecutor>,
}

impl Builders {
    fn new(server: &Server) -> Self {
        Self {
            detect: server.connection_builder(),
            #[cfg(feature = "tls")]
            http2: server.connection_builder().http2_only(),
            #[cfg(feature = "tls")]
            http1: server.connection_builder().http1_only(),
        }
    }
}

/// Accepts connections until `signal` resolves, then shuts down as the module docs describe.
async fn run<S, B>(
    server: Server,
    listener: TcpListener,
    service: S,
    signal: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let shared = Arc::new(Shared {
        service,
        builders: Builders::new(&server),
        #[cfg(feature = "tls")]
        tls: server.tls.clone(),
    });
    let limit = server
        .max_connections
        .map(|max| Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))));
    // Cancelled when the grace period is over, or when this future is dropped: every connection
    // closes at once.
    let stop = CancellationToken::new();
    let _stop_when_dropped = stop.clone().drop_guard();
    // Each connection holds a receiver: sending asks them to finish, and `closed` resolves once they
    // all have.
    let (drain, _) = watch::channel(());

    tokio::pin!(signal);
    loop {
        // At the connection limit, accept nothing until a connection closes: waiting clients stay in
        // the kernel's backlog.
        let permit = match &limit {
            None => None,
            Some(limit) => tokio::select! {
                // The semaphore is never closed.
                permit = limit.clone().acquire_owned() => permit.ok(),
                () = &mut signal => break,
            },
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // A failed accept must not stop the server. Errors about one connection (reset
                // before it was accepted) are skipped; others (file descriptors exhausted) get a
                // short pause, so the loop does not spin.
                Err(error) => {
                    if !is_connection_error(&error) {
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                            () = &mut signal => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            shared.clone(),
            stream,
            peer,
            Lifecycle {
                drain: drain.subscribe(),
                stop: stop.clone(),
                _permit: permit,
            },
        ));
    }

    // Refuse new connections from now on, not after the drain.
    drop(listener);
    let _ = drain.send(());
    tokio::select! {
        () = drain.closed() => {}
        () = tokio::time::sleep(server.grace_period) => {
            stop.cancel();
            drain.closed().await;
        }
    }
    Ok(())
}

/// Accept errors that concern one incoming connection only.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What ties a connection task to its server's shutdown.
struct Lifecycle {
    /// Changes when the connection should finish; dropped when the task ends.
    drain: watch::Receiver<()>,
    /// Cancelled when the connection must close at once.
    stop: CancellationToken,
    /// The connection's slot under `max_connections`, freed when the task ends.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Serves one accepted connection until it closes, or until shutdown closes it.
async fn serve_connection<S, B>(
    shared: Arc<Shared<S>>,
    stream: TcpStream,
    peer: SocketAddr,
    lifecycle: Lifecycle,
) where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // The requests' shutdown token: cancelled with `stop`, or when this task ends (the connection
    // closed, or was dropped).
    let token = lifecycle.stop.child_token();
    let _cancel_when_closed = token.clone().drop_guard();
    let shutdown = ServerShutdown(std::sync::Arc::new(token));

    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.tls {
        serve_tls_connection(&shared, tls, stream, peer, shutdown, lifecycle).await;
        return;
    }

    let service = ConnectionService::new(&shared.service, peer, None, shutdown);
    let (io, turns) = Coalesce::server(stream);
    let connection = shared
        .builders
        .detect
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    // The connection is polled exactly when this task is, so its runs are this task's.
    turns.track(drive(connection, lifecycle)).await;
}

/// [`serve_connection`] over TLS: the handshake, then HTTP as ALPN settled.
#[cfg(feature = "tls")]
async fn serve_tls_connection<S, B>(
    shared: &Shared<S>,
    tls: &crate::server::TlsConfig,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: ServerShutdown,
    mut lifecycle: Lifecycle,
) where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A handshake still in progress when shutdown starts is abandoned: no call has begun.
    let accepted = tokio::select! {
        accepted = tls.accept(stream) => accepted,
        _ = lifecycle.drain.changed() => None,
    };
    // A failed or slow handshake drops the TCP stream: that connection ends, nothing else.
    let Some(accepted) = accepted else {
        return;
    };
    let builder = match accepted.alpn.as_deref() {
        Some(crate::tls::ALPN_H2) => &shared.builders.http2,
        Some(crate::tls::ALPN_HTTP1) => &shared.builders.http1,
        _ => &shared.builders.detect,
    };
    let service = ConnectionService::new(&shared.service, peer, accepted.certificates, shutdown);
    let (io, turns) = Coalesce::server(accepted.stream);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    turns.track(drive(connection, lifecycle)).await;
}

/// Drives `connection` to its end; when asked to drain, shuts it down gracefully; when stopped, drops
/// it. Connection errors (the peer vanished, protocol violations) end that connection only.
async fn drive<C: GracefulConnection>(connection: C, mut lifecycle: Lifecycle) {
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        // An error means the serve future is gone, and `stop` is cancelled: shut down all the same.
        _ = lifecycle.drain.changed() => {}
    }
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection => {}
        () = lifecycle.stop.cancelled() => {}
    }
}

/// The served service as one connection sees it: every request carries the peer's address, the
/// connection's [`ServerShutdown`] and, over TLS with client certificates, the peer's verified
/// certificates, as request extensions.
#[derive(Clone)]
struct ConnectionService<S> {
    service: S,
    peer: SocketAddr,
    certificates: Option<PeerCertificates>,
    shutdown: ServerShutdown,
}

impl<S: Clone> ConnectionService<S> {
    fn new(
        service: &S,
        peer: SocketAddr,
        certificates: Option<PeerCertificates>,
        shutdown: ServerShutdown,
    ) -> Self {
        Self {
            service: service.clone(),
            peer,
            certificates,
            shutdown,
        }
    }
}

impl<S, B> hyper::service::Service<http::Request<hyper::body::Incoming>> for ConnectionService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = Oneshot<S, http::Request<Body>>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        let extensions = request.extensions_mut();
        extensions.insert::<SocketAddr>(self.peer);
        extensions.insert(self.shutdown.clone());
        if let Some(certificates) = &self.certificates {
            extensions.insert(certificates.clone());
        }
        // Waits for the service to be ready (a router always is), then calls it.
        self.service.clone().oneshot(request)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::mpsc;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    /// A router whose fallback hands each request's shutdown token to the test; with `hold`, it
    /// answers only once that token is cancelled.
    fn token_router(tokens: mpsc::UnboundedSender<CancellationToken>, hold: bool) -> Router {
        Router::new().fallback(move |request: http::Request<Body>| {
            let token = request
                .extensions()
                .get::<ServerShutdown>()
                .map(|shutdown| shutdown.0.clone());
            let tokens = tokens.clone();
            async move {
                let token = token.expect("every request carries a ServerShutdown");
                let _ = tokens.send(token.as_ref().clone());
                if hold {
                    token.cancelled().await;
                }
                http::Response::new(Body::empty())
            }
        })
    }

    async fn send_request(addr: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /anything HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .expect("write the request");
        stream
    }

    #[tokio::test]
    async fn grace_period_expiry_cancels_the_requests_shutdown_token() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tokens, mut received) = mpsc::unbounded_channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = tokio::spawn(
            Server::new()
                .grace_period(Duration::from_millis(50))
                .serve(listener, token_router(tokens, true))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let _client = send_request(addr).await;
        let token = tokio::time::timeout(LIMIT, received.recv())
            .await
            .expect("the request arrives")
            .expect("a token");
        assert!(!token.is_cancelled(), "cancelled before shutdown");
        stop.send(()).expect("the server runs");
        tokio::time::timeout(LIMIT, serve)
            .await
            .expect("the serve future resolves after the grace period")
            .expect("serve task")
            .expect("serve returns Ok");
        assert!(token.is_cancelled(), "the grace period ran out");
    }

    #[tokio::test]
    async fn a_closed_connection_cancels_its_shutdown_token() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tokens, mut received) = mpsc::unbounded_channel();
        let serve = tokio::spawn(
            Server::new()
                .serve(listener, token_router(tokens, false))
                .into_future(),
        );
        let mut client = send_request(addr).await;
        let token = tokio::time::timeout(LIMIT, received.recv())
            .await
            .expect("the request arrives")
            .expect("a token");
        let mut response = [0u8; 12];
        client.read_exact(&mut response).await.expect("a response");
        assert_eq!(&response, b"HTTP/1.1 200");
        assert!(!token.is_cancelled(), "the connection is still open");
        drop(client);
        tokio::time::timeout(LIMIT, token.cancelled())
            .await
            .expect("cancelled once the connection closed");
        serve.abort();
    }
}
