//! The Connect protocol: content types, headers, timeouts and unary trailers, then how the server and
//! the client speak it. Its JSON (error bodies, the end-stream message) is `connect_json.rs`; its GET
//! form is `connect_get.rs`.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};

use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};

use crate::body::Body;
use crate::envelope::{Envelope, FLAG_END_STREAM, write_envelope};
use crate::method::{Idempotency, MethodSpec, StreamType};
use crate::protocol::client::{
    AcceptedHead, BodyEnd, ClientProtocol, ControlFrames, ERROR_BODY_MAX, Ending, GetMessage,
    Received, RequestHeaders, ResponseContext, Verdict, codec_content_type, insert,
    response_compression, status_error, stream_content_type_error,
};
use crate::protocol::connect_get::{build_get_query, parse_get_query};
use crate::protocol::connect_json::{
    end_stream_json, error_json, parse_end_stream, parse_error_json,
};
use crate::protocol::server::{
    Framing, Proposal, ResponseFormat, ServerProtocol, StreamEnd, UnaryReply, append_metadata,
    set_encoding,
};
use crate::protocol::{CodeStyle, Protocol, ProtocolKind, conditional, header};
use crate::{Code, Error, Metadata};

/// Header naming the protocol version; clients send `1`.
pub(crate) const PROTOCOL_VERSION_HEADER: http::HeaderName =
    http::HeaderName::from_static("connect-protocol-version");
/// Header carrying the timeout in milliseconds.
pub(crate) const TIMEOUT_HEADER: http::HeaderName =
    http::HeaderName::from_static("connect-timeout-ms");
/// Streaming request/response compression.
pub(crate) const STREAM_ENCODING_HEADER: http::HeaderName =
    http::HeaderName::from_static("connect-content-encoding");
/// Streaming accepted compressions.
pub(crate) const STREAM_ACCEPT_ENCODING_HEADER: http::HeaderName =
    http::HeaderName::from_static("connect-accept-encoding");
/// Prefix of unary trailers sent as headers.
pub(crate) const TRAILER_PREFIX: &str = "trailer-";

/// Content type of a unary request or response with codec `codec`.
pub(crate) fn unary_content_type(codec: &str) -> String {
    format!("application/{codec}")
}

/// Content type of a streaming request or response with codec `codec`.
pub(crate) fn stream_content_type(codec: &str) -> String {
    format!("application/connect+{codec}")
}

/// What a Connect content type says: streaming or not, and the codec name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContentType<'a> {
    pub streaming: bool,
    pub codec: &'a str,
}

/// Parses `application/X` or `application/connect+X`, ignoring parameters (`; charset=utf-8`).
pub(crate) fn parse_content_type(value: &str) -> Option<ContentType<'_>> {
    let essence = value.split(';').next()?.trim();
    let sub = essence
        .strip_prefix("application/")
        .or_else(|| essence.strip_prefix("APPLICATION/"))?;
    if let Some(codec) = sub.strip_prefix("connect+") {
        return (!codec.is_empty()).then_some(ContentType {
            streaming: true,
            codec,
        });
    }
    if sub.is_empty() || sub.starts_with("grpc") || sub.contains('+') {
        return None;
    }
    Some(ContentType {
        streaming: false,
        codec: sub,
    })
}

/// Parses `Connect-Timeout-Ms`: at most 10 ASCII digits.
pub(crate) fn parse_timeout(value: &str) -> Result<std::time::Duration, Error> {
    parse_timeout_header(&TIMEOUT_HEADER, value)
}

/// Parses a timeout in milliseconds, at most 10 ASCII digits, from the header `name` (Connect's, or
/// Triple's, which has the same form).
pub(crate) fn parse_timeout_header(
    name: &http::HeaderName,
    value: &str,
) -> Result<std::time::Duration, Error> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(
            Code::InvalidArgument,
            format!("invalid {name} {value:?}: expected at most 10 digits"),
        ));
    }
    let ms: u64 = value
        .parse()
        .map_err(|_| Error::new(Code::InvalidArgument, format!("invalid {name} {value:?}")))?;
    Ok(std::time::Duration::from_millis(ms))
}

