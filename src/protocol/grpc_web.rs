//! The gRPC-Web protocol: gRPC's headers, status and framing, with the trailers carried in a final body
//! frame (flag 0x80) so that browsers, which cannot read HTTP trailers, can use it. Its text mode
//! (`application/grpc-web-text`) base64-encodes the same body (see `grpc_web_text.rs`).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Code, Error};

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
