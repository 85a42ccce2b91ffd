//! Observability as interceptors: [`TraceCalls`] (feature `tracing`) opens one span per call, and
//! [`RecordMetrics`] (feature `opentelemetry`) records OpenTelemetry's RPC metrics; attach either to a
//! router or a client with `intercept`.
//!
//! What they share: a call is described
//! once by the attributes of OpenTelemetry's RPC semantic conventions (`CallInfo`), its messages are
//! counted and measured as they pass, and its end (success, error, or a stream dropped early) is
//! reported exactly once to an `Observer`. Built only with the `tracing` feature (which
//! `opentelemetry` implies); with it off, none of this exists.

pub(crate) mod spans;

#[cfg(feature = "opentelemetry")]
pub(crate) mod metrics;
#[cfg(feature = "opentelemetry")]
pub(crate) mod propagation;

#[cfg(feature = "opentelemetry")]
pub use metrics::RecordMetrics;
pub use spans::TraceCalls;

/// The OpenTelemetry API crate [`RecordMetrics::meter`] and [`TraceCalls::propagator`] take their
/// types from, at the version Trident is built with. Only with the `opentelemetry` feature.
#[cfg(feature = "opentelemetry")]
pub use opentelemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::any_message::{AnyMessage, MessageStream};
use crate::interceptor::{
    BoxFuture, ConnFuture, StreamingClientConn, StreamingClientWrapper, StreamingNext, UnaryNext,
};
use crate::protocol::CodeStyle;
use crate::{CallContext, Code, Error, Metadata, ProtocolKind, Request, Response};

/// Which end of a call an observing interceptor sits at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

impl Side {
    /// The semantic conventions' `otel.kind` / metric prefix word.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// What a call is, in the terms of OpenTelemetry's RPC semantic conventions.
#[derive(Clone, Debug)]
pub(crate) struct CallInfo {
    pub side: Side,
    pub protocol: ProtocolKind,
    /// `rpc.service`: the fully-qualified service name.
    pub service: &'static str,
    /// `rpc.method`.
    pub method: &'static str,
    /// `server.address` and `server.port`: on the client from the URI it calls, on the server from the
    /// request's authority (HTTP/2) or `Host` header (HTTP/1.1), when known.
    pub server_address: Option<String>,
    pub server_port: Option<u16>,
    /// `network.protocol.version`: `"1.1"` or `"2"`.
    pub protocol_version: Option<&'static str>,
    /// `network.peer.address` / `.port`: the caller, on the server.
    pub peer: Option<SocketAddr>,
}

impl CallInfo {
    /// The call `request` belongs to, seen from `side`; `None` for a request with an empty context
    /// (built by hand, outside any call), which observers pass on untouched.
    pub fn of<T>(request: &Request<T>, side: Side) -> Option<Self> {
        Self::from_parts(request.context(), request.headers(), side)
    }

    /// The call of `context`, with request `headers`, seen from `side` (see [`of`](Self::of)).
    pub fn from_parts(context: &CallContext, headers: &Metadata, side: Side) -> Option<Self> {
        let spec = context.method()?;
        let uri = context.uri();
        let authority = uri
            .and_then(http::Uri::authority)
            .map(|a| (a.host().to_string(), a.port_u16()))
            .or_else(|| {
                let host = headers.get("host")?;
                let authority: http::uri::Authority = host.parse().ok()?;
                Some((authority.host().to_string(), authority.port_u16()))
            });
        // The client knows the scheme, so the port it connects to even when the URI leaves it out.
        let default_port = match uri.and_then(http::Uri::scheme_str) {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        };
        let (server_address, server_port) = match authority {
            Some((host, port)) => (Some(host), port.or(default_port)),
            None => (None, None),
        };
        let protocol_version = match context.http_version() {
            Some(http::Version::HTTP_10) => Some("1.0"),
            Some(http::Version::HTTP_11) => Some("1.1"),
            Some(http::Version::HTTP_2) => Some("2"),
            Some(http::Version::HTTP_3) => Some("3"),
            _ => None,
        };
        Some(Self {
            side,
            protocol: context.protocol()?,
            service: spec.service,
            method: spec.method,
            server_address,
            server_port,
            protocol_version,
            peer: context.peer_addr(),
        })
    }

