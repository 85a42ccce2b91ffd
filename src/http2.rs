//! HTTP/2 settings both sides share: [`Http2Settings`], the one public vocabulary for flow control,
//! frame sizes and keepalive, with HTTP/2's ranges, against which they are checked when a client is
//! built or a server starts.
//!
//! Neutral ground, so that `client/` and `server/` never import each other: each side applies the
//! settings to its own connection builder (hyper's on the server, h2's on the client), with its own
//! defaults for what is unset.

use std::time::Duration;

/// The largest flow-control window HTTP/2 allows: 2^31 - 1 bytes.
pub(crate) const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;
/// Every HTTP/2 window's size before SETTINGS and WINDOW_UPDATE frames change it: 65,535 bytes.
pub(crate) const SPEC_WINDOW_SIZE: u32 = 65_535;
/// The smallest SETTINGS_MAX_FRAME_SIZE HTTP/2 allows (and its default): 16,384 bytes.
pub(crate) const MIN_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE HTTP/2 allows: 2^24 - 1 bytes.
pub(crate) const MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// What a server's HTTP/2 connection buffers of one stream's response body for sending, unless set
/// otherwise: 64 KiB (h2's own default is 400 KiB).
pub(crate) const DEFAULT_SERVER_SEND_BUFFER_SIZE: usize = 64 * 1024;
/// How long a keepalive PING may go unanswered when no timeout was set, on either side: 20 s, as
/// gRPC's own keepalive specification (gRFC A8) defaults it.
pub(crate) const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest per-stream send buffer h2 accepts (it panics above): 2^32 - 1 bytes.
pub(crate) const MAX_SEND_BUFFER_SIZE: usize = u32::MAX as usize;

/// HTTP/2 settings, in one vocabulary for both sides: [`Server::http2`](crate::Server::http2) and
/// [`ClientBuilder::http2`](crate::client::ClientBuilder::http2) take them. What is left unset keeps that
/// side's default, which each of those setters lists.
///
/// The setters only record values. They are checked when the configuration is finished: a value
/// HTTP/2 does not allow (or that one side cannot use) fails
/// [`ClientBuilder::build`](crate::client::ClientBuilder::build), or the server's serve future at start,
/// with a [`ConfigError`](crate::ConfigError) naming the setting and the value. Nothing is clamped.
///
/// ```
/// use std::time::Duration;
/// use trident::Http2Settings;
///
/// let http2 = Http2Settings::new()
///     .initial_stream_window_size(4 * 1024 * 1024)
///     .initial_connection_window_size(16 * 1024 * 1024)
///     .keep_alive_interval(Duration::from_secs(30));
/// let server = trident::Server::new().http2(http2.max_concurrent_streams(1_000));
/// let client = trident::Client::builder("http://localhost:8080")
///     .http_version(trident::HttpVersion::Http2)
///     .http2(http2)
///     .build();
/// # drop((server, client));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Http2Settings {
    pub(crate) stream_window: Option<u32>,
    pub(crate) connection_window: Option<u32>,
    pub(crate) max_frame_size: Option<u32>,
    pub(crate) adaptive_window: Option<bool>,
    pub(crate) max_send_buffer_size: Option<usize>,
    pub(crate) max_concurrent_streams: Option<u32>,
    /// `Some(None)`: PINGs turned off.
    pub(crate) keep_alive_interval: Option<Option<Duration>>,
    pub(crate) keep_alive_timeout: Option<Duration>,
    pub(crate) keep_alive_while_idle: Option<bool>,
}

