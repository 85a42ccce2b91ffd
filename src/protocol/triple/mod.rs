//! Apache Dubbo's Triple protocol, as dubbo-go v3.3.2 speaks it (`protocol/triple/triple_protocol`):
//! for unary calls, a renamed Connect unary call; for streams, plain gRPC.
//!
//! Where Dubbo's written specification and dubbo-go's code disagree, this follows the code
//! (dubbo-go's `protocol_triple.go`, `handler.go`, `error.go`):
//! - The protocol marker is `Triple-Protocol-Version: 0.1.0` (the specification says
//!   `tri-protocol-version: 1`); a request naming another version is refused with
//!   `invalid_argument`.
//! - The timeout travels in `Triple-Timeout-Ms`, decimal milliseconds, at most 10 digits (the
//!   specification names `tri-service-timeout`).
//! - The body is one message in the codec the content type names (`application/proto`,
//!   `application/json`), not a JSON array of arguments; POST only.
//! - Errors are Connect's JSON (`{"code": "...", "message": "...", "details": [...]}`), with HTTP
//!   statuses that differ from Connect's for four codes: `canceled` and `deadline_exceeded` 408,
//!   `failed_precondition` 412, `unimplemented` 404 (the specification's numeric Dubbo statuses are
//!   not used).
//! - Unary trailers travel as `trailer-` headers, as in Connect.
//! - Dubbo's business error (a handler's own failure, which Dubbo clients do not retry) is status
//!   17: `"code": "code_17"` with HTTP 500 here, `grpc-status: 17` in streams (`business.rs`).
//! - Streams are gRPC (`application/grpc+proto`), which the gRPC protocol already serves; this file
//!   only claims unary requests that carry a Triple header, so Connect and plain HTTP callers are
//!   unaffected.
//!
//! Everything else of Dubbo's is here too, in a file per concept: service group and version routing,
//! interface-name aliases and the lower-case-first method lookup (`routing.rs`; they apply to calls of
//! every protocol, as dubbo-go applies them), the client's group and version (`client_options.rs`),
//! and the business error (`business.rs`, which gRPC's status trailers and the JSON errors ask about
//! status 17). Nothing outside `src/protocol/` names any of them.

pub(crate) mod business;
mod client_options;
mod routing;

pub use client_options::TripleClientOptions;
pub use routing::TripleRoutes;

use std::borrow::Cow;

use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::body::Body;
use crate::envelope::Envelope;
use crate::method::{MethodSpec, StreamType};
use crate::protocol::client::{
    BodyEnd, ClientProtocol, ControlFrames, Ending, Received, RequestHeaders, ResponseContext,
    Verdict, codec_content_type, insert,
};
use crate::protocol::connect::{
    Connect, parse_content_type, parse_timeout_header, unary_content_type,
    unary_error_response_with, validate_unary_response_with,
};
use crate::protocol::connect_json::triple_error_json;
use crate::protocol::grpc::GrpcClient;
use crate::protocol::server::{
    Framing, Proposal, ResponseFormat, ServerProtocol, StreamEnd, UnaryReply,
};
use crate::protocol::{CodeStyle, Protocol, ProtocolKind, header};
use crate::{Code, Error, Metadata};

/// The header naming Triple's protocol version.
pub(crate) const PROTOCOL_VERSION_HEADER: HeaderName =
    HeaderName::from_static("triple-protocol-version");
/// The only version dubbo-go speaks.
pub(crate) const PROTOCOL_VERSION: &str = "0.1.0";
/// The header carrying a unary call's timeout in milliseconds.
pub(crate) const TIMEOUT_HEADER: HeaderName = HeaderName::from_static("triple-timeout-ms");
/// The header naming the Apache Dubbo service group a call is for.
const SERVICE_GROUP: HeaderName = HeaderName::from_static("tri-service-group");
/// The header naming the Apache Dubbo service version a call is for.
const SERVICE_VERSION: HeaderName = HeaderName::from_static("tri-service-version");

/// The HTTP status of a unary Triple error with `code`.
pub(crate) fn http_status(code: Code) -> u16 {
    match code {
        Code::Canceled | Code::DeadlineExceeded => 408,
        Code::FailedPrecondition => 412,
        Code::Unimplemented => 404,
        other => other.http_status(),
    }
}

/// The code of a failed unary Triple response whose body is not an error in JSON.
pub(crate) fn code_from_http(status: u16) -> Code {
    match status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        408 => Code::DeadlineExceeded,
        412 => Code::FailedPrecondition,
        413 | 431 => Code::ResourceExhausted,
        429 | 502..=504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// Triple in the registry: its codes are gRPC's (its streams are gRPC), and it adds service group
/// and version routing and the lower-case-first method lookup.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "triple",
    rpc_system: "apache_dubbo",
    codes: CodeStyle::Numbers,
    server: &Triple,
    client: Some(&TripleClient),
    cors_request_headers: &[
        "triple-protocol-version",
        "triple-timeout-ms",
        "tri-service-group",
        "tri-service-version",
    ],
    cors_response_headers: &[],
    routing: Some(&routing::TripleRouting),
};

impl ProtocolKind {
    /// Apache Dubbo's Triple, as dubbo-go speaks it: unary calls as a Connect-like request marked
    /// `Triple-Protocol-Version: 0.1.0` (with Triple's own HTTP statuses for errors), streams as gRPC
    /// (which need HTTP/2). Pair it with the client's service group and version
    /// ([`TripleClientOptions`](crate::triple::TripleClientOptions)) to call Dubbo services.
    pub const TRIPLE: ProtocolKind = ProtocolKind(&PROTOCOL);
}

// Server side.

/// The Triple protocol's unary calls, as the server speaks them.
pub(crate) struct Triple;