/// Formats a timeout for `Connect-Timeout-Ms`, rounding up and clamping to 10 digits.
pub(crate) fn format_timeout(timeout: std::time::Duration) -> String {
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(9_999_999_999);
    ms.to_string()
}

/// Splits unary response headers into headers and `trailer-` prefixed trailers.
pub(crate) fn split_unary_trailers(headers: &http::HeaderMap) -> (Metadata, Metadata) {
    let mut head = Metadata::new();
    let mut trailers = Metadata::new();
    for (name, value) in headers {
        match name.as_str().strip_prefix(TRAILER_PREFIX) {
            Some(key) => {
                if let Ok(key) = http::HeaderName::from_bytes(key.as_bytes()) {
                    trailers.as_header_map_mut().append(key, value.clone());
                }
            }
            None => {
                head.as_header_map_mut().append(name.clone(), value.clone());
            }
        }
    }
    (head, trailers)
}

/// Appends `trailers` to `headers` with the `trailer-` prefix (unary responses).
pub(crate) fn append_unary_trailers(headers: &mut http::HeaderMap, trailers: &Metadata) {
    for (name, value) in trailers.as_header_map() {
        if let Ok(key) =
            http::HeaderName::from_bytes(format!("{TRAILER_PREFIX}{}", name.as_str()).as_bytes())
        {
            headers.append(key, value.clone());
        }
    }
}

/// Connect in the registry: codes are names, `rpc.system` is `connect_rpc`.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "connect",
    rpc_system: "connect_rpc",
    codes: CodeStyle::Names,
    server: &Connect,
    client: Some(&ConnectClient),
    // connect-es sends `x-user-agent` in place of the `user-agent` browsers reserve.
    cors_request_headers: &[
        "connect-protocol-version",
        "connect-timeout-ms",
        "connect-content-encoding",
        "connect-accept-encoding",
        "x-user-agent",
    ],
    cors_response_headers: &["connect-content-encoding"],
    routing: None,
};

impl ProtocolKind {
    /// The Connect protocol (unary over plain HTTP, streams with an end-stream message); the
    /// default.
    pub const CONNECT: ProtocolKind = ProtocolKind(&PROTOCOL);
}

// Server side.

/// The Connect protocol, as the server speaks it.
pub(crate) struct Connect;

