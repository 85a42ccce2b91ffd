//! The server side of the protocol seam: what each protocol decides when it serves a call, and the one
//! negotiation every request goes through.
//!
//! A protocol's server half is a `&'static dyn ServerProtocol`, the `server` of its entry in the
//! registry (`PROTOCOLS`, in `mod.rs`, whose docs say what adding a protocol takes). A trait of static
//! objects (rather than an enum with methods) keeps everything one protocol decides in its own file,
//! and no `match` elsewhere grows an arm. The calls are few per RPC (propose, head, ending), so the
//! indirection costs nothing measurable. This module depends on nothing of `server/`: what it needs
//! of the connection (the server's default timeout) is passed in.
//!
//! The flow, in order:
//! 1. [`negotiate`] checks the HTTP method, asks each protocol whether the request is its own
//!    ([`ServerProtocol::propose`]: framing, codec name, encodings and timeout as the request states
//!    them), then settles what every protocol settles the same way (the codec, the compressions each
//!    way, the deadline) into one [`Negotiated`] value.
//! 2. The handler adapters read the request with [`Negotiated::reader`] and answer through the
//!    [`ResponseFormat`], whose protocol writes the head ([`ServerProtocol::response_headers`]), a
//!    unary body ([`ServerProtocol::unary_response`]), the end of a stream
//!    ([`ServerProtocol::end_stream`]) or an error ([`ServerProtocol::error_response`]).

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::time::Instant;

use crate::body::Body;
use crate::codec::Codec;
use crate::compression::{Compression, CompressionRegistry};
use crate::method::MethodSpec;
use crate::protocol::{Protocol, ProtocolKind};
use crate::wire::{MessageReader, MessageWriter};
use crate::{Error, Metadata};

/// How the messages of a call travel in the HTTP bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One message is the whole body, with no prefix (Connect unary calls and GETs).
    Unframed,
    /// Each message is an envelope: a flags byte and a 4-byte length, then the payload.
    Enveloped,
    /// The request is one whole body (or a GET's query), as when [`Unframed`](Self::Unframed); a
    /// stream of responses is text, each message between the frame's prefix and suffix (JSON lines
    /// and server-sent events: see `text_stream.rs`).
    Text(TextFrame),
}

/// What surrounds each message of a text stream, and what else the stream may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TextFrame {
    pub prefix: &'static [u8],
    pub suffix: &'static [u8],
    /// What the stream sends when it has been idle for the router's heartbeat interval, if anything.
    pub heartbeat: Option<&'static [u8]>,
    /// Whether a message may carry an event id (written before its prefix as an `id:` line).
    pub event_ids: bool,
}

/// What one protocol decides on the server.
pub(crate) trait ServerProtocol: Send + Sync + 'static {
    /// The protocol, as handlers and logs name it.
    fn kind(&self) -> ProtocolKind;

    /// Whether this protocol routed `request` itself (REST, by URL template), and so claims it
    /// whatever its HTTP method: negotiation then asks no other protocol.
    fn routed_here(&self, request: &http::request::Parts) -> bool {
        let _ = request;
        false
    }

    /// Whether a call of `spec` may arrive as an HTTP GET.
    fn serves_get(&self, spec: &MethodSpec) -> bool {
        let _ = spec;
        false
    }

    /// Reads what `request` asks for, if it is a request of this protocol: `None` when it is not (the
    /// next protocol is asked), `Some(Err(response))` when it is, but so malformed that it is answered
    /// at once.
    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>>;

    /// The protocol's headers of a response about to start: content type, the encoding it uses and the
    /// encodings it accepts (`compressed`: whether the body is compressed, for protocols that say so
    /// per response rather than per message).
    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap);

    /// A whole unframed response (only for calls negotiated with [`Framing::Unframed`]): the message,
    /// already encoded and maybe compressed, with its headers and trailers.
    fn unary_response(&self, format: &ResponseFormat, reply: UnaryReply) -> http::Response<Body> {
        let _ = reply;
        let error = Error::internal(format!(
            "the {} protocol sends no unframed responses",
            self.kind()
        ));
        self.error_response(format, &error)
    }

    /// The response to a call that failed before its first message was sent.
    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body>;

    /// Ends a stream after its last message: appends the protocol's final frame to `batch`
    /// ([`StreamEnd::InBody`]), or hands back the HTTP trailers to send after it.
    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        batch: &mut bytes::BytesMut,
    ) -> Result<StreamEnd, Error>;

    /// The request body as the call reads it (gRPC-Web's text mode decodes base64 here).
    fn request_body(&self, body: Body) -> Body {
        body
    }

    /// The body of a streamed response as it goes out (gRPC-Web's text mode encodes it here).
    fn response_body(&self, body: Body) -> Body {
        body
    }
}

