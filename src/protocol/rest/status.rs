//! How REST calls fail: a `google.rpc.Status` in proto3 JSON (`{"code": 5, "message": "…",
//! "details": [{"@type": "…", …}]}`) with the HTTP status grpc-gateway gives each code, the form
//! REST clients of gRPC services (grpc-gateway's, vanguard's, Google's APIs) read.
//!
//! A detail is written in the JSON form of its message when its type is known to a descriptor pool
//! (the pools of the call's own messages, the global one, then the `google.rpc` details'), else with its raw `value` in base64
//! beside its `@type`, which is what a reader that does not know the type would need anyway.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::body::Body;
use crate::error::ErrorDetail;
use crate::protocol::server::append_metadata;
use crate::{Code, Error};

/// The HTTP status of a failed REST call: grpc-gateway's mapping, which is also Connect's.
pub(crate) fn http_status(code: Code) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A `google.rpc.Status`, with its fields in their proto order when serialized.
#[derive(Serialize)]
pub(crate) struct Status {
    code: u32,
    message: String,
    details: Vec<Value>,
}

/// `error` as a `google.rpc.Status`; `pools` are searched for the details' types.
pub(crate) fn status_json(error: &Error, pools: &[&DescriptorPool]) -> Status {
    Status {
        code: error.code().as_u32(),
        message: error.message().to_string(),
        details: error
            .details()
            .iter()
            .map(|detail| detail_json(detail, pools))
            .collect(),
    }
}

/// One detail as the JSON form of a `google.protobuf.Any`.
fn detail_json(detail: &ErrorDetail, pools: &[&DescriptorPool]) -> Value {
    let type_url = format!("type.googleapis.com/{}", detail.type_name());
    let global = DescriptorPool::global();
    let known = pools
        .iter()
        .copied()
        .chain([&global, crate::error_details::descriptor_pool()])
        .find_map(|pool| pool.get_message_by_name(detail.type_name()))
        .and_then(|descriptor| DynamicMessage::decode(descriptor, detail.value()).ok())
        .and_then(|message| serde_json::to_value(&message).ok());
    let mut object = Map::new();
    object.insert("@type".into(), Value::String(type_url));
    match known {
        // Messages whose JSON is not an object (well-known types) go under `value`, as for `Any`.
        Some(Value::Object(fields)) => object.extend(fields),
        Some(other) => {
            object.insert("value".into(), other);
        }
        None => {
            let raw = base64::engine::general_purpose::STANDARD.encode(detail.value());
            object.insert("value".into(), Value::String(raw));
        }
    }
    Value::Object(object)
}

/// The whole response failing a REST call with `error`: its status, the error's headers, and the
/// `google.rpc.Status` body.
pub(crate) fn error_response(error: &Error, pools: &[&DescriptorPool]) -> http::Response<Body> {
    let body = serde_json::to_vec(&status_json(error, pools)).unwrap_or_default();
    let mut response = http::Response::new(Body::full(Bytes::from(body)));
    *response.status_mut() = http_status(error.code());
    let headers = response.headers_mut();
    append_metadata(headers, error.headers());
    append_metadata(headers, error.trailers());
    set_json(headers);
    response
}

/// Sets the content type of a JSON body.
pub(crate) fn set_json(headers: &mut HeaderMap) {
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_map_to_grpc_gateways_http_statuses() {
        let expected = [
            (Code::Canceled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn known_details_are_expanded_and_unknown_ones_keep_their_bytes() {
        let error =
            Error::new(Code::NotFound, "no such book").with_detail(&prost_types::Duration {
                seconds: 3,
                nanos: 0,
            });
        let mut unknown = Error::new(Code::NotFound, "no such book");
        unknown.add_detail(ErrorDetail::new("acme.v1.Unknown", vec![1u8, 2, 3]));
        let status = serde_json::to_value(status_json(&error, &[])).unwrap();
        assert_eq!(status["code"], 5);
        assert_eq!(status["message"], "no such book");
        assert_eq!(
            status["details"][0],
            json!({"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"})
        );
        let status = serde_json::to_value(status_json(&unknown, &[])).unwrap();
        assert_eq!(
            status["details"][0],
            json!({"@type": "type.googleapis.com/acme.v1.Unknown", "value": "AQID"})
        );
    }
}
