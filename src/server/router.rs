//! The router: a `tower::Service` that routes `/{package.Service}/{Method}` to handlers. It answers CORS
//! preflights and unknown paths itself, has `protocol::server::negotiate` settle how each call travels,
//! and hands the negotiated call to the method's handler.
//!
//! Routes are keyed by path. What protocols add to that (a variant of a service that a call's headers
//! name, looser spellings of a path; Triple has both) the router asks `protocol::routing` for: it names
//! no protocol's headers itself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::body::Body;
use crate::codec::{Codec, JsonCodec, Message, ProtoCodec};
use crate::compression::CompressionRegistry;
use crate::interceptor::{Chain, Interceptor};
use crate::limits::{DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_READ_MAX_BYTES};
use crate::method::MethodSpec;
use crate::protocol::PROTOCOLS;
use crate::protocol::rest::matcher::Found;
use crate::protocol::rest::{self, Bindings, HttpRule, Messages, RestMatch};
use crate::protocol::routing::{self, Variant};
use crate::protocol::server::{Offer, error_response_for, negotiate, plain_status};
use crate::protocol::websocket::WebSocketOptions;
use crate::server::ConnectionScope;
use crate::server::call::ServerCall;
use crate::server::drain::DrainOnDrop;
use crate::server::handler::{self, Handler};
use crate::server::outgoing::ResponseStream;
use crate::server::recover::{HandlerPanic, PanicHook, Recovery};
use crate::server::streaming::Streaming;
use crate::server::websocket;
use crate::{ConfigError, Error, Request, Response};

/// The handlers of one service, built by generated `*_routes` functions (or by hand).
pub struct ServiceRoutes {
    service: &'static str,
    routes: Vec<Route>,
    interceptors: Vec<Arc<dyn Interceptor>>,
    /// Which implementation of the service these handlers are, when a protocol lets one service
    /// have several (set through that protocol's options); the default one unless told otherwise.
    variant: Variant,
    /// Other service names these handlers answer to (set through a protocol's options).
    aliases: Vec<Box<str>>,
    /// REST bindings of these methods (set through `rest::RestRoutes`), in the order added.
    http_rules: Vec<(&'static MethodSpec, HttpRule)>,
}

#[derive(Clone)]
struct Route {
    spec: &'static MethodSpec,
    handler: Handler,
    /// The request and response message types, which REST bindings read and write by reflection.
    messages: Messages,
    /// The interceptors of the route's service, outermost first.
    service_interceptors: Vec<Arc<dyn Interceptor>>,
    /// The router's interceptors, then the service's: what a call goes through.
    chain: Chain,
}

impl ServiceRoutes {
    /// An empty set of routes for the fully-qualified service name.
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            routes: Vec::new(),
            interceptors: Vec::new(),
            variant: Variant::default(),
            aliases: Vec::new(),
            http_rules: Vec::new(),
        }
    }

    /// Also serves `spec` at the REST binding `rule`. Public through `rest::RestRoutes`.
    pub(crate) fn push_http_rule(&mut self, spec: &'static MethodSpec, rule: HttpRule) {
        self.http_rules.push((spec, rule));
    }

    /// Which implementation of the service these handlers are: a protocol's route options set its
    /// labels (see `protocol/routing.rs`).
    pub(crate) fn variant_mut(&mut self) -> &mut Variant {
        &mut self.variant
    }

    /// Also serves these methods under the service name `name`: `/{name}/{Method}`, and the looser
    /// spellings of that path the protocols allow. Public through a protocol's route options.
    pub(crate) fn push_alias(&mut self, name: &str) {
        self.aliases.push(Box::from(name));
    }

    /// The service name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Runs `interceptor` around every call to this service, inside the router's interceptors and
    /// any attached to this service before it (see [`Interceptor`] for the order).
    pub fn intercept(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    fn push(mut self, spec: &'static MethodSpec, messages: Messages, handler: Handler) -> Self {
        self.routes.push(Route {
            spec,
            handler,
            messages,
            service_interceptors: Vec::new(),
            chain: Chain::default(),
        });
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
        self.push(
            spec,
            Messages::of::<Req, Res>(),
            handler::unary_handler(handler),
        )
    }

    /// Adds a server-streaming method.
    pub fn server_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
    {
        self.push(
            spec,
            Messages::of::<Req, Res>(),
            handler::server_stream_handler(handler),
        )
    }

    /// Adds a client-streaming method.
    pub fn client_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
    {
        self.push(
            spec,
            Messages::of::<Req, Res>(),
            handler::client_stream_handler(handler),
        )
    }

    /// Adds a bidi-streaming method.
    pub fn bidi_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
    {
        self.push(
            spec,
            Messages::of::<Req, Res>(),
            handler::bidi_stream_handler(handler),
        )
    }
}