/// How a protocol ended a stream.
pub(crate) enum StreamEnd {
    /// The final frame went into the body (Connect's end-stream message, gRPC-Web's trailer frame).
    InBody,
    /// These HTTP trailers end the response (gRPC's status).
    Trailers(HeaderMap),
}

/// What a request of one protocol states about itself, before the server settles anything.
pub(crate) struct Proposal<'a> {
    /// The protocol that will answer (gRPC-Web's text mode answers as a protocol of its own).
    pub protocol: &'static dyn ServerProtocol,
    pub framing: Framing,
    /// The codec's name (`proto`, `json`, ...), as the content type or query names it.
    pub codec: Cow<'a, str>,
    /// The codec of the response when it differs from the request's (the push protocols read a
    /// message in any codec and answer in JSON).
    pub response_codec: Option<&'static str>,
    /// The call's own codec, used instead of the offered one `codec` names (REST's translation).
    pub own_codec: Option<Arc<dyn Codec>>,
    /// What the protocol keeps about this call for writing its response (REST's match).
    pub state: Option<Arc<dyn Any + Send + Sync>>,
    /// The content type to answer with.
    pub content_type: HeaderValue,
    /// The encoding of the request's messages, if any.
    pub encoding: Option<Cow<'a, str>>,
    /// The encodings the client accepts for the response.
    pub accept_encoding: Option<&'a str>,
    /// The timeout the request states, if it states one.
    pub timeout: Option<Result<Duration, Error>>,
    /// A GET request's message, taken from its query.
    pub get_message: Option<Bytes>,
}

/// What a server offers every call: its protocols, codecs, compressions and message limits.
#[derive(Clone)]
pub(crate) struct Offer {
    /// The protocols, asked in this order whether a request is theirs.
    pub protocols: &'static [&'static Protocol],
    pub codecs: Vec<Arc<dyn Codec>>,
    pub compression: CompressionRegistry,
    pub read_max_bytes: usize,
    pub send_max_bytes: usize,
    pub compress_min_bytes: usize,
    /// How long a text stream whose frame has a heartbeat may stay silent before sending one
    /// (`None`: never).
    pub heartbeat: Option<Duration>,
}

impl Offer {
    pub(crate) fn codec(&self, name: &str) -> Option<&Arc<dyn Codec>> {
        self.codecs
            .iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
    }
}

/// How a call's response is written: everything about the answer that negotiation settled.
pub(crate) struct ResponseFormat {
    pub protocol: &'static dyn ServerProtocol,
    pub framing: Framing,
    /// The response's content type.
    pub content_type: HeaderValue,
    /// The codec, the response compression and the send limits.
    pub writer: MessageWriter,
    /// The encodings this server accepts, as the response advertises them.
    pub accept_encoding: HeaderValue,
    /// A GET request's `If-None-Match`, for answering 304 Not Modified.
    pub if_none_match: Option<HeaderValue>,
    /// What the protocol keeps about this call (see [`Proposal::state`]).
    pub state: Option<Arc<dyn Any + Send + Sync>>,
    /// How long a streamed response may stay silent before its protocol's heartbeat goes out
    /// (`None`: no heartbeats, as for every protocol without one).
    pub heartbeat: Option<Duration>,
}

impl ResponseFormat {
    /// A response format of `codec` with `offer`'s limits and accepted encodings, before any response
    /// compression is chosen.
    fn uncompressed(
        protocol: &'static dyn ServerProtocol,
        framing: Framing,
        content_type: HeaderValue,
        codec: &Arc<dyn Codec>,
        offer: &Offer,
    ) -> Self {
        ResponseFormat {
            protocol,
            framing,
            content_type,
            writer: MessageWriter {
                codec: codec.clone(),
                compression: None,
                compress_min_bytes: offer.compress_min_bytes,
                send_max_bytes: offer.send_max_bytes,
                text_frame: match framing {
                    Framing::Text(frame) => Some(frame),
                    _ => None,
                },
            },
            accept_encoding: offer.compression.accept_header(),
            if_none_match: None,
            state: None,
            heartbeat: match framing {
                Framing::Text(frame) if frame.heartbeat.is_some() => offer.heartbeat,
                _ => None,
            },
        }
    }
}

