//! Serving HTTP/3 (the `http3` feature): the QUIC accept loop beside the TCP one, and each HTTP/3
//! connection from its handshake to its close, under the same rules as a TCP connection (see
//! `connection.rs`): the same connection limit, idle timeout, maximum age, shutdown and grace period,
//! and every request through the same [`ConnectionService`].
//!
//! A request is a task of its own (QUIC streams are independent; one slow request must not hold up
//! the next). Its task ends with its response, or when the connection's task ends.
//!
//! Finishing a connection: GOAWAY first. Requests accepted before it are served; one that raced it
//! (the GOAWAY names it as the first unprocessed) is refused with `H3_REQUEST_REJECTED`. Once no
//! request is left, the server waits a moment ([`CLOSE_LINGER`]) for the client to close the
//! connection, since closing it from this side discards whatever of the last responses QUIC has not
//! yet delivered. quic-go closes a connection by itself once told to go away and its last request
//! ended; Trident's client closes it when its last call ends after a later call found it gone away,
//! or is closed by the server after the wait. The same wait follows a client's own GOAWAY.
//!
//! One difference from HTTP/2 (h3 0.0.8 offers no way to notice it): a client's cancel (its
//! STOP_SENDING) reaches a handler whose request body is complete only at the handler's next response
//! message, its deadline, or the connection's end; with the request body still open, at once (see
//! `http3/server.rs`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::Service as _;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http3::server::{Accepted, Connection, Endpoint, Incoming, PendingRequest};
use crate::server::connection::{
    AbortOnDrop, FinishWatch, Lifecycle, Shared, sleep_or_never, watch_finish,
};
use crate::server::connection_service::{Activity, ConnectionService, Served};
use crate::server::{ConnectionScope, Server};
use crate::server_shutdown::ServerShutdown;

/// How long a finished connection waits for its client to close it before closing it itself.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// How long a request stream may take to deliver its header section.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds the UDP socket for HTTP/3 on `listener`'s address.
pub(super) fn bind_udp(listener: &tokio::net::TcpListener) -> io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(listener.local_addr()?)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The `alt-svc` field TCP responses carry when the server advertises HTTP/3.
pub(super) fn alt_svc(
    server: &Server,
    udp: &std::net::UdpSocket,
) -> io::Result<Option<http::HeaderValue>> {
    let Some(max_age) = server.http3.alt_svc_max_age else {
        return Ok(None);
    };
    let port = udp.local_addr()?.port();
    let value = format!("h3=\":{port}\"; ma={}", max_age.as_secs());
    Ok(http::HeaderValue::from_str(&value).ok())
}

/// HTTP/3 being served: the endpoint, and its accept loop's task.
pub(super) struct Http3Running {
    endpoint: Endpoint,
    _accept: AbortOnDrop,
}

impl Http3Running {
    /// Closes the endpoint once the TCP side has shut down (every connection finished), and gives
    /// the close a moment to go out.
    pub async fn close(self) {
        self.endpoint.close();
        self.endpoint.wait_idle(Duration::from_secs(1)).await;
    }
}

/// Starts serving HTTP/3 on `udp` beside the TCP listener.
pub(super) fn start<S: Served>(
    server: &Server,
    udp: std::net::UdpSocket,
    shared: Arc<Shared<S>>,
    limit: Option<Arc<Semaphore>>,
    lifelines: Lifelines,
) -> io::Result<Http3Running> {
    let Some(tls) = &server.tls else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "HTTP/3 needs TLS: call Server::tls",
        ));
    };
    let endpoint = Endpoint::new(
        udp,
        tls.rustls_config(),
        tls.stateless_reset_seed(),
        &server.quic_settings(),
    )?;
    let accept = tokio::spawn(accept_loop(endpoint.clone(), shared, limit, lifelines));
    Ok(Http3Running {
        endpoint,
        _accept: AbortOnDrop(accept),
    })
}

/// What the QUIC accept loop shares with the TCP one.
pub(super) struct Lifelines {
    /// Changes when the server shuts down.
    pub drain: watch::Receiver<()>,
    /// Cancelled when connections must close at once.
    pub stop: CancellationToken,
    /// Cancelled when the graceful shutdown begins.
    pub draining: CancellationToken,
    /// Signalled while the server is at its connection limit.
    pub pressure: Arc<watch::Sender<()>>,
}

/// Accepts QUIC connections until the server shuts down, then refuses them until it is stopped
/// (aborted by the serve future once every connection is closed).
pub(super) async fn accept_loop<S: Served>(
    endpoint: Endpoint,
    shared: Arc<Shared<S>>,
    limit: Option<Arc<Semaphore>>,
    lifelines: Lifelines,
) {
    let Lifelines {
        mut drain,
        stop,
        draining,
        pressure,
    } = lifelines;
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = drain.changed() => break,
        };
        let Some(incoming) = incoming else {
            return;
        };
        let permit = match &limit {
            None => None,
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                // QUIC has no backlog to wait in: refuse at once, and ask idle connections to make
                // room for the client's next attempt.
                Err(_) => {
                    pressure.send_replace(());
                    incoming.refuse();
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(
            shared.clone(),
            incoming,
            Lifecycle {
                drain: drain.clone(),
                stop: stop.clone(),
                draining: draining.clone(),
                pressure: pressure.subscribe(),
                _permit: permit,
            },
        ));
    }
    // Shutting down: the serve future waits only for the connections now. New clients are refused
    // at once rather than left to time out.
    drop(drain);
    while let Some(incoming) = endpoint.accept().await {
        incoming.refuse();
    }
}

