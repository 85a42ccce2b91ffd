//! Connect's JSON: the body of a unary error response and the end-stream message that closes every
//! Connect stream (its trailers and, if the stream failed, its error).

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::ErrorDetail;
use crate::metadata::decode_base64;
use crate::protocol::triple::business;
use crate::{Code, Error, Metadata};

#[derive(Serialize, Deserialize, Default)]
struct WireError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    details: Vec<WireDetail>,
}

#[derive(Serialize, Deserialize)]
struct WireDetail {
    #[serde(rename = "type")]
    type_name: String,
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    debug: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, Default)]
struct EndStream {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<WireError>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    metadata: std::collections::BTreeMap<String, Vec<String>>,
}

fn to_wire(error: &Error) -> WireError {
    WireError {
        code: Some(error.code().as_str().to_string()),
        message: (!error.message().is_empty()).then(|| error.message().to_string()),
        details: error
            .details()
            .iter()
            .map(|d| WireDetail {
                type_name: d.type_name().to_string(),
                value: base64::engine::general_purpose::STANDARD_NO_PAD.encode(d.value()),
                // For people and tools reading the wire, as connect-go writes it; readers use `value`.
                debug: crate::error_details::detail_json(d),
            })
            .collect(),
    }
}

/// Builds an error from its wire form; `fallback` is the code when the body names none (or an unknown one).
fn from_wire(wire: WireError, fallback: Code) -> Result<Error, Error> {
    let mut error = if business::is_json_code(wire.code.as_deref()) {
        Error::business(wire.message.unwrap_or_default())
    } else {
        let code = wire
            .code
            .as_deref()
            .and_then(Code::from_name)
            .unwrap_or(fallback);
        Error::new(code, wire.message.unwrap_or_default())
    };
    for detail in wire.details {
        let value = decode_base64(detail.value.as_bytes()).ok_or_else(|| {
            Error::internal(format!(
                "error detail {} has invalid base64 value",
                detail.type_name
            ))
        })?;
        let mut parsed = ErrorDetail::new(detail.type_name, value);
        if let Some(debug) = detail.debug {
            parsed = parsed.with_debug(debug);
        }
        error.add_detail(parsed);
    }
    Ok(error)
}

/// The JSON body of a unary error response.
pub(crate) fn error_json(error: &Error) -> Bytes {
    // Serializing plain strings and vectors cannot fail.
    Bytes::from(serde_json::to_vec(&to_wire(error)).unwrap_or_default())
}

/// The JSON body of a unary Triple error response: Connect's, but a business error is
/// `"code_17"`.
pub(crate) fn triple_error_json(error: &Error) -> Bytes {
    let mut wire = to_wire(error);
    if error.is_business() {
        wire.code = Some(business::JSON_CODE.to_string());
    }
    Bytes::from(serde_json::to_vec(&wire).unwrap_or_default())
}

/// Parses a unary error body; `None` when it is not a Connect error JSON object. `fallback` is the
/// code when the body names none (the HTTP status's).
pub(crate) fn parse_error_json(body: &[u8], fallback: Code) -> Option<Error> {
    let wire: WireError = serde_json::from_slice(body).ok()?;
    from_wire(wire, fallback).ok()
}

/// The payload of the end-stream message: trailers, and the error if the stream failed.
pub(crate) fn end_stream_json(error: Option<&Error>, trailers: &Metadata) -> Bytes {
    let mut metadata = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut add = |md: &Metadata| {
        for (k, v) in md.iter() {
            metadata
                .entry(k.to_string())
                .or_default()
                .push(v.to_string());
        }
    };
    add(trailers);
    if let Some(e) = error {
        add(e.trailers());
    }
    let end = EndStream {
        error: error.map(to_wire),
        metadata,
    };
    Bytes::from(serde_json::to_vec(&end).unwrap_or_default())
}

/// Parses an end-stream message into trailers and the stream's error, if any.
pub(crate) fn parse_end_stream(payload: &[u8]) -> Result<(Metadata, Option<Error>), Error> {
    let end: EndStream = serde_json::from_slice(payload).map_err(|e| {
        Error::with_source(
            Code::Internal,
            format!("invalid end-stream message: {e}"),
            e,
        )
    })?;
    let mut trailers = Metadata::new();
    for (key, values) in end.metadata {
        for value in values {
            trailers.append(&key, &value).map_err(|_| {
                Error::internal(format!("invalid trailer {key:?} in end-stream message"))
            })?;
        }
    }
    let error = match end.error {
        None => None,
        Some(wire) => {
            let mut error = from_wire(wire, Code::Unknown)?;
            *error.trailers_mut() = trailers.clone();
            Some(error)
        }
    };
    Ok((trailers, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_round_trips() {
        let err = Error::new(Code::NotFound, "nope").with_detail(&prost_types::Duration {
            seconds: 1,
            nanos: 0,
        });
        let json = error_json(&err);
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains(r#""code":"not_found""#), "{text}");
        assert!(!text.contains('='), "base64 must be unpadded: {text}");
        let back = parse_error_json(&json, Code::from_http_status(404)).unwrap();
        assert_eq!(back.code(), Code::NotFound);
        assert_eq!(back.details()[0].value(), err.details()[0].value());
        assert_eq!(back.details()[0].debug(), Some(&serde_json::json!("1s")));
        // A detail of an unknown type has no `debug`.
        let unknown = Error::new(Code::NotFound, "")
            .with_detail(&crate::ErrorDetail::new("x.Unknown", vec![1]).to_any());
        assert!(
            !std::str::from_utf8(&error_json(&unknown))
                .unwrap()
                .contains("debug")
        );
        let bad = Error::new(Code::InvalidArgument, "")
            .with_bad_request(crate::error_details::BadRequest::field("name", "empty"));
        let wire: serde_json::Value = serde_json::from_slice(&error_json(&bad)).unwrap();
        assert_eq!(
            wire["details"][0]["debug"],
            serde_json::json!({"fieldViolations": [{"field": "name", "description": "empty"}]})
        );
        // Unknown code falls back to the HTTP status mapping.
        let back = parse_error_json(
            br#"{"code":"bogus","message":"m"}"#,
            Code::from_http_status(503),
        )
        .unwrap();
        assert_eq!(back.code(), Code::Unavailable);
    }

    #[test]
    fn end_stream_round_trips() {
        let mut trailers = Metadata::new();
        trailers.append("x-t", "1").unwrap();
        trailers.append("x-t", "2").unwrap();
        let err = Error::new(Code::Internal, "boom");
        let json = end_stream_json(Some(&err), &trailers);
        let (md, error) = parse_end_stream(&json).unwrap();
        assert_eq!(md.get_all("x-t"), vec!["1", "2"]);
        assert_eq!(error.unwrap().code(), Code::Internal);
        let (_, error) = parse_end_stream(b"{}").unwrap();
        assert!(error.is_none());
    }
}
