//! The gRPC-Web protocol: gRPC's headers, status and framing, with the trailers carried in a final body
//! frame (flag 0x80) so that browsers, which cannot read HTTP trailers, can use it. Its text mode
//! (`application/grpc-web-text`) base64-encodes the same body (see `grpc_web_text.rs`).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::body::Body;
use crate::envelope::{Envelope, write_envelope};
use crate::method::{MethodSpec, StreamType};
use crate::protocol::client::{
    BodyEnd, ClientProtocol, ControlFrames, Ending, Received, RequestHeaders, ResponseContext,
    Verdict, insert,
};
use crate::protocol::grpc;
use crate::protocol::grpc_web_text::{DecodeText, EncodeText};
use crate::protocol::server::{Proposal, ResponseFormat, ServerProtocol, StreamEnd};
use crate::protocol::{CodeStyle, Protocol, ProtocolKind};
use crate::{Code, Error, Metadata};

/// Flag of a gRPC-Web body frame that carries trailers instead of a message.
pub(crate) const FLAG_TRAILERS: u8 = 0b1000_0000;

/// Encodes trailers as gRPC-Web's trailer block: lower-case `key: value` lines ending in CRLF.
pub(crate) fn encode_web_trailers(map: &HeaderMap) -> Bytes {
    let mut out = BytesMut::new();
    for (name, value) in map {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.freeze()
}

/// Parses a gRPC-Web trailer block; keys are case-insensitive and duplicates are kept in order.
pub(crate) fn parse_web_trailers(block: &[u8]) -> Result<HeaderMap, Error> {
    let invalid = || Error::new(Code::Internal, "protocol error: invalid gRPC-Web trailers");
    let text = std::str::from_utf8(block).map_err(|_| invalid())?;
    let mut map = HeaderMap::new();
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(invalid)?;
        let name = HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| invalid())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| invalid())?;
        map.append(name, value);
    }
    Ok(map)
}

/// gRPC-Web in the registry: gRPC's status model and codes, so its `rpc.system` is `grpc`. Its text
/// mode is no entry of its own: the binary mode's `propose` hands such requests to it.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "grpc-web",
    rpc_system: "grpc",
    codes: CodeStyle::Numbers,
    server: &GrpcWeb { text: false },
    client: Some(&GrpcWebClient),
    cors_request_headers: &[
        "x-grpc-web",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "x-user-agent",
    ],
    cors_response_headers: &[
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "grpc-encoding",
    ],
    routing: None,
};

impl ProtocolKind {
    /// gRPC-Web: gRPC with trailers in the body, usable from browsers. The server also accepts its
    /// text mode (`application/grpc-web-text`, base64 bodies, as grpc-web's JavaScript client sends
    /// by default) and answers in kind; Trident's client speaks the binary mode.
    pub const GRPC_WEB: ProtocolKind = ProtocolKind(&PROTOCOL);
}

// Server side.

/// The gRPC-Web protocol, as the server speaks it; `text` is its base64 mode.
pub(crate) struct GrpcWeb {
    pub text: bool,
}

impl ServerProtocol for GrpcWeb {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::GRPC_WEB
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        _spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        let (value, content_type) = grpc::post_content_type(request)?;
        if !content_type.web {
            return None;
        }
        let protocol: &'static GrpcWeb = if content_type.text {
            &GrpcWeb { text: true }
        } else {
            &GrpcWeb { text: false }
        };
        Some(Ok(grpc::proposal(protocol, request, value, content_type)))
    }

    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        grpc::write_response_headers(format, compressed, headers);
    }

    /// Like gRPC, a call that fails before its first message answers trailers-only.
    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        grpc::trailers_only_response(format, error)
    }

    /// The status travels in the body's last frame, flagged as trailers.
    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        batch: &mut BytesMut,
    ) -> Result<StreamEnd, Error> {
        let block = encode_web_trailers(&grpc::status_trailers(error, trailers));
        write_envelope(FLAG_TRAILERS, &block, batch)?;
        Ok(StreamEnd::InBody)
    }

    fn request_body(&self, body: Body) -> Body {
        if self.text {
            Body::new(DecodeText::new(body))
        } else {
            body
        }
    }

    fn response_body(&self, body: Body) -> Body {
        if self.text {
            Body::new(EncodeText::new(body))
        } else {
            body
        }
    }
}

// Client side.
//
// A gRPC-Web client speaks gRPC (see the client side of `grpc.rs`) with `x-grpc-web` instead of
// `te: trailers`, over any HTTP version, and reads the status from the trailer frame. It sends and
// accepts the binary mode only.

/// The gRPC-Web protocol, client side.
pub(crate) struct GrpcWebClient;

