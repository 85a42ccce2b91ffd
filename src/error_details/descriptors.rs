//! The descriptors of the `google.rpc` details, for what needs a detail's fields by name: the
//! proto3 JSON of Connect's `debug` and of REST's `google.rpc.Status`.
//!
//! They are built here, field by field as the types in this module declare them (a unit test checks
//! that both agree), rather than compiled from a `.proto` file: the runtime then needs no build
//! script. They live in a pool of their own (the global pool's well-known types plus these), so that
//! an application that registers googleapis' own `google/rpc/error_details.proto` globally does not
//! collide with them.

use std::sync::OnceLock;

use prost_reflect::DescriptorPool;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MessageOptions,
    OneofDescriptorProto,
};

/// The global pool's types plus the `google.rpc` details (unless the global pool has them).
pub(crate) fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool = DescriptorPool::global();
        if pool.get_message_by_name("google.rpc.ErrorInfo").is_none() {
            // The file is ours and checked by the tests: it cannot fail to add.
            let _ = pool.add_file_descriptor_proto(file());
        }
        pool
    })
}

/// A field: `kind` with `type_name` for a message, repeated or not.
fn field(
    name: &str,
    number: i32,
    kind: Type,
    label: Label,
    type_name: &str,
) -> FieldDescriptorProto {
    let mut json_name = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            json_name.extend(c.to_uppercase());
            upper = false;
        } else {
            json_name.push(c);
        }
    }
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(kind as i32),
        type_name: (!type_name.is_empty()).then(|| type_name.into()),
        json_name: Some(json_name),
        ..FieldDescriptorProto::default()
    }
}

fn string(name: &str, number: i32) -> FieldDescriptorProto {
    field(name, number, Type::String, Label::Optional, "")
}

fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field: fields,
        ..DescriptorProto::default()
    }
}

/// A `map<string, string>` field `name` of the message `parent` (its full name), and its entry type.
fn string_map(
    parent: &str,
    name: &str,
    entry: &str,
    number: i32,
) -> (FieldDescriptorProto, DescriptorProto) {
    let field = field(
        name,
        number,
        Type::Message,
        Label::Repeated,
        &format!(".{parent}.{entry}"),
    );
    let mut entry = message(entry, vec![string("key", 1), string("value", 2)]);
    entry.options = Some(MessageOptions {
        map_entry: Some(true),
        ..MessageOptions::default()
    });
    (field, entry)
}

/// `google/rpc/error_details.proto`, as the types of this module declare it.
fn file() -> FileDescriptorProto {
    use Label::{Optional, Repeated};
    let (metadata, metadata_entry) =
        string_map("google.rpc.ErrorInfo", "metadata", "MetadataEntry", 3);
    let mut error_info = message(
        "ErrorInfo",
        vec![string("reason", 1), string("domain", 2), metadata],
    );
    error_info.nested_type.push(metadata_entry);

    let retry_info = message(
        "RetryInfo",
        vec![field(
            "retry_delay",
            1,
            Type::Message,
            Optional,
            ".google.protobuf.Duration",
        )],
    );
    let debug_info = message(
        "DebugInfo",
        vec![
            field("stack_entries", 1, Type::String, Repeated, ""),
            string("detail", 2),
        ],
    );

    let (dimensions, dimensions_entry) = string_map(
        "google.rpc.QuotaFailure.Violation",
        "quota_dimensions",
        "QuotaDimensionsEntry",
        6,
    );
    let mut future = field("future_quota_value", 8, Type::Int64, Optional, "");
    future.proto3_optional = Some(true);
    future.oneof_index = Some(0);
    let mut quota_violation = message(
        "Violation",
        vec![
            string("subject", 1),
            string("description", 2),
            string("api_service", 3),
            string("quota_metric", 4),
            string("quota_id", 5),
            dimensions,
            field("quota_value", 7, Type::Int64, Optional, ""),
            future,
        ],
    );
    quota_violation.nested_type.push(dimensions_entry);
    quota_violation.oneof_decl.push(OneofDescriptorProto {
        name: Some("_future_quota_value".into()),
        options: None,
    });
    let mut quota_failure = message(
        "QuotaFailure",
        vec![field(
            "violations",
            1,
            Type::Message,
            Repeated,
            ".google.rpc.QuotaFailure.Violation",
        )],
    );
    quota_failure.nested_type.push(quota_violation);

    let mut precondition_failure = message(
        "PreconditionFailure",
        vec![field(
            "violations",
            1,
            Type::Message,
            Repeated,
            ".google.rpc.PreconditionFailure.Violation",
        )],
    );
    precondition_failure.nested_type.push(message(
        "Violation",
        vec![
            string("type", 1),
            string("subject", 2),
            string("description", 3),
        ],
    ));

    let mut bad_request = message(
        "BadRequest",
        vec![field(
            "field_violations",
            1,
            Type::Message,
            Repeated,
            ".google.rpc.BadRequest.FieldViolation",
        )],
    );
    bad_request.nested_type.push(message(
        "FieldViolation",
        vec![
            string("field", 1),
            string("description", 2),
            string("reason", 3),
            field(
                "localized_message",
                4,
                Type::Message,
                Optional,
                ".google.rpc.LocalizedMessage",
            ),
        ],
    ));

    let request_info = message(
        "RequestInfo",
        vec![string("request_id", 1), string("serving_data", 2)],
    );
    let resource_info = message(
        "ResourceInfo",
        vec![
            string("resource_type", 1),
            string("resource_name", 2),
            string("owner", 3),
            string("description", 4),
        ],
    );
    let mut help = message(
        "Help",
        vec![field(
            "links",
            1,
            Type::Message,
            Repeated,
            ".google.rpc.Help.Link",
        )],
    );
    help.nested_type.push(message(
        "Link",
        vec![string("description", 1), string("url", 2)],
    ));
    let localized_message = message(
        "LocalizedMessage",
        vec![string("locale", 1), string("message", 2)],
    );

    FileDescriptorProto {
        name: Some("google/rpc/error_details.proto".into()),
        package: Some("google.rpc".into()),
        dependency: vec!["google/protobuf/duration.proto".into()],
        message_type: vec![
            error_info,
            retry_info,
            debug_info,
            quota_failure,
            precondition_failure,
            bad_request,
            request_info,
            resource_info,
            help,
            localized_message,
        ],
        syntax: Some("proto3".into()),
        ..FileDescriptorProto::default()
    }
}

