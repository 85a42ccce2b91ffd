//! The gRPC protocol's wire details: content types (gRPC-Web's included, as one family), `grpc-timeout`,
//! status trailers with percent-encoded messages and `grpc-status-details-bin`. gRPC-Web reuses all of
//! them (see `grpc_web.rs`).

use std::borrow::Cow;

use base64::Engine as _;
use bytes::BytesMut;
use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use http::header::CONTENT_TYPE;

use crate::body::Body;
use crate::envelope::Envelope;
use crate::error::ErrorDetail;
use crate::metadata::decode_base64;
use crate::method::{MethodSpec, StreamType};
use crate::protocol::client::{
    AcceptedHead, BodyEnd, ClientProtocol, ControlFrames, Ending, Received, RequestHeaders,
    ResponseContext, Verdict, codec_content_type, insert, response_compression, status_error,
    stream_content_type_error,
};
use crate::protocol::server::{
    Framing, Proposal, ResponseFormat, ServerProtocol, StreamEnd, append_metadata,
    echo_content_type, set_encoding,
};
use crate::protocol::triple::business;
use crate::protocol::{CodeStyle, Protocol, ProtocolKind, header};
use crate::{Code, Error, Metadata};

/// Status code trailer.
pub(crate) const STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
/// Percent-encoded status message trailer.
pub(crate) const MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");
/// Binary `google.rpc.Status` trailer.
pub(crate) const STATUS_DETAILS: http::HeaderName =
    http::HeaderName::from_static("grpc-status-details-bin");
/// Timeout request header.
pub(crate) const TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
/// Message compression header.
pub(crate) const ENCODING: http::HeaderName = http::HeaderName::from_static("grpc-encoding");
/// Accepted compressions header.
pub(crate) const ACCEPT_ENCODING: http::HeaderName =
    http::HeaderName::from_static("grpc-accept-encoding");

/// `google.rpc.Status`, as carried in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Status {
    /// The status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

/// What a gRPC content type says: web or not, gRPC-Web's text mode or not, and the codec.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContentType<'a> {
    pub web: bool,
    /// `application/grpc-web-text`: the gRPC-Web body is base64 text (see `grpc_web_text`).
    pub text: bool,
    pub codec: &'a str,
}

/// Parses `application/grpc[+codec]`, `application/grpc-web[+codec]` and
/// `application/grpc-web-text[+codec]` (no codec means proto).
pub(crate) fn parse_content_type(value: &str) -> Option<ContentType<'_>> {
    let essence = value.split(';').next()?.trim();
    let rest = essence.strip_prefix("application/grpc")?;
    let (web, text, rest) = if let Some(rest) = rest.strip_prefix("-web-text") {
        (true, true, rest)
    } else if let Some(rest) = rest.strip_prefix("-web") {
        (true, false, rest)
    } else {
        (false, false, rest)
    };
    let codec = match rest {
        "" => "proto",
        _ => rest.strip_prefix('+').filter(|c| !c.is_empty())?,
    };
    Some(ContentType { web, text, codec })
}

/// Parses `grpc-timeout`: 1 to 8 digits and a unit of H, M, S, m, u or n.
pub(crate) fn parse_timeout(value: &str) -> Result<std::time::Duration, Error> {
    let invalid = || {
        Error::new(
            Code::InvalidArgument,
            format!(
                "invalid {TIMEOUT} {value:?}: expected 1 to 8 digits and a unit of H M S m u n"
            ),
        )
    };
    if value.len() < 2 || value.len() > 9 || !value.is_ascii() {
        return Err(invalid());
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    use std::time::Duration;
    Ok(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return Err(invalid()),
    })
}

/// Formats a timeout for `grpc-timeout` in the finest unit that fits 8 digits, rounding up.
pub(crate) fn format_timeout(timeout: std::time::Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    for (unit, per) in [
        ("n", 1u128),
        ("u", 1_000),
        ("m", 1_000_000),
        ("S", 1_000_000_000),
        ("M", 60_000_000_000),
        ("H", 3_600_000_000_000),
    ] {
        let value = nanos.div_ceil(per);
        if value <= MAX {
            return format!("{value}{unit}");
        }
    }
    format!("{MAX}H")
}