/// Everything settled about a call before its handler runs.
pub(crate) struct Negotiated {
    /// The codec, the request's compression and the receive limit.
    pub reader: MessageReader,
    /// A GET request's message (the body is empty).
    pub get_message: Option<Bytes>,
    /// When the call must be over, from the request's timeout.
    pub deadline: Option<Instant>,
    pub format: ResponseFormat,
}

/// A unary response ready to go: the message (encoded, compressed when `compressed`), headers, trailers.
pub(crate) struct UnaryReply {
    pub headers: Metadata,
    pub payload: Bytes,
    pub compressed: bool,
    pub trailers: Metadata,
}

/// Works out how `request` is served as a call of `spec`: the protocol, framing, codec, compressions
/// and deadline (`default_timeout` when the request states none: the server's default for its
/// connection). On failure, the response to send instead, in the caller's protocol when it is known.
pub(crate) fn negotiate(
    request: &http::request::Parts,
    spec: &MethodSpec,
    offer: &Offer,
    default_timeout: Option<Duration>,
) -> Result<Negotiated, Box<http::Response<Body>>> {
    if let Some(routed) = offer
        .protocols
        .iter()
        .find(|p| p.server.routed_here(request))
    {
        let proposal = routed
            .server
            .propose(request, spec)
            .ok_or_else(|| plain_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))?
            .map_err(Box::new)?;
        return settle(request, proposal, offer, default_timeout);
    }
    let serves_get = offer.protocols.iter().any(|p| p.server.serves_get(spec));
    let verb_allowed =
        request.method == Method::POST || (serves_get && request.method == Method::GET);
    if !verb_allowed {
        let mut response = plain_status(StatusCode::METHOD_NOT_ALLOWED);
        let allow = if serves_get { "GET, POST" } else { "POST" };
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static(allow));
        return Err(Box::new(response));
    }
    let proposal = offer
        .protocols
        .iter()
        .find_map(|protocol| protocol.server.propose(request, spec))
        .ok_or_else(|| plain_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))?
        .map_err(Box::new)?;
    settle(request, proposal, offer, default_timeout)
}

/// The response that fails `request` with `error` in the request's own protocol, for code outside
/// handlers (middleware, fallbacks) that knows no route: the protocol and framing come from the method
/// and content type alone, as either a unary or a streaming call would claim them. A request no protocol
/// claims gets Connect's unary form (HTTP status and JSON), which any HTTP client can read.
pub(crate) fn error_response_for(
    request: &http::request::Parts,
    offer: &Offer,
    error: &Error,
) -> http::Response<Body> {
    use crate::method::{Idempotency, StreamType};
    // A server stream first: only the push protocols claim a GET of one (an `EventSource`'s), and
    // every other request is claimed by one of these shapes the same way as by the others.
    const SHAPES: [MethodSpec; 3] = [
        MethodSpec {
            service: "",
            method: "",
            path: "",
            stream_type: StreamType::ServerStream,
            idempotency: Idempotency::Unknown,
        },
        MethodSpec {
            service: "",
            method: "",
            path: "",
            stream_type: StreamType::Unary,
            idempotency: Idempotency::NoSideEffects,
        },
        MethodSpec {
            service: "",
            method: "",
            path: "",
            stream_type: StreamType::BidiStream,
            idempotency: Idempotency::Unknown,
        },
    ];
    let proposal = SHAPES.iter().find_map(|spec| {
        offer
            .protocols
            .iter()
            .find_map(|protocol| protocol.server.propose(request, spec))
            .and_then(Result::ok)
    });
    let (protocol, framing, content_type) = match proposal {
        Some(proposal) => (proposal.protocol, proposal.framing, proposal.content_type),
        None => match offer
            .protocols
            .iter()
            .find(|p| ProtocolKind(p) == ProtocolKind::CONNECT)
        {
            Some(connect) => (
                connect.server,
                Framing::Unframed,
                HeaderValue::from_static(""),
            ),
            None => {
                return plain_status(
                    StatusCode::from_u16(error.code().http_status())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                );
            }
        },
    };
    let Some(codec) = offer.codecs.first() else {
        return plain_status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let format = ResponseFormat::uncompressed(protocol, framing, content_type, codec, offer);
    protocol.error_response(&format, error)
}

/// Settles what every protocol settles the same way: codec, compressions and deadline.
fn settle(
    request: &http::request::Parts,
    proposal: Proposal<'_>,
    offer: &Offer,
    default_timeout: Option<Duration>,
) -> Result<Negotiated, Box<http::Response<Body>>> {
    let Some(codec) = proposal
        .own_codec
        .as_ref()
        .or_else(|| offer.codec(&proposal.codec))
    else {
        return Err(Box::new(plain_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)));
    };
    let Some(response_codec) = proposal
        .response_codec
        .map_or(Some(codec), |name| offer.codec(name))
    else {
        return Err(Box::new(plain_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)));
    };
    let mut negotiated = Negotiated {
        reader: MessageReader {
            codec: codec.clone(),
            compression: None,
            read_max_bytes: offer.read_max_bytes,
        },
        get_message: proposal.get_message,
        deadline: None,
        format: ResponseFormat::uncompressed(
            proposal.protocol,
            proposal.framing,
            proposal.content_type,
            response_codec,
            offer,
        ),
    };
    negotiated.format.state = proposal.state;
    // From here on, failures are answered in the call's own protocol.
    let fail = |negotiated: &Negotiated, error: Error| {
        let format = &negotiated.format;
        Box::new(format.protocol.error_response(format, &error))
    };
    let request_compression = match offer.compression.resolve(proposal.encoding.as_deref()) {
        Ok(compression) => compression,
        Err(error) => return Err(fail(&negotiated, error)),
    };
    negotiated.format.writer.compression = request_compression
        .clone()
        .or_else(|| offer.compression.negotiate(proposal.accept_encoding));
    negotiated.reader.compression = request_compression;
    negotiated.deadline = match proposal.timeout {
        // The server's default for calls that state no timeout, when its `Server` set one.
        None => default_timeout.map(|default| Instant::now() + default),
        Some(Ok(timeout)) => Some(Instant::now() + timeout),
        Some(Err(error)) => return Err(fail(&negotiated, error)),
    };
    if request.method == Method::GET {
        negotiated.format.if_none_match = request.headers.get(http::header::IF_NONE_MATCH).cloned();
    }
    Ok(negotiated)
}

