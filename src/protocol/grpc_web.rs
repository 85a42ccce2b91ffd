//! The gRPC-Web protocol: gRPC's headers, status and framing, with the trailers carried in a final body
//! frame (flag 0x80) so that browsers, which cannot read HTTP trailers, can use it. Its text mode
//! (`application/grpc-web-text`) base64-encodes the same body (see `grpc_web_text.rs`).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::body::Body;
use crate::envelope::write_envelope;
use crate::method::MethodSpec;
use crate::protocol::ProtocolKind;
use crate::protocol::grpc;
use crate::protocol::grpc_web_text::{DecodeText, EncodeText};
use crate::protocol::server::{Proposal, ResponseFormat, ServerProtocol};
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

// Server side.

/// The gRPC-Web protocol, as the server speaks it; `text` is its base64 mode.
pub(crate) struct GrpcWeb {
    pub text: bool,
}

impl ServerProtocol for GrpcWeb {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::GrpcWeb
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
        grpc::trailers_only(format, error)
    }

    /// The status travels in the body's last frame, flagged as trailers.
    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        batch: &mut BytesMut,
    ) -> Result<Option<HeaderMap>, Error> {
        let block = encode_web_trailers(&grpc::status_trailers(error, trailers));
        write_envelope(FLAG_TRAILERS, &block, batch)?;
        Ok(None)
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