/// Routes requests to services. Cheap to clone; mount it in hyper, axum or any tower stack.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

impl Router {
    /// The largest received message a router accepts unless told otherwise
    /// ([`read_max_bytes`](Self::read_max_bytes)), counted after decompression: 4 MiB.
    pub const DEFAULT_READ_MAX_BYTES: usize = DEFAULT_READ_MAX_BYTES;

    /// The size below which a router sends messages uncompressed unless told otherwise
    /// ([`compress_min_bytes`](Self::compress_min_bytes)): 1 KiB.
    pub const DEFAULT_COMPRESS_MIN_BYTES: usize = DEFAULT_COMPRESS_MIN_BYTES;

    /// How long a stream of server-sent events may stay silent before a router sends a heartbeat
    /// unless told otherwise ([`heartbeat_interval`](Self::heartbeat_interval)): 15 seconds, well
    /// inside the read timeouts of common proxies (nginx's and AWS's load balancers' 60 s).
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
}

#[derive(Clone)]
struct Inner {
    routes: HashMap<&'static str, Implementations>,
    /// Other paths of routes, to their own: the paths under their services' aliases, and the looser
    /// spellings of every path the protocols allow (`protocol::routing::loose_path`). Looked up only
    /// when no path matches exactly: as it is, then in its looser spelling.
    aliases: HashMap<Box<str>, &'static str>,
    /// The REST bindings of the routes (`protocol::rest`), asked for requests no path takes.
    rest: Bindings,
    offer: Offer,
    fallback: Option<Fallback>,
    on_panic: Option<PanicHook>,
    interceptors: Vec<Arc<dyn Interceptor>>,
    /// What is wrong with this router's configuration (a route added twice), one line each.
    problems: Vec<String>,
    /// How calls over WebSocket are served (`server/websocket.rs`).
    websocket: WebSocketOptions,
}

/// The implementations of one method: the default one, and those of other variants (see
/// `protocol/routing.rs`).
#[derive(Clone, Default)]
struct Implementations {
    routes: Vec<(Variant, Route)>,
}

impl Implementations {
    /// The implementation of the variant `headers` ask for (none: the default), or that variant
    /// when there is none.
    fn pick(&self, headers: &http::HeaderMap) -> Result<&Route, Variant> {
        let variant = routing::variant_of(headers);
        self.routes
            .iter()
            .find(|(v, _)| *v == variant)
            .map(|(_, route)| route)
            .ok_or(variant)
    }

    fn contains(&self, variant: &Variant) -> bool {
        self.routes.iter().any(|(v, _)| v == variant)
    }
}

/// Answers requests whose path is no method of this router.
type Fallback = Arc<
    dyn Fn(http::Request<Body>) -> Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// What a router offers until told otherwise: every protocol, the proto and JSON codecs, every built-in
