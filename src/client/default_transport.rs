//! The transport a client builds for itself when given none: for HTTP/1.1, hyper-util's pooled client;
//! for HTTP/2, one multiplexed connection per origin (`h2_channel.rs`); both in cleartext, or over TLS
//! (rustls, `tls.rs`) for `https://` base URLs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;

use crate::ConfigError;
use crate::body::Body;
use crate::client::balancer::EndpointTransports;
use crate::client::h2_channel::H2Channel;
#[cfg(feature = "tls")]
pub(crate) use crate::client::tls::TlsSettings;
#[cfg(feature = "tls")]
use crate::client::tls::https_endpoint_transports;
#[cfg(feature = "tls")]
use crate::client::tls::https_transport;
use crate::client::transport::{Dispatch, HttpVersion, HyperTransport, Transport};
use crate::http2::Http2Settings;

/// The TCP connector every built-in transport starts from: no Nagle delay, and `connect_timeout`.
pub(crate) fn tcp_connector(connect_timeout: Option<Duration>) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(connect_timeout);
    connector
}

/// A TCP connector that dials one address whatever the URI names: a balanced client's endpoint,
/// whose requests keep the base URL's authority (and, over TLS, its server name).
#[derive(Clone)]
pub(crate) struct PinnedConnector {
    tcp: HttpConnector,
    /// `http://<address>/`, what the TCP connector is asked for.
    address: http::Uri,
}

impl PinnedConnector {
    pub(crate) fn new(tcp: HttpConnector, address: SocketAddr) -> Self {
        let address = http::Uri::builder()
            .scheme("http")
            .authority(address.to_string())
            .path_and_query("/")
            .build()
            .unwrap_or_default();
        Self { tcp, address }
    }
}

impl tower::Service<http::Uri> for PinnedConnector {
    type Response = <HttpConnector as tower::Service<http::Uri>>::Response;
    type Error = <HttpConnector as tower::Service<http::Uri>>::Error;
    type Future = <HttpConnector as tower::Service<http::Uri>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.tcp.poll_ready(cx)
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        self.tcp.call(self.address.clone())
    }
}

/// The transports of a balanced client's endpoints (see `balancer.rs`): the built-in transport for
/// `version`, over TLS for `https`, each dialing its endpoint's address.
pub(crate) fn endpoint_transports(
    scheme: Option<&str>,
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
    connect_timeout: Option<Duration>,
) -> Result<EndpointTransports, ConfigError> {
    if version == HttpVersion::Http3 {
        return Err(ConfigError::new(
            "balancing over endpoints works over HTTP/1.1 and HTTP/2, not yet over HTTP/3",
        ));
    }
    if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https")) {
        return https_endpoint_transports(version, tls, http2, connect_timeout);
    }
    if tls.is_set() {
        return Err(ConfigError::new("TLS settings need an https:// base URL"));
    }
    Ok(Box::new(move |address| {
        let connector = PinnedConnector::new(tcp_connector(connect_timeout), address);
        built_in(connector, version, http2).into_send_request()
    }))
}

/// Builds the default cleartext transport; `http2` configures the HTTP/2 one (HTTP/1.1 ignores it).
pub(crate) fn http_transport(
    version: HttpVersion,
    http2: Http2Settings,
    connect_timeout: Option<Duration>,
) -> Dispatch {
    built_in(tcp_connector(connect_timeout), version, http2)
}

/// The built-in transport over `connector`: for HTTP/2, the channel (`h2_channel.rs`) configured by
/// `http2`; for HTTP/1.1, hyper-util's pool.
pub(crate) fn built_in<C>(connector: C, version: HttpVersion, http2: Http2Settings) -> Dispatch
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read
        + hyper::rt::Write
        + hyper_util::client::legacy::connect::Connection
        + Unpin
        + Send
        + 'static,
    C::Future: Unpin + Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if version == HttpVersion::Http2 {
        return Dispatch::Direct(Arc::new(H2Channel::new(connector, http2)));
    }
    let client: HyperClient<C, Body> = HyperClient::builder(TokioExecutor::new()).build(connector);
    Dispatch::Tower(BoxCloneSyncService::new(HyperTransport { client }))
}

/// The transport a client built for `scheme` uses: `custom` if given, else the built-in one for
/// `version` (pooled HTTP/1.1, or the HTTP/2 channel configured by `http2`), over TLS for `https`.
pub(crate) fn client_transport(
    custom: Option<Transport>,
    scheme: Option<&str>,
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
    connect_timeout: Option<Duration>,
) -> Result<Dispatch, ConfigError> {
    let https = scheme.is_some_and(|s| s.eq_ignore_ascii_case("https"));
    match custom {
        Some(_) if tls.is_set() => Err(ConfigError::new(
            "TLS settings only apply to the built-in transport, not to a custom one",
        )),
        Some(custom) => Ok(Dispatch::Tower(custom)),
        None if https => https_transport(version, tls, http2, connect_timeout),
        None if version == HttpVersion::Http3 => Err(ConfigError::new(
            "HTTP/3 needs an https:// base URL (QUIC is always encrypted)",
        )),
        None if tls.is_set() => Err(ConfigError::new("TLS settings need an https:// base URL")),
        None => Ok(http_transport(version, http2, connect_timeout)),
    }
}

/// Without the `tls` feature there are no TLS settings to collect.
#[cfg(not(feature = "tls"))]
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    _none: (),
}

#[cfg(not(feature = "tls"))]
impl TlsSettings {
    fn is_set(&self) -> bool {
        false
    }
}

/// Without the `tls` feature, `https://` endpoints cannot be called.
#[cfg(not(feature = "tls"))]
fn https_endpoint_transports(
    _: HttpVersion,
    _: TlsSettings,
    _: Http2Settings,
    _: Option<Duration>,
) -> Result<EndpointTransports, ConfigError> {
    Err(ConfigError::new(
        "https:// base URLs need TLS, and this build of trident has no `tls` feature",
    ))
}

/// Without the `tls` feature, `https://` base URLs cannot be served.
#[cfg(not(feature = "tls"))]
fn https_transport(
    _: HttpVersion,
    _: TlsSettings,
    _: Http2Settings,
    _: Option<Duration>,
) -> Result<Dispatch, ConfigError> {
    Err(ConfigError::new(
        "https:// base URLs need TLS, and this build of trident has no `tls` feature",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the `tls` feature an https:// client cannot be built, and says why.
    #[cfg(not(feature = "tls"))]
    #[test]
    fn https_needs_the_tls_feature() {
        let Err(error) = client_transport(
            None,
            Some("https"),
            HttpVersion::Http2,
            TlsSettings::default(),
            Http2Settings::default(),
            None,
        ) else {
            panic!("an https transport without TLS support");
        };
        assert!(error.message().contains("`tls` feature"), "{error}");
    }

    #[test]
    fn cleartext_and_custom_transports_build() {
        assert!(
            client_transport(
                None,
                Some("http"),
                HttpVersion::Http1,
                TlsSettings::default(),
                Http2Settings::default(),
                None,
            )
            .is_ok()
        );
        let custom =
            http_transport(HttpVersion::Http1, Http2Settings::default(), None).into_transport();
        assert!(
            client_transport(
                Some(custom),
                Some("https"),
                HttpVersion::Http1,
                TlsSettings::default(),
                Http2Settings::default(),
                None,
            )
            .is_ok()
        );
    }
}
