//! One accepted connection, from its first byte to its close: TLS when configured, hyper's HTTP/1.1 or
//! HTTP/2, and everything that may end it early.
//!
//! A connection ends when its client closes it, or when the server asks it to finish (HTTP/2 GOAWAY,
//! HTTP/1.1 closing after the response in progress) because:
//! - the server is shutting down (and, once the grace period is over, it is dropped outright);
//! - it has had no call in flight for the [idle timeout](crate::Server::idle_timeout);
//! - it reached its [maximum age](crate::Server::max_connection_age) (and is dropped after the age
//!   grace, when one is set);
//! - the server is at its [connection limit](crate::Server::max_connections) and the connection has
//!   been idle for at least [`PRESSURE_MIN_IDLE`], so that idle clients cannot lock busy ones out.
//!
//! Dead peers are found by hyper's HTTP/2 keepalive PINGs and, for HTTP/1.1, by TCP keepalive.

use std::hash::{BuildHasher as _, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::coalesce::Coalesce;
use crate::server::connection_scope::Upgrades;
use crate::server::connection_service::{Activity, ConnectionService, RequestLimits, Served};
use crate::server::{ConnectionScope, Server};
use crate::server_shutdown::ServerShutdown;
use crate::tls::PeerCertificates;

/// How long a connection must have been idle before the connection limit may close it to make room.
/// Long enough that a client which has just connected can send its first request.
pub(super) const PRESSURE_MIN_IDLE: Duration = Duration::from_secs(1);

/// What every connection task of one serve future shares.
pub(super) struct Shared<S> {
    pub service: S,
    builders: Builders,
    pub limits: Arc<RequestLimits>,
    pub timers: Timers,
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// What TCP responses advertise in `alt-svc`, if anything (HTTP/3).
    pub alt_svc: Option<http::HeaderValue>,
    /// The calls that took their connection over (WebSockets), which a graceful shutdown waits for.
    pub upgrades: tokio_util::task::TaskTracker,
    /// Cancelled when those calls must end: at the end of a shutdown's grace period, just before
    /// the connections are dropped (a child of the serve future's stop token).
    pub upgrades_stop: CancellationToken,
}

impl<S> Shared<S> {
    pub fn new(server: &Server, service: S) -> Self {
        Self {
            service,
            builders: Builders::new(server),
            limits: Arc::new(RequestLimits {
                max_header_list_size: server.max_header_list_size as usize,
                calls_in_flight: server
                    .max_calls_in_flight
                    .map(|max| Arc::new(tokio::sync::Semaphore::new(max.min(MAX_PERMITS)))),
                default_timeout: server.default_timeout,
                min_data_rate: server.min_request_data_rate,
                response_budget: server.max_buffered_response_bytes,
            }),
            timers: Timers {
                idle_timeout: server.idle_timeout,
                max_age: server.max_connection_age,
                age_grace: server.max_connection_age_grace,
                tcp_keepalive: server.tcp_keepalive,
            },
            #[cfg(feature = "tls")]
            tls: server.tls.clone(),
            alt_svc: None,
            upgrades: tokio_util::task::TaskTracker::new(),
            upgrades_stop: CancellationToken::new(),
        }
    }
}

/// The most permits a tokio semaphore holds.
pub(super) const MAX_PERMITS: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// When a connection is asked to finish, other than at shutdown.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timers {
    pub idle_timeout: Option<Duration>,
    pub max_age: Option<Duration>,
    pub age_grace: Option<Duration>,
    pub tcp_keepalive: Option<Duration>,
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

/// What ties a connection task to its server.
pub(super) struct Lifecycle {
    /// Changes when the server shuts down; dropped when the task ends.
    pub drain: watch::Receiver<()>,
    /// Cancelled when the connection must close at once.
    pub stop: CancellationToken,
    /// Cancelled when the graceful shutdown begins; handlers see it through the request's
    /// [`ServerShutdown`].
    pub draining: CancellationToken,
    /// Changes while the server is at its connection limit.
    pub pressure: watch::Receiver<()>,
    /// The connection's slot under `max_connections`, freed when the task ends (a TCP connection
    /// moves it into its scope, where an HTTP/1.1 WebSocket may take it over).
    pub _permit: Option<OwnedSemaphorePermit>,
}

/// Serves one accepted connection until it closes, or until the server closes it.
pub(super) async fn serve_connection<S: Served>(
    shared: Arc<Shared<S>>,
    stream: TcpStream,
    peer: SocketAddr,
    lifecycle: Lifecycle,
) {
    let _ = stream.set_nodelay(true);
    if let Some(idle) = shared.timers.tcp_keepalive {
        let keepalive = socket2::TcpKeepalive::new().with_time(idle);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
    }
    let mut lifecycle = lifecycle;
    // The connection's slot under the connection limit: freed when this task ends, unless an
    // HTTP/1.1 WebSocket took it over with the connection.
    let connection_slot = Arc::new(std::sync::Mutex::new(lifecycle._permit.take()));
    let _free_slot = FreeSlot(connection_slot.clone());
    // The requests' shutdown token: cancelled with `stop`, or when this task ends (the connection
    // closed, or was dropped).
    let token = lifecycle.stop.child_token();
    let _cancel_when_closed = token.clone().drop_guard();
    let shutdown = ServerShutdown::new(token, lifecycle.draining.clone());
    let activity = Arc::new(Activity::new());
    let scope = Arc::new(
        ConnectionScope::new(
            shutdown,
            shared.limits.response_budget,
            shared.limits.default_timeout,
            shared.limits.min_data_rate,
        )
        .with_upgrades(Upgrades {
            stop: shared.upgrades_stop.clone(),
            tracker: shared.upgrades.clone(),
            connection_slot,
        }),
    );
    let service = |certificates: Option<PeerCertificates>| ConnectionService {
        service: shared.service.clone(),
        peer,
        certificates,
        limits: shared.limits.clone(),
        activity: activity.clone(),
        scope: scope.clone(),
        alt_svc: shared.alt_svc.clone(),
    };

    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.tls {
        // A handshake still in progress when shutdown starts is abandoned: no call has begun. A
        // failed or slow handshake drops the TCP stream: that connection ends, nothing else.
        let accepted = tokio::select! {
            accepted = tls.accept(stream) => accepted,
            _ = lifecycle.drain.changed() => None,
        };
        let Some(accepted) = accepted else {
            return;
        };
        let builder = match accepted.alpn.as_deref() {
            Some(crate::tls::ALPN_H2) => &shared.builders.http2,
            Some(crate::tls::ALPN_HTTP1) => &shared.builders.http1,
            _ => &shared.builders.detect,
        };
        let (io, turns) = Coalesce::server(accepted.stream);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service(accepted.certificates));
        turns
            .track(drive(connection, lifecycle, &activity, shared.timers))
            .await;
        return;
    }

    let (io, turns) = Coalesce::server(stream);
    let connection = shared
        .builders
        .detect
        .serve_connection_with_upgrades(TokioIo::new(io), service(None));
    // The connection is polled exactly when this task is, so its runs are this task's.
    turns
        .track(drive(connection, lifecycle, &activity, shared.timers))
        .await;
}