/// What `grpc-message` percent-encodes: everything outside printable ASCII (non-ASCII bytes always are),
/// and `%` itself.
const MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// Percent-encodes a status message for `grpc-message`.
pub(crate) fn encode_message(message: &str) -> String {
    utf8_percent_encode(message, MESSAGE_ESCAPES).to_string()
}

/// Decodes a percent-encoded status message; malformed escapes are kept as they are, and bytes that are
/// not UTF-8 are replaced (a message is for people; it must not fail the call).
pub(crate) fn decode_message(encoded: &str) -> String {
    percent_decode_str(encoded).decode_utf8_lossy().into_owned()
}

/// The trailers that end a call: user trailers, then the status (0, or the error's code, message and
/// details).
pub(crate) fn status_trailers(error: Option<&Error>, trailers: &Metadata) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in trailers.as_header_map() {
        map.append(name.clone(), value.clone());
    }
    match error {
        None => {
            map.insert(STATUS, HeaderValue::from_static("0"));
        }
        Some(error) => {
            for (name, value) in error.trailers().as_header_map() {
                map.append(name.clone(), value.clone());
            }
            map.insert(STATUS, HeaderValue::from(business::grpc_status(error)));
            if !error.message().is_empty()
                && let Ok(value) = HeaderValue::from_str(&encode_message(error.message()))
            {
                map.insert(MESSAGE, value);
            }
            if !error.details().is_empty() {
                let status = Status {
                    code: business::grpc_status(error) as i32,
                    message: error.message().to_string(),
                    details: error.details().iter().map(ErrorDetail::to_any).collect(),
                };
                let encoded = base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(prost::Message::encode_to_vec(&status));
                if let Ok(value) = HeaderValue::from_str(&encoded) {
                    map.insert(STATUS_DETAILS, value);
                }
            }
        }
    }
    map
}

/// Whether a header is one of gRPC's own (not user metadata).
pub(crate) fn is_reserved(name: &str) -> bool {
    [STATUS, MESSAGE, STATUS_DETAILS]
        .iter()
        .any(|reserved| reserved.as_str() == name)
}

/// Reads the status from trailers (or a trailers-only response's headers). `Ok(None)` means success;
/// `Err` means the status itself is missing or malformed.
pub(crate) fn parse_status(map: &HeaderMap) -> Result<Option<Error>, Error> {
    let Some(status) = map.get(STATUS) else {
        return Err(Error::new(
            Code::Internal,
            "protocol error: the response has no grpc-status",
        ));
    };
    let code = status
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            Error::new(
                Code::Internal,
                format!("protocol error: invalid grpc-status {status:?}"),
            )
        })?;
    if code == 0 {
        return Ok(None);
    }
    let message = map
        .get(MESSAGE)
        .and_then(|v| v.to_str().ok())
        .map(decode_message)
        .unwrap_or_default();
    let mut error = if code == business::STATUS {
        Error::business(message)
    } else {
        Error::new(Code::from_u32(code).unwrap_or(Code::Unknown), message)
    };
    if let Some(details) = map.get(STATUS_DETAILS) {
        let status = decode_base64(details.as_bytes())
            .and_then(|raw| <Status as prost::Message>::decode(raw.as_slice()).ok())
            .ok_or_else(|| {
                Error::new(
                    Code::Internal,
                    "protocol error: invalid grpc-status-details-bin",
                )
            })?;
        for any in &status.details {
            error.add_detail(ErrorDetail::from_any(any));
        }
    }
    Ok(Some(error))
}

