//! Conversions between the conformance protos and Trident's types: headers, `Any`, errors and codes.

use prost::Message;
use prost_reflect::ReflectMessage;
use prost_types::Any;
use trident::{Code, ErrorDetail, Metadata};

use crate::proto;

/// The prefix the conformance suite (and Connect) uses for `Any` type URLs.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Groups metadata into conformance headers: one entry per name (lower-case, in order of first
/// appearance), its values in the order they were received.
pub fn headers_from_metadata(metadata: &Metadata) -> Vec<proto::Header> {
    let mut headers: Vec<proto::Header> = Vec::new();
    for (name, value) in metadata.iter() {
        let name = name.to_ascii_lowercase();
        match headers.iter_mut().find(|h| h.name == name) {
            Some(header) => header.value.push(value.to_string()),
            None => headers.push(proto::Header {
                name,
                value: vec![value.to_string()],
            }),
        }
    }
    headers
}

/// Groups a URL query's parameters into conformance headers (names and values percent-decoded),
/// one entry per name in order of first appearance.
pub fn headers_from_query(query: &str) -> Vec<proto::Header> {
    let mut headers: Vec<proto::Header> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name), percent_decode(value));
        match headers.iter_mut().find(|h| h.name == name) {
            Some(header) => header.value.push(value),
            None => headers.push(proto::Header {
                name,
                value: vec![value],
            }),
        }
    }
    headers
}

/// Decodes `%XX` escapes and `+`; malformed escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends every value of every conformance header to `metadata`, keeping the order.
pub fn append_headers(
    metadata: &mut Metadata,
    headers: &[proto::Header],
) -> Result<(), trident::Error> {
    for header in headers {
        for value in &header.value {
            metadata.append(&header.name, value)?;
        }
    }
    Ok(())
}

/// Packs a message into an `Any` named by its protobuf full name.
pub fn to_any<M: Message + ReflectMessage>(message: &M) -> Any {
    Any {
        type_url: format!("{TYPE_URL_PREFIX}{}", message.descriptor().full_name()),
        value: message.encode_to_vec(),
    }
}

/// The fully-qualified message name in a type URL: everything after its last `/`.
pub fn type_name_of_url(type_url: &str) -> &str {
    type_url.rsplit_once('/').map_or(type_url, |(_, name)| name)
}

/// Unpacks an `Any` that must hold an `M`.
pub fn from_any<M: Message + ReflectMessage + Default>(any: &Any) -> Result<M, String> {
    let expected = M::default().descriptor();
    let actual = type_name_of_url(&any.type_url);
    if actual != expected.full_name() {
        return Err(format!(
            "request message is a {actual}, expected a {}",
            expected.full_name()
        ));
    }
    M::decode(any.value.as_slice()).map_err(|e| format!("cannot decode {actual}: {e}"))
}

/// The Trident code for a conformance code number (`unknown` for anything unrecognised).
pub fn code_from_proto(code: i32) -> Code {
    u32::try_from(code)
        .ok()
        .and_then(Code::from_u32)
        .unwrap_or(Code::Unknown)
}

/// The conformance code number for a Trident code (the numbers are the same).
pub fn code_to_proto(code: Code) -> i32 {
    code.as_u32() as i32
}

/// Builds the Trident error a conformance `Error` definition asks for: code, message and details, then
/// `request_info` (if any) appended as one more detail.
pub fn error_from_proto(
    error: &proto::Error,
    request_info: Option<&proto::conformance_payload::RequestInfo>,
) -> trident::Error {
    let mut out = trident::Error::new(
        code_from_proto(error.code),
        error.message.clone().unwrap_or_default(),
    );
    for detail in &error.details {
        out.add_detail(ErrorDetail::from_any(detail));
    }
    if let Some(info) = request_info {
        let any = to_any(info);
        out.add_detail(ErrorDetail::from_any(&any));
    }
    out
}

/// Describes a Trident error as a conformance `Error` (details as `Any`).
pub fn error_to_proto(error: &trident::Error) -> proto::Error {
    proto::Error {
        code: code_to_proto(error.code()),
        message: Some(error.message().to_string()),
        details: error.details().iter().map(ErrorDetail::to_any).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_group_by_name_in_order() {
        let mut md = Metadata::new();
        md.append("x-a", "1").unwrap();
        md.append("x-b", "2").unwrap();
        md.append("x-a", "3").unwrap();
        let headers = headers_from_metadata(&md);
        let a = headers.iter().find(|h| h.name == "x-a").unwrap();
        assert_eq!(a.value, vec!["1", "3"]);
        let b = headers.iter().find(|h| h.name == "x-b").unwrap();
        assert_eq!(b.value, vec!["2"]);

        let mut back = Metadata::new();
        append_headers(&mut back, &headers).unwrap();
        assert_eq!(back.get_all("x-a"), vec!["1", "3"]);
    }

    #[test]
    fn any_round_trip_checks_the_type() {
        let req = proto::UnaryRequest {
            request_data: b"abc".to_vec(),
            ..Default::default()
        };
        let any = to_any(&req);
        assert_eq!(
            any.type_url,
            "type.googleapis.com/connectrpc.conformance.v1.UnaryRequest"
        );
        assert_eq!(from_any::<proto::UnaryRequest>(&any).unwrap(), req);
        assert!(from_any::<proto::ServerStreamRequest>(&any).is_err());
    }

    #[test]
    fn errors_round_trip() {
        let def = proto::Error {
            code: Code::NotFound.as_u32() as i32,
            message: Some("nope".into()),
            details: vec![to_any(&proto::Header::default())],
        };
        let info = proto::conformance_payload::RequestInfo {
            timeout_ms: Some(5),
            ..Default::default()
        };
        let err = error_from_proto(&def, Some(&info));
        assert_eq!(err.code(), Code::NotFound);
        let back = error_to_proto(&err);
        assert_eq!(back.code, def.code);
        assert_eq!(back.message.as_deref(), Some("nope"));
        assert_eq!(back.details.len(), 2);
        assert_eq!(back.details[0], def.details[0]);
        assert_eq!(
            back.details[1].type_url,
            "type.googleapis.com/connectrpc.conformance.v1.ConformancePayload.RequestInfo"
        );
        assert_eq!(code_from_proto(0), Code::Unknown);
        assert_eq!(code_from_proto(99), Code::Unknown);
    }
}