    /// `rpc.system`, as the call's protocol names it (`grpc` for gRPC and gRPC-Web, which share the
    /// status model and codes; `connect_rpc` for Connect; ...), after the semantic conventions and
    /// connect-go's instrumentation.
    pub fn system(&self) -> &'static str {
        self.protocol.0.rpc_system
    }

    /// The status attribute for the call's outcome, as the protocol's codes travel:
    /// `rpc.grpc.status_code` (a number, 0 on success) for protocols with numbered codes (gRPC,
    /// gRPC-Web, ...), `rpc.connect_rpc.error_code` (a code name, only on error) for those with named
    /// codes (Connect).
    pub fn status(&self, error: Option<&Error>) -> Option<StatusAttribute> {
        match (self.protocol.0.codes, error) {
            (CodeStyle::Names, None) => None,
            (CodeStyle::Names, Some(error)) => {
                Some(StatusAttribute::ConnectErrorCode(error.code().as_str()))
            }
            (CodeStyle::Numbers, error) => Some(StatusAttribute::GrpcStatusCode(
                error.map_or(0, |e| i64::from(e.code().as_u32())),
            )),
        }
    }

    /// Whether `error` marks the span as failed: on the client every error; on the server only those
    /// that say the server failed (the semantic conventions leave a caller's mistakes, such as
    /// `invalid_argument` or `not_found`, unset there).
    pub fn is_span_error(&self, error: &Error) -> bool {
        match self.side {
            Side::Client => true,
            Side::Server => matches!(
                error.code(),
                Code::Unknown
                    | Code::DeadlineExceeded
                    | Code::Unimplemented
                    | Code::Internal
                    | Code::Unavailable
                    | Code::DataLoss
            ),
        }
    }
}

/// The protocol's status attribute (see [`CallInfo::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusAttribute {
    /// `rpc.grpc.status_code`.
    GrpcStatusCode(i64),
    /// `rpc.connect_rpc.error_code`.
    ConnectErrorCode(&'static str),
}

/// Which way a message goes, from the observer's side of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Sent,
    Received,
}

/// Messages and bytes counted so far, both ways.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    sent: AtomicU64,
    sent_bytes: AtomicU64,
    received: AtomicU64,
    received_bytes: AtomicU64,
}

impl Tally {
    /// Counts one message of `size` bytes; returns its sequence number that way (from 1).
    fn add(&self, direction: Direction, size: usize) -> u64 {
        let (count, bytes) = match direction {
            Direction::Sent => (&self.sent, &self.sent_bytes),
            Direction::Received => (&self.received, &self.received_bytes),
        };
        bytes.fetch_add(size as u64, Ordering::Relaxed);
        count.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Messages and bytes that went `direction`.
    pub fn get(&self, direction: Direction) -> (u64, u64) {
        let (count, bytes) = match direction {
            Direction::Sent => (&self.sent, &self.sent_bytes),
            Direction::Received => (&self.received, &self.received_bytes),
        };
        (count.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed))
    }
}

/// What an observing interceptor does as a call goes by.
pub(crate) trait Observer: Send + Sync + 'static {
    /// A message went by (`id` counts from 1 in each direction; `size` is its protobuf encoding's).
    fn message(&self, direction: Direction, id: u64, size: usize);

    /// The call ended: `error` is `None` on success. Called exactly once, after the last message;
    /// `tally` holds the counts of both directions.
    fn end(&self, error: Option<&Error>, tally: &Tally);

    /// Wraps a message stream of a server's call (both directions), e.g. to poll it inside a span.
    fn wrap(&self, stream: MessageStream) -> MessageStream {
        stream
    }

    /// The span a client's streaming call runs its operations in, if any.
    fn span(&self) -> Option<tracing::Span> {
        None
    }
}

/// One call's observer, its tally, and whether its end was reported.
struct Watch<O: Observer> {
    observer: Arc<O>,
    tally: Tally,
    side: Side,
    ended: std::sync::atomic::AtomicBool,
}

impl<O: Observer> Watch<O> {
    fn message(&self, toward_server: bool, size: usize) {
        // A request goes toward the server: sent by the client, received by the server.
        let direction = match (self.side, toward_server) {
            (Side::Client, true) | (Side::Server, false) => Direction::Sent,
            _ => Direction::Received,
        };
        let id = self.tally.add(direction, size);
        self.observer.message(direction, id, size);
    }

    fn end(&self, error: Option<&Error>) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            self.observer.end(error, &self.tally);
        }
    }
}

