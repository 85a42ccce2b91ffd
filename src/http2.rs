//! HTTP/2 settings both roles share: the protocol's ranges, and the flow-control and keepalive options
//! a `ClientBuilder` or a `Server` was given.
//!
//! Neutral ground, so that `client/` and `server/` never import each other: each side applies
//! [`Http2Settings`] to its own connection builder (hyper's on the server, h2's on the client), with
//! its own defaults for what is unset.

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
/// The largest per-stream send buffer h2 accepts (it panics above): 2^32 - 1 bytes.
pub(crate) const MAX_SEND_BUFFER_SIZE: usize = u32::MAX as usize;

/// HTTP/2 flow-control settings of one side, as set on a `Server` or a `ClientBuilder`; `None` keeps
/// that side's default. The setters bring values into the range HTTP/2 (and h2, which panics or
/// misbehaves outside it) accepts, so no value a user passes can fail later on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Http2Settings {
    /// SETTINGS_INITIAL_WINDOW_SIZE, in 1..=2^31-1.
    pub stream_window: Option<u32>,
    /// The connection's receive window, in 65,535..=2^31-1.
    pub connection_window: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE, in 16,384..=16,777,215.
    pub max_frame_size: Option<u32>,
    /// hyper's BDP-based adaptive window; when on, the windows above are not used.
    pub adaptive_window: Option<bool>,
    /// How many bytes of one stream's body h2 buffers for sending, in 1..=2^32-1.
    pub max_send_buffer_size: Option<usize>,
    /// How often to PING the peer to learn that the connection still works (`None`: never).
    pub keep_alive_interval: Option<Duration>,
    /// How long a PING may go unanswered before the connection is closed.
    pub keep_alive_timeout: Option<Duration>,
    /// Whether to PING also while no stream is open.
    pub keep_alive_while_idle: Option<bool>,
}

impl Http2Settings {
    /// Sets the stream window: 0 (which would stall every body for good) becomes 1, and values above
    /// 2^31-1 become 2^31-1.
    pub fn set_stream_window(&mut self, size: u32) {
        self.stream_window = Some(size.clamp(1, MAX_WINDOW_SIZE));
    }

    /// Sets the connection window: below 65,535 (where it starts and which SETTINGS cannot lower) it
    /// becomes 65,535, above 2^31-1 it becomes 2^31-1.
    pub fn set_connection_window(&mut self, size: u32) {
        self.connection_window = Some(size.clamp(SPEC_WINDOW_SIZE, MAX_WINDOW_SIZE));
    }

    /// Sets the largest frame accepted, clamped to 16,384..=16,777,215.
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = Some(size.clamp(MIN_FRAME_SIZE, MAX_FRAME_SIZE));
    }

    /// Sets the per-stream send buffer: 0 (which would stall every body) becomes 1, and values above
    /// 2^32-1 become 2^32-1.
    pub fn set_max_send_buffer_size(&mut self, size: usize) {
        self.max_send_buffer_size = Some(size.clamp(1, MAX_SEND_BUFFER_SIZE));
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
    fn settings_are_clamped_into_http2_ranges() {
        let mut settings = Http2Settings::default();
        settings.set_stream_window(0);
        settings.set_connection_window(1);
        settings.set_max_frame_size(0);
        assert_eq!(settings.stream_window, Some(1));
        assert_eq!(settings.connection_window, Some(SPEC_WINDOW_SIZE));
        assert_eq!(settings.max_frame_size, Some(MIN_FRAME_SIZE));
        settings.set_max_send_buffer_size(0);
        assert_eq!(settings.max_send_buffer_size, Some(1));
        settings.set_max_send_buffer_size(usize::MAX);
        assert_eq!(settings.max_send_buffer_size, Some(MAX_SEND_BUFFER_SIZE));

        settings.set_stream_window(u32::MAX);
        settings.set_connection_window(u32::MAX);
        settings.set_max_frame_size(u32::MAX);
        assert_eq!(settings.stream_window, Some(MAX_WINDOW_SIZE));
        assert_eq!(settings.connection_window, Some(MAX_WINDOW_SIZE));
        assert_eq!(settings.max_frame_size, Some(MAX_FRAME_SIZE));

        settings.set_stream_window(300_000);
        settings.set_connection_window(3_000_000);
        settings.set_max_frame_size(65_536);
        assert_eq!(settings.stream_window, Some(300_000));
        assert_eq!(settings.connection_window, Some(3_000_000));
        assert_eq!(settings.max_frame_size, Some(65_536));
    }
}