/// Copies user metadata (everything but gRPC's status entries) out of a header map.
pub(crate) fn user_metadata(map: &HeaderMap) -> Metadata {
    let mut out = Metadata::new();
    for (name, value) in map {
        if !is_reserved(name.as_str()) {
            out.as_header_map_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// gRPC in the registry.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "grpc",
    rpc_system: "grpc",
    codes: CodeStyle::Numbers,
    server: &Grpc,
    client: Some(&GrpcClient),
    // Browsers cannot send gRPC (they give pages no trailers): gRPC-Web is their form of it.
    cors_request_headers: &[],
    cors_response_headers: &[],
    routing: None,
};

impl ProtocolKind {
    /// gRPC over HTTP/2 with trailers.
    pub const GRPC: ProtocolKind = ProtocolKind(&PROTOCOL);
}

// Server side.

/// The gRPC protocol, as the server speaks it.
pub(crate) struct Grpc;

impl ServerProtocol for Grpc {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::GRPC
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        _spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        let (value, content_type) = post_content_type(request)?;
        if content_type.web {
            return None;
        }
        Some(Ok(proposal(self, request, value, content_type)))
    }

    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        write_response_headers(format, compressed, headers);
    }

    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        trailers_only_response(format, error)
    }

    /// The status travels in HTTP trailers after the last message.
    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        _batch: &mut BytesMut,
    ) -> Result<StreamEnd, Error> {
        Ok(StreamEnd::Trailers(status_trailers(error, trailers)))
    }
}

/// A POST's content type if it is one of the gRPC family's, with the header value it came in.
pub(crate) fn post_content_type(
    request: &http::request::Parts,
) -> Option<(&HeaderValue, ContentType<'_>)> {
    if request.method != http::Method::POST {
        return None;
    }
    let value = request.headers.get(http::header::CONTENT_TYPE)?;
    let content_type = parse_content_type(value.to_str().ok()?)?;
    Some((value, content_type))
}

/// What a gRPC or gRPC-Web request states: always enveloped, with gRPC's encoding and timeout headers;
/// the response names the request's content type.
pub(crate) fn proposal<'a>(
    protocol: &'static dyn ServerProtocol,
    request: &'a http::request::Parts,
    value: &HeaderValue,
    content_type: ContentType<'a>,
) -> Proposal<'a> {
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    Proposal {
        protocol,
        framing: Framing::Enveloped,
        codec: Cow::Borrowed(content_type.codec),
        response_codec: None,
        own_codec: None,
        state: None,
        content_type: echo_content_type(value, essence),
        encoding: header(&request.headers, ENCODING).map(Cow::Borrowed),
        accept_encoding: header(&request.headers, ACCEPT_ENCODING),
        timeout: header(&request.headers, TIMEOUT).map(parse_timeout),
        get_message: None,
    }
}

/// gRPC's response headers: the content type, `grpc-encoding` when messages may be compressed, and
/// `grpc-accept-encoding`.
pub(crate) fn write_response_headers(
    format: &ResponseFormat,
    compressed: bool,
    headers: &mut HeaderMap,
) {
    headers.insert(http::header::CONTENT_TYPE, format.content_type.clone());
    headers.insert(ACCEPT_ENCODING, format.accept_encoding.clone());
    if compressed {
        set_encoding(headers, ENCODING, format.writer.compression.as_ref());
    }
}

/// A trailers-only response: the error's status (and its headers) in the response headers, no body.
pub(crate) fn trailers_only_response(
    format: &ResponseFormat,
    error: &Error,
) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    let headers = response.headers_mut();
    write_response_headers(format, false, headers);
    append_metadata(headers, error.headers());
    headers.extend(status_trailers(Some(error), &Metadata::new()));
    response
}

// Client side.
//
// What a gRPC client sends and accepts; gRPC-Web's client (in `grpc_web.rs`) shares the headers, the head
// validation and the status handling below, and differs in its markers and where the trailers travel.

/// The gRPC protocol (over HTTP/2, status in the HTTP trailers), client side.
pub(crate) struct GrpcClient;

impl ClientProtocol for GrpcClient {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::GRPC
    }

    fn requires_http2(&self) -> bool {
        true
    }

    fn write_request_headers(&self, request: &RequestHeaders<'_>, map: &mut HeaderMap) {
        write_client_headers(false, request, map);
        insert(map, http::header::TE, "trailers");
    }

    fn write_timeout(
        &self,
        _stream_type: StreamType,
        timeout: std::time::Duration,
        map: &mut HeaderMap,
    ) {
        insert(map, TIMEOUT, &format_timeout(timeout));
    }

    fn validate_response(
        &self,
        call: &ResponseContext<'_>,
        head: &http::response::Parts,
    ) -> Verdict {
        if head.version < http::Version::HTTP_2 {
            return Verdict::Reject(Error::new(
                Code::Unimplemented,
                "the gRPC protocol requires HTTP/2, but the server answered over HTTP/1.1",
            ));
        }
        validate_client_response(ProtocolKind::GRPC, call, head)
    }

    fn read_envelope(
        &self,
        envelope: Envelope,
        _frames: &ControlFrames<'_>,
    ) -> Result<Received, Error> {
        // gRPC has no control frames: the status comes in the HTTP trailers.
        Ok(Received::Message(envelope))
    }

    fn end_of_body(&self, end: &BodyEnd<'_>) -> Result<Ending, Error> {
        // Real trailers win; a status in the headers counts only for an empty body.
        client_ending(end.http_trailers.or_else(|| trailers_only(end)))
    }
}

