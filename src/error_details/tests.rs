//! The details' encodings, checked against bytes computed by hand from googleapis' field numbers
//! and types, and the builders and getters on `Error`.

use std::time::Duration;

use prost::{Message as _, Name as _};

use super::*;
use crate::{Code, ErrorDetail};

#[test]
fn encodings_use_googleapis_field_numbers() {
    // FieldViolation{field: 1, description: 2, reason: 3, localized_message: 4 {locale: 1, message: 2}}
    let bad = BadRequest::field("a", "b").with_violation(
        FieldViolation::new("c", "")
            .with_reason("R")
            .with_localized_message(LocalizedMessage::new("l", "m")),
    );
    assert_eq!(
        bad.encode_to_vec(),
        [
            0x0a, 6, 0x0a, 1, b'a', 0x12, 1, b'b', //
            0x0a, 14, 0x0a, 1, b'c', 0x1a, 1, b'R', 0x22, 6, 0x0a, 1, b'l', 0x12, 1, b'm',
        ]
    );
    // ErrorInfo{reason: 1, domain: 2, metadata: 3 (map entries {key: 1, value: 2})}
    let info = ErrorInfo::new("R", "d").with_metadata("k", "v");
    assert_eq!(
        info.encode_to_vec(),
        [
            0x0a, 1, b'R', 0x12, 1, b'd', 0x1a, 6, 0x0a, 1, b'k', 0x12, 1, b'v'
        ]
    );
    // RetryInfo{retry_delay: 1 (Duration{seconds: 1})}
    assert_eq!(
        RetryInfo::after(Duration::from_secs(2)).encode_to_vec(),
        [0x0a, 2, 0x08, 2]
    );
    // QuotaFailure.Violation{subject: 1, quota_value: 7 (int64), future_quota_value: 8 (optional:
    // a zero is sent)}
    let quota = QuotaFailure::violation("s", "").with_violation(QuotaViolation {
        quota_value: 5,
        future_quota_value: Some(0),
        ..QuotaViolation::default()
    });
    assert_eq!(
        quota.encode_to_vec(),
        [0x0a, 3, 0x0a, 1, b's', 0x0a, 4, 0x38, 5, 0x40, 0]
    );
    // PreconditionFailure.Violation{type: 1, subject: 2, description: 3}
    assert_eq!(
        PreconditionFailure::violation("t", "s", "d").encode_to_vec(),
        [0x0a, 9, 0x0a, 1, b't', 0x12, 1, b's', 0x1a, 1, b'd']
    );
    // ResourceInfo{resource_type: 1, resource_name: 2, owner: 3, description: 4}
    assert_eq!(
        ResourceInfo::new("t", "n", "d")
            .with_owner("o")
            .encode_to_vec(),
        [0x0a, 1, b't', 0x12, 1, b'n', 0x1a, 1, b'o', 0x22, 1, b'd']
    );
    // Help.Link{description: 1, url: 2}
    assert_eq!(
        Help::link("d", "u").encode_to_vec(),
        [0x0a, 6, 0x0a, 1, b'd', 0x12, 1, b'u']
    );
    // DebugInfo{stack_entries: 1 (repeated), detail: 2}
    assert_eq!(
        DebugInfo::new(["a", "b"], "d").encode_to_vec(),
        [0x0a, 1, b'a', 0x0a, 1, b'b', 0x12, 1, b'd']
    );
    // RequestInfo{request_id: 1, serving_data: 2}
    assert_eq!(
        RequestInfo::new("i", "s").encode_to_vec(),
        [0x0a, 1, b'i', 0x12, 1, b's']
    );
}

#[test]
fn names_and_type_urls_are_googleapis() {
    assert_eq!(BadRequest::full_name(), "google.rpc.BadRequest");
    assert_eq!(
        FieldViolation::full_name(),
        "google.rpc.BadRequest.FieldViolation"
    );
    assert_eq!(
        QuotaViolation::type_url(),
        "type.googleapis.com/google.rpc.QuotaFailure.Violation"
    );
    assert_eq!(
        RetryInfo::type_url(),
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    let any = Error::new(Code::Internal, "")
        .with_request_info(RequestInfo::new("i", ""))
        .details()[0]
        .to_any();
    assert_eq!(any.type_url, RequestInfo::type_url());
    let back = ErrorDetail::from_any(&any);
    assert_eq!(
        back.decode::<RequestInfo>().unwrap(),
        RequestInfo::new("i", "")
    );
}

#[test]
fn builders_and_getters_find_each_detail() {
    let error = Error::new(Code::InvalidArgument, "bad")
        .with_error_info(ErrorInfo::new("EMPTY_NAME", "example.com"))
        .with_bad_request(BadRequest::field("name", "must not be empty"))
        .with_retry_info(RetryInfo::after(Duration::from_millis(1500)))
        .with_quota_failure(QuotaFailure::violation("project:1", "too many"))
        .with_precondition_failure(PreconditionFailure::violation(
            "TOS",
            "user:1",
            "not agreed",
        ))
        .with_resource_info(ResourceInfo::new("book", "shelves/1/books/2", "not found"))
        .with_help(Help::link("docs", "https://example.com"))
        .with_localized_message(LocalizedMessage::new("en", "Name is empty"))
        .with_debug_info(DebugInfo::new(["main"], "here"))
        .with_request_info(RequestInfo::new("r-1", ""));
    assert_eq!(error.details().len(), 10);
    assert_eq!(error.error_info().unwrap().reason, "EMPTY_NAME");
    assert_eq!(
        error.bad_request().unwrap().field_violations[0].description,
        "must not be empty"
    );
    assert_eq!(
        error.retry_info().unwrap().delay(),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        error.quota_failure().unwrap().violations[0].subject,
        "project:1"
    );
    assert_eq!(
        error.precondition_failure().unwrap().violations[0].r#type,
        "TOS"
    );
    assert_eq!(
        error.resource_info().unwrap().resource_name,
        "shelves/1/books/2"
    );
    assert_eq!(error.help().unwrap().links[0].url, "https://example.com");
    assert_eq!(error.localized_message().unwrap().locale, "en");
    assert_eq!(error.debug_info().unwrap().stack_entries, ["main"]);
    assert_eq!(error.request_info().unwrap().request_id, "r-1");
}

#[test]
fn getters_skip_other_types_and_undecodable_details() {
    let mut error = Error::new(Code::Internal, "");
    assert_eq!(error.bad_request(), None);
    error.add_detail(ErrorDetail::new("google.rpc.BadRequest", vec![0xff]));
    error = error.with_bad_request(BadRequest::field("f", "d"));
    assert_eq!(error.bad_request(), Some(BadRequest::field("f", "d")));
    assert_eq!(error.help(), None);
    assert_eq!(
        RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0
            })
        }
        .delay(),
        None
    );
}
