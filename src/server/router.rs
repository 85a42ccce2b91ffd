//! The server's entry point: a `tower::Service` that routes `/{package.Service}/{Method}` to handlers,
//! after working out protocol, codec, compression and deadline from the request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;

use crate::body::Body;
use crate::client::Http2Settings;
use crate::codec::{Codec, JsonCodec, Message, ProtoCodec};
use crate::compression::CompressionRegistry;
use crate::limits::{DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_READ_MAX_BYTES};
use crate::method::MethodSpec;
use crate::protocol::server::{Offer, negotiate, plain_status};
use crate::server::call::ServerCall;
use crate::server::cors::Cors;
use crate::server::drain::DrainOnDrop;
use crate::server::handler::{self, Handler};
use crate::server::outgoing::ResponseStream;
use crate::server::streaming::Streaming;
use crate::{ConfigError, Error, Request, Response};

/// The handlers of one service, built by generated `*_routes` functions (or by hand).
pub struct ServiceRoutes {
    service: &'static str,
    routes: Vec<Route>,
}

#[derive(Clone)]
struct Route {
    spec: &'static MethodSpec,
    handler: Handler,
}

impl ServiceRoutes {
    /// An empty set of routes for the fully-qualified service name.
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            routes: Vec::new(),
        }
    }

    /// The service name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    fn push(mut self, spec: &'static MethodSpec, handler: Handler) -> Self {
        self.routes.push(Route { spec, handler });
        self
    }

    /// Adds a unary method.
    pub fn unary<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
    {
        self.push(spec, handler::unary_handler(handler))
    }

    /// Adds a server-streaming method.
    pub fn server_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
    {
        self.push(spec, handler::server_stream_handler(handler))
    }

    /// Adds a client-streaming method.
    pub fn client_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
    {
        self.push(spec, handler::client_stream_handler(handler))
    }

    /// Adds a bidi-streaming method.
    pub fn bidi_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
    {
        self.push(spec, handler::bidi_stream_handler(handler))
    }
}

/// Routes requests to services. Cheap to clone; mount it in hyper, axum or any tower stack.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    routes: HashMap<&'static str, Route>,
    offer: Offer,
    cors: Option<Cors>,
    fallback: Option<Fallback>,
    http2_max_concurrent_streams: Option<u32>,
    http2: Http2Settings,
}

/// Answers requests whose path is no method of this router.
type Fallback = Arc<
    dyn Fn(http::Request<Body>) -> Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>
        + Send
        + Sync,