/// The request headers gRPC and gRPC-Web share.
pub(crate) fn write_client_headers(web: bool, request: &RequestHeaders<'_>, map: &mut HeaderMap) {
    let prefix = if web {
        "application/grpc-web+"
    } else {
        "application/grpc+"
    };
    if let Some(value) = codec_content_type(prefix, request.codec) {
        map.insert(CONTENT_TYPE, value);
    }
    map.insert(ACCEPT_ENCODING, request.accept_encoding.clone());
    if let Some(name) = request.send_compression {
        insert(map, ENCODING, name);
    }
}

/// Judges a gRPC or gRPC-Web response head (`kind` says which content type family to expect): status
/// 200, the call's codec unless the head is trailers-only, and an accepted encoding.
pub(crate) fn validate_client_response(
    kind: ProtocolKind,
    call: &ResponseContext<'_>,
    head: &http::response::Parts,
) -> Verdict {
    let headers = user_metadata(&head.headers);
    if head.status != http::StatusCode::OK {
        return Verdict::Reject(status_error(head.status).with_headers(headers));
    }
    // A status in the headers may make this a trailers-only response, which need not name a content
    // type. When the body is known to have ended with the head, it is one: its error is the call's,
    // now (so that opening a stream fails, not its first read). Otherwise the end of the body decides.
    let trailers_only = head.headers.contains_key(STATUS);
    if trailers_only
        && call.body_ended
        && let Ok(Ending {
            error: Some(error), ..
        }) = client_ending(Some(&head.headers))
    {
        return Verdict::Reject(error.with_headers(headers));
    }
    let content_type = header(&head.headers, CONTENT_TYPE);
    let web = kind == ProtocolKind::GRPC_WEB;
    let parsed = content_type.and_then(parse_content_type);
    let valid = parsed
        .as_ref()
        .is_some_and(|ct| ct.web == web && !ct.text && ct.codec == call.codec);
    if !valid && !trailers_only {
        let error = stream_content_type_error(kind, content_type, call.codec, parsed.is_some());
        return Verdict::Reject(error.with_headers(headers));
    }
    match response_compression(call.compression, header(&head.headers, ENCODING)) {
        Ok(compression) => Verdict::Accept(AcceptedHead {
            headers,
            trailers: Metadata::new(),
            compression,
        }),
        Err(e) => Verdict::Reject(e.with_headers(headers)),
    }
}

/// The response headers, if they are a trailers-only response: they carry a status and no message came.
pub(crate) fn trailers_only<'a>(end: &BodyEnd<'a>) -> Option<&'a HeaderMap> {
    (!end.received_message && end.http_headers.contains_key(STATUS)).then_some(end.http_headers)
}