impl ServerProtocol for Triple {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::TRIPLE
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        if request.method != http::Method::POST || spec.stream_type != StreamType::Unary {
            return None;
        }
        let version = header(&request.headers, PROTOCOL_VERSION_HEADER);
        let timeout = header(&request.headers, TIMEOUT_HEADER);
        // Only requests that say they are Triple: unmarked ones are Connect's.
        if version.is_none() && timeout.is_none() {
            return None;
        }
        let content_type = parse_content_type(header(&request.headers, CONTENT_TYPE)?)?;
        if content_type.streaming {
            return None;
        }
        if let Some(version) = version
            && version != PROTOCOL_VERSION
        {
            let error = Error::new(
                Code::InvalidArgument,
                format!("{PROTOCOL_VERSION_HEADER} must be {PROTOCOL_VERSION:?}, not {version:?}"),
            );
            return Some(Err(unary_error_response_with(
                &error,
                http_status,
                triple_error_json,
            )));
        }
        let codec = content_type.codec.to_ascii_lowercase();
        Some(Ok(Proposal {
            protocol: self,
            framing: Framing::Unframed,
            content_type: HeaderValue::from_str(&unary_content_type(&codec))
                .unwrap_or_else(|_| HeaderValue::from_static("application/proto")),
            codec: Cow::Owned(codec),
            response_codec: None,
            own_codec: None,
            state: None,
            encoding: header(&request.headers, CONTENT_ENCODING).map(Cow::Borrowed),
            accept_encoding: header(&request.headers, ACCEPT_ENCODING),
            timeout: timeout.map(|value| parse_timeout_header(&TIMEOUT_HEADER, value)),
            get_message: None,
        }))
    }

    /// As Connect's unary responses.
    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        Connect.response_headers(format, compressed, headers);
    }

    /// As Connect's: the message is the body, trailers travel as `trailer-` headers.
    fn unary_response(&self, format: &ResponseFormat, reply: UnaryReply) -> http::Response<Body> {
        Connect.unary_response(format, reply)
    }

    /// Connect's JSON error, with Triple's HTTP status.
    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        let mut response = unary_error_response_with(error, http_status, triple_error_json);
        response
            .headers_mut()
            .insert(ACCEPT_ENCODING, format.accept_encoding.clone());
        response
    }

    fn end_stream(
        &self,
        _error: Option<&Error>,
        _trailers: &Metadata,
        _batch: &mut bytes::BytesMut,
    ) -> Result<StreamEnd, Error> {
        Err(Error::internal(
            "Triple streams are gRPC streams; the Triple protocol ends no stream",
        ))
    }
}

// Client side.

/// The Triple protocol, client side: unary calls in Triple's form, streams as gRPC (as dubbo-go's
/// Triple server expects them).
pub(crate) struct TripleClient;

impl ClientProtocol for TripleClient {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::TRIPLE
    }

    fn requires_http2_for(&self, stream_type: StreamType) -> bool {
        stream_type != StreamType::Unary
    }

    fn is_unframed(&self, stream_type: StreamType) -> bool {
        stream_type == StreamType::Unary
    }

    fn write_request_headers(&self, request: &RequestHeaders<'_>, map: &mut HeaderMap) {
        if !self.is_unframed(request.stream_type) {
            return GrpcClient.write_request_headers(request, map);
        }
        if let Some(value) = codec_content_type("application/", request.codec) {
            map.insert(CONTENT_TYPE, value);
        }
        map.insert(ACCEPT_ENCODING, request.accept_encoding.clone());
        if let Some(name) = request.send_compression {
            insert(map, CONTENT_ENCODING, name);
        }
        insert(map, PROTOCOL_VERSION_HEADER, PROTOCOL_VERSION);
    }

    fn write_timeout(
        &self,
        stream_type: StreamType,
        timeout: std::time::Duration,
        map: &mut HeaderMap,
    ) {
        if !self.is_unframed(stream_type) {
            return GrpcClient.write_timeout(stream_type, timeout, map);
        }
        insert(
            map,
            TIMEOUT_HEADER,
            &crate::protocol::connect::format_timeout(timeout),
        );
    }

    fn validate_response(
        &self,
        call: &ResponseContext<'_>,
        head: &http::response::Parts,
    ) -> Verdict {
        if self.is_unframed(call.stream_type) {
            validate_unary_response_with(call, head, code_from_http)
        } else {
            GrpcClient.validate_response(call, head)
        }
    }

    fn read_envelope(
        &self,
        envelope: Envelope,
        frames: &ControlFrames<'_>,
    ) -> Result<Received, Error> {
        GrpcClient.read_envelope(envelope, frames)
    }

    fn end_of_body(&self, end: &BodyEnd<'_>) -> Result<Ending, Error> {
        GrpcClient.end_of_body(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_differ_from_connect_for_four_codes() {
        assert_eq!(http_status(Code::Canceled), 408);
        assert_eq!(http_status(Code::DeadlineExceeded), 408);
        assert_eq!(http_status(Code::FailedPrecondition), 412);
        assert_eq!(http_status(Code::Unimplemented), 404);
        assert_eq!(http_status(Code::NotFound), 404);
        assert_eq!(http_status(Code::Unavailable), 503);
        assert_eq!(http_status(Code::Internal), 500);
        for status in [
            400, 401, 403, 404, 408, 412, 413, 431, 429, 502, 503, 504, 500, 418,
        ] {
            let code = code_from_http(status);
            assert_ne!(code, Code::Internal, "{status}");
        }
        assert_eq!(code_from_http(408), Code::DeadlineExceeded);
        assert_eq!(code_from_http(412), Code::FailedPrecondition);
        assert_eq!(code_from_http(400), Code::InvalidArgument);
    }
}
