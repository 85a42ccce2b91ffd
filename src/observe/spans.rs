//! One `tracing` span per call, client or server ([`TraceCalls`]), named and attributed by
//! OpenTelemetry's RPC semantic conventions, so that `tracing-opentelemetry` (or any subscriber) sees
//! RPC spans without knowing Trident.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_core::Stream;
use tracing::{Instrument as _, Level, Span, field};

use super::{CallInfo, Direction, Observer, Side, StatusAttribute, Tally};
use crate::any_message::{AnyMessage, MessageStream};
use crate::interceptor::{BoxFuture, Interceptor, StreamingClientConn, StreamingNext, UnaryNext};
use crate::{Error, Request, Response};

/// An interceptor that opens one [`tracing`] span per call, on the server
/// ([`TraceCalls::server`], attached with [`Router::intercept`](crate::Router::intercept) or
/// [`ServiceRoutes::intercept`](crate::ServiceRoutes::intercept)) or on the client
/// ([`TraceCalls::client`], attached with [`ClientBuilder::intercept`](crate::client::ClientBuilder::intercept)).
/// Only with the `tracing` feature.
///
/// The span, at level `INFO`, is named `rpc.server` or `rpc.client`; its `otel.name` field,
/// `{service}/{method}`, is the name OpenTelemetry gives it through `tracing-opentelemetry`. Its
/// fields follow OpenTelemetry's RPC semantic conventions:
///
/// | Field | Value |
/// |-------|-------|
/// | `otel.kind` | `server` or `client` |
/// | `rpc.system` | `grpc` (gRPC and gRPC-Web) or `connect_rpc` (Connect) |
/// | `rpc.service`, `rpc.method` | `acme.greet.v1.GreetService`, `Greet` |
/// | `rpc.grpc.status_code` | gRPC and gRPC-Web: the status as a number, 0 on success |
/// | `rpc.connect_rpc.error_code` | Connect, on error: the code's name (`not_found`) |
/// | `otel.status_code`, `otel.status_description` | `ERROR` and the error's message: on the client for any error, on the server for the codes that mean the server failed (`unknown`, `deadline_exceeded`, `unimplemented`, `internal`, `unavailable`, `data_loss`) |
/// | `server.address`, `server.port` | client: from the URI it calls; server: from the request's authority or `Host`, when sent |
/// | `network.protocol.version` | `1.1` or `2` |
/// | `network.peer.address`, `network.peer.port` | server: the caller's address |
/// | `rpc.request.messages`, `rpc.request.bytes`, `rpc.response.messages`, `rpc.response.bytes` | messages each way and the sum of their (uncompressed protobuf) sizes, when the call ends (Trident's own fields) |
///
/// Each message is also a `DEBUG` event in the span, named `message` with `rpc.message.type` (`SENT`
/// or `RECEIVED`), `rpc.message.id` (from 1 each way) and `rpc.message.uncompressed_size`.
///
/// The span covers the call until its last message: the rest of the interceptor chain and the
/// handler (server) or the request (client) run inside it, and so does each poll of a streamed
/// message. Its status is recorded for all four call types: an error the call ended with, one a
/// stream ended with, or `canceled` for a call or stream dropped before its end. A call started with
/// an empty context (a request built by hand, outside any call) passes through unobserved.
///
/// With the `opentelemetry` feature the span also carries the W3C trace context across the call:
/// the client writes its span's context into the request headers (`traceparent`, `tracestate`) and
/// the server continues the trace those headers name, whether the caller is Trident or any other
/// OpenTelemetry-instrumented peer. Both use OpenTelemetry's global text-map propagator (install one,
/// such as the SDK's `TraceContextPropagator`, with `opentelemetry::global::set_text_map_propagator`)
/// unless given one with [`TraceCalls::propagator`].
///
/// ```
/// let router = trident::Router::new().intercept(trident::observe::TraceCalls::server()); // .add(...) services
/// let client = trident::Client::builder("http://127.0.0.1:8080")
///     .intercept(trident::observe::TraceCalls::client())
///     .build()?;
/// # Ok::<(), trident::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TraceCalls {
    side: Side,
    #[cfg(feature = "opentelemetry")]
    propagator: Option<super::propagation::Propagator>,
}

impl std::fmt::Debug for TraceCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceCalls")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl TraceCalls {
    /// Spans for a server's calls.
    pub fn server() -> Self {
        Self::new(Side::Server)
    }

    /// Spans for a client's calls.
    pub fn client() -> Self {
        Self::new(Side::Client)
    }

    fn new(side: Side) -> Self {
        Self {
            side,
            #[cfg(feature = "opentelemetry")]
            propagator: None,
        }
    }

    /// Carries the trace context with `propagator` instead of OpenTelemetry's global one. Only with
    /// the `opentelemetry` feature.
    #[cfg(feature = "opentelemetry")]
    pub fn propagator(
        mut self,
        propagator: impl opentelemetry::propagation::TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }

    /// The call's span, with its trace context taken from or written into `request`'s headers.
    fn open<T>(&self, request: &mut Request<T>) -> Option<(Span, CallInfo)> {
        let info = CallInfo::of(request, self.side)?;
        let span = call_span(&info);
        #[cfg(feature = "opentelemetry")]
        {
            let propagator = self.propagator.as_deref();
            match self.side {
                Side::Server => super::propagation::extract(propagator, request.headers(), &span),
                Side::Client => {
                    super::propagation::inject(propagator, &span, request.headers_mut())
                }
            }
        }
        Some((span, info))
    }
}

impl Interceptor for TraceCalls {
    fn unary(
        &self,
        mut request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        let Some((span, info)) = self.open(&mut request) else {
            return next.run(request);
        };
        let observer = Arc::new(SpanObserver::new(span.clone(), info));
        Box::pin(super::unary(observer, self.side, request, next).instrument(span))
    }

