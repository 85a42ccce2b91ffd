//! Client transports: anything that turns an HTTP request into a response, as a tower `Service`.
//! The defaults: for HTTP/1.1, hyper-util's pooled client; for HTTP/2, one multiplexed connection per
//! origin (`h2_channel`); both in cleartext, or over TLS (rustls, in `tls.rs`) for `https://` base URLs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use crate::body::Body;
use crate::client::h2_channel::H2Channel;
#[cfg(feature = "tls")]
pub(crate) use crate::client::tls::TlsSettings;
#[cfg(feature = "tls")]
use crate::client::tls::https_transport;
use crate::http2::Http2Settings;
use crate::{Code, ConfigError, Error};

/// A boxed, cloneable transport.
pub type Transport = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Error>;

/// The HTTP version a client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 (over TLS, ALPN offers `http/1.1` only). Bidi streams are not possible.
    #[default]
    Http1,
    /// HTTP/2: with prior knowledge (h2c) on cleartext connections; over TLS, ALPN offers `h2` only.
    Http2,
}

/// Builds the default cleartext transport; `http2` configures the HTTP/2 one (HTTP/1.1 ignores it).
pub(crate) fn http_transport(version: HttpVersion, http2: Http2Settings) -> Transport {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    if version == HttpVersion::Http2 {
        return BoxCloneSyncService::new(H2Channel::new(connector, http2));
    }
    let client: HyperClient<HttpConnector, Body> =
        HyperClient::builder(TokioExecutor::new()).build(connector);
    BoxCloneSyncService::new(HyperTransport { client })
}

/// The transport a client built for `scheme` uses: `custom` if given, else the built-in one for
/// `version` (pooled HTTP/1.1, or the HTTP/2 channel configured by `http2`), over TLS for `https`.
pub(crate) fn client_transport(
    custom: Option<Transport>,
    scheme: Option<&str>,
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
) -> Result<Transport, ConfigError> {
    let https = scheme.is_some_and(|s| s.eq_ignore_ascii_case("https"));
    match custom {
        Some(_) if tls.is_set() => Err(ConfigError::new(
            "TLS settings only apply to the built-in transport, not to a custom one",
        )),
        Some(custom) => Ok(custom),
        None if https => https_transport(version, tls, http2),
        None if tls.is_set() => Err(ConfigError::new("TLS settings need an https:// base URL")),
        None => Ok(http_transport(version, http2)),
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

/// Without the `tls` feature, `https://` base URLs cannot be served.
#[cfg(not(feature = "tls"))]
fn https_transport(
    _: HttpVersion,
    _: TlsSettings,
    _: Http2Settings,
) -> Result<Transport, ConfigError> {
    Err(ConfigError::new(
        "https:// base URLs need TLS, and this build of trident has no `tls` feature",
    ))
}

/// Wraps any tower service that speaks `http` with compatible bodies into a [`Transport`].
pub fn boxed_transport<S, B>(service: S) -> Transport
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    BoxCloneSyncService::new(
        service
            .map_response(|response: http::Response<B>| response.map(Body::new))
            .map_err(transport_error),
    )
}

#[derive(Clone)]
pub(crate) struct HyperTransport<C> {
    pub(crate) client: HyperClient<C, Body>,
}

impl<C> tower::Service<http::Request<Body>> for HyperTransport<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let future = self.client.request(request);
        Box::pin(async move {
            future
                .await
                .map(|response| response.map(Body::new))
                .map_err(transport_error)
        })
    }
}

/// Maps a transport failure to an error: `unavailable`, unless it is already a Trident error.
pub(crate) fn transport_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let error = error.into();
    match error.downcast::<Error>() {
        Ok(error) => *error,
        Err(other) => {
            // hyper-util wraps the real cause; show the whole chain.
            let mut text = other.to_string();
            let mut source = other.source();
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            if let Some(inner) = find_trident_error(other.as_ref()) {
                return inner;
            }
            Error::with_source(Code::Unavailable, text, other)
        }
    }
}

/// A Trident error hidden in a transport error's source chain (a request body that failed).
fn find_trident_error(error: &(dyn std::error::Error + 'static)) -> Option<Error> {
    let mut current = error.source();
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<Error>() {
            return Some(found.clone());
        }
        current = e.source();
    }
    None
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
            )
            .is_ok()
        );
        let custom = http_transport(HttpVersion::Http1, Http2Settings::default());
        assert!(
            client_transport(
                Some(custom),
                Some("https"),
                HttpVersion::Http1,
                TlsSettings::default(),
                Http2Settings::default(),
            )
            .is_ok()
        );
    }
}
