//! Client transports: anything that turns an HTTP request into a response, as a tower `Service`
//! ([`Transport`]), how a call reaches one ([`Dispatch`]), the HTTP version a client asks for, and how
//! transport failures become errors. Which transport a client builds for itself is
//! `default_transport.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::Connect;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use crate::body::Body;
use crate::error::Delivery;
use crate::{Code, Error};

/// A boxed, cloneable transport.
pub type Transport = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Error>;

/// The future of one HTTP exchange, as a call awaits it.
pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, Error>> + Send>>;

/// The future of opening a connection (see [`SendRequest::connect`]).
pub(crate) type ConnectFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// A transport a call can use without tower's per-call service clone and future boxing (the built-in
/// HTTP/2 channel, and the balancer).
pub(crate) trait SendRequest: Send + Sync + 'static {
    /// Sends `request`; the future yields the response head.
    fn send_request(self: Arc<Self>, request: http::Request<Body>) -> ResponseFuture;

    /// Whether a connection to `uri`'s origin is open (a transport that keeps none: always). With
    /// [`open_connection`](Self::open_connection), lets a balancer learn of a failed connect while it still holds the
    /// request, and send it elsewhere.
    fn is_connected(&self, _uri: &http::Uri) -> bool {
        true
    }

    /// Opens a connection to `uri`'s origin unless one is open, sending nothing.
    fn open_connection(self: Arc<Self>, _uri: &http::Uri) -> ConnectFuture {
        Box::pin(async { Ok(()) })
    }
}

/// A tower transport as a [`SendRequest`] (a balanced client's HTTP/1.1 endpoints).
struct TowerSend(Transport);

impl SendRequest for TowerSend {
    fn send_request(self: Arc<Self>, request: http::Request<Body>) -> ResponseFuture {
        Box::pin(self.0.clone().oneshot(request))
    }
}

/// How a client's calls reach its transport.
///
/// Through a boxed tower service, each call clones the service (a boxed clone) and boxes its future
/// twice (the service's own, then the box's), before the call boxes it once more to keep it: four
/// allocations a call. The built-in HTTP/2 channel is called directly instead, and its one boxed
/// future is the one the call keeps. Layers wrap the channel as a tower service again.
#[derive(Clone)]
pub(crate) enum Dispatch {
    /// The built-in HTTP/2 channel.
    Direct(Arc<dyn SendRequest>),
    /// Any other transport: the HTTP/1.1 pool, a custom one, or any wrapped in layers.
    Tower(Transport),
}

impl Dispatch {
    /// Sends `request` through the transport.
    pub fn send(&self, request: http::Request<Body>) -> ResponseFuture {
        match self {
            Dispatch::Direct(channel) => channel.clone().send_request(request),
            Dispatch::Tower(transport) => Box::pin(transport.clone().oneshot(request)),
        }
    }

    /// The transport as a [`SendRequest`] (a balanced client's endpoints).
    pub fn into_send_request(self) -> Arc<dyn SendRequest> {
        match self {
            Dispatch::Direct(channel) => channel,
            Dispatch::Tower(transport) => Arc::new(TowerSend(transport)),
        }
    }

    /// The transport as a tower service, for layers to wrap.
    pub fn into_transport(self) -> Transport {
        match self {
            Dispatch::Direct(channel) => BoxCloneSyncService::new(DirectService(channel)),
            Dispatch::Tower(transport) => transport,
        }
    }
}

/// A [`SendRequest`] transport as a tower service.
#[derive(Clone)]
struct DirectService(Arc<dyn SendRequest>);

impl tower::Service<http::Request<Body>> for DirectService {
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.0.clone().send_request(request)
    }
}

/// The HTTP version a client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 (over TLS, ALPN offers `http/1.1` only). Bidi streams are not possible.
    #[default]
    Http1,
    /// HTTP/2: with prior knowledge (h2c) on cleartext connections; over TLS, ALPN offers `h2` only.
    Http2,
    /// HTTP/3 over QUIC, for `https://` base URLs only (ALPN `h3`, TLS 1.3), with the `http3` cargo
    /// feature: one QUIC connection per origin carries every call, and bidi streams work. Building a
    /// client for an `http://` URL, or without the feature, fails with a [`ConfigError`](crate::ConfigError).
    Http3,
}

impl HttpVersion {
    /// The `http` crate's name for this version.
    pub(crate) fn as_http(self) -> http::Version {
        match self {
            HttpVersion::Http1 => http::Version::HTTP_11,
            HttpVersion::Http2 => http::Version::HTTP_2,
            HttpVersion::Http3 => http::Version::HTTP_3,
        }
    }
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

/// Maps a transport failure to an error: `unavailable`, unless it is already a Trident error; marked
/// with what the failure proves about the call's delivery.
pub(crate) fn transport_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let error = error.into();
    let delivery = delivery_of(error.as_ref());
    let error = unavailable(error);
    if delivery == Delivery::Unknown {
        error
    } else {
        error.with_delivery(delivery)
    }
}

/// What a transport failure (or an error in its source chain) proves about the call's delivery:
///
/// - hyper-util's pooled client failed to connect: nothing was sent;
/// - h2 reports the stream reset with REFUSED_STREAM, or failed by a graceful GOAWAY: h2 fails a
///   stream with the GOAWAY's own error only when its id is above the GOAWAY's last stream id (the
///   server names those unprocessed). Only GOAWAYs with NO_ERROR count: a cautious reading, since
///   one with an error code ends the connection, and the streams it leaves may fail in other ways.
fn delivery_of(error: &(dyn std::error::Error + 'static)) -> Delivery {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(pooled) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && pooled.is_connect()
        {
            return Delivery::NotConnected;
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            let refused = h2.is_remote()
                && (h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                    || (h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR)));
            return if refused {
                Delivery::Refused
            } else {
                Delivery::Unknown
            };
        }
        current = e.source();
    }
    Delivery::Unknown
}

/// The failure as an error: `unavailable`, unless it is already a Trident error.
fn unavailable(error: Box<dyn std::error::Error + Send + Sync>) -> Error {
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
            text.push_str(tls_hint(&text));
            Error::with_source(Code::Unavailable, text, other)
        }
    }
}

/// What to do about the two certificate failures that self-made certificates run into, appended to
/// the error's message. `openssl req -x509` marks its certificates as CAs and names no host in the
/// subject alternative names, and TLS clients built on webpki (rustls, browsers) refuse both.
fn tls_hint(message: &str) -> &'static str {
    if message.contains("CaUsedAsEndEntity") {
        " (the server's certificate is marked as a CA, basicConstraints CA:TRUE, which TLS clients do \
         not accept as a server's own certificate; `openssl req -x509` makes such certificates unless \
         given `-addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:<host>`; or \
         issue the server's certificate from a CA and trust the CA)"
    } else if message.contains("NotValidForName") {
        " (the server's certificate names no subjectAltName matching the host in the URL; TLS clients \
         do not read the common name (CN): make it with \
         `-addext subjectAltName=DNS:<host>` or `IP:<address>`)"
    } else {
        ""
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