impl ServerProtocol for Connect {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::CONNECT
    }

    /// Unary methods marked free of side effects may be called with GET.
    fn serves_get(&self, spec: &MethodSpec) -> bool {
        spec.stream_type == StreamType::Unary && spec.idempotency == Idempotency::NoSideEffects
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        let timeout = header(&request.headers, TIMEOUT_HEADER).map(parse_timeout);
        if request.method == http::Method::GET {
            if !self.serves_get(spec) {
                return None;
            }
            let query = match parse_get_query(request.uri.query().unwrap_or(""), None) {
                Ok(query) => query,
                Err(error) => return Some(Err(unary_error_response(&error))),
            };
            let codec = query.encoding.unwrap_or_default().to_ascii_lowercase();
            return Some(Ok(Proposal {
                protocol: self,
                framing: Framing::Unframed,
                content_type: header_value(&unary_content_type(&codec)),
                codec: Cow::Owned(codec),
                response_codec: None,
                own_codec: None,
                state: None,
                encoding: query.compression.map(Cow::Owned),
                accept_encoding: header(&request.headers, http::header::ACCEPT_ENCODING),
                timeout,
                get_message: Some(Bytes::from(query.message)),
            }));
        }
        let content_type =
            parse_content_type(header(&request.headers, http::header::CONTENT_TYPE)?)?;
        // Unary methods take the unframed form, streaming methods the enveloped one; a request in the
        // other form is not one this method can serve.
        let unary = spec.stream_type == StreamType::Unary;
        if content_type.streaming == unary {
            return None;
        }
        let codec = content_type.codec.to_ascii_lowercase();
        let (framing, content_type, encoding, accept) = if unary {
            (
                Framing::Unframed,
                unary_content_type(&codec),
                http::header::CONTENT_ENCODING,
                http::header::ACCEPT_ENCODING,
            )
        } else {
            (
                Framing::Enveloped,
                stream_content_type(&codec),
                STREAM_ENCODING_HEADER,
                STREAM_ACCEPT_ENCODING_HEADER,
            )
        };
        Some(Ok(Proposal {
            protocol: self,
            framing,
            content_type: header_value(&content_type),
            codec: Cow::Owned(codec),
            response_codec: None,
            own_codec: None,
            state: None,
            encoding: header(&request.headers, encoding).map(Cow::Borrowed),
            accept_encoding: header(&request.headers, accept),
            timeout,
            get_message: None,
        }))
    }

    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        let (encoding, accept) = match format.framing {
            Framing::Unframed | Framing::Text(_) => (
                http::header::CONTENT_ENCODING,
                http::header::ACCEPT_ENCODING,
            ),
            Framing::Enveloped => (STREAM_ENCODING_HEADER, STREAM_ACCEPT_ENCODING_HEADER),
        };
        headers.insert(http::header::CONTENT_TYPE, format.content_type.clone());
        if compressed {
            set_encoding(headers, encoding, format.writer.compression.as_ref());
        }
        headers.insert(accept, format.accept_encoding.clone());
    }

    /// The message is the body; trailers travel as `trailer-` headers. A GET whose `If-None-Match`
    /// names the response's `ETag` is answered 304 Not Modified.
    fn unary_response(&self, format: &ResponseFormat, reply: UnaryReply) -> http::Response<Body> {
        let mut response = http::Response::new(Body::full(reply.payload));
        let headers = response.headers_mut();
        append_metadata(headers, &reply.headers);
        self.response_headers(format, reply.compressed, headers);
        append_unary_trailers(headers, &reply.trailers);
        conditional::answer_not_modified(format.if_none_match.as_ref(), &mut response);
        response
    }

    /// Unary calls answer with the code's HTTP status and the error as JSON; streams always answer
    /// 200, with the error in the end-stream message.
    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        match format.framing {
            Framing::Unframed | Framing::Text(_) => {
                let mut response = unary_error_response(error);
                response.headers_mut().insert(
                    http::header::ACCEPT_ENCODING,
                    format.accept_encoding.clone(),
                );
                response
            }
            Framing::Enveloped => {
                let mut response = http::Response::new(Body::full(end_stream_message(error)));
                let headers = response.headers_mut();
                append_metadata(headers, error.headers());
                self.response_headers(format, false, headers);
                response
            }
        }
    }

    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        batch: &mut BytesMut,
    ) -> Result<StreamEnd, Error> {
        write_envelope(FLAG_END_STREAM, &end_stream_json(error, trailers), batch)?;
        Ok(StreamEnd::InBody)
    }
}

/// The end-stream message failing a stream with `error`, as one envelope (a stream that fails before
/// its first message is this alone).
pub(crate) fn end_stream_message(error: &Error) -> Bytes {
    let mut envelope = BytesMut::new();
    let payload = end_stream_json(Some(error), &Metadata::new());
    // An error's JSON is far below an envelope's 4 GiB, the only way writing one fails.
    let _ = write_envelope(FLAG_END_STREAM, &payload, &mut envelope);
    envelope.freeze()
}

/// A unary error response: HTTP status from the code, the error as JSON, its headers and its trailers
/// (as `trailer-` headers).
fn unary_error_response(error: &Error) -> http::Response<Body> {
    unary_error_response_with(error, Code::http_status, error_json)
}