/// The detail's proto3 JSON, when its type is known to the global pool (where generated code
/// registers its types) or to [`pool`].
pub(crate) fn detail_json(detail: &crate::ErrorDetail) -> Option<serde_json::Value> {
    let descriptor = DescriptorPool::global()
        .get_message_by_name(detail.type_name())
        .or_else(|| pool().get_message_by_name(detail.type_name()))?;
    let message = prost_reflect::DynamicMessage::decode(descriptor, detail.value()).ok()?;
    serde_json::to_value(&message).ok()
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use serde_json::json;

    use super::*;
    use crate::error_details::*;
    use crate::{Code, Error};

    #[test]
    fn descriptors_agree_with_the_types() {
        let mut violation = QuotaViolation::new("s", "d");
        violation.api_service = "a".into();
        violation.quota_metric = "m".into();
        violation.quota_id = "i".into();
        violation
            .quota_dimensions
            .insert("region".into(), "eu".into());
        violation.quota_value = 7;
        violation.future_quota_value = Some(0);
        let error = Error::new(Code::Internal, "")
            .with_error_info(ErrorInfo::new("R", "d").with_metadata("k", "v"))
            .with_bad_request(
                BadRequest::field("f", "d").with_violation(
                    FieldViolation::new("g", "e")
                        .with_reason("R")
                        .with_localized_message(LocalizedMessage::new("en", "m")),
                ),
            )
            .with_retry_info(RetryInfo::after(std::time::Duration::from_millis(1500)))
            .with_quota_failure(QuotaFailure::default().with_violation(violation))
            .with_precondition_failure(PreconditionFailure::violation("t", "s", "d"))
            .with_resource_info(ResourceInfo::new("t", "n", "d").with_owner("o"))
            .with_help(Help::link("d", "u"))
            .with_debug_info(DebugInfo::new(["a"], "d"))
            .with_request_info(RequestInfo::new("i", "s"));
        for detail in error.details() {
            let descriptor = pool()
                .get_message_by_name(detail.type_name())
                .unwrap_or_else(|| panic!("{} is not in the pool", detail.type_name()));
            let dynamic =
                prost_reflect::DynamicMessage::decode(descriptor, detail.value()).unwrap();
            assert_eq!(
                dynamic.encode_to_vec(),
                detail.value(),
                "{}",
                detail.type_name()
            );
        }
        let json: Vec<_> = error
            .details()
            .iter()
            .map(|d| detail_json(d).unwrap())
            .collect();
        assert_eq!(
            json[0],
            json!({"reason": "R", "domain": "d", "metadata": {"k": "v"}})
        );
        assert_eq!(
            json[1]["fieldViolations"][1],
            json!({"field": "g", "description": "e", "reason": "R",
                   "localizedMessage": {"locale": "en", "message": "m"}})
        );
        assert_eq!(json[2], json!({"retryDelay": "1.500s"}));
        assert_eq!(
            json[3]["violations"][0],
            json!({"subject": "s", "description": "d", "apiService": "a", "quotaMetric": "m",
                   "quotaId": "i", "quotaDimensions": {"region": "eu"}, "quotaValue": "7",
                   "futureQuotaValue": "0"})
        );
        assert_eq!(
            json[4],
            json!({"violations": [{"type": "t", "subject": "s", "description": "d"}]})
        );
    }
}
