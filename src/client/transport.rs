//! Client transports: anything that turns an HTTP request into a response, as a tower `Service`.
//! The defaults: for HTTP/1.1, hyper-util's pooled client; for HTTP/2, one multiplexed connection per
//! origin (`h2_channel`); both in cleartext, or over TLS (rustls) for `https://` base URLs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use crate::body::Body;
use crate::client::h2_channel::{H2Channel, Http2Settings};
use crate::tls::{
    ALPN_H2, ALPN_HTTP1, certificates_from_pem, config_error, default_roots, private_key_from_pem,
    provider, root_store_from_pem,
};
use crate::{Code, Error};

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

/// TLS settings a [`ClientBuilder`](crate::ClientBuilder) collects for `https://` base URLs.
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
    fn is_set(&self) -> bool {
        !self.roots_pem.is_empty() || self.identity.is_some() || self.config.is_some()
    }

    /// The rustls configuration, with ALPN offering exactly `version`.
    fn client_config(self, version: HttpVersion) -> Result<rustls::ClientConfig, Error> {
        let mut config = match self.config {
            Some(config) => {
                if !self.roots_pem.is_empty() || self.identity.is_some() {
                    return Err(config_error(
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
                    .map_err(|e| config_error(format!("TLS protocol versions: {e}")))?
                    .with_root_certificates(roots);
                match self.identity {
                    None => builder.with_no_client_auth(),
                    Some((chain_pem, key_pem)) => {
                        let chain = certificates_from_pem(&chain_pem, "client certificate chain")?;
                        let key = private_key_from_pem(&key_pem, "client private key")?;
                        builder.with_client_auth_cert(chain, key).map_err(|e| {
                            config_error(format!("client certificate chain and private key: {e}"))
                        })?
                    }
                }
            }
        };
        config.alpn_protocols = match version {
            HttpVersion::Http1 => vec![ALPN_HTTP1.to_vec()],
            HttpVersion::Http2 => vec![ALPN_H2.to_vec()],
        };
        Ok(config)
    }
}

/// The transport a client built for `scheme` uses: `custom` if given, else the built-in one for
/// `version` (pooled HTTP/1.1, or the HTTP/2 channel configured by `http2`), over TLS for `https`.
pub(crate) fn client_transport(
    custom: Option<Transport>,
    scheme: Option<&str>,
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
) -> Result<Transport, Error> {
    let https = scheme.is_some_and(|s| s.eq_ignore_ascii_case("https"));
    match custom {
        Some(_) if tls.is_set() => Err(config_error(
            "TLS settings only apply to the built-in transport, not to a custom one",
        )),
        Some(custom) => Ok(custom),
        None if https => https_transport(version, tls, http2),
        None if tls.is_set() => Err(config_error("TLS settings need an https:// base URL")),
        None => Ok(http_transport(version, http2)),
    }
}

/// Builds the pooled transport over TLS: rustls with ALPN offering exactly `version`.
fn https_transport(
    version: HttpVersion,
    tls: TlsSettings,
    http2: Http2Settings,
) -> Result<Transport, Error> {
    let config = tls.client_config(version)?;
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    // The TLS connector wraps it: it must accept https URIs.
    http.enforce_http(false);
    let mut connector = HttpsConnector::from((http, Arc::new(config)));
    connector.enforce_https();
    if version == HttpVersion::Http2 {
        return Ok(BoxCloneSyncService::new(H2Channel::new(connector, http2)));
    }
    let client: HyperClient<HttpsConnector<HttpConnector>, Body> =
        HyperClient::builder(TokioExecutor::new()).build(connector);
    Ok(BoxCloneSyncService::new(HyperTransport { client }))
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
struct HyperTransport<C> {
    client: HyperClient<C, Body>,
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