/// Serves one QUIC connection until it closes, or until the server closes it.
async fn serve_connection<S: Served>(
    shared: Arc<Shared<S>>,
    incoming: Incoming,
    lifecycle: Lifecycle,
) {
    // Cancelled with `stop`, or when this task ends: every request task ends with it.
    let token = lifecycle.stop.child_token();
    let _cancel_when_closed = token.clone().drop_guard();
    let mut lifecycle = lifecycle;
    let handshake_timeout = shared
        .tls
        .as_ref()
        .map_or(crate::tls::TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT, |tls| {
            tls.handshake_timeout()
        });
    // A handshake still in progress when shutdown starts is abandoned: no call has begun.
    let connection = tokio::select! {
        connection = incoming.handshake(
            handshake_timeout,
            u32::try_from(shared.limits.max_header_list_size).unwrap_or(u32::MAX),
        ) => connection,
        _ = lifecycle.drain.changed() => None,
    };
    let Some(mut connection) = connection else {
        return;
    };
    let activity = Arc::new(Activity::new());
    let service = ConnectionService {
        service: shared.service.clone(),
        peer: connection.peer,
        certificates: connection.certificates.clone(),
        limits: shared.limits.clone(),
        activity: activity.clone(),
        scope: Arc::new(ConnectionScope::new(
            ServerShutdown::new(token.clone(), lifecycle.draining.clone()),
            shared.limits.response_budget,
            shared.limits.default_timeout,
            shared.limits.min_data_rate,
        )),
        alt_svc: None,
    };
    let requests = Requests {
        tracker: TaskTracker::new(),
        token,
    };
    let Lifecycle {
        drain,
        stop,
        pressure,
        _permit,
        ..
    } = lifecycle;
    let timers = shared.timers;
    let FinishWatch {
        mut verdict,
        _watcher,
    } = watch_finish(&drain, &stop, pressure, &activity, timers);

    let aged = loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Accepted::Request(pending) => requests.spawn(pending, &service),
                // The client said it is done (its GOAWAY) and its requests are over: let the last
                // responses reach it before the connection closes.
                Accepted::Done => {
                    let close = connection.close_watch();
                    tokio::select! {
                        () = linger(close.closed(), &requests) => {}
                        () = stop.cancelled() => {}
                    }
                    return;
                }
                Accepted::Closed => return,
            },
            aged = &mut verdict => break aged.unwrap_or(false),
        }
    };
    let grace = sleep_or_never(aged.then_some(timers.age_grace).flatten());
    tokio::select! {
        () = finish(connection, &requests) => {}
        () = stop.cancelled() => {}
        () = grace => {}
    }
}

/// Finishes a connection as the module docs describe. Dropped (the connection with it) when the
/// server stops, or when an aged connection's grace runs out.
async fn finish(mut connection: Connection, requests: &Requests) {
    connection.shutdown().await;
    let close = connection.close_watch();
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                // A request that raced the GOAWAY: the GOAWAY named it unprocessed (RFC 9114,
                // section 5.2), so it is refused as such, and the client may send it elsewhere.
                Accepted::Request(pending) => {
                    requests.tracker.spawn(pending.reject());
                }
                Accepted::Done => break,
                Accepted::Closed => return,
            },
            () = linger(close.closed(), requests) => return,
        }
    }
    linger(close.closed(), requests).await;
}

/// Waits for the connection's requests to end, then up to [`CLOSE_LINGER`] for the client to close
/// the connection (`closed` resolves then; see the module docs).
async fn linger(closed: impl Future<Output = ()>, requests: &Requests) {
    requests.tracker.close();
    requests.tracker.wait().await;
    let _ = tokio::time::timeout(CLOSE_LINGER, closed).await;
}

/// A connection's request tasks.
struct Requests {
    tracker: TaskTracker,
    /// Ends them all when cancelled.
    token: CancellationToken,
}

impl Requests {
    fn spawn<S: Served>(&self, pending: PendingRequest, service: &ConnectionService<S>) {
        let token = self.token.clone();
        let work = service.serve(pending);
        self.tracker.spawn(async move {
            tokio::select! {
                () = work => {}
                () = token.cancelled() => {}
            }
        });
    }
}

/// Serving one HTTP/3 request through a connection's service: read its header section, call the
/// service, write the response.
trait RequestService {
    fn serve(&self, pending: PendingRequest) -> impl Future<Output = ()> + Send + 'static;
}

impl<S: Served> RequestService for ConnectionService<S> {
    fn serve(&self, pending: PendingRequest) -> impl Future<Output = ()> + Send + 'static {
        let service = self.clone();
        async move {
            let Ok(Some((request, exchange))) =
                tokio::time::timeout(HEADER_READ_TIMEOUT, pending.resolve()).await
            else {
                return;
            };
            let call = service.call(request);
            exchange
                .respond(async move {
                    let Ok(response) = call.await;
                    response
                })
                .await;
        }
    }
}
