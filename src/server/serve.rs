//! Running a [`Server`]: the accept loop, one task per connection (see `connection.rs`), the connection
//! limit, and the graceful shutdown.
//!
//! At the connection limit the loop accepts nothing (clients wait in the kernel's backlog) and, every
//! second until a connection closes, asks connections that have been idle for a second or more to
//! close. Accept errors other than a connection's own (file descriptors exhausted) pause the loop,
//! from 5 ms doubling up to a second, and ask idle connections to close too.
//!
//! Shutdown, once the signal given to [`Serve::with_graceful_shutdown`] fires:
//! 1. The listener is dropped at once, so new connections are refused instead of left hanging.
//! 2. Handlers are told ([`CallContext::draining`](crate::CallContext::draining)), and every open
//!    connection is told to finish: HTTP/2 connections send GOAWAY and finish the streams
//!    they have; HTTP/1.1 connections close after the response in progress (idle ones at once); TLS
//!    handshakes still in progress are abandoned.
//! 3. When all of them (and the WebSocket calls, which outlive their HTTP/1.1 connections) have
//!    closed, the serve future resolves. If the grace period runs out first, WebSocket calls are
//!    closed (code 1001, within a second), then the remaining connections are dropped: their calls'
//!    response bodies with them, which cancels the calls, and each request's [`ServerShutdown`]
//!    token is cancelled. The serve future then resolves.
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
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::body::Body;
use crate::server::connection::{
    Lifecycle, MAX_PERMITS, PRESSURE_MIN_IDLE, Shared, serve_connection,
};
use crate::server::connection_service::Served;
use crate::server::{Router, Server};

/// How long the accept loop pauses after an accept error that is not about one connection (out of
/// file descriptors, say), before it tries again; each further error in a row doubles the pause.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(5);