/// Frees a connection's slot under the connection limit when its task ends, unless a WebSocket
/// took the slot over.
struct FreeSlot(Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>);

impl Drop for FreeSlot {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.0.lock() {
            slot.take();
        }
    }
}

/// Drives `connection` to its end, asking it to finish when the module docs say ([`watch_finish`]),
/// and dropping it when stopped. Connection errors (the peer vanished, protocol violations) end that
/// connection only.
async fn drive<C: GracefulConnection>(
    connection: C,
    lifecycle: Lifecycle,
    activity: &Arc<Activity>,
    timers: Timers,
) {
    let Lifecycle {
        drain,
        stop,
        pressure,
        _permit,
        ..
    } = lifecycle;
    let FinishWatch { verdict, _watcher } = watch_finish(&drain, &stop, pressure, activity, timers);
    tokio::pin!(connection);
    let aged = tokio::select! {
        biased;
        _ = connection.as_mut() => return,
        aged = verdict => aged.unwrap_or(false),
    };
    connection.as_mut().graceful_shutdown();
    let grace = if aged { timers.age_grace } else { None };
    tokio::select! {
        _ = connection => {}
        () = stop.cancelled() => {}
        () = sleep_or_never(grace) => {}
    }
}

/// The verdict of a connection's finish watcher: resolves when the connection should finish, with
/// `true` if it is because of its age (so that the age grace applies). Dropping it stops the watcher.
pub(super) struct FinishWatch {
    pub verdict: tokio::sync::oneshot::Receiver<bool>,
    pub _watcher: AbortOnDrop,
}

