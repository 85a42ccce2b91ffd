//! [`Server`]: everything about serving a [`Router`](crate::Router) below the calls — HTTP/1.1 and HTTP/2 settings,
//! TLS, how long connections may live and idle, the limits on connections, headers and calls in flight,
//! and the grace period of a graceful shutdown.
//!
//! Every protection is on by default, with limits generous enough that well-behaved clients never meet
//! them; the guide's "Connections and limits" section lists the defaults and why they were chosen.
//!
//! The router only routes (and mounts in any tower stack); a `Server` owns the listener's connections.
//! [`Server::serve`] starts serving; see [`Serve`](crate::server::Serve) for running it and shutting it down.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::http2::{Http2Settings, Side};
use crate::min_data_rate::MinDataRate;
#[cfg(feature = "tls")]
use crate::server::tls::TlsConfig;

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
///     .http2(trident::Http2Settings::new().max_concurrent_streams(1_000))
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
/// TLS with client certificates, its [`PeerCertificates`](crate::tls::PeerCertificates)) as request
/// extensions, which [`CallContext`](crate::CallContext) reads.
///
/// Cloning is cheap; one `Server` may serve several listeners.
#[derive(Clone, Debug)]
pub struct Server {
    pub(super) http1_keep_alive: bool,
    pub(super) http1_header_read_timeout: Option<Duration>,
    pub(super) http2: Http2Settings,
    pub(super) tcp_keepalive: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) max_connection_age: Option<Duration>,
    pub(super) max_connection_age_grace: Option<Duration>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_header_list_size: u32,
    pub(super) max_calls_in_flight: Option<usize>,
    pub(super) default_timeout: Option<Duration>,
    pub(super) min_request_data_rate: Option<MinDataRate>,
    pub(super) max_buffered_response_bytes: usize,
    pub(super) grace_period: Duration,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<TlsConfig>,
    #[cfg(feature = "http3")]
    pub(super) http3: Http3Options,
}

impl Server {
    /// How long open calls may take to finish after a shutdown signal unless configured otherwise: 30
    /// seconds.
    pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

    /// How long an HTTP/1.1 client may take to send a request's headers, by default: 30 seconds.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

    /// How long a connection may stay open with no call in flight, by default: 5 minutes.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

    /// How often the server PINGs each HTTP/2 connection to learn that its client is still there, by
    /// default: every 60 seconds.
    pub const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);

    /// How long an HTTP/2 PING may go unanswered before the connection is closed, by default: 20 seconds.
    pub const DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT: Duration = crate::http2::DEFAULT_KEEP_ALIVE_TIMEOUT;

    /// How long a TCP connection may be silent before the kernel starts probing it, by default: 60 seconds.
    pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

    /// How many bytes of streamed responses one connection holds, waiting to be written, before its streams
    /// slow down, by default: 4 MiB.
    pub const DEFAULT_MAX_BUFFERED_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

    /// The largest request header list accepted by default, measured as HTTP/2 measures it: 16 KiB.
    pub const DEFAULT_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;

    /// How many requests a client may have open at once on one HTTP/3 connection, by default: 200.
    #[cfg(feature = "http3")]
    pub const DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS: u32 = 200;

    /// How often the server PINGs an HTTP/3 connection that is otherwise quiet, by default: every 15
    /// seconds, so that a quiet stream outlives the idle timeout.
    #[cfg(feature = "http3")]
    pub const DEFAULT_HTTP3_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

    /// How long an HTTP/3 connection may go without a packet from its client before it is closed, by
    /// default: 30 seconds (the smaller of both sides' values applies).
    #[cfg(feature = "http3")]
    pub const DEFAULT_HTTP3_MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
}