/// Reports a call whose future was dropped before it finished (it was cancelled) as `canceled`,
/// unless disarmed first.
struct EndOnDrop<O: Observer>(Option<Arc<Watch<O>>>);

impl<O: Observer> EndOnDrop<O> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl<O: Observer> Drop for EndOnDrop<O> {
    fn drop(&mut self) {
        if let Some(watch) = self.0.take() {
            watch.end(Some(&Error::new(
                Code::Canceled,
                "the call was dropped before its end",
            )));
        }
    }
}

/// Runs a unary call past `observer`.
pub(crate) fn unary<O: Observer>(
    observer: Arc<O>,
    side: Side,
    request: Request<AnyMessage>,
    next: UnaryNext,
) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
    let watch = Arc::new(Watch {
        observer,
        tally: Tally::default(),
        side,
        ended: Default::default(),
    });
    Box::pin(async move {
        let guard = EndOnDrop(Some(watch.clone()));
        watch.message(true, request.message().encoded_len());
        let result = next.run(request).await;
        match &result {
            Ok(response) => {
                watch.message(false, response.message().encoded_len());
                watch.end(None);
            }
            Err(error) => watch.end(Some(error)),
        }
        guard.disarm();
        result
    })
}

/// Runs a server's streaming call past `observer`: both streams' messages are counted, and the call
/// ends with the response stream (or with the error that came instead of a response).
pub(crate) fn streaming<O: Observer>(
    observer: Arc<O>,
    side: Side,
    request: Request<MessageStream>,
    next: StreamingNext,
) -> BoxFuture<Result<Response<MessageStream>, Error>> {
    let watch = Arc::new(Watch {
        observer,
        tally: Tally::default(),
        side,
        ended: Default::default(),
    });
    let request = request.map(|messages| {
        let counting = watch.clone();
        let messages = messages.inspect(move |m| counting.message(true, m.encoded_len()));
        watch.observer.wrap(messages)
    });
    Box::pin(async move {
        let guard = EndOnDrop(Some(watch.clone()));
        let result = next.run(request).await;
        // From here the response stream reports the end (its `on_end` covers a drop too).
        guard.disarm();
        match result {
            Ok(response) => Ok(response.map(|messages| {
                let counting = watch.clone();
                let ending = watch.clone();
                let messages = messages
                    .inspect(move |m| counting.message(false, m.encoded_len()))
                    .on_end(move |end| ending.end(end.err()));
                watch.observer.wrap(messages)
            })),
            Err(error) => {
                watch.end(Some(&error));
                Err(error)
            }
        }
    })
}

/// A client's streaming call past `observer`: the messages it sends and receives are counted, and it
/// ends with the end of the response stream, an error, a cancellation, or being dropped before its end.
pub(crate) fn client_conn<O: Observer>(
    observer: Arc<O>,
    conn: Box<dyn StreamingClientConn>,
) -> Box<dyn StreamingClientConn> {
    Box::new(ObservedConn {
        inner: conn,
        watch: Arc::new(Watch {
            observer,
            tally: Tally::default(),
            side: Side::Client,
            ended: Default::default(),
        }),
    })
}

/// A client's streaming call an observer watches (see [`client_conn`]).
struct ObservedConn<O: Observer> {
    inner: Box<dyn StreamingClientConn>,
    watch: Arc<Watch<O>>,
}

/// `operation`, run in `span` if there is one.
fn in_span<'a, T: 'a>(
    span: Option<tracing::Span>,
    operation: ConnFuture<'a, T>,
) -> ConnFuture<'a, T> {
    use tracing::Instrument as _;
    match span {
        Some(span) => Box::pin(operation.instrument(span)),
        None => operation,
    }
}

impl<O: Observer> StreamingClientWrapper for ObservedConn<O> {
    fn inner(&self) -> &dyn StreamingClientConn {
        &*self.inner
    }