/// Which side a configuration is for, where a setting applies to one side only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Http2Settings {
    /// Settings with every value at its side's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The initial flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE): how many bytes
    /// of one request (on a server) or one response (on a client) the peer may send before they are
    /// read. Raise it for large messages over high-latency links; lower it to bound what many
    /// concurrent streams may buffer. 1 to 2^31-1 (0, which HTTP/2 allows, would stall every body).
    pub fn initial_stream_window_size(mut self, size: u32) -> Self {
        self.stream_window = Some(size);
        self
    }

    /// The flow-control window of a whole connection, shared by its streams (announced with a
    /// WINDOW_UPDATE when the connection opens). Raise it with the stream window when a connection
    /// carries many large messages at once. 65,535 (where every connection starts; SETTINGS cannot
    /// lower it) to 2^31-1.
    pub fn initial_connection_window_size(mut self, size: u32) -> Self {
        self.connection_window = Some(size);
        self
    }

    /// The largest frame payload accepted (SETTINGS_MAX_FRAME_SIZE); what is sent is bounded by the
    /// peer's own setting. Larger frames save a little per-frame work on large messages. 16,384 (the
    /// protocol's minimum and default) to 16,777,215.
    pub fn max_frame_size(mut self, size: u32) -> Self {
        self.max_frame_size = Some(size);
        self
    }

    /// hyper's adaptive flow control, which starts both windows at 64 KiB and grows them with the
    /// measured bandwidth-delay product; when on, the window sizes set above are not used. Worth
    /// trying for large messages over links whose latency is unknown; fixed windows suit many small
    /// concurrent streams better. Off unless set.
    pub fn adaptive_window(mut self, enabled: bool) -> Self {
        self.adaptive_window = Some(enabled);
        self
    }

    /// How many bytes of one stream's body are buffered for sending while the connection cannot
    /// write them (the peer is not reading, or has granted no window). Raising it rarely helps
    /// throughput: the kernel's socket buffer, not this one, covers the network's latency. 1 to
    /// 2^32-1.
    pub fn max_send_buffer_size(mut self, size: usize) -> Self {
        self.max_send_buffer_size = Some(size);
        self
    }

    /// Server only: how many streams (calls) one client may have open at once on a connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS). Long-lived watch streams may need more than the default.
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.max_concurrent_streams = Some(max);
        self
    }

    /// How often to PING the peer to learn that the connection still works (`None`: never). A peer
    /// that vanished without closing (a crashed host, a dropped NAT mapping) would otherwise hold its
    /// streams forever. More than zero.
    pub fn keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.keep_alive_interval = Some(interval.into());
        self
    }

    /// How long a keepalive PING may go unanswered before the connection is closed and its calls
    /// fail (default 20 s on both sides). More than zero.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = Some(timeout);
        self
    }

    /// Client only: whether to PING also while no call is open on the connection (off by default,
    /// so an idle connection costs the server nothing). A server PINGs whether or not streams are
    /// open.
    pub fn keep_alive_while_idle(mut self, enabled: bool) -> Self {
        self.keep_alive_while_idle = Some(enabled);
        self
    }

    /// What is wrong with these settings for `side`, one line per setting, or nothing.
    pub(crate) fn problems(&self, side: Side) -> Vec<String> {
        let mut problems = Vec::new();
        let mut out_of_range = |setting: &str, value: String, range: &str| {
            problems.push(format!(
                "Http2Settings::{setting}({value}) is out of range: it takes {range}"
            ));
        };
        if let Some(size) = self.stream_window
            && !(1..=MAX_WINDOW_SIZE).contains(&size)
        {
            out_of_range(
                "initial_stream_window_size",
                size.to_string(),
                "1 to 2147483647 (0 would stall every body)",
            );
        }
        if let Some(size) = self.connection_window
            && !(SPEC_WINDOW_SIZE..=MAX_WINDOW_SIZE).contains(&size)
        {
            out_of_range(
                "initial_connection_window_size",
                size.to_string(),
                "65535 (where a connection's window starts) to 2147483647",
            );
        }
        if let Some(size) = self.max_frame_size
            && !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&size)
        {
            out_of_range("max_frame_size", size.to_string(), "16384 to 16777215");
        }
        if let Some(size) = self.max_send_buffer_size
            && !(1..=MAX_SEND_BUFFER_SIZE).contains(&size)
        {
            out_of_range("max_send_buffer_size", size.to_string(), "1 to 4294967295");
        }
        if let Some(Some(interval)) = self.keep_alive_interval
            && interval.is_zero()
        {
            out_of_range(
                "keep_alive_interval",
                "0s".into(),
                "more than zero, or None to send no PINGs",
            );
        }
        if let Some(timeout) = self.keep_alive_timeout
            && timeout.is_zero()
        {
            out_of_range("keep_alive_timeout", "0s".into(), "more than zero");
        }
        match side {
            Side::Client if self.max_concurrent_streams.is_some() => problems.push(
                "Http2Settings::max_concurrent_streams is a server setting: a client opens no \
                 more streams than it has calls"
                    .into(),
            ),
            Side::Server if self.keep_alive_while_idle.is_some() => problems.push(
                "Http2Settings::keep_alive_while_idle is a client setting: a server PINGs \
                 whether or not streams are open"
                    .into(),
            ),
            _ => {}
        }
        problems
    }
}

/// Removes the HTTP/1 connection-specific header fields HTTP/2 and HTTP/3 forbid (h2 refuses requests
/// with them; h3 does not check), as hyper's client did: `te` stays only as `trailers`.
pub(crate) fn strip_connection_headers(headers: &mut http::HeaderMap) {
    use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if headers.get(TE).is_some_and(|te| te != "trailers") {
        headers.remove(TE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_range_pass_on_both_sides() {
        let settings = Http2Settings::new()
            .initial_stream_window_size(1)
            .initial_connection_window_size(SPEC_WINDOW_SIZE)
            .max_frame_size(MAX_FRAME_SIZE)
            .max_send_buffer_size(MAX_SEND_BUFFER_SIZE)
            .keep_alive_interval(None)
            .keep_alive_timeout(Duration::from_secs(1));
        assert!(settings.problems(Side::Client).is_empty());
        assert!(settings.problems(Side::Server).is_empty());
    }

    #[test]
    fn each_value_out_of_range_is_named_with_its_value() {
        let settings = Http2Settings::new()
            .initial_stream_window_size(0)
            .initial_connection_window_size(1)
            .max_frame_size(u32::MAX)
            .max_send_buffer_size(0)
            .keep_alive_interval(Duration::ZERO)
            .keep_alive_timeout(Duration::ZERO);
        let problems = settings.problems(Side::Server);
        let expected = [
            "initial_stream_window_size(0)",
            "initial_connection_window_size(1)",
            "max_frame_size(4294967295)",
            "max_send_buffer_size(0)",
            "keep_alive_interval(0s)",
            "keep_alive_timeout(0s)",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for (problem, setting) in problems.iter().zip(expected) {
            assert!(problem.contains(setting), "{problem}");
        }
    }

    #[test]
    fn one_sided_settings_are_refused_on_the_other_side() {
        let server_only = Http2Settings::new().max_concurrent_streams(10);
        assert!(server_only.problems(Side::Server).is_empty());
        assert!(server_only.problems(Side::Client)[0].contains("max_concurrent_streams"));
        let client_only = Http2Settings::new().keep_alive_while_idle(true);
        assert!(client_only.problems(Side::Client).is_empty());
        assert!(client_only.problems(Side::Server)[0].contains("keep_alive_while_idle"));
    }
}