/// The longest pause after accept errors in a row.
const ACCEPT_ERROR_MAX_PAUSE: Duration = Duration::from_secs(1);

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
    /// The UDP socket for HTTP/3, bound at once on the listener's address (or why it could not be).
    #[cfg(feature = "http3")]
    udp: Option<io::Result<std::net::UdpSocket>>,
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
    ///
    /// With HTTP/3 on (`Server::http3`, feature `http3`), the UDP socket is bound here, on the listener's address,
    /// so that its port is open as soon as this returns; a failure to bind is the serve future's
    /// error.
    pub fn serve<S>(self, listener: TcpListener, service: S) -> Serve<S> {
        #[cfg(feature = "http3")]
        let udp = self
            .http3
            .enabled
            .then(|| crate::server::http3_connection::bind_udp(&listener));
        Serve {
            server: self,
            listener,
            service,
            #[cfg(feature = "http3")]
            udp,
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
        ServeFuture(Box::pin(run(self, std::future::pending())))
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
        ServeFuture(Box::pin(run(self.serve, self.signal)))
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

/// Accepts connections until `signal` resolves, then shuts down as the module docs describe.
async fn run<S: Served>(serve: Serve<S>, signal: impl Future<Output = ()>) -> io::Result<()> {
    let Serve {
        server,
        listener,
        service,
        #[cfg(feature = "http3")]
        udp,
    } = serve;
    // Misconfiguration is reported here, once and all of it, before anything is accepted. A router
    // inside other middleware cannot be seen here: it refuses its calls instead (`Router::check`).
    let mut problems = server.problems();
    if let Some(router) = (&service as &dyn std::any::Any).downcast_ref::<Router>() {
        problems.extend_from_slice(router.problems());
    }
    crate::ConfigError::check(problems)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let mut shared = Shared::new(&server, service);
    #[cfg(feature = "http3")]
    let udp = match udp {
        None => None,
        Some(udp) => {
            let udp = udp?;
            shared.alt_svc = crate::server::http3_connection::alt_svc(&server, &udp)?;
            Some(udp)
        }
    };
    // Cancelled when the grace period is over, or when this future is dropped: every connection
    // closes at once.
    let stop = CancellationToken::new();
    let _stop_when_dropped = stop.clone().drop_guard();
    shared.upgrades_stop = stop.child_token();
    let shared = Arc::new(shared);
    let limit = server
        .max_connections
        .map(|max| Arc::new(Semaphore::new(max.min(MAX_PERMITS))));
    // Cancelled when the graceful shutdown begins, so that handlers can wind up long-lived calls.
    let draining = CancellationToken::new();
    // Each connection holds a receiver: sending asks them to finish, and `closed` resolves once they
    // all have.
    let (drain, _) = watch::channel(());
    // Signalled while the server is at its connection limit: idle connections close to make room.
    let pressure = Arc::new(watch::channel(()).0);
    let mut accept_pause = ACCEPT_ERROR_PAUSE;
    #[cfg(feature = "http3")]
    let http3 = match udp {
        None => None,
        Some(udp) => Some(crate::server::http3_connection::start(
            &server,
            udp,
            shared.clone(),
            limit.clone(),
            crate::server::http3_connection::Lifelines {
                drain: drain.subscribe(),
                stop: stop.clone(),
                draining: draining.clone(),
                pressure: pressure.clone(),
            },
        )?),
    };

    tokio::pin!(signal);
    'accept: loop {
        let permit = match &limit {
            None => None,
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                // At the limit, accept nothing until a connection closes (waiting clients stay in
                // the kernel's backlog), and meanwhile ask idle connections, again and again, to
                // make room.
                Err(_) => loop {
                    pressure.send_replace(());
                    tokio::select! {
                        // The semaphore is never closed.
                        permit = limit.clone().acquire_owned() => break permit.ok(),
                        () = tokio::time::sleep(PRESSURE_MIN_IDLE) => {}
                        () = &mut signal => break 'accept,
                    }
                },
            },
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // A failed accept must not stop the server. Errors about one connection (reset
                // before it was accepted) are skipped. Others (file descriptors exhausted) pause
                // the loop, longer each time up to a second, so that it does not spin, and ask idle
                // connections to make room.
                Err(error) => {
                    if !is_connection_error(&error) {
                        pressure.send_replace(());
                        tokio::select! {
                            () = tokio::time::sleep(accept_pause) => {}
                            () = &mut signal => break,
                        }
                        accept_pause = (accept_pause * 2).min(ACCEPT_ERROR_MAX_PAUSE);
                    }
                    continue;
                }
            },
            () = &mut signal => break,
        };
        accept_pause = ACCEPT_ERROR_PAUSE;
        tokio::spawn(serve_connection(
            shared.clone(),
            stream,
            peer,
            Lifecycle {
                drain: drain.subscribe(),
                stop: stop.clone(),
                draining: draining.clone(),
                pressure: pressure.subscribe(),
                _permit: permit,
            },
        ));
    }

    // Refuse new connections from now on, not after the drain.
    drop(listener);
    draining.cancel();
    let _ = drain.send(());
    // WebSockets outlive their HTTP/1.1 connections: they are waited for beside them.
    shared.upgrades.close();
    tokio::select! {
        () = async { tokio::join!(drain.closed(), shared.upgrades.wait()); } => {}
        () = tokio::time::sleep(server.grace_period) => {
            // WebSocket calls first, so that their closes (1001) go out while HTTP/2 connections
            // still carry them; then every connection.
            shared.upgrades_stop.cancel();
            let _ = tokio::time::timeout(UPGRADES_CLOSE_WAIT, shared.upgrades.wait()).await;
            stop.cancel();
            drain.closed().await;
        }
    }
    #[cfg(feature = "http3")]
    if let Some(http3) = http3 {
        http3.close().await;
    }
    Ok(())
}

/// How long, once the grace period is over, WebSocket calls have to send their closes before the
/// connections are dropped.
const UPGRADES_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Accept errors that concern one incoming connection only.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc;

    use crate::server::ConnectionScope;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    /// A router whose fallback hands each request's shutdown token to the test; with `hold`, it
    /// answers only once that token is cancelled.
    fn token_router(tokens: mpsc::UnboundedSender<CancellationToken>, hold: bool) -> Router {
        Router::new().fallback(move |request: http::Request<Body>| {
            let token = ConnectionScope::of(request.extensions())
                .map(|scope| scope.shutdown.0.stopped.clone());
            let tokens = tokens.clone();
            async move {
                let token = token.expect("every request carries a ConnectionScope");
                let _ = tokens.send(token.clone());
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