/// A unary error response with the HTTP status `status` gives the code and the JSON body `json`
/// writes (Triple's statuses differ from Connect's, and it names Dubbo's business error).
pub(crate) fn unary_error_response_with(
    error: &Error,
    status: fn(Code) -> u16,
    json: fn(&Error) -> Bytes,
) -> http::Response<Body> {
    let mut response = http::Response::new(Body::full(json(error)));
    *response.status_mut() = http::StatusCode::from_u16(status(error.code()))
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    append_metadata(headers, error.headers());
    append_unary_trailers(headers, error.trailers());
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A header value from text built out of parsed header text (so it is always valid).
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

// Client side.
//
// What a Connect client sends and accepts: unary calls are one bare message each way (or a GET), with
// errors as JSON and trailers as `trailer-` headers; streams are enveloped and end with the end-stream
// message.

/// The Connect protocol, client side.
pub(crate) struct ConnectClient;

impl ClientProtocol for ConnectClient {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::CONNECT
    }

    fn is_unframed(&self, stream_type: StreamType) -> bool {
        stream_type == StreamType::Unary
    }

    fn write_request_headers(&self, request: &RequestHeaders<'_>, map: &mut http::HeaderMap) {
        if self.is_unframed(request.stream_type) {
            if let Some(value) = codec_content_type("application/", request.codec) {
                map.insert(CONTENT_TYPE, value);
            }
            map.insert(ACCEPT_ENCODING, request.accept_encoding.clone());
            if let Some(name) = request.send_compression {
                insert(map, CONTENT_ENCODING, name);
            }
        } else {
            if let Some(value) = codec_content_type("application/connect+", request.codec) {
                map.insert(CONTENT_TYPE, value);
            }
            map.insert(
                STREAM_ACCEPT_ENCODING_HEADER,
                request.accept_encoding.clone(),
            );
            if let Some(name) = request.send_compression {
                insert(map, STREAM_ENCODING_HEADER, name);
            }
        }
        insert(map, PROTOCOL_VERSION_HEADER, "1");
    }

    fn write_timeout(
        &self,
        _stream_type: StreamType,
        timeout: std::time::Duration,
        map: &mut http::HeaderMap,
    ) {
        insert(map, TIMEOUT_HEADER, &format_timeout(timeout));
    }

    fn has_get(&self) -> bool {
        true
    }

    fn get_request(
        &self,
        head: &mut http::request::Parts,
        message: &GetMessage<'_>,
    ) -> Option<Result<(), Error>> {
        Some(get_request(head, message))
    }

    fn validate_response(
        &self,
        call: &ResponseContext<'_>,
        head: &http::response::Parts,
    ) -> Verdict {
        if self.is_unframed(call.stream_type) {
            validate_unary_response_with(call, head, Code::from_http_status)
        } else {
            validate_stream_response(call, head)
        }
    }

    fn read_envelope(
        &self,
        envelope: Envelope,
        frames: &ControlFrames<'_>,
    ) -> Result<Received, Error> {
        if envelope.flags & FLAG_END_STREAM == 0 {
            return Ok(Received::Message(envelope));
        }
        let (trailers, error) = parse_end_stream(&frames.payload(envelope)?)?;
        Ok(Received::End(Ending { trailers, error }))
    }

    fn end_of_body(&self, _end: &BodyEnd<'_>) -> Result<Ending, Error> {
        Err(Error::new(
            Code::Internal,
            "the stream ended without an end-stream message",
        ))
    }
}

/// Rewrites a unary POST head into a Connect GET with the message in the query.
fn get_request(head: &mut http::request::Parts, message: &GetMessage<'_>) -> Result<(), Error> {
    let query = build_get_query(
        message.codec,
        message.payload,
        message.text,
        message.compression,
    );
    let path_and_query = format!("{}?{}", head.uri.path(), query);
    let mut parts = head.uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|e| Error::with_source(Code::InvalidArgument, "invalid GET query", e))?,
    );
    head.uri = http::Uri::from_parts(parts)
        .map_err(|e| Error::with_source(Code::InvalidArgument, "invalid GET URI", e))?;
    head.method = http::Method::GET;
    head.headers.remove(CONTENT_TYPE);
    head.headers.remove(CONTENT_ENCODING);
    Ok(())
}