impl ClientProtocol for GrpcWebClient {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::GRPC_WEB
    }

    fn write_request_headers(&self, request: &RequestHeaders<'_>, map: &mut HeaderMap) {
        grpc::write_client_headers(true, request, map);
        insert(map, HeaderName::from_static("x-grpc-web"), "1");
    }

    fn write_timeout(
        &self,
        _stream_type: StreamType,
        timeout: std::time::Duration,
        map: &mut HeaderMap,
    ) {
        insert(map, grpc::TIMEOUT, &grpc::format_timeout(timeout));
    }

    fn validate_response(
        &self,
        call: &ResponseContext<'_>,
        head: &http::response::Parts,
    ) -> Verdict {
        grpc::validate_client_response(ProtocolKind::GRPC_WEB, call, head)
    }

    fn read_envelope(
        &self,
        envelope: Envelope,
        frames: &ControlFrames<'_>,
    ) -> Result<Received, Error> {
        if envelope.flags & FLAG_TRAILERS == 0 {
            return Ok(Received::Message(envelope));
        }
        let trailers = parse_web_trailers(&frames.payload(envelope)?)?;
        grpc::client_ending(Some(&trailers)).map(Received::End)
    }

    fn end_of_body(&self, end: &BodyEnd<'_>) -> Result<Ending, Error> {
        // Without a trailer frame, only a trailers-only head can end the call (HTTP trailers do not
        // count: gRPC-Web exists for clients that cannot read them).
        grpc::client_ending(grpc::trailers_only(end))
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use crate::Code;
    use crate::compression::CompressionRegistry;
    use crate::method::StreamType;
    use crate::protocol::client::Received;
    use crate::protocol::client::tests::{accepted, context, rejected, response};
    use bytes::Bytes;

    #[test]
    fn grpc_web_runs_over_http1_with_its_own_content_type() {
        let registry = CompressionRegistry::new();
        let call = context(StreamType::ServerStream, &registry);
        let http1 = http::Version::HTTP_11;
        accepted(GrpcWebClient.validate_response(
            &call,
            &response(
                http1,
                200,
                &[("content-type", "application/grpc-web+proto")],
            ),
        ));
        let e = rejected(GrpcWebClient.validate_response(
            &call,
            &response(http1, 200, &[("content-type", "application/grpc")]),
        ));
        assert_eq!(e.code(), Code::Internal);
        // The client speaks the binary mode only.
        let e = rejected(GrpcWebClient.validate_response(
            &call,
            &response(http1, 200, &[("content-type", "application/grpc-web-text")]),
        ));
        assert_eq!(e.code(), Code::Internal);
    }

    #[test]
    fn the_trailer_frame_ends_the_stream() {
        let frames = ControlFrames {
            compression: None,
            read_max_bytes: 0,
        };
        let message = Envelope {
            flags: 0,
            data: Bytes::from_static(b"m"),
        };
        assert!(matches!(
            GrpcWebClient.read_envelope(message, &frames),
            Ok(Received::Message(_))
        ));
        let trailers = Envelope {
            flags: FLAG_TRAILERS,
            data: Bytes::from_static(b"grpc-status: 7\r\ngrpc-message: no\r\nx-t: 1\r\n"),
        };
        let Ok(Received::End(ending)) = GrpcWebClient.read_envelope(trailers, &frames) else {
            panic!("trailer frame not recognised");
        };
        let error = ending.error.unwrap();
        assert_eq!(
            (error.code(), error.message()),
            (Code::PermissionDenied, "no")
        );
        assert_eq!(ending.trailers.get("x-t"), Some("1"));
        let bad = Envelope {
            flags: FLAG_TRAILERS,
            data: Bytes::from_static(b"no colon\r\n"),
        };
        assert!(GrpcWebClient.read_envelope(bad, &frames).is_err());
    }

    #[test]
    fn http_trailers_do_not_end_a_grpc_web_stream() {
        let head = HeaderMap::new();
        let mut trailers = HeaderMap::new();
        trailers.insert(grpc::STATUS, HeaderValue::from_static("0"));
        let end = BodyEnd {
            http_headers: &head,
            http_trailers: Some(&trailers),
            received_message: true,
        };
        assert_eq!(
            GrpcWebClient.end_of_body(&end).unwrap_err().code(),
            Code::Internal
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::grpc::STATUS;

    #[test]
    fn web_trailers_round_trip() {
        let mut map = HeaderMap::new();
        map.insert(STATUS, HeaderValue::from_static("0"));
        map.append("x-dup", HeaderValue::from_static("a"));
        map.append("x-dup", HeaderValue::from_static("b"));
        let block = encode_web_trailers(&map);
        assert!(
            std::str::from_utf8(&block)
                .unwrap()
                .contains("x-dup: a\r\n")
        );
        let parsed = parse_web_trailers(b"Grpc-Status: 0\r\nX-Dup: a\r\nx-dup: b\r\n").unwrap();
        assert_eq!(parsed, map);
    }
}