    fn streaming_handler(
        &self,
        mut request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        let Some((span, info)) = self.open(&mut request) else {
            return next.run(request);
        };
        let observer = Arc::new(SpanObserver::new(span.clone(), info));
        Box::pin(super::streaming(observer, self.side, request, next).instrument(span))
    }

    fn streaming_client(
        &self,
        mut call: Box<dyn StreamingClientConn>,
    ) -> Box<dyn StreamingClientConn> {
        let Some(info) = CallInfo::from_parts(call.context(), call.request_headers(), self.side)
        else {
            return call;
        };
        let span = call_span(&info);
        #[cfg(feature = "opentelemetry")]
        super::propagation::inject(
            self.propagator.as_deref(),
            &span,
            call.request_headers_mut(),
        );
        super::client_conn(Arc::new(SpanObserver::new(span, info)), call)
    }
}

/// Opens the span for `info`, with every field it will ever have declared (the ones known at the
/// end left empty until then).
fn call_span(info: &CallInfo) -> Span {
    macro_rules! span {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                "otel.name" = %format_args!("{}/{}", info.service, info.method),
                "otel.kind" = info.side.as_str(),
                "rpc.system" = info.system(),
                "rpc.service" = info.service,
                "rpc.method" = info.method,
                "rpc.grpc.status_code" = field::Empty,
                "rpc.connect_rpc.error_code" = field::Empty,
                "otel.status_code" = field::Empty,
                "otel.status_description" = field::Empty,
                "server.address" = field::Empty,
                "server.port" = field::Empty,
                "network.protocol.version" = field::Empty,
                "network.peer.address" = field::Empty,
                "network.peer.port" = field::Empty,
                "rpc.request.messages" = field::Empty,
                "rpc.request.bytes" = field::Empty,
                "rpc.response.messages" = field::Empty,
                "rpc.response.bytes" = field::Empty,
            )
        };
    }
    let span = match info.side {
        Side::Server => span!("rpc.server"),
        Side::Client => span!("rpc.client"),
    };
    if span.is_disabled() {
        return span;
    }
    if let Some(address) = &info.server_address {
        span.record("server.address", address.as_str());
    }
    if let Some(port) = info.server_port {
        span.record("server.port", i64::from(port));
    }
    if let Some(version) = info.protocol_version {
        span.record("network.protocol.version", version);
    }
    if let Some(peer) = info.peer {
        span.record("network.peer.address", field::display(peer.ip()));
        span.record("network.peer.port", i64::from(peer.port()));
    }
    span
}

/// Records a call's messages and end on its span.
struct SpanObserver {
    /// The span until the call ends; then taken out, so that the span closes at the call's end even
    /// while the caller still holds the call (a finished bidi stream it has not dropped).
    span: Arc<Mutex<Option<Span>>>,
    info: CallInfo,
}

impl SpanObserver {
    fn new(span: Span, info: CallInfo) -> Self {
        Self {
            span: Arc::new(Mutex::new(Some(span))),
            info,
        }
    }
}

/// The span in `slot`, if the call has not ended.
fn current(slot: &Mutex<Option<Span>>) -> Option<Span> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

impl Observer for SpanObserver {
    fn message(&self, direction: Direction, id: u64, size: usize) {
        let Some(span) = current(&self.span) else {
            return;
        };
        let kind = match direction {
            Direction::Sent => "SENT",
            Direction::Received => "RECEIVED",
        };
        tracing::event!(
            parent: &span,
            Level::DEBUG,
            "rpc.message.type" = kind,
            "rpc.message.id" = as_i64(id),
            "rpc.message.uncompressed_size" = as_i64(size as u64),
            "message"
        );
    }

    fn end(&self, error: Option<&Error>, tally: &Tally) {
        let taken = self
            .span
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(span) = taken.filter(|span| !span.is_disabled()) else {
            return;
        };
        let span = &span;
        match self.info.status(error) {
            Some(StatusAttribute::GrpcStatusCode(code)) => {
                span.record("rpc.grpc.status_code", code);
            }
            Some(StatusAttribute::ConnectErrorCode(code)) => {
                span.record("rpc.connect_rpc.error_code", code);
            }
            None => {}
        }
        if let Some(error) = error.filter(|e| self.info.is_span_error(e)) {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.message());
        }
        let (requests, responses) = match self.info.side {
            Side::Client => (Direction::Sent, Direction::Received),
            Side::Server => (Direction::Received, Direction::Sent),
        };
        let (count, bytes) = tally.get(requests);
        span.record("rpc.request.messages", as_i64(count));
        span.record("rpc.request.bytes", as_i64(bytes));
        let (count, bytes) = tally.get(responses);
        span.record("rpc.response.messages", as_i64(count));
        span.record("rpc.response.bytes", as_i64(bytes));
    }

    fn wrap(&self, stream: MessageStream) -> MessageStream {
        let span = self.span.clone();
        stream.wrap(|inner| InSpan { inner, span })
    }

    fn span(&self) -> Option<Span> {
        current(&self.span)
    }
}

/// A count as a signed integer: OpenTelemetry's attributes have no unsigned type, and
/// `tracing-opentelemetry` turns unsigned values into strings.
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A message stream polled inside its call's span (while the call lasts).
struct InSpan {
    inner: MessageStream,
    span: Arc<Mutex<Option<Span>>>,
}

impl Stream for InSpan {
    type Item = Result<AnyMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // A clone, not the lock, is held while polling: the poll may end the call, which takes the span.
        let span = current(&this.span);
        let _entered = span.as_ref().map(Span::enter);
        Pin::new(&mut this.inner).poll_next(cx)
    }
}
