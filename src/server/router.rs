//! The server's entry point: a `tower::Service` that routes `/{package.Service}/{Method}` to handlers,
//! after working out protocol, codec, compression and deadline from the request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::body::Body;
use crate::codec::{Codec, JsonCodec, Message, ProtoCodec};
use crate::compression::CompressionRegistry;
use crate::method::{Idempotency, MethodSpec, StreamType};
use crate::protocol::grpc_web_text::{self, DecodeText};
use crate::protocol::{ProtocolKind, connect, grpc};
use crate::server::cors::Cors;
use crate::server::drain::DrainOnDrop;
use crate::server::handler::{self, Handler, ResponseStream, ServerCall};
use crate::server::respond;
use crate::server::streaming::Streaming;
use crate::wire::{MessageReader, MessageWriter};
use crate::{CallContext, Error, Metadata, Request, Response};

/// Default limit on a received message's uncompressed size: 4 MiB.
pub const DEFAULT_READ_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Default size below which messages are sent uncompressed.
pub const DEFAULT_COMPRESS_MIN_BYTES: usize = 1024;

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
        self.push(spec, handler::unary(handler))
    }

    /// Adds a server-streaming method.
    pub fn server_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
    {
        self.push(spec, handler::server_stream(handler))
    }

    /// Adds a client-streaming method.
    pub fn client_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
    {
        self.push(spec, handler::client_stream(handler))
    }

    /// Adds a bidi-streaming method.
    pub fn bidi_stream<Req, Res, F, Fut>(self, spec: &'static MethodSpec, handler: F) -> Self
    where
        Req: Message,
        Res: Message,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
    {
        self.push(spec, handler::bidi_stream(handler))
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
    codecs: Vec<Arc<dyn Codec>>,
    compression: CompressionRegistry,
    read_max_bytes: usize,
    send_max_bytes: usize,
    compress_min_bytes: usize,
    cors: Option<Cors>,
    fallback: Option<Fallback>,
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
                codecs: vec![Arc::new(ProtoCodec), Arc::new(JsonCodec)],
                compression: CompressionRegistry::new(),
                read_max_bytes: DEFAULT_READ_MAX_BYTES,
                send_max_bytes: 0,
                compress_min_bytes: DEFAULT_COMPRESS_MIN_BYTES,
                cors: None,
                fallback: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Adds a service's routes.
    #[allow(clippy::should_implement_trait)] // `Router::new().add(..)` reads best; it is no `+`.
    pub fn add(self, routes: ServiceRoutes) -> Self {
        self.edit(|inner| {
            for route in routes.routes {
                inner.routes.insert(route.spec.path, route);
            }
        })
    }

    /// Limits the uncompressed size of received messages (0: no limit). Default 4 MiB.
    pub fn read_max_bytes(self, max: usize) -> Self {
        self.edit(|inner| inner.read_max_bytes = max)
    }

    /// Limits the uncompressed size of sent messages (0: no limit, the default).
    pub fn send_max_bytes(self, max: usize) -> Self {
        self.edit(|inner| inner.send_max_bytes = max)
    }

    /// Sets the supported compressions (default: gzip).
    pub fn compression(self, registry: CompressionRegistry) -> Self {
        self.edit(|inner| inner.compression = registry)
    }

    /// Messages smaller than this are sent uncompressed (default 1 KiB).
    pub fn compress_min_bytes(self, min: usize) -> Self {
        self.edit(|inner| inner.compress_min_bytes = min)
    }

    /// Adds (or replaces) a codec, selected by the content type's suffix.
    pub fn codec(self, codec: Arc<dyn Codec>) -> Self {
        self.edit(|inner| {
            inner.codecs.retain(|c| c.name() != codec.name());
            inner.codecs.push(codec);
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

    /// Handles one HTTP request.
    pub async fn handle(&self, request: http::Request<Body>) -> http::Response<Body> {
        let inner = self.inner.clone();
        inner.dispatch(request).await
    }
}

impl Inner {
    fn codec(&self, name: &str) -> Option<Arc<dyn Codec>> {
        self.codecs.iter().find(|c| c.name() == name).cloned()
    }

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
        let mut response = match self.routes.get(parts.uri.path()).cloned() {
            None => match &self.fallback {
                Some(fallback) => fallback(http::Request::from_parts(parts, body)).await,
                None => respond::plain_status(StatusCode::NOT_FOUND),
            },
            Some(route) => {
                let response = match self.prepare(&route, parts, body) {
                    Ok(call) => (route.handler)(call).await,
                    Err(response) => *response,
                };
                grpc_web_text::encode_response(response)
            }
        };
        if let Some(cors) = &cors {
            cors.decorate(response.headers_mut());
        }
        // hyper sets the version itself; in-memory transports see the request's.
        *response.version_mut() = version;
        response
    }

    /// Works out protocol, codec, compression and deadline; on failure, the response to send instead.
    fn prepare(
        &self,
        route: &Route,
        parts: http::request::Parts,
        body: Body,
    ) -> Result<ServerCall, Box<http::Response<Body>>> {
        let spec = route.spec;
        let headers = &parts.headers;
        let header = |name: http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let unary_method = spec.stream_type == StreamType::Unary;
        let get_allowed = unary_method && spec.idempotency == Idempotency::NoSideEffects;

        let wire = match parts.method {
            Method::POST => {
                Wire::from_content_type(headers.get(http::header::CONTENT_TYPE), unary_method)
                    .ok_or_else(unsupported_media_type)?
            }
            Method::GET if get_allowed => {
                let query = parts.uri.query().unwrap_or("");
                match connect::parse_get_query(query) {
                    Ok(q) => Wire {
                        protocol: ProtocolKind::Connect,
                        codec: q.encoding.clone().unwrap_or_default(),
                        connect_unary: true,
                        text: false,
                        content_type: http::HeaderValue::from_static(""),
                        get_query: Some(q),
                    },
                    Err(e) => return Err(Box::new(respond::connect_unary_error(&e))),
                }
            }
            _ => {
                let mut response = respond::plain_status(StatusCode::METHOD_NOT_ALLOWED);
                let allow = if get_allowed { "GET, POST" } else { "POST" };
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
                return Err(Box::new(response));
            }
        };
        let Some(codec) = self.codec(&wire.codec) else {
            return Err(unsupported_media_type());
        };
        let content_type = if wire.connect_unary {
            header_value(&connect::unary_content_type(codec.name()))
        } else {
            wire.content_type.clone()
        };

        // From here on, failures are protocol errors in the call's own format.
        let fail = |error: Error| -> Box<http::Response<Body>> {
            if wire.connect_unary {
                let mut response = respond::connect_unary_error(&error);
                response.headers_mut().insert(
                    http::header::ACCEPT_ENCODING,
                    self.compression.accept_header(),
                );
                Box::new(response)
            } else {
                let call =
                    self.bare_call(spec, wire.protocol, codec.clone(), &content_type, &parts);
                Box::new(respond::stream(call, Err(error)))
            }
        };

        let (encoding, accept) = match (wire.protocol, wire.connect_unary) {
            (ProtocolKind::Connect, true) => {
                let encoding = match &wire.get_query {
                    Some(q) => q.compression.as_deref(),
                    None => header(http::header::CONTENT_ENCODING),
                };
                (encoding, header(http::header::ACCEPT_ENCODING))
            }
            (ProtocolKind::Connect, false) => (
                header(connect::STREAM_ENCODING_HEADER),
                header(connect::STREAM_ACCEPT_ENCODING_HEADER),
            ),
            (ProtocolKind::Grpc | ProtocolKind::GrpcWeb, _) => {
                (header(grpc::ENCODING), header(grpc::ACCEPT_ENCODING))
            }
        };
        let request_compression = self.compression.resolve(encoding).map_err(&fail)?;
        let response_compression = request_compression
            .clone()
            .or_else(|| self.compression.negotiate(accept));

        let timeout = match wire.protocol {
            ProtocolKind::Connect => header(connect::TIMEOUT_HEADER).map(connect::parse_timeout),
            ProtocolKind::Grpc | ProtocolKind::GrpcWeb => {
                header(grpc::TIMEOUT).map(grpc::parse_timeout)
            }
        };
        let deadline = match timeout {
            None => None,
            Some(timeout) => Some(tokio::time::Instant::now() + timeout.map_err(&fail)?),
        };

        let cancel = CancellationToken::new();
        let peer = parts.extensions.get::<std::net::SocketAddr>().copied();
        let context = CallContext::new(spec, wire.protocol, deadline, peer, &parts, cancel.clone());
        Ok(ServerCall {
            protocol: wire.protocol,
            connect_unary: wire.connect_unary,
            content_type,
            if_none_match: wire
                .get_query
                .as_ref()
                .and_then(|_| parts.headers.get(http::header::IF_NONE_MATCH).cloned()),
            get_message: wire.get_query.map(|q| Bytes::from(q.message)),
            body: if wire.text {
                Body::new(DecodeText::new(body))
            } else {
                body
            },
            request_headers: Metadata::from_header_map(parts.headers),
            reader: MessageReader {
                codec: codec.clone(),
                compression: request_compression.clone(),
                read_max_bytes: self.read_max_bytes,
            },
            writer: MessageWriter {
                codec,
                compression: response_compression,
                compress_min_bytes: self.compress_min_bytes,
                send_max_bytes: self.send_max_bytes,
            },
            request_compression,
            accept_encoding: self.compression.accept_header(),
            deadline,
            context,
            cancel,
        })
    }

    /// A call with nothing negotiated yet, for reporting errors found while preparing one.
    fn bare_call(
        &self,
        spec: &'static MethodSpec,
        protocol: ProtocolKind,
        codec: Arc<dyn Codec>,
        content_type: &http::HeaderValue,
        parts: &http::request::Parts,
    ) -> ServerCall {
        let cancel = CancellationToken::new();
        ServerCall {
            protocol,
            connect_unary: false,
            content_type: content_type.clone(),
            get_message: None,
            if_none_match: None,
            body: Body::empty(),
            request_headers: Metadata::new(),
            reader: MessageReader {
                codec: codec.clone(),
                compression: None,
                read_max_bytes: self.read_max_bytes,
            },
            writer: MessageWriter {
                codec,
                compression: None,
                compress_min_bytes: self.compress_min_bytes,
                send_max_bytes: self.send_max_bytes,
            },
            request_compression: None,
            accept_encoding: self.compression.accept_header(),
            deadline: None,
            context: CallContext::new(spec, protocol, None, None, parts, cancel.clone()),
            cancel,
        }
    }
}

/// What the request's method and content type say about how the call travels.
struct Wire {
    protocol: ProtocolKind,
    /// The codec name from the content type (or GET's `encoding`).
    codec: String,
    /// Connect's unary framing (unframed body, errors as JSON with an HTTP status).
    connect_unary: bool,
    /// gRPC-Web's text mode: the request body is base64 (and the response will be).
    text: bool,
    /// The content type to answer with (streaming framings).
    content_type: http::HeaderValue,
    get_query: Option<connect::GetQuery>,
}

impl Wire {
    /// Classifies a POST by its content type; `None` is a 415.
    fn from_content_type(value: Option<&http::HeaderValue>, unary_method: bool) -> Option<Wire> {
        let value = value?;
        let content_type = value.to_str().ok()?;
        if let Some(grpc) = grpc::parse_content_type(content_type) {
            let essence = content_type.split(';').next().unwrap_or("").trim();
            // The response names the request's content type without parameters, in lower case; most
            // requests already send exactly that, and then their header value is reused as is.
            let content_type = if essence.len() == content_type.len()
                && !essence.bytes().any(|b| b.is_ascii_uppercase())
            {
                value.clone()
            } else {
                header_value(&essence.to_ascii_lowercase())
            };
            return Some(Wire {
                protocol: if grpc.web {
                    ProtocolKind::GrpcWeb
                } else {
                    ProtocolKind::Grpc
                },
                codec: grpc.codec.to_ascii_lowercase(),
                connect_unary: false,
                text: grpc.text,
                content_type,
                get_query: None,
            });
        }
        let connect = connect::parse_content_type(content_type)?;
        // Unary methods take Connect's unary framing; streaming methods take its stream framing.
        if connect.streaming == unary_method {
            return None;
        }
        let codec = connect.codec.to_ascii_lowercase();
        Some(Wire {
            protocol: ProtocolKind::Connect,
            content_type: header_value(&connect::stream_content_type(&codec)),
            codec,
            connect_unary: !connect.streaming,
            text: false,
            get_query: None,
        })
    }
}

/// A header value built from text that came from a parsed header (so it is always valid).
fn header_value(text: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(text).unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

fn unsupported_media_type() -> Box<http::Response<Body>> {
    Box::new(respond::plain_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
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