/// The ending a gRPC status block (trailers, a trailers-only head, gRPC-Web's trailer frame) describes;
/// `Err` when the stream ended without one.
pub(crate) fn client_ending(trailers: Option<&HeaderMap>) -> Result<Ending, Error> {
    let Some(trailers) = trailers else {
        return Err(Error::new(
            Code::Internal,
            "protocol error: the stream ended without trailers",
        ));
    };
    let user = user_metadata(trailers);
    let error = match parse_status(trailers) {
        Ok(None) => None,
        Ok(Some(mut error)) => {
            *error.trailers_mut() = user.clone();
            Some(error)
        }
        Err(malformed) => Some(malformed),
    };
    Ok(Ending {
        trailers: user,
        error,
    })
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use crate::compression::CompressionRegistry;
    use crate::method::StreamType;
    use crate::protocol::client::tests::{accepted, context, rejected, response};

    const H2: http::Version = http::Version::HTTP_2;

    #[test]
    fn grpc_needs_http2_both_ways() {
        assert!(GrpcClient.requires_http2());
        let registry = CompressionRegistry::new();
        let head = response(
            http::Version::HTTP_11,
            200,
            &[("content-type", "application/grpc")],
        );
        let e =
            rejected(GrpcClient.validate_response(&context(StreamType::Unary, &registry), &head));
        assert_eq!(e.code(), Code::Unimplemented);
    }

    #[test]
    fn response_heads_are_judged_by_content_type_unless_trailers_only() {
        let registry = CompressionRegistry::new();
        let call = context(StreamType::Unary, &registry);
        let head = accepted(GrpcClient.validate_response(
            &call,
            &response(
                H2,
                200,
                &[
                    ("content-type", "application/grpc+proto"),
                    ("grpc-encoding", "gzip"),
                    ("x-h", "1"),
                ],
            ),
        ));
        assert_eq!(head.headers.get("x-h"), Some("1"));
        assert!(head.compression.is_some());
        // gRPC-Web's content type is the family in another mode: a protocol error.
        let e = rejected(GrpcClient.validate_response(
            &call,
            &response(H2, 200, &[("content-type", "application/grpc-web")]),
        ));
        assert_eq!(e.code(), Code::Internal);
        let e = rejected(
            GrpcClient
                .validate_response(&call, &response(H2, 200, &[("content-type", "text/html")])),
        );
        assert_eq!(e.code(), Code::Unknown);
        // A trailers-only response may omit the content type; its status is not user metadata.
        let head = accepted(
            GrpcClient.validate_response(&call, &response(H2, 200, &[("grpc-status", "5")])),
        );
        assert!(head.headers.get("grpc-status").is_none());
        let e = rejected(GrpcClient.validate_response(&call, &response(H2, 502, &[])));
        assert_eq!(e.code(), Code::Unavailable);
    }

    #[test]
    fn a_trailers_only_head_whose_body_ended_is_the_calls_error() {
        let registry = CompressionRegistry::new();
        let ended = ResponseContext {
            body_ended: true,
            ..context(StreamType::ServerStream, &registry)
        };
        let head = response(
            H2,
            200,
            &[
                ("grpc-status", "16"),
                ("grpc-message", "who%20are%20you"),
                ("x-h", "1"),
            ],
        );
        let e = rejected(GrpcClient.validate_response(&ended, &head));
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(e.message(), "who are you");
        assert_eq!(e.headers().get("x-h"), Some("1"));
        assert_eq!(e.trailers().get("x-h"), Some("1"));
        // A trailers-only success (an empty stream) ends at the body, as before.
        let ok = response(H2, 200, &[("grpc-status", "0")]);
        accepted(GrpcClient.validate_response(&ended, &ok));
        // Without the end of the body in sight, the body's end decides.
        let open = context(StreamType::ServerStream, &registry);
        accepted(GrpcClient.validate_response(&open, &head));
    }

    #[test]
    fn the_stream_ends_with_trailers_or_a_trailers_only_head() {
        let mut head = HeaderMap::new();
        head.insert(STATUS, HeaderValue::from_static("5"));
        let mut trailers = HeaderMap::new();
        trailers.insert(STATUS, HeaderValue::from_static("0"));
        trailers.insert("x-t", HeaderValue::from_static("1"));
        // Real trailers win over a status in the head.
        let end = BodyEnd {
            http_headers: &head,
            http_trailers: Some(&trailers),
            received_message: false,
        };
        let ending = GrpcClient.end_of_body(&end).unwrap();
        assert!(ending.error.is_none());
        assert_eq!(ending.trailers.get("x-t"), Some("1"));
        // Trailers-only: the head's status.
        let end = BodyEnd {
            http_headers: &head,
            http_trailers: None,
            received_message: false,
        };
        assert_eq!(
            GrpcClient.end_of_body(&end).unwrap().error.unwrap().code(),
            Code::NotFound
        );
        // A head status is void once a message came: no trailers at all.
        let end = BodyEnd {
            http_headers: &head,
            http_trailers: None,
            received_message: true,
        };
        assert_eq!(
            GrpcClient.end_of_body(&end).unwrap_err().code(),
            Code::Internal
        );
        // A malformed status is the call's error, trailers kept.
        trailers.insert(STATUS, HeaderValue::from_static("x"));
        let end = BodyEnd {
            http_headers: &head,
            http_trailers: Some(&trailers),
            received_message: true,
        };
        let ending = GrpcClient.end_of_body(&end).unwrap();
        assert_eq!(ending.error.unwrap().code(), Code::Internal);
        assert_eq!(ending.trailers.get("x-t"), Some("1"));
    }

    #[test]
    fn request_headers_ask_for_trailers() {
        let mut map = HeaderMap::new();
        let request = RequestHeaders {
            stream_type: StreamType::Unary,
            codec: "proto",
            accept_encoding: &HeaderValue::from_static("gzip"),
            send_compression: None,
        };
        GrpcClient.write_request_headers(&request, &mut map);
        assert_eq!(map["content-type"], "application/grpc+proto");
        assert_eq!(map["te"], "trailers");
        assert_eq!(map["grpc-accept-encoding"], "gzip");
        assert!(!map.contains_key(ENCODING));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn content_types() {
        assert_eq!(
            parse_content_type("application/grpc"),
            Some(ContentType {
                web: false,
                text: false,
                codec: "proto"
            })
        );
        assert_eq!(
            parse_content_type("application/grpc+json; charset=utf-8"),
            Some(ContentType {
                web: false,
                text: false,
                codec: "json"
            })
        );
        assert_eq!(
            parse_content_type("application/grpc-web+proto"),
            Some(ContentType {
                web: true,
                text: false,
                codec: "proto"
            })
        );
        assert_eq!(
            parse_content_type("application/grpc-web-text"),
            Some(ContentType {
                web: true,
                text: true,
                codec: "proto"
            })
        );
        assert_eq!(
            parse_content_type("application/grpc-web-text+json"),
            Some(ContentType {
                web: true,
                text: true,
                codec: "json"
            })
        );
        assert_eq!(parse_content_type("application/grpc-web-textual"), None);
        assert_eq!(parse_content_type("application/grpc-text"), None);
        assert_eq!(parse_content_type("application/grpc+"), None);
        assert_eq!(parse_content_type("application/json"), None);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("1S").unwrap(), Duration::from_secs(1));
        assert_eq!(
            parse_timeout("99999999n").unwrap(),
            Duration::from_nanos(99_999_999)
        );
        assert_eq!(parse_timeout("2H").unwrap(), Duration::from_secs(7200));
        for bad in ["", "S", "123456789S", "1x", "-1S", "1.5S"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_timeout(Duration::from_nanos(1500)), "1500n");
        assert_eq!(format_timeout(Duration::from_secs(5)), "5000000u");
        let back = parse_timeout(&format_timeout(Duration::from_millis(123_456_789))).unwrap();
        assert!(back >= Duration::from_millis(123_456_789));
    }

    #[test]
    fn messages_round_trip_through_percent_encoding() {
        let message = "line one\r\nline two: 100% ünïcödé";
        let encoded = encode_message(message);
        assert!(encoded.is_ascii() && !encoded.contains('\n'), "{encoded}");
        assert_eq!(decode_message(&encoded), message);
        assert_eq!(decode_message("bad %zz escape %"), "bad %zz escape %");
    }

    #[test]
    fn status_trailers_round_trip() {
        let mut trailers = Metadata::new();
        trailers.append("x-trailer", "1").unwrap();
        let error =
            Error::new(Code::NotFound, "no such\nthing").with_detail(&prost_types::Duration {
                seconds: 2,
                nanos: 0,
            });
        let map = status_trailers(Some(&error), &trailers);
        let parsed = parse_status(&map).unwrap().unwrap();
        assert_eq!(parsed.code(), Code::NotFound);
        assert_eq!(parsed.message(), "no such\nthing");
        assert_eq!(parsed.details(), error.details());
        assert_eq!(user_metadata(&map).get("x-trailer"), Some("1"));
        assert!(
            parse_status(&status_trailers(None, &trailers))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            parse_status(&HeaderMap::new()).unwrap_err().code(),
            Code::Internal
        );
    }
}