/// The content type to answer a request that sent `value`, whose essence is `essence`: the request's
/// own value when it is already bare and lower case (most are), else the lower-cased essence.
pub(crate) fn echo_content_type(value: &HeaderValue, essence: &str) -> HeaderValue {
    let bare = essence.len() == value.len() && !essence.bytes().any(|b| b.is_ascii_uppercase());
    if bare {
        value.clone()
    } else {
        HeaderValue::from_str(&essence.to_ascii_lowercase())
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Copies metadata into response headers (or trailers), keeping duplicates in order.
pub(crate) fn append_metadata(map: &mut HeaderMap, metadata: &Metadata) {
    for (name, value) in metadata.as_header_map() {
        map.append(name.clone(), value.clone());
    }
}

/// Sets a header to the name of `compression`, when there is one.
pub(crate) fn set_encoding(
    map: &mut HeaderMap,
    name: http::HeaderName,
    compression: Option<&Arc<dyn Compression>>,
) {
    if let Some(compression) = compression
        && let Ok(value) = HeaderValue::from_str(compression.name())
    {
        map.insert(name, value);
    }
}

/// A plain HTTP response with an empty body (404, 405, 415, ...).
pub(crate) fn plain_status(status: StatusCode) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{JsonCodec, ProtoCodec};
    use crate::method::{Idempotency, StreamType};

    const UNARY: MethodSpec = MethodSpec {
        service: "t.v1.S",
        method: "M",
        path: "/t.v1.S/M",
        stream_type: StreamType::Unary,
        idempotency: Idempotency::Unknown,
    };
    const GETTABLE: MethodSpec = MethodSpec {
        idempotency: Idempotency::NoSideEffects,
        ..UNARY
    };
    const BIDI: MethodSpec = MethodSpec {
        stream_type: StreamType::BidiStream,
        ..UNARY
    };

    fn offer() -> Offer {
        Offer {
            protocols: crate::protocol::PROTOCOLS,
            codecs: vec![Arc::new(ProtoCodec), Arc::new(JsonCodec)],
            compression: CompressionRegistry::new(),
            read_max_bytes: 0,
            send_max_bytes: 0,
            compress_min_bytes: 0,
            heartbeat: None,
        }
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn rejected(result: Result<Negotiated, Box<http::Response<Body>>>) -> http::Response<Body> {
        match result {
            Ok(negotiated) => panic!(
                "negotiated {} instead of failing",
                negotiated.format.protocol.kind()
            ),
            Err(response) => *response,
        }
    }

    #[test]
    fn each_content_type_finds_its_protocol_and_framing() {
        let cases = [
            (
                &UNARY,
                "application/proto",
                ProtocolKind::CONNECT,
                Framing::Unframed,
            ),
            (
                &BIDI,
                "application/connect+json",
                ProtocolKind::CONNECT,
                Framing::Enveloped,
            ),
            (
                &UNARY,
                "application/grpc",
                ProtocolKind::GRPC,
                Framing::Enveloped,
            ),
            (
                &BIDI,
                "application/grpc-web+proto",
                ProtocolKind::GRPC_WEB,
                Framing::Enveloped,
            ),
            (
                &UNARY,
                "application/grpc-web-text",
                ProtocolKind::GRPC_WEB,
                Framing::Enveloped,
            ),
        ];
        for (spec, content_type, kind, framing) in cases {
            let parts = request("POST", spec.path, &[("content-type", content_type)]);
            let negotiated = negotiate(&parts, spec, &offer(), None).unwrap_or_else(|_| {
                panic!("{content_type} was refused");
            });
            assert_eq!(negotiated.format.protocol.kind(), kind, "{content_type}");
            assert_eq!(negotiated.format.framing, framing, "{content_type}");
        }
    }

    #[test]
    fn the_response_names_the_request_content_type_in_lower_case() {
        let parts = request(
            "POST",
            "/",
            &[("content-type", "application/grpc+proto; charset=utf-8")],
        );
        let negotiated = negotiate(&parts, &UNARY, &offer(), None).ok().unwrap();
        assert_eq!(negotiated.format.content_type, "application/grpc+proto");
        let parts = request("POST", "/", &[("content-type", "application/JSON")]);
        let negotiated = negotiate(&parts, &UNARY, &offer(), None).ok().unwrap();
        assert_eq!(negotiated.format.content_type, "application/json");
    }

    #[test]
    fn wrong_verbs_and_content_types_are_plain_http_errors() {
        let put = rejected(negotiate(
            &request("PUT", "/", &[]),
            &GETTABLE,
            &offer(),
            None,
        ));
        assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(put.headers()[http::header::ALLOW], "GET, POST");
        let get = rejected(negotiate(&request("GET", "/", &[]), &UNARY, &offer(), None));
        assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(get.headers()[http::header::ALLOW], "POST");

        for content_type in ["text/plain", "application/connect+proto", "application/xml"] {
            let parts = request("POST", "/", &[("content-type", content_type)]);
            let response = rejected(negotiate(&parts, &UNARY, &offer(), None));
            assert_eq!(
                response.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{content_type}"
            );
        }
        // A unary content type on a streaming method is no request that method can serve.
        let parts = request("POST", "/", &[("content-type", "application/proto")]);
        let response = rejected(negotiate(&parts, &BIDI, &offer(), None));
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn bad_timeouts_and_encodings_are_answered_in_the_callers_protocol() {
        let parts = request(
            "POST",
            "/",
            &[
                ("content-type", "application/proto"),
                ("connect-timeout-ms", "soon"),
            ],
        );
        let response = rejected(negotiate(&parts, &UNARY, &offer(), None));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["content-type"], "application/json");

        let parts = request(
            "POST",
            "/",
            &[
                ("content-type", "application/grpc"),
                ("grpc-encoding", "lz4"),
            ],
        );
        let response = rejected(negotiate(&parts, &UNARY, &offer(), None));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "12");
        assert!(response.headers().contains_key("grpc-accept-encoding"));
    }

    #[test]
    fn a_get_carries_its_message_codec_and_compression_in_the_query() {
        let parts = request(
            "GET",
            "/t.v1.S/M?connect=v1&encoding=json&message=%7B%7D",
            &[("if-none-match", "\"7\"")],
        );
        let negotiated = negotiate(&parts, &GETTABLE, &offer(), None).ok().unwrap();
        assert_eq!(negotiated.format.framing, Framing::Unframed);
        assert_eq!(negotiated.reader.codec.name(), "json");
        assert_eq!(negotiated.get_message.as_deref(), Some(&b"{}"[..]));
        assert_eq!(negotiated.format.if_none_match.unwrap(), "\"7\"");

        let parts = request("GET", "/t.v1.S/M?connect=v1&message=x", &[]);
        let response = rejected(negotiate(&parts, &GETTABLE, &offer(), None));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn compression_follows_the_request_or_what_the_client_accepts() {
        let parts = request(
            "POST",
            "/",
            &[
                ("content-type", "application/connect+proto"),
                ("connect-accept-encoding", "lz4, gzip"),
            ],
        );
        let negotiated = negotiate(&parts, &BIDI, &offer(), None).ok().unwrap();
        assert!(negotiated.reader.compression.is_none());
        let sent = negotiated.format.writer.compression.map(|c| c.name());
        assert_eq!(sent, Some("gzip"));
    }
}
