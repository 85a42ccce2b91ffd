//! QUIC settings: quinn server and client configurations made from Trident's TLS configurations and
//! HTTP/3 settings.
//!
//! QUIC is always TLS 1.3, with ALPN `h3`, and never 0-RTT (RPCs are not safe to replay). Flow control
//! is bounded per connection as well as per stream (quinn leaves the connection's receive window
//! unbounded unless told otherwise).

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::ConfigError;

/// The ALPN protocol name of HTTP/3.
pub(crate) const ALPN_H3: &[u8] = b"h3";

/// Each stream's receive window: how much a peer may send on one stream before it is read.
const STREAM_RECEIVE_WINDOW: u32 = 1024 * 1024;

/// The connection's receive window: all streams together.
const CONNECTION_RECEIVE_WINDOW: u32 = 16 * 1024 * 1024;

/// How a side's QUIC connections behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QuicSettings {
    /// Requests the peer may have open at once on one connection.
    pub max_concurrent_streams: u32,
    /// How often to send a PING while the connection is otherwise quiet, if at all.
    pub keep_alive_interval: Option<Duration>,
    /// How long a connection may go without hearing from the peer before it is closed (the smaller
    /// of both sides' values applies).
    pub max_idle_timeout: Duration,
    /// What one connection may have buffered for sending, in bytes.
    pub send_window: u64,
}

impl QuicSettings {
    fn transport(&self) -> Arc<TransportConfig> {
        let mut transport = TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_streams))
            .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
            .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW))
            .send_window(self.send_window)
            .keep_alive_interval(self.keep_alive_interval)
            // Durations beyond QUIC's range (2^62 ms) mean no timeout.
            .max_idle_timeout(IdleTimeout::try_from(self.max_idle_timeout).ok());
        Arc::new(transport)
    }
}

/// A quinn server configuration from the server's rustls configuration: ALPN `h3` only, no early data.
pub(crate) fn server_config(
    tls: &rustls::ServerConfig,
    settings: &QuicSettings,
) -> Result<quinn::ServerConfig, ConfigError> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    // QUIC takes 0 (no early data) or u32::MAX; a TCP configuration may allow some.
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| {
        ConfigError::with_source(
            format!("HTTP/3 needs TLS 1.3 with an AES-128-GCM cipher suite: {e}"),
            e,
        )
    })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(settings.transport());
    Ok(config)
}

/// A quinn client configuration from the client's rustls configuration: ALPN `h3` only.
pub(crate) fn client_config(
    mut tls: rustls::ClientConfig,
    settings: &QuicSettings,
) -> Result<quinn::ClientConfig, ConfigError> {
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    tls.enable_early_data = false;
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| {
        ConfigError::with_source(
            format!("HTTP/3 needs TLS 1.3 with an AES-128-GCM cipher suite: {e}"),
            e,
        )
    })?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(settings.transport());
    Ok(config)
}
