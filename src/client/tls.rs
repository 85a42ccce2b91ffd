//! The client's TLS (the `tls` feature): the settings a builder collects for `https://` base URLs, and
//! the built-in transports over rustls.

use std::sync::Arc;

use hyper_rustls::HttpsConnector;

use crate::ConfigError;
use crate::client::balancer::EndpointTransports;
use crate::client::default_transport::PinnedConnector;
use crate::client::default_transport::built_in;
use crate::client::transport::{Dispatch, HttpVersion};
use crate::http2::Http2Settings;
use crate::tls::{
    ALPN_H2, ALPN_HTTP1, certificates_from_pem, default_roots, private_key_from_pem, provider,
    root_store_from_pem,
};

/// TLS settings a [`ClientBuilder`](crate::client::ClientBuilder) collects for `https://` base URLs.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// PEM trust anchors replacing the default (public web) roots; empty: the defaults.
    pub roots_pem: Vec<u8>,
    /// PEM certificate chain and private key to present to servers that ask (mutual TLS).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// A hand-made rustls configuration replacing all of the above.
    pub config: Option<rustls::ClientConfig>,
}

impl TlsSettings {
    pub(crate) fn is_set(&self) -> bool {
        !self.roots_pem.is_empty() || self.identity.is_some() || self.config.is_some()
    }

    /// The rustls configuration, with ALPN offering exactly `version`.
    fn client_config(self, version: HttpVersion) -> Result<rustls::ClientConfig, ConfigError> {
        let mut config = match self.config {
            Some(config) => {
                if !self.roots_pem.is_empty() || self.identity.is_some() {
                    return Err(ConfigError::new(
                        "tls_config cannot be combined with tls_root_certificates_pem or \
                         tls_client_identity_pem: put the roots and the identity in the rustls \
                         configuration",
                    ));
                }
                config
            }
            None => {
                let roots = if self.roots_pem.is_empty() {
                    default_roots()
                } else {
                    Arc::new(root_store_from_pem(
                        &self.roots_pem,
                        "TLS root certificates",
                    )?)
                };
                let builder = rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| {
                        ConfigError::with_source(format!("TLS protocol versions: {e}"), e)
                    })?
                    .with_root_certificates(roots);
                match self.identity {
                    None => builder.with_no_client_auth(),
                    Some((chain_pem, key_pem)) => {
                        let chain = certificates_from_pem(&chain_pem, "client certificate chain")?;
                        let key = private_key_from_pem(&key_pem, "client private key")?;
                        builder.with_client_auth_cert(chain, key).map_err(|e| {
                            ConfigError::with_source(
                                format!("client certificate chain and private key: {e}"),
                                e,
                            )
                        })?
                    }
                }
            }
        };
        config.alpn_protocols = match version {
            HttpVersion::Http1 => vec![ALPN_HTTP1.to_vec()],
            HttpVersion::Http2 => vec![ALPN_H2.to_vec()],
            HttpVersion::Http3 => vec![b"h3".to_vec()],
        };
        Ok(config)
    }
}

/// Builds the pooled transport over TLS: rustls with ALPN offering exactly `version`.
pub(crate) fn https_transport(
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
    connect_timeout: Option<std::time::Duration>,
) -> Result<Dispatch, ConfigError> {
    let config = tls.client_config(version)?;
    if version == HttpVersion::Http3 {
        return h3_transport(config, http2, connect_timeout);
    }
    let mut http = crate::client::default_transport::tcp_connector(connect_timeout);
    // The TLS connector wraps it: it must accept https URIs.
    http.enforce_http(false);
    let mut connector = HttpsConnector::from((http, Arc::new(config)));
    connector.enforce_https();
    Ok(built_in(connector, version, http2))
}

/// The transports of a balanced client's `https://` endpoints (HTTP/1.1 or HTTP/2), each dialing its
/// endpoint's address and naming the base URL's host to TLS.
pub(crate) fn https_endpoint_transports(
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
    connect_timeout: Option<std::time::Duration>,
) -> Result<EndpointTransports, ConfigError> {
    let config = Arc::new(tls.client_config(version)?);
    Ok(Box::new(move |address| {
        let mut tcp = crate::client::default_transport::tcp_connector(connect_timeout);
        tcp.enforce_http(false);
        let pinned = PinnedConnector::new(tcp, address);
        let mut connector = HttpsConnector::from((pinned, config.clone()));
        connector.enforce_https();
        built_in(connector, version, http2).into_send_request()
    }))
}

/// The HTTP/3 transport over `config`. Its connections PING every 10 seconds, well inside QUIC's
/// 30-second idle timeout, so that quiet streams live on; an idle connection is released when the
/// server closes it (after the server's idle timeout). (HTTP/2's keepalive settings do not apply:
/// QUIC's PINGs cost one small packet and need no answer from the application.)
#[cfg(feature = "http3")]
fn h3_transport(
    config: rustls::ClientConfig,
    _http2: Http2Settings,
    connect_timeout: Option<std::time::Duration>,
) -> Result<Dispatch, ConfigError> {
    let settings = crate::http3::quic::QuicSettings {
        // Servers open no streams towards an HTTP/3 client.
        max_concurrent_streams: 0,
        keep_alive_interval: Some(std::time::Duration::from_secs(10)),
        max_idle_timeout: std::time::Duration::from_secs(30),
        send_window: 4 * 1024 * 1024,
    };
    let config = crate::http3::quic::client_config(config, &settings)?;
    Ok(Dispatch::Direct(Arc::new(
        crate::client::h3_channel::H3Channel::new(config, connect_timeout),
    )))
}

/// Without the `http3` feature there is no HTTP/3 transport.
#[cfg(not(feature = "http3"))]
fn h3_transport(
    _: rustls::ClientConfig,
    _: Http2Settings,
    _: Option<std::time::Duration>,
) -> Result<Dispatch, ConfigError> {
    Err(ConfigError::new(
        "HttpVersion::Http3 needs trident's `http3` cargo feature",
    ))
}