/// compression, a 4 MiB receive limit, no send limit.
pub(crate) fn default_offer() -> Offer {
    Offer {
        protocols: PROTOCOLS,
        codecs: vec![Arc::new(ProtoCodec), Arc::new(JsonCodec)],
        compression: CompressionRegistry::new(),
        read_max_bytes: DEFAULT_READ_MAX_BYTES,
        send_max_bytes: 0,
        compress_min_bytes: DEFAULT_COMPRESS_MIN_BYTES,
        heartbeat: Some(Router::DEFAULT_HEARTBEAT_INTERVAL),
    }
}

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
                aliases: HashMap::new(),
                rest: Bindings::default(),
                offer: default_offer(),
                fallback: None,
                on_panic: None,
                interceptors: Vec::new(),
                problems: Vec::new(),
                websocket: WebSocketOptions::new(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Adds a service's routes.
    ///
    /// A method routed twice (the same service added twice, or two methods of one path) for the
    /// same variant (such as the same Triple service group and version,
    /// [`TripleRoutes`](crate::triple::TripleRoutes)) is a misconfiguration: the second service is
    /// not added, and the router reports it once, naming the path: [`Server::serve`](crate::Server::serve)
    /// fails at start with it, and [`check`](Self::check) returns it.
    #[allow(clippy::should_implement_trait)] // `Router::new().add(..)` reads best; it is no `+`.
    pub fn add(mut self, routes: ServiceRoutes) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        let variant = &routes.variant;
        for route in &routes.routes {
            let duplicates = routes
                .routes
                .iter()
                .filter(|other| other.spec.path == route.spec.path)
                .count();
            let taken = inner
                .routes
                .get(route.spec.path)
                .is_some_and(|routes| routes.contains(variant));
            if duplicates > 1 || taken {
                let variant = if variant.is_default() {
                    String::new()
                } else {
                    format!(" ({variant})")
                };
                inner.problems.push(format!(
                    "Router::add: {}{variant} is routed twice: add each service to a router once",
                    route.spec.path
                ));
                return self;
            }
        }
        for (spec, rule) in routes.http_rules {
            let messages = routes
                .routes
                .iter()
                .find(|route| route.spec.path == spec.path)
                .map(|route| route.messages.clone());
            let added = match messages {
                Some(messages) => inner.rest.add(spec, rule, messages),
                None => Err(format!(
                    "Router::add: the REST binding {rule} is for {}, which the service's routes do \
                     not serve",
                    spec.path
                )),
            };
            if let Err(problem) = added {
                inner.problems.push(problem);
            }
        }
        for mut route in routes.routes {
            route.service_interceptors = routes.interceptors.clone();
            route.chain = chain(&inner.interceptors, &route.service_interceptors);
            let path = route.spec.path;
            let method = route.spec.method;
            let names =
                std::iter::once(route.spec.service).chain(routes.aliases.iter().map(|a| &**a));
            for service in names {
                let other = format!("/{service}/{method}");
                if let Some(loose) = routing::loose_path(&other) {
                    inner.aliases.entry(loose.into()).or_insert(path);
                }
                if other != path {
                    inner.aliases.entry(other.into()).or_insert(path);
                }
            }
            inner
                .routes
                .entry(path)
                .or_default()
                .routes
                .push((routes.variant.clone(), route));
        }
        if !inner.rest.is_empty() {
            for path in inner.routes.keys() {
                if let Some(problem) = inner.rest.taking(path)
                    && !inner.problems.contains(&problem)
                {
                    inner.problems.push(problem);
                }
            }
        }
        self
    }

    /// Whether this router is configured as it can work: `Err` names every misconfiguration (a
    /// method routed twice, see [`add`](Self::add)). [`Server::serve`](crate::Server::serve) checks
    /// a router it is given directly; call this where the router is mounted some other way (inside
    /// tower middleware, in axum or plain hyper). A misconfigured router refuses every call with
    /// `internal`, naming the problem, rather than serve some of its routes.
    pub fn check(&self) -> Result<(), ConfigError> {
        ConfigError::check(self.inner.problems.clone())
    }

    /// The misconfigurations [`check`](Self::check) reports.
    pub(crate) fn problems(&self) -> &[String] {
        &self.inner.problems
    }

    /// Runs `interceptor` around every call to this router's methods, those added before and after,
    /// inside the interceptors attached to the router before it and outside every service's own (see
    /// [`Interceptor`] for the order).
    pub fn intercept(self, interceptor: impl Interceptor) -> Self {
        self.edit(|inner| {
            inner.interceptors.push(Arc::new(interceptor));
            for implementations in inner.routes.values_mut() {
                for (_, route) in &mut implementations.routes {
                    route.chain = chain(&inner.interceptors, &route.service_interceptors);
                }
            }
        })
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

    /// Sends a heartbeat (an SSE comment line, which `EventSource` ignores) on each stream of
    /// server-sent events that has sent nothing for `interval`, so that proxies and load balancers
    /// that close idle connections keep it open ([`Duration::ZERO`]: never). Default
    /// [`DEFAULT_HEARTBEAT_INTERVAL`](Self::DEFAULT_HEARTBEAT_INTERVAL). Other streams have no
    /// heartbeat of this kind: HTTP/2 and HTTP/3 connections have their own keep-alive PINGs.
    pub fn heartbeat_interval(self, interval: Duration) -> Self {
        self.edit(|inner| inner.offer.heartbeat = (!interval.is_zero()).then_some(interval))
    }

    /// Adds (or replaces) a codec, selected by the content type's suffix.
    pub fn codec(self, codec: Arc<dyn Codec>) -> Self {
        self.edit(|inner| {
            inner.offer.codecs.retain(|c| c.name() != codec.name());
            inner.offer.codecs.push(codec);
        })
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

    /// Calls `hook` with each handler panic. Panics are recovered whether or not a hook is set: the
    /// call that panicked fails with `internal` (its message is not sent to the client) and the
    /// connection and other calls go on. Use the hook to log or count them; it runs on the task that
    /// panicked, and a panic inside it is ignored. (With `panic = "abort"` in the build profile there is
    /// nothing to recover.)
    pub fn on_panic(self, hook: impl Fn(&HandlerPanic) + Send + Sync + 'static) -> Self {
        let hook: PanicHook = Arc::new(hook);
        self.edit(|inner| inner.on_panic = Some(hook))
    }

    /// Sets how this router serves calls over WebSocket (on by default; see [`WebSocketOptions`]).
    /// What is wrong with `options` is reported by [`check`](Self::check).
    pub fn websocket(self, options: WebSocketOptions) -> Self {
        self.edit(|inner| {
            let old = inner.websocket.problems();
            inner.problems.retain(|problem| !old.contains(problem));
            inner.problems.extend(options.problems());
            inner.websocket = options;
        })
    }

    /// Handles one HTTP request.
    pub async fn handle(&self, request: http::Request<Body>) -> http::Response<Body> {
        match self.inner.dispatch(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

impl Inner {
    /// Routes `request` without waiting: CORS preflights, unknown paths and calls that fail to
    /// negotiate are answered at once; a call is handed to its handler, whose future (boxed once, by
    /// the handler) the returned future runs.
    fn dispatch(&self, request: http::Request<Body>) -> RouterFuture {
        let (parts, body) = request.into_parts();
        let version = parts.version;
        let body = if version < http::Version::HTTP_2 {
            Body::new(DrainOnDrop::new(body))
        } else {
            body
        };
        let ready = |response| RouterFuture::ready(response, version);
        if !self.problems.is_empty() {
            let error = Error::new(
                crate::Code::Internal,
                format!("the router is misconfigured: {}", self.problems.join("; ")),
            );
            return ready(error_response_for(&parts, &self.offer, &error));
        }
        let implementations = self.routes.get(parts.uri.path()).or_else(|| {
            let path = parts.uri.path();
            let own = match self.aliases.get(path) {
                Some(own) => own,
                None => self.aliases.get(routing::loose_path(path)?.as_str())?,
            };
            self.routes.get(own)
        });
        let mut parts = parts;
        let implementations = match implementations {
            Some(implementations) => Some(implementations),
            None if self.rest.is_empty() => None,
            None => match self.rest.find(&parts.method, parts.uri.path()) {
                Found::Route { value, captures } => {
                    let matched = RestMatch {
                        binding: value.clone(),
                        captures: captures.into_iter().map(|c| c.value).collect(),
                    };
                    let implementations = self.routes.get(value.spec.path);
                    parts.extensions.insert(matched);
                    implementations
                }
                Found::NoRoute if self.fallback.is_some() => None,
                Found::NoRoute => {
                    let error = Error::new(
                        crate::Code::NotFound,
                        format!("no method or REST binding serves {}", parts.uri.path()),
                    );
                    return ready(rest::error_response(&error, &[]));
                }
                Found::WrongMethod(allowed) => {
                    let error = Error::new(
                        crate::Code::Unimplemented,
                        format!("{} is not served for {}", parts.method, parts.uri.path()),
                    );
                    let mut response = rest::error_response(&error, &[]);
                    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                    let allow = allowed.iter().map(http::Method::as_str).collect::<Vec<_>>();
                    if let Ok(allow) = http::HeaderValue::from_str(&allow.join(", ")) {
                        response.headers_mut().insert(http::header::ALLOW, allow);
                    }
                    return ready(response);
                }
                Found::BadPath(why) => {
                    let error = Error::new(crate::Code::InvalidArgument, why);
                    return ready(rest::error_response(&error, &[]));
                }
            },
        };
        let running = match implementations.map(|routes| (routes, routes.pick(&parts.headers))) {
            None => match &self.fallback {
                Some(fallback) => fallback(http::Request::from_parts(parts, body)),
                None => return ready(plain_status(StatusCode::NOT_FOUND)),
            },
            Some((routes, Err(variant))) => {
                let default_timeout = ConnectionScope::default_timeout_of(&parts.extensions);
                let Some((_, any)) = routes.routes.first() else {
                    return ready(plain_status(StatusCode::NOT_FOUND));
                };
                let error = Error::new(
                    crate::Code::Unimplemented,
                    format!("no implementation of {} for {variant}", any.spec.service),
                );
                let response = match negotiate(&parts, any.spec, &self.offer, default_timeout) {
                    Ok(negotiated) => negotiated
                        .format
                        .protocol
                        .error_response(&negotiated.format, &error),
                    Err(response) => *response,
                };
                return ready(response);
            }
            Some((_, Ok(route))) if websocket::is_handshake(&parts, &self.websocket) => {
                let route = websocket::Route {
                    spec: route.spec,
                    handler: route.handler.clone(),
                    chain: route.chain.clone(),
                    recovery: Recovery {
                        method: route.spec,
                        hook: self.on_panic.clone(),
                    },
                    offer: self.offer.clone(),
                    options: self.websocket.clone(),
                };
                return ready(websocket::accept(parts, route));
            }
            Some((_, Ok(route))) => match negotiate(
                &parts,
                route.spec,
                &self.offer,
                ConnectionScope::default_timeout_of(&parts.extensions),
            ) {
                Ok(negotiated) => {
                    let recovery = Recovery {
                        method: route.spec,
                        hook: self.on_panic.clone(),
                    };
                    let call = ServerCall::new(
                        route.spec,
                        negotiated,
                        parts,
                        body,
                        recovery,
                        route.chain.clone(),
                    );
                    (route.handler)(call)
                }
                Err(response) => return ready(*response),
            },
        };
        RouterFuture {
            state: State::Running(running),
            version,
        }
    }
}

/// The future of [`Router`]'s `tower::Service::call`: the handler (or fallback) running, or the
/// answer the router gave at once; either way finished with the request's HTTP version.
pub struct RouterFuture {
    state: State,
    version: http::Version,
}

enum State {
    Ready(Option<http::Response<Body>>),
    Running(Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>),
}

impl RouterFuture {
    fn ready(response: http::Response<Body>, version: http::Version) -> Self {
        Self {
            state: State::Ready(Some(response)),
            version,
        }
    }
}

impl Future for RouterFuture {
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = match &mut self.state {
            State::Ready(response) => response
                .take()
                .expect("a router future is not polled after it completed"),
            State::Running(future) => std::task::ready!(future.as_mut().poll(cx)),
        };
        // hyper sets the version itself; in-memory transports see the request's.
        *response.version_mut() = self.version;
        Poll::Ready(Ok(response))
    }
}

/// The chain a route's calls go through: the router's interceptors, then its service's.
fn chain(router: &[Arc<dyn Interceptor>], service: &[Arc<dyn Interceptor>]) -> Chain {
    Chain::of(router.iter().chain(service).cloned().collect())
}

impl<B> tower::Service<http::Request<B>> for Router
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.inner.dispatch(request.map(Body::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::{Idempotency, StreamType};

    const GREET: MethodSpec = MethodSpec {
        service: "t.v1.Greeter",
        method: "Greet",
        path: "/t.v1.Greeter/Greet",
        stream_type: StreamType::Unary,
        idempotency: Idempotency::Unknown,
    };

    fn greeter() -> ServiceRoutes {
        ServiceRoutes::new("t.v1.Greeter").unary(&GREET, |request: Request<String>| async move {
            Ok::<_, Error>(Response::new(request.into_message()))
        })
    }

    #[test]
    fn a_path_routed_twice_is_reported_once_and_refuses_calls() {
        let router = Router::new().add(greeter());
        assert!(router.check().is_ok());
        let router = router.add(greeter());
        let error = router.check().expect_err("the second time is refused");
        assert!(
            error.message().contains("Router::add: /t.v1.Greeter/Greet"),
            "{error}"
        );

        let doubled = greeter().unary(&GREET, |request: Request<String>| async move {
            Ok::<_, Error>(Response::new(request.into_message()))
        });
        let error = Router::new()
            .add(doubled)
            .check()
            .expect_err("one path twice");
        assert!(error.message().contains("routed twice"), "{error}");

        // Mounted without a check, it refuses every call, naming the problem.
        let request = http::Request::post("/t.v1.Greeter/Greet")
            .header("content-type", "application/json")
            .body(Body::full(Bytes::from_static(b"\"hi\"")))
            .expect("a request");
        let response = futures_util::FutureExt::now_or_never(router.handle(request))
            .expect("answered at once");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