>;

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl Router {
    /// A router with no services, the proto and JSON codecs, gzip, and a 4 MiB receive limit.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                routes: HashMap::new(),
                offer: Offer {
                    codecs: vec![Arc::new(ProtoCodec), Arc::new(JsonCodec)],
                    compression: CompressionRegistry::new(),
                    read_max_bytes: DEFAULT_READ_MAX_BYTES,
                    send_max_bytes: 0,
                    compress_min_bytes: DEFAULT_COMPRESS_MIN_BYTES,
                },
                cors: None,
                fallback: None,
                http2_max_concurrent_streams: None,
                http2: Http2Settings::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Adds a service's routes. Fails, naming the path, if a method is already routed (the same service
    /// added twice, or two methods of one path).
    #[allow(clippy::should_implement_trait)] // `Router::new().add(..)` reads best; it is no `+`.
    pub fn add(mut self, routes: ServiceRoutes) -> Result<Self, ConfigError> {
        let inner = Arc::make_mut(&mut self.inner);
        for route in &routes.routes {
            let duplicates = routes
                .routes
                .iter()
                .filter(|other| other.spec.path == route.spec.path)
                .count();
            if duplicates > 1 || inner.routes.contains_key(route.spec.path) {
                return Err(ConfigError::new(format!(
                    "{} is routed twice: add each service to a router once",
                    route.spec.path
                )));
            }
        }
        for route in routes.routes {
            inner.routes.insert(route.spec.path, route);
        }
        Ok(self)
    }

    /// Limits the uncompressed size of received messages (0: no limit). Default 4 MiB.
    pub fn read_max_bytes(self, max: usize) -> Self {
        self.edit(|inner| inner.offer.read_max_bytes = max)
    }

    /// Limits the uncompressed size of sent messages (0: no limit, the default).
    pub fn send_max_bytes(self, max: usize) -> Self {
        self.edit(|inner| inner.offer.send_max_bytes = max)
    }

    /// Sets the supported compressions (default: gzip).
    pub fn compression(self, registry: CompressionRegistry) -> Self {
        self.edit(|inner| inner.offer.compression = registry)
    }

    /// Messages smaller than this are sent uncompressed (default 1 KiB).
    pub fn compress_min_bytes(self, min: usize) -> Self {
        self.edit(|inner| inner.offer.compress_min_bytes = min)
    }

    /// Adds (or replaces) a codec, selected by the content type's suffix.
    pub fn codec(self, codec: Arc<dyn Codec>) -> Self {
        self.edit(|inner| {
            inner.offer.codecs.retain(|c| c.name() != codec.name());
            inner.offer.codecs.push(codec);
        })
    }

    /// Switches on CORS, so that browsers may call from pages of the origins `cors` allows: preflights
    /// to this router's methods are answered, and responses carry the CORS headers. Off by default; see [`Cors`].
    pub fn cors(self, cors: Cors) -> Self {
        self.edit(|inner| inner.cors = Some(cors))
    }

    /// Answers requests to paths that are no method of this router (static files, health checks, ...)
    /// with `fallback` instead of 404.
    pub fn fallback<F, Fut>(self, fallback: F) -> Self
    where
        F: Fn(http::Request<Body>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = http::Response<Body>> + Send + 'static,
    {
        let fallback: Fallback = Arc::new(move |request| Box::pin(fallback(request)));
        self.edit(|inner| inner.fallback = Some(fallback))
    }

    /// How many streams one HTTP/2 connection may carry at once, when served by [`serve`](crate::serve)
    /// or [`serve_tls`](crate::serve_tls) (hyper's default is 200). Long-lived watch streams may need more.
    pub fn http2_max_concurrent_streams(self, max: u32) -> Self {
        self.edit(|inner| inner.http2_max_concurrent_streams = Some(max))
    }

    /// The initial flow-control window of each HTTP/2 stream (SETTINGS_INITIAL_WINDOW_SIZE): how many
    /// bytes of one request a client may send before the handler reads them. Unset: hyper's default,
    /// 1 MiB. Raise it for large client-streamed or unary messages over high-latency links; lower it to
    /// bound what many concurrent streams may buffer. HTTP/2 allows 0 to 2^31-1: 0 (which would stall
    /// every request body) is taken as 1 and larger values as 2^31-1.
    ///
    /// Like the other `http2_*` options, it applies when the router is served by
    /// [`serve`](crate::serve) or [`serve_tls`](crate::serve_tls); mounted in another server, the router
    /// runs with that server's HTTP/2 settings.
    pub fn http2_initial_stream_window_size(self, size: u32) -> Self {
        self.edit(|inner| inner.http2.set_stream_window(size))
    }

    /// The flow-control window of a whole HTTP/2 connection, shared by its streams (announced with a
    /// WINDOW_UPDATE when the connection opens). Unset: hyper's default, 1 MiB. Raise it with the
    /// stream window when a connection carries many large uploads at once. HTTP/2 allows 65,535 (where
    /// it starts; SETTINGS cannot lower it) to 2^31-1; values outside are taken as the nearest bound.
    pub fn http2_initial_connection_window_size(self, size: u32) -> Self {
        self.edit(|inner| inner.http2.set_connection_window(size))
    }

    /// The largest HTTP/2 frame payload the server accepts (SETTINGS_MAX_FRAME_SIZE); what it sends is
    /// bounded by each client's own setting. Unset: 16 KiB, the protocol's minimum and hyper's
    /// default. Larger frames save a little per-frame work on large messages. HTTP/2 allows 16,384 to
    /// 16,777,215; values outside are taken as the nearest bound.
    pub fn http2_max_frame_size(self, size: u32) -> Self {
        self.edit(|inner| inner.http2.set_max_frame_size(size))
    }

    /// hyper's adaptive HTTP/2 flow control, which starts both windows at 64 KiB and grows them with
    /// the measured bandwidth-delay product; when on, the window sizes set above are not used. Off
    /// unless set (hyper's default). Worth trying when clients upload large messages over links whose
    /// latency is unknown; fixed windows suit many small concurrent streams better.
    pub fn http2_adaptive_window(self, enabled: bool) -> Self {
        self.edit(|inner| inner.http2.adaptive_window = Some(enabled))
    }

    /// The connection builder `serve` and `serve_tls` use, with this router's HTTP/2 settings.
    pub(crate) fn connection_builder(
        &self,
    ) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        let mut http2 = builder.http2();
        if let Some(max) = self.inner.http2_max_concurrent_streams {
            http2.max_concurrent_streams(max);
        }
        // The setters clamped these into HTTP/2's ranges, so h2 cannot panic on them.
        let settings = &self.inner.http2;
        if let Some(size) = settings.stream_window {
            http2.initial_stream_window_size(size);
        }
        if let Some(size) = settings.connection_window {
            http2.initial_connection_window_size(size);
        }
        if let Some(size) = settings.max_frame_size {
            http2.max_frame_size(size);
        }
        // Last, so that it wins: hyper's adaptive window starts both windows at 65,535.
        if let Some(enabled) = settings.adaptive_window {
            http2.adaptive_window(enabled);
        }
        builder
    }

    /// Handles one HTTP request.
    pub async fn handle(&self, request: http::Request<Body>) -> http::Response<Body> {
        let inner = self.inner.clone();
        inner.dispatch(request).await
    }
}

impl Inner {
    async fn dispatch(self: Arc<Self>, request: http::Request<Body>) -> http::Response<Body> {
        let (parts, body) = request.into_parts();
        let version = parts.version;
        let body = if version < http::Version::HTTP_2 {
            Body::new(DrainOnDrop::new(body))
        } else {
            body
        };
        // CORS, when on: preflights to known paths are answered here; other responses get its headers.
        let cors = self.cors.as_ref().map(|cors| cors.inspect(&parts));
        if let Some(cors) = &cors
            && cors.is_preflight()
            && self.routes.contains_key(parts.uri.path())
        {
            let mut response = cors.preflight_response();
            *response.version_mut() = version;
            return response;
        }
        let mut response = match self.routes.get(parts.uri.path()) {
            None => match &self.fallback {
                Some(fallback) => fallback(http::Request::from_parts(parts, body)).await,
                None => plain_status(StatusCode::NOT_FOUND),
            },
            Some(route) => match negotiate(&parts, route.spec, &self.offer) {
                Ok(negotiated) => {
                    let call = ServerCall::new(route.spec, negotiated, parts, body);
                    (route.handler)(call).await
                }
                Err(response) => *response,
            },
        };
        if let Some(cors) = &cors {
            cors.decorate(response.headers_mut());
        }
        // hyper sets the version itself; in-memory transports see the request's.
        *response.version_mut() = version;
        response
    }
}

impl<B> tower::Service<http::Request<B>> for Router
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.dispatch(request.map(Body::new)).await) })
    }
}