/// Starts watching the reasons a connection should finish (the module docs list them). They are
/// watched by a task of their own, which hands its verdict over a oneshot channel: in the
/// connection task's `select!` they would all be polled again at every wake-up of the connection
/// (each frame read or written), which measurably slowed every call.
pub(super) fn watch_finish(
    drain: &watch::Receiver<()>,
    stop: &CancellationToken,
    mut pressure: watch::Receiver<()>,
    activity: &Arc<Activity>,
    timers: Timers,
) -> FinishWatch {
    // The serve future waits for every connection's `drain` receiver to be dropped: the connection
    // task keeps its own until the connection is over, and the watcher gets a clone.
    let mut watched = drain.clone();
    let (verdict, finish) = tokio::sync::oneshot::channel();
    let activity = activity.clone();
    let stop = stop.clone();
    let watcher = tokio::spawn(async move {
        let aged = tokio::select! {
            // An error means the serve future is gone, and `stop` is cancelled: finish all the same.
            _ = watched.changed() => false,
            () = idle_for(&activity, timers.idle_timeout) => false,
            () = pressed(&mut pressure, &activity) => false,
            () = sleep_or_never(timers.max_age.map(jitter)) => true,
            // The server stopped: the connection is dropped anyway.
            () = stop.cancelled() => return,
        };
        let _ = verdict.send(aged);
    });
    FinishWatch {
        verdict: finish,
        _watcher: AbortOnDrop(watcher),
    }
}

/// Aborts a task when dropped: the finish watcher outlives its connection by no more than that.
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves once the connection has had no call in flight for `timeout` (never without one).
async fn idle_for(activity: &Activity, timeout: Option<Duration>) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    loop {
        let now = Instant::now();
        let due = match activity.idle_since() {
            Some(since) if since + timeout <= now => return,
            Some(since) => since + timeout,
            None => now + timeout,
        };
        tokio::time::sleep_until(due).await;
    }
}

/// Resolves when the server, at its connection limit, asks for room while this connection has been
/// idle for at least [`PRESSURE_MIN_IDLE`].
async fn pressed(pressure: &mut watch::Receiver<()>, activity: &Activity) {
    loop {
        if pressure.changed().await.is_err() {
            return std::future::pending().await;
        }
        if activity
            .idle_since()
            .is_some_and(|since| since.elapsed() >= PRESSURE_MIN_IDLE)
        {
            return;
        }
    }
}

pub(super) async fn sleep_or_never(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// `age` give or take up to a tenth, at random, so that connections opened together do not all
/// reconnect together.
fn jitter(age: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    // A fraction in [-0.1, 0.1].
    let fraction = (random % 2001) as f64 / 10_000.0 - 0.1;
    age.mul_f64(1.0 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_spread_by_a_tenth_at_most() {
        let age = Duration::from_secs(100);
        for _ in 0..1000 {
            let spread = jitter(age);
            assert!(spread >= Duration::from_secs(90) && spread <= Duration::from_secs(110));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idleness_is_measured_from_the_last_call() {
        let activity = Activity::new();
        let start = Instant::now();
        idle_for(&activity, Some(Duration::from_secs(5))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
