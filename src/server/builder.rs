//! [`Server`]: everything about serving a [`Router`](crate::Router) below the calls — HTTP/1.1 and HTTP/2 settings,
//! TLS, the connection limit and the grace period of a graceful shutdown.
//!
//! The router only routes (and mounts in any tower stack); a `Server` owns the listener's connections.
//! [`Server::serve`] starts serving; see [`Serve`](crate::Serve) for running it and shutting it down.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::http2::Http2Settings;
#[cfg(feature = "tls")]
use crate::server::tls::TlsConfig;

/// How long open calls may take to finish after a shutdown signal unless configured otherwise: 30
/// seconds.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// Serves a [`Router`](crate::Router) on a TCP listener: HTTP/1.1 and HTTP/2 on one port (cleartext HTTP/2 with prior
/// knowledge, or ALPN over TLS with `Server::tls`), with limits and graceful shutdown.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let router = trident::Router::new(); // .add(greet_service_routes(MyGreeter))
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // `stop.send(())` shuts down
/// # drop(stop);
/// trident::Server::new()
///     .max_connections(10_000)
///     .http2_max_concurrent_streams(1_000)
///     .grace_period(Duration::from_secs(10))
///     .serve(listener, router)
///     .with_graceful_shutdown(async {
///         // Or `tokio::signal::ctrl_c()`, with Tokio's `signal` feature.
///         let _ = stopped.await;
///     })
///     .await
/// # }
/// ```
///
/// Every request reaches the router with the peer's [`SocketAddr`](std::net::SocketAddr) (and, over
/// TLS with client certificates, its [`PeerCertificates`](crate::PeerCertificates)) as request
/// extensions, which [`CallContext`](crate::CallContext) reads.
///
/// Cloning is cheap; one `Server` may serve several listeners.
#[derive(Clone, Debug)]
pub struct Server {
    pub(super) http1_keep_alive: bool,
    pub(super) http1_header_read_timeout: Option<Duration>,
    pub(super) http2_max_concurrent_streams: Option<u32>,
    pub(super) http2: Http2Settings,
    pub(super) max_connections: Option<usize>,
    pub(super) grace_period: Duration,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<TlsConfig>,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A cleartext server with hyper's HTTP/1.1 and HTTP/2 defaults, no connection limit and a
    /// [`DEFAULT_GRACE_PERIOD`] grace period.
    pub fn new() -> Self {
        Self {
            http1_keep_alive: true,
            http1_header_read_timeout: None,
            http2_max_concurrent_streams: None,
            http2: Http2Settings::default(),
            max_connections: None,
            grace_period: DEFAULT_GRACE_PERIOD,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Whether an HTTP/1.1 connection stays open for further requests after a response (default
    /// `true`). Off, every response carries `connection: close` and its connection closes after it.
    pub fn http1_keep_alive(mut self, enabled: bool) -> Self {
        self.http1_keep_alive = enabled;
        self
    }

    /// How long an HTTP/1.1 client may take to send a request's headers before its connection is
    /// closed (unset by default: no limit). The clock starts when the server begins waiting for a
    /// request, so this also bounds how long an idle keep-alive connection is kept open. A defence
    /// against clients that open connections and trickle bytes; HTTP/2 is not affected.
    pub fn http1_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.http1_header_read_timeout = Some(timeout);
        self
    }

    /// How many streams one HTTP/2 connection may carry at once (hyper's default is 200). Long-lived
    /// watch streams may need more.
    pub fn http2_max_concurrent_streams(mut self, max: u32) -> Self {
        self.http2_max_concurrent_streams = Some(max);
        self
    }

    /// The initial flow-control window of each HTTP/2 stream (SETTINGS_INITIAL_WINDOW_SIZE): how many
    /// bytes of one request a client may send before the handler reads them. Unset: hyper's default,
    /// 1 MiB. Raise it for large client-streamed or unary messages over high-latency links; lower it to
    /// bound what many concurrent streams may buffer. HTTP/2 allows 0 to 2^31-1: 0 (which would stall
    /// every request body) is taken as 1 and larger values as 2^31-1.
    pub fn http2_initial_stream_window_size(mut self, size: u32) -> Self {
        self.http2.set_stream_window(size);
        self
    }

    /// The flow-control window of a whole HTTP/2 connection, shared by its streams (announced with a
    /// WINDOW_UPDATE when the connection opens). Unset: hyper's default, 1 MiB. Raise it with the
    /// stream window when a connection carries many large uploads at once. HTTP/2 allows 65,535 (where
    /// it starts; SETTINGS cannot lower it) to 2^31-1; values outside are taken as the nearest bound.
    pub fn http2_initial_connection_window_size(mut self, size: u32) -> Self {
        self.http2.set_connection_window(size);
        self
    }

    /// The largest HTTP/2 frame payload the server accepts (SETTINGS_MAX_FRAME_SIZE); what it sends is
    /// bounded by each client's own setting. Unset: 16 KiB, the protocol's minimum and hyper's
    /// default. Larger frames save a little per-frame work on large messages. HTTP/2 allows 16,384 to
    /// 16,777,215; values outside are taken as the nearest bound.
    pub fn http2_max_frame_size(mut self, size: u32) -> Self {
        self.http2.set_max_frame_size(size);
        self
    }

    /// How many bytes of one HTTP/2 stream's response h2 buffers for sending while the connection
    /// cannot write them (the client is not reading, or has not granted flow-control window). Unset:
    /// 64 KiB, below h2's own 400 KiB default. Trident's streaming responses stop producing messages
    /// while two batches of theirs (under 64 KiB plus two messages) wait to be written, whatever this
    /// is; this bounds other bodies (a fallback's, gRPC-Web text's re-encoded stream) at about this
    /// size plus two of their chunks. A connection's response memory is then at most
    /// [`http2_max_concurrent_streams`](Self::http2_max_concurrent_streams) times that. Raising it
    /// rarely helps throughput: the kernel's socket buffer, not this one, covers the network's
    /// latency. 0 is taken as 1, values above 2^32-1 as 2^32-1.
    pub fn http2_max_send_buffer_size(mut self, size: usize) -> Self {
        self.http2.set_max_send_buffer_size(size);
        self
    }

    /// hyper's adaptive HTTP/2 flow control, which starts both windows at 64 KiB and grows them with
    /// the measured bandwidth-delay product; when on, the window sizes set above are not used. Off
    /// unless set (hyper's default). Worth trying when clients upload large messages over links whose
    /// latency is unknown; fixed windows suit many small concurrent streams better.
    pub fn http2_adaptive_window(mut self, enabled: bool) -> Self {
        self.http2.adaptive_window = Some(enabled);
        self
    }

    /// Limits how many connections are open at once (0: no limit, the default).
    ///
    /// At the limit the server stops accepting until one of its connections closes. Clients beyond it
    /// wait in the listener's kernel backlog: their TCP handshake completes there, but they cost the
    /// server no file descriptor and no memory, and they are served in turn as connections close. A
    /// client that cannot wait should connect with a timeout. (When the backlog itself is full, the
    /// kernel drops or refuses further connection attempts.)
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = (max > 0).then_some(max);
        self
    }

    /// How long open calls may take to finish after the shutdown signal (default
    /// [`DEFAULT_GRACE_PERIOD`]); see [`Serve::with_graceful_shutdown`](crate::Serve::with_graceful_shutdown). When it has passed, the
    /// connections still open are closed and their calls cancelled. `Duration::MAX` waits for as long
    /// as the calls take.
    pub fn grace_period(mut self, period: Duration) -> Self {
        self.grace_period = period;
        self
    }

    /// Serves over TLS (rustls) with `config`: ALPN offers `h2` and `http/1.1`, and each connection
    /// speaks the protocol ALPN settled on (or, when the client sent no ALPN, HTTP/1.1 or HTTP/2 by its
    /// first bytes). A handshake that fails, or takes longer than the configured
    /// [handshake timeout](TlsConfig::handshake_timeout), closes that connection and nothing else.
    /// With client certificates (mutual TLS), handlers see the verified chain through
    /// [`CallContext::peer_certificates`](crate::CallContext::peer_certificates).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The connection builder for connections that detect their HTTP version from their first bytes,
    /// with this server's HTTP/1.1 and HTTP/2 settings.
    pub(super) fn connection_builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        let mut http1 = builder.http1();
        http1.keep_alive(self.http1_keep_alive);
        // hyper enforces the timeout only with a timer, and starts its own 30-second default once
        // there is one: the timer is set only when a timeout was asked for.
        if let Some(timeout) = self.http1_header_read_timeout {
            http1.timer(TokioTimer::new()).header_read_timeout(timeout);
        }
        let mut http2 = builder.http2();
        if let Some(max) = self.http2_max_concurrent_streams {
            http2.max_concurrent_streams(max);
        }
        // The setters clamped these into HTTP/2's ranges, so h2 cannot panic on them.
        let settings = &self.http2;
        if let Some(size) = settings.stream_window {
            http2.initial_stream_window_size(size);
        }
        if let Some(size) = settings.connection_window {
            http2.initial_connection_window_size(size);
        }
        if let Some(size) = settings.max_frame_size {
            http2.max_frame_size(size);
        }
        http2.max_send_buf_size(
            settings
                .max_send_buffer_size
                .unwrap_or(crate::http2::DEFAULT_SERVER_SEND_BUFFER_SIZE),
        );
        // Last, so that it wins: hyper's adaptive window starts both windows at 65,535.
        if let Some(enabled) = settings.adaptive_window {
            http2.adaptive_window(enabled);
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_recorded_and_clamped() {
        let server = Server::new()
            .http1_keep_alive(false)
            .http1_header_read_timeout(Duration::from_secs(5))
            .http2_max_concurrent_streams(500)
            .http2_initial_stream_window_size(0)
            .http2_initial_connection_window_size(u32::MAX)
            .http2_max_frame_size(1)
            .http2_adaptive_window(true)
            .max_connections(0)
            .grace_period(Duration::MAX);
        assert!(!server.http1_keep_alive);
        assert_eq!(
            server.http1_header_read_timeout,
            Some(Duration::from_secs(5))
        );
        assert_eq!(server.http2_max_concurrent_streams, Some(500));
        assert_eq!(server.http2.stream_window, Some(1));
        assert_eq!(
            server.http2.connection_window,
            Some(crate::http2::MAX_WINDOW_SIZE)
        );
        assert_eq!(
            server.http2.max_frame_size,
            Some(crate::http2::MIN_FRAME_SIZE)
        );
        assert_eq!(server.http2.adaptive_window, Some(true));
        assert_eq!(server.max_connections, None, "0 means no limit");
        assert_eq!(server.max_connections(3).max_connections, Some(3));
        assert_eq!(Server::default().grace_period, DEFAULT_GRACE_PERIOD);
    }
}