    fn inner_mut(&mut self) -> &mut dyn StreamingClientConn {
        &mut *self.inner
    }

    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        let (watch, span) = (self.watch.clone(), self.watch.observer.span());
        let size = message.encoded_len();
        let sent = self.inner.send(message);
        in_span(
            span,
            Box::pin(async move {
                let result = sent.await;
                if result.is_ok() {
                    watch.message(true, size);
                }
                result
            }),
        )
    }

    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        let (watch, span) = (self.watch.clone(), self.watch.observer.span());
        let received = self.inner.receive_headers();
        in_span(
            span,
            Box::pin(async move {
                let result = received.await;
                if let Err(error) = &result {
                    watch.end(Some(error));
                }
                result
            }),
        )
    }

    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        let (watch, span) = (self.watch.clone(), self.watch.observer.span());
        let received = self.inner.receive();
        in_span(
            span,
            Box::pin(async move {
                let result = received.await;
                match &result {
                    Ok(Some(message)) => watch.message(false, message.encoded_len()),
                    Ok(None) => watch.end(None),
                    Err(error) => watch.end(Some(error)),
                }
                result
            }),
        )
    }

    fn cancel(&mut self) {
        self.inner.cancel();
        self.watch.end(Some(&Error::new(
            Code::Canceled,
            "call was cancelled by the client",
        )));
    }
}

impl<O: Observer> Drop for ObservedConn<O> {
    fn drop(&mut self) {
        self.watch.end(Some(&Error::new(
            Code::Canceled,
            "the call was dropped before its end",
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallContext;
    use crate::method::{Idempotency, MethodSpec, StreamType};

    const SPEC: MethodSpec = MethodSpec {
        service: "t.v1.S",
        method: "M",
        path: "/t.v1.S/M",
        stream_type: StreamType::Unary,
        idempotency: Idempotency::Unknown,
    };

    fn client_request(protocol: ProtocolKind, uri: &'static str) -> Request<()> {
        let context = CallContext::client(
            &SPEC,
            protocol,
            None,
            http::Method::POST,
            http::Uri::from_static(uri),
            http::Version::HTTP_11,
        );
        Request::from_parts((), Default::default(), context, Default::default())
    }

    #[test]
    fn the_client_names_the_server_from_its_uri_with_the_schemes_port() {
        let info = CallInfo::of(
            &client_request(ProtocolKind::CONNECT, "https://api.example.com/t.v1.S/M"),
            Side::Client,
        )
        .expect("a call");
        assert_eq!(info.server_address.as_deref(), Some("api.example.com"));
        assert_eq!(info.server_port, Some(443));
        assert_eq!(info.protocol_version, Some("1.1"));
        assert_eq!((info.service, info.method), ("t.v1.S", "M"));
        assert_eq!(info.system(), "connect_rpc");

        let info = CallInfo::of(
            &client_request(ProtocolKind::GRPC_WEB, "http://10.0.0.1:8080/t.v1.S/M"),
            Side::Client,
        )
        .expect("a call");
        assert_eq!(info.server_address.as_deref(), Some("10.0.0.1"));
        assert_eq!(info.server_port, Some(8080));
        assert_eq!(info.system(), "grpc");
    }

    #[test]
    fn a_request_outside_any_call_is_not_observed() {
        assert!(CallInfo::of(&Request::new(()), Side::Server).is_none());
    }

    #[test]
    fn status_attributes_follow_the_protocol_and_span_errors_the_side() {
        let connect = CallInfo::of(
            &client_request(ProtocolKind::CONNECT, "http://h/t.v1.S/M"),
            Side::Client,
        )
        .expect("a call");
        let grpc = CallInfo {
            protocol: ProtocolKind::GRPC,
            side: Side::Server,
            ..connect.clone()
        };
        let not_found = Error::new(Code::NotFound, "gone");
        let internal = Error::new(Code::Internal, "broke");
        assert_eq!(connect.status(None), None);
        assert_eq!(
            connect.status(Some(&not_found)),
            Some(StatusAttribute::ConnectErrorCode("not_found"))
        );
        assert_eq!(grpc.status(None), Some(StatusAttribute::GrpcStatusCode(0)));
        assert_eq!(
            grpc.status(Some(&internal)),
            Some(StatusAttribute::GrpcStatusCode(13))
        );
        // A caller's mistake fails the client's span, not the server's.
        assert!(connect.is_span_error(&not_found));
        assert!(!grpc.is_span_error(&not_found));
        assert!(grpc.is_span_error(&internal));
    }

    #[test]
    fn the_tally_counts_each_direction_and_numbers_messages_from_one() {
        let tally = Tally::default();
        assert_eq!(tally.add(Direction::Sent, 5), 1);
        assert_eq!(tally.add(Direction::Sent, 7), 2);
        assert_eq!(tally.add(Direction::Received, 3), 1);
        assert_eq!(tally.get(Direction::Sent), (2, 12));
        assert_eq!(tally.get(Direction::Received), (1, 3));
    }
}