/// How a server serves HTTP/3, if it does.
#[cfg(feature = "http3")]
#[derive(Clone, Debug)]
pub(super) struct Http3Options {
    pub enabled: bool,
    /// Advertise HTTP/3 on TCP responses with this `alt-svc` max-age.
    pub alt_svc_max_age: Option<Duration>,
    pub max_concurrent_streams: u32,
    pub keep_alive_interval: Option<Duration>,
    pub max_idle_timeout: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A cleartext server with hyper's HTTP/1.1 and HTTP/2 settings and every protection at its
    /// default: a [`Server::DEFAULT_HEADER_READ_TIMEOUT`] to send headers, a [`Server::DEFAULT_IDLE_TIMEOUT`] idle
    /// timeout, HTTP/2 PINGs every [`Server::DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL`] (see [`http2`](Self::http2)), TCP keepalive, at most as many
    /// connections as the process may open file descriptors (less a reserve), headers up to
    /// [`Server::DEFAULT_MAX_HEADER_LIST_SIZE`], request bodies at least as fast as [`MinDataRate::DEFAULT`],
    /// and a [`Server::DEFAULT_GRACE_PERIOD`] grace period. Connections have no maximum age, calls in flight no
    /// limit and calls without a timeout no deadline, unless set.
    pub fn new() -> Self {
        Self {
            http1_keep_alive: true,
            http1_header_read_timeout: Some(Self::DEFAULT_HEADER_READ_TIMEOUT),
            http2: Http2Settings::default(),
            tcp_keepalive: Some(Self::DEFAULT_TCP_KEEPALIVE),
            idle_timeout: Some(Self::DEFAULT_IDLE_TIMEOUT),
            max_connection_age: None,
            max_connection_age_grace: None,
            max_connections: crate::server::fd_limit::default_max_connections(),
            max_header_list_size: Self::DEFAULT_MAX_HEADER_LIST_SIZE,
            max_calls_in_flight: None,
            default_timeout: None,
            min_request_data_rate: Some(MinDataRate::DEFAULT),
            max_buffered_response_bytes: Self::DEFAULT_MAX_BUFFERED_RESPONSE_BYTES,
            grace_period: Self::DEFAULT_GRACE_PERIOD,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "http3")]
            http3: Http3Options {
                enabled: false,
                alt_svc_max_age: None,
                max_concurrent_streams: Self::DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS,
                keep_alive_interval: Some(Self::DEFAULT_HTTP3_KEEP_ALIVE_INTERVAL),
                max_idle_timeout: Self::DEFAULT_HTTP3_MAX_IDLE_TIMEOUT,
            },
        }
    }

    /// Whether an HTTP/1.1 connection stays open for further requests after a response (default
    /// `true`). Off, every response carries `connection: close` and its connection closes after it.
    pub fn http1_keep_alive(mut self, enabled: bool) -> Self {
        self.http1_keep_alive = enabled;
        self
    }

    /// How long an HTTP/1.1 client may take to send a request's headers before its connection is
    /// closed (default [`Server::DEFAULT_HEADER_READ_TIMEOUT`]; `None`: no limit). The clock starts when the
    /// server begins waiting for a request, so this also bounds how long an idle keep-alive connection
    /// is kept open. A defence against clients that open connections and trickle bytes. HTTP/2
    /// connections are covered by the [idle timeout](Self::idle_timeout) instead: a request whose
    /// headers have not all arrived is not yet a call in flight.
    pub fn http1_header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.http1_header_read_timeout = timeout.into();
        self
    }

    /// How long a connection may stay open with no call in flight before the server closes it
    /// (default [`Server::DEFAULT_IDLE_TIMEOUT`]; `None`: never). HTTP/2 connections get a GOAWAY, HTTP/1.1
    /// connections are closed between requests. The clock runs from the moment the last call's
    /// response ended (or the connection opened), so a connection that never sends a request is closed
    /// after this long too. Clients reconnect when they next need to; gRPC and Connect clients do so by
    /// themselves.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// The HTTP/2 settings of the server's connections. What `settings` leaves unset keeps the
    /// server's default:
    /// - PINGs every [`Server::DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL`], whether or not streams are open, and a
    ///   connection whose PING goes unanswered for [`Server::DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT`] is closed and
    ///   its calls cancelled, so that a client that vanished without closing does not hold its
    ///   handlers forever;
    /// - 200 concurrent streams per connection, 1 MiB stream and connection windows and 16 KiB frames
    ///   (hyper's defaults), no adaptive window;
    /// - 64 KiB of one stream's response buffered for sending (below h2's own 400 KiB). Trident's
    ///   streaming responses stop producing messages while two batches of theirs (under 64 KiB plus
    ///   two messages) wait to be written, whatever this is; it bounds other bodies (a fallback's,
    ///   gRPC-Web text's re-encoded stream). A connection's response memory is then at most its
    ///   concurrent streams times that.
    ///
    /// A value out of HTTP/2's range, or a client-only setting, fails the serve future at start with
    /// a [`ConfigError`](crate::ConfigError) naming it.
    pub fn http2(mut self, settings: Http2Settings) -> Self {
        self.http2 = settings;
        self
    }

    /// How long an accepted TCP connection may be silent before the kernel sends keepalive probes
    /// (default [`Server::DEFAULT_TCP_KEEPALIVE`]; `None`: the system's setting, usually off). The kernel
    /// closes a connection whose probes go unanswered, which is how a vanished HTTP/1.1 client is
    /// noticed (HTTP/1.1 has no PING).
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.tcp_keepalive = idle.into();
        self
    }

    /// The longest a connection may live (`None`, the default: no limit). When it has lived this long
    /// (give or take a tenth, at random, so connections opened together do not all close together)
    /// the server asks it to finish: HTTP/2 gets a GOAWAY, HTTP/1.1 closes after the response in
    /// progress. Clients then reconnect, which spreads them over replicas that were added since, and
    /// which a proxy or load balancer in front may need.
    pub fn max_connection_age(mut self, age: impl Into<Option<Duration>>) -> Self {
        self.max_connection_age = age.into();
        self
    }

    /// How long calls on a connection past its [maximum age](Self::max_connection_age) may take to
    /// finish before the connection is closed and they are cancelled (`None`, the default: as long as
    /// they take).
    pub fn max_connection_age_grace(mut self, grace: impl Into<Option<Duration>>) -> Self {
        self.max_connection_age_grace = grace.into();
        self
    }

    /// Limits how many connections are open at once (0: no limit). The default is what the process
    /// may open: its soft limit on file descriptors (`ulimit -n`), less a tenth (at least 32) kept for
    /// everything else the process opens; no limit where that cannot be read.
    ///
    /// At the limit the server stops accepting and asks its idle connections (no call in flight for a
    /// second or more) to close, so that clients holding connections open without using them cannot
    /// lock others out. Clients beyond the limit wait in the listener's kernel backlog: their TCP
    /// handshake completes there, but they cost the server no file descriptor and no memory, and they
    /// are served in turn as connections close. Open connections go on being served. A client that
    /// cannot wait should connect with a timeout. (When the backlog itself is full, the kernel drops or
    /// refuses further connection attempts.)
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = (max > 0).then_some(max);
        self
    }

    /// The largest request header list the server accepts, in bytes, measured as HTTP/2 measures it
    /// on both HTTP versions: each field's name and value plus 32 bytes, the request line's parts
    /// (method, path, scheme, authority) included (default [`Server::DEFAULT_MAX_HEADER_LIST_SIZE`]). Larger
    /// requests are answered `431 Request Header Fields Too Large`. HTTP/2 clients learn the limit from
    /// the server's SETTINGS. (HTTP/1.1 requests are also limited to 100 fields, by hyper.)
    pub fn max_header_list_size(mut self, max: u32) -> Self {
        self.max_header_list_size = max;
        self
    }

    /// Limits how many calls (requests whose responses have not ended) the server runs at once, over
    /// all its connections (0: no limit, the default). A request beyond the limit is not started: it
    /// fails at once with `unavailable`, in its own protocol, rather than queueing without bound.
    /// `unavailable` (not `resource_exhausted`) because the call provably did no work, so clients and
    /// retry policies may safely try again, here later or on another replica.
    pub fn max_calls_in_flight(mut self, max: usize) -> Self {
        self.max_calls_in_flight = (max > 0).then_some(max);
        self
    }

    /// The deadline given to calls whose request states no timeout (`None`, the default: such calls
    /// have no deadline). A call that brings its own timeout keeps it, longer or not. Handlers see the
    /// deadline through [`CallContext::deadline`](crate::CallContext::deadline), and a call past it
    /// fails with `deadline_exceeded`, as if the client had asked for it.
    pub fn default_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.default_timeout = timeout.into();
        self
    }

    /// How many bytes of streamed responses one connection may hold, over all its streams, in batches
    /// handed to the connection and not yet written out (default
    /// [`Server::DEFAULT_MAX_BUFFERED_RESPONSE_BYTES`]). A backstop: each stream already holds at most two
    /// batches (under 64 KiB plus two messages); past this budget, each stream of the connection holds
    /// one batch at most, of one message, until the connection has written enough. Streams keep moving
    /// as their clients read, one message at a time, and one connection's slow readers cost at most
    /// about this much plus one batch per stream. At least 1 (one message per batch always).
    pub fn max_buffered_response_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_response_bytes = bytes;
        self
    }

    /// The slowest a request message may arrive (default [`MinDataRate::DEFAULT`]; `None`: no
    /// minimum). Once a message has begun to arrive (for methods that take one message, once the
    /// request has), its bytes must keep up with the rate after a grace period, or the call fails with
    /// `resource_exhausted`. The time a streaming client spends between messages is not counted: it
    /// may legitimately wait for hours. A defence against clients that trickle a body a byte at a time
    /// to hold a call open.
    pub fn min_request_data_rate(mut self, rate: impl Into<Option<MinDataRate>>) -> Self {
        self.min_request_data_rate = rate.into();
        self
    }

    /// How long open calls may take to finish after the shutdown signal (default
    /// [`Server::DEFAULT_GRACE_PERIOD`]); see [`Serve::with_graceful_shutdown`](crate::server::Serve::with_graceful_shutdown). When it has passed, the
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

    /// Also serves HTTP/3 (the `http3` feature): QUIC on UDP at the listener's address (the same IP
    /// and port number), with the certificate configured by [`tls`](Self::tls), TLS 1.3 and ALPN
    /// `h3`. Every router, limit, timeout and the graceful shutdown apply as over TCP: the
    /// connection limit counts QUIC connections too (at the limit a QUIC client is refused at
    /// once, as QUIC has no backlog to wait in), and at shutdown each HTTP/3 connection gets a
    /// GOAWAY and finishes its requests.
    ///
    /// Without `tls`, the serve future fails at once with `InvalidInput`. If the UDP port is taken,
    /// it fails with the bind error.
    ///
    /// A client cancelling a call whose request is complete reaches the handler at its next
    /// response message (or its deadline), not at once as over HTTP/2: the HTTP/3 library Trident
    /// uses does not report a peer's STOP_SENDING until the next write.
    #[cfg(feature = "http3")]
    pub fn http3(mut self, enabled: bool) -> Self {
        self.http3.enabled = enabled;
        self
    }

    /// Advertises HTTP/3 to clients over TCP (when [`http3`](Self::http3) is on): every HTTP/1.1 and
    /// HTTP/2 response that has no `alt-svc` field gets `alt-svc: h3=":<port>"; ma=<max_age in
    /// seconds>` (RFC 7838), so that browsers and other clients that know HTTP/3 switch to it. Off
    /// by default (`None`).
    #[cfg(feature = "http3")]
    pub fn http3_alt_svc(mut self, max_age: impl Into<Option<Duration>>) -> Self {
        self.http3.alt_svc_max_age = max_age.into();
        self
    }

    /// How many requests a client may have open at once on one HTTP/3 connection (default
    /// [`Server::DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS`]; at least 1).
    #[cfg(feature = "http3")]
    pub fn http3_max_concurrent_streams(mut self, max: u32) -> Self {
        self.http3.max_concurrent_streams = max;
        self
    }

    /// How often to PING an HTTP/3 connection that is otherwise quiet (default
    /// [`Server::DEFAULT_HTTP3_KEEP_ALIVE_INTERVAL`]; `None`: never). Keep it below the idle timeout, or
    /// quiet streams end with their connection.
    #[cfg(feature = "http3")]
    pub fn http3_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.http3.keep_alive_interval = interval.into();
        self
    }

    /// How long an HTTP/3 connection may go without hearing from its client before it is closed
    /// (default [`Server::DEFAULT_HTTP3_MAX_IDLE_TIMEOUT`]; the client's own value applies when smaller).
    /// This finds dead clients; the [`idle_timeout`](Self::idle_timeout) (no call in flight) applies
    /// as well.
    #[cfg(feature = "http3")]
    pub fn http3_max_idle_timeout(mut self, timeout: Duration) -> Self {
        self.http3.max_idle_timeout = timeout;
        self
    }

    /// What is wrong with this configuration, one line per problem naming its setting and value;
    /// reported, with the router's, when serving starts.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = self.http2.problems(Side::Server);
        if let Some(rate) = self.min_request_data_rate
            && rate.bytes_per_second() == 0
        {
            problems.push(
                "Server::min_request_data_rate: MinDataRate::new(0, ..) is out of range: it takes at \
                 least 1 byte per second (None turns the minimum off)"
                    .into(),
            );
        }
        if self.max_buffered_response_bytes == 0 {
            problems.push(
                "Server::max_buffered_response_bytes(0) is out of range: it takes at least 1"
                    .into(),
            );
        }
        #[cfg(feature = "http3")]
        if self.http3.max_concurrent_streams == 0 {
            problems.push(
                "Server::http3_max_concurrent_streams(0) is out of range: it takes at least 1"
                    .into(),
            );
        }
        problems
    }

    /// The QUIC settings of this server's HTTP/3 connections.
    #[cfg(feature = "http3")]
    pub(super) fn quic_settings(&self) -> crate::http3::quic::QuicSettings {
        crate::http3::quic::QuicSettings {
            max_concurrent_streams: self.http3.max_concurrent_streams,
            keep_alive_interval: self.http3.keep_alive_interval,
            max_idle_timeout: self.http3.max_idle_timeout,
            send_window: self.max_buffered_response_bytes as u64,
        }
    }

    /// The connection builder for connections that detect their HTTP version from their first bytes,
    /// with this server's HTTP/1.1 and HTTP/2 settings.
    pub(super) fn connection_builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        let mut http1 = builder.http1();
        // hyper enforces the header read timeout only with a timer (and starts its own 30-second
        // default once there is one), so the timer is always set and the timeout always stated.
        http1
            .keep_alive(self.http1_keep_alive)
            .timer(TokioTimer::new())
            .header_read_timeout(self.http1_header_read_timeout);
        // HTTP/1.1 heads are bounded while parsed by hyper's read buffer (about 400 KiB); the
        // header list limit is applied after parsing, by `ConnectionService`, as HTTP/2 measures it.
        let mut http2 = builder.http2();
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(self.max_header_list_size)
            // SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): clients may open WebSockets over HTTP/2
            // with an extended CONNECT (`protocol/websocket`); the router refuses any other CONNECT.
            .enable_connect_protocol();
        // `check` found these in HTTP/2's ranges before serving started, so h2 cannot panic on them.
        let settings = &self.http2;
        if let Some(max) = settings.max_concurrent_streams {
            http2.max_concurrent_streams(max);
        }
        let interval = settings
            .keep_alive_interval
            .unwrap_or(Some(Self::DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL));
        if let Some(interval) = interval {
            http2.keep_alive_interval(interval).keep_alive_timeout(
                settings
                    .keep_alive_timeout
                    .unwrap_or(Self::DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT),
            );
        }
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
    fn options_are_recorded_and_checked_when_serving_starts() {
        let server = Server::new()
            .http1_keep_alive(false)
            .http1_header_read_timeout(Duration::from_secs(5))
            .http2(
                Http2Settings::new()
                    .max_concurrent_streams(500)
                    .initial_stream_window_size(300_000)
                    .adaptive_window(true),
            )
            .max_connections(0)
            .grace_period(Duration::MAX);
        assert!(!server.http1_keep_alive);
        assert_eq!(
            server.http1_header_read_timeout,
            Some(Duration::from_secs(5))
        );
        assert_eq!(server.http2.max_concurrent_streams, Some(500));
        assert_eq!(server.http2.stream_window, Some(300_000));
        assert_eq!(server.http2.adaptive_window, Some(true));
        assert_eq!(server.max_connections, None, "0 means no limit");
        assert_eq!(server.max_connections(3).max_connections, Some(3));
        assert_eq!(Server::default().grace_period, Server::DEFAULT_GRACE_PERIOD);
        assert!(Server::new().problems().is_empty());
    }

    #[test]
    fn every_bad_value_is_reported_at_once_by_name() {
        let server = Server::new()
            .http2(
                Http2Settings::new()
                    .max_frame_size(1)
                    .keep_alive_while_idle(true),
            )
            .max_buffered_response_bytes(0);
        let error = crate::ConfigError::check(server.problems()).expect_err("three problems");
        let message = error.message();
        assert!(message.starts_with("3 configuration problems"), "{message}");
        for setting in [
            "Http2Settings::max_frame_size(1)",
            "Http2Settings::keep_alive_while_idle",
            "Server::max_buffered_response_bytes(0)",
        ] {
            assert!(message.contains(setting), "{message}");
        }
    }
}