/// A unary response: 200 with the codec's unary content type, or an error whose JSON is in the body
/// (`code_of` gives the code of a failure whose body says none).
pub(crate) fn validate_unary_response_with(
    call: &ResponseContext<'_>,
    head: &http::response::Parts,
    code_of: fn(u16) -> Code,
) -> Verdict {
    let (headers, trailers) = split_unary_trailers(&head.headers);
    let content_type = header(&head.headers, CONTENT_TYPE);
    let encoding = header(&head.headers, CONTENT_ENCODING);
    if head.status != http::StatusCode::OK {
        let status = head.status;
        let is_json = content_type.is_some_and(|ct| ct.starts_with("application/json"));
        let compression = response_compression(call.compression, encoding)
            .ok()
            .flatten();
        let explain = move |body: Bytes| {
            let body = match compression {
                Some(c) => {
                    let mut out = bytes::BytesMut::new();
                    c.decompress(&body, ERROR_BODY_MAX, &mut out)
                        .map(|_| out.freeze())
                        .unwrap_or_default()
                }
                None => body,
            };
            let fallback = code_of(status.as_u16());
            let mut error = is_json
                .then(|| parse_error_json(&body, fallback))
                .flatten()
                .unwrap_or_else(|| Error::new(fallback, format!("HTTP status {status}")));
            *error.headers_mut() = headers;
            *error.trailers_mut() = trailers;
            error
        };
        return Verdict::ErrorInBody {
            max: ERROR_BODY_MAX,
            explain: Box::new(explain),
        };
    }
    let parsed = content_type.and_then(parse_content_type);
    if !parsed
        .as_ref()
        .is_some_and(|ct| !ct.streaming && ct.codec == call.codec)
    {
        // A Connect reply in another codec is a protocol error; anything else is not Connect at all.
        let code = match parsed {
            Some(ct) if !ct.streaming => Code::Internal,
            _ => Code::Unknown,
        };
        let expected = unary_content_type(call.codec);
        let error = Error::new(
            code,
            format!("invalid content-type {content_type:?}; expecting {expected:?}"),
        );
        return Verdict::Reject(error.with_headers(headers));
    }
    match response_compression(call.compression, encoding) {
        Ok(compression) => Verdict::Accept(AcceptedHead {
            headers,
            trailers,
            compression,
        }),
        Err(e) => Verdict::Reject(e),
    }
}

/// A streaming response: 200 with the codec's streaming content type and an accepted encoding.
fn validate_stream_response(call: &ResponseContext<'_>, head: &http::response::Parts) -> Verdict {
    let headers = Metadata::from_header_map(head.headers.clone());
    if head.status != http::StatusCode::OK {
        return Verdict::Reject(status_error(head.status).with_headers(headers));
    }
    let content_type = header(&head.headers, CONTENT_TYPE);
    match content_type.and_then(parse_content_type) {
        Some(ct) if ct.streaming && ct.codec == call.codec => {}
        parsed => {
            let error = stream_content_type_error(
                ProtocolKind::CONNECT,
                content_type,
                call.codec,
                parsed.is_some(),
            );
            return Verdict::Reject(error.with_headers(headers));
        }
    }
    let encoding = header(&head.headers, STREAM_ENCODING_HEADER);
    match response_compression(call.compression, encoding) {
        Ok(compression) => Verdict::Accept(AcceptedHead {
            headers,
            trailers: Metadata::new(),
            compression,
        }),
        Err(e) => Verdict::Reject(e.with_headers(headers)),
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use crate::compression::CompressionRegistry;
    use crate::protocol::client::tests::{accepted, context, rejected, response};

    const H2: http::Version = http::Version::HTTP_2;

    #[test]
    fn unary_response_splits_trailers_and_picks_compression() {
        let registry = CompressionRegistry::new();
        let head = response(
            H2,
            200,
            &[
                ("content-type", "application/proto"),
                ("content-encoding", "gzip"),
                ("x-head", "h"),
                ("trailer-x-tail", "t"),
            ],
        );
        let head = accepted(
            ConnectClient.validate_response(&context(StreamType::Unary, &registry), &head),
        );
        assert_eq!(head.headers.get("x-head"), Some("h"));
        assert_eq!(head.headers.get("trailer-x-tail"), None);
        assert_eq!(head.trailers.get("x-tail"), Some("t"));
        assert_eq!(head.compression.unwrap().name(), "gzip");
    }

    #[test]
    fn unary_response_in_the_wrong_content_type_is_rejected() {
        let registry = CompressionRegistry::new();
        let call = context(StreamType::Unary, &registry);
        // Connect in another codec: a protocol error.
        let e = rejected(ConnectClient.validate_response(
            &call,
            &response(H2, 200, &[("content-type", "application/json")]),
        ));
        assert_eq!(e.code(), Code::Internal);
        // Not Connect unary at all.
        for ct in ["text/html", "application/connect+proto"] {
            let e = rejected(
                ConnectClient.validate_response(&call, &response(H2, 200, &[("content-type", ct)])),
            );
            assert_eq!(e.code(), Code::Unknown, "{ct}");
        }
        let e = rejected(ConnectClient.validate_response(
            &call,
            &response(
                H2,
                200,
                &[
                    ("content-type", "application/proto"),
                    ("content-encoding", "rot13"),
                ],
            ),
        ));
        assert_eq!(e.code(), Code::Internal);
    }

    #[test]
    fn failed_unary_response_is_explained_by_its_json_body() {
        let registry = CompressionRegistry::new();
        let call = context(StreamType::Unary, &registry);
        let head = response(
            http::Version::HTTP_11,
            404,
            &[("content-type", "application/json"), ("trailer-x-t", "1")],
        );
        let Verdict::ErrorInBody { max, explain } = ConnectClient.validate_response(&call, &head)
        else {
            panic!("a failed unary response carries its error in the body");
        };
        assert_eq!(max, ERROR_BODY_MAX);
        let error = explain(Bytes::from_static(
            br#"{"code":"already_exists","message":"m"}"#,
        ));
        assert_eq!(error.code(), Code::AlreadyExists);
        assert_eq!(error.message(), "m");
        assert_eq!(error.trailers().get("x-t"), Some("1"));
        // A body that is not Connect's JSON leaves the HTTP status to speak (404: no such method).
        let Verdict::ErrorInBody { explain, .. } = ConnectClient.validate_response(&call, &head)
        else {
            panic!("error in body");
        };
        assert_eq!(
            explain(Bytes::from_static(b"<html>")).code(),
            Code::Unimplemented
        );
    }

    #[test]
    fn stream_response_needs_status_200_and_the_streaming_content_type() {
        let registry = CompressionRegistry::new();
        let call = context(StreamType::ServerStream, &registry);
        let head = accepted(ConnectClient.validate_response(
            &call,
            &response(
                H2,
                200,
                &[
                    ("content-type", "application/connect+proto"),
                    ("connect-content-encoding", "gzip"),
                ],
            ),
        ));
        assert!(head.compression.is_some());
        let e =
            rejected(ConnectClient.validate_response(&call, &response(H2, 503, &[("x-h", "1")])));
        assert_eq!(
            (e.code(), e.headers().get("x-h")),
            (Code::Unavailable, Some("1"))
        );
        let e = rejected(ConnectClient.validate_response(
            &call,
            &response(H2, 200, &[("content-type", "application/proto")]),
        ));
        assert_eq!(e.code(), Code::Internal);
    }

    #[test]
    fn the_end_stream_message_ends_the_stream_and_nothing_else_may() {
        let frames = ControlFrames {
            compression: None,
            read_max_bytes: 0,
        };
        let message = Envelope {
            flags: 0,
            data: Bytes::from_static(b"m"),
        };
        assert!(matches!(
            ConnectClient.read_envelope(message, &frames),
            Ok(Received::Message(_))
        ));
        let end = Envelope {
            flags: FLAG_END_STREAM,
            data: Bytes::from_static(br#"{"error":{"code":"aborted"},"metadata":{"x-t":["1"]}}"#),
        };
        let Ok(Received::End(ending)) = ConnectClient.read_envelope(end, &frames) else {
            panic!("end-stream message not recognised");
        };
        assert_eq!(ending.trailers.get("x-t"), Some("1"));
        assert_eq!(ending.error.unwrap().code(), Code::Aborted);
        let garbage = Envelope {
            flags: FLAG_END_STREAM,
            data: Bytes::from_static(b"{"),
        };
        assert!(ConnectClient.read_envelope(garbage, &frames).is_err());
        let headers = http::HeaderMap::new();
        let end = BodyEnd {
            http_headers: &headers,
            http_trailers: None,
            received_message: true,
        };
        assert_eq!(
            ConnectClient.end_of_body(&end).unwrap_err().code(),
            Code::Internal
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            parse_content_type("application/json; charset=utf-8"),
            Some(ContentType {
                streaming: false,
                codec: "json"
            })
        );
        assert_eq!(
            parse_content_type("application/connect+proto"),
            Some(ContentType {
                streaming: true,
                codec: "proto"
            })
        );
        assert_eq!(parse_content_type("application/grpc"), None);
        assert_eq!(parse_content_type("text/plain"), None);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("1500").unwrap().as_millis(), 1500);
        assert!(parse_timeout("12345678901").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("").is_err());
        assert_eq!(format_timeout(std::time::Duration::from_micros(1)), "1");
    }
}
