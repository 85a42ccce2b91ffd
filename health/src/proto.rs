//! The `grpc.health.v1` wire schema: its messages, its file descriptor (built here in Rust, not read from a
//! `.proto` file) and the method specs of the `grpc.health.v1.Health` service.
//!
//! The field names and numbers are those of `grpc/health/v1/health.proto` in the gRPC project; they are
//! part of the protocol, so these types interoperate with every gRPC health client and server.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, MessageOptions, MethodDescriptorProto, ServiceDescriptorProto,
};
use trident::{Idempotency, MethodSpec, StreamType};

/// The protobuf package.
pub const PACKAGE: &str = "grpc.health.v1";
/// The file the schema lives in, as clients that ask by file name (server reflection) know it.
pub const FILE_NAME: &str = "grpc/health/v1/health.proto";
/// Fully-qualified name of the health service.
pub const SERVICE_NAME: &str = "grpc.health.v1.Health";

/// `Check`: the status of one service, now.
pub const CHECK: MethodSpec = MethodSpec {
    service: SERVICE_NAME,
    method: "Check",
    path: "/grpc.health.v1.Health/Check",
    stream_type: StreamType::Unary,
    idempotency: Idempotency::Unknown,
};

/// `List`: the status of every service the server knows.
pub const LIST: MethodSpec = MethodSpec {
    service: SERVICE_NAME,
    method: "List",
    path: "/grpc.health.v1.Health/List",
    stream_type: StreamType::Unary,
    idempotency: Idempotency::Unknown,
};

/// `Watch`: the status of one service, then every change of it.
pub const WATCH: MethodSpec = MethodSpec {
    service: SERVICE_NAME,
    method: "Watch",
    path: "/grpc.health.v1.Health/Watch",
    stream_type: StreamType::ServerStream,
    idempotency: Idempotency::Unknown,
};

/// The request of `Check` and `Watch`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message, prost_reflect::ReflectMessage)]
#[prost_reflect(
    descriptor_pool = "crate::proto::descriptor_pool()",
    message_name = "grpc.health.v1.HealthCheckRequest"
)]
pub struct HealthCheckRequest {
    /// The service asked about; the empty name stands for the server as a whole.
    #[prost(string, tag = "1")]
    pub service: String,
}

/// The answer of `Check` and each message of `Watch`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message, prost_reflect::ReflectMessage)]
#[prost_reflect(
    descriptor_pool = "crate::proto::descriptor_pool()",
    message_name = "grpc.health.v1.HealthCheckResponse"
)]
pub struct HealthCheckResponse {
    /// The service's status (a [`ServingStatus`] value).
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub status: i32,
}

/// A service's health (`grpc.health.v1.HealthCheckResponse.ServingStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ServingStatus {
    /// Not known (a status a server does not set itself).
    Unknown = 0,
    /// Able to take calls.
    Serving = 1,
    /// Not able to take calls.
    NotServing = 2,
    /// The server does not know the service (only ever sent by `Watch`; `Check` fails with `not_found`).
    ServiceUnknown = 3,
}

impl ServingStatus {
    /// The value's name in the `.proto` file, such as `SERVING`.
    pub fn as_str_name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Serving => "SERVING",
            Self::NotServing => "NOT_SERVING",
            Self::ServiceUnknown => "SERVICE_UNKNOWN",
        }
    }
}

impl HealthCheckResponse {
    /// A response carrying `status`.
    pub fn new(status: ServingStatus) -> Self {
        Self {
            status: status as i32,
        }
    }
}

/// The request of `List` (it has no fields).
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message, prost_reflect::ReflectMessage)]
#[prost_reflect(
    descriptor_pool = "crate::proto::descriptor_pool()",
    message_name = "grpc.health.v1.HealthListRequest"
)]
pub struct HealthListRequest {}

/// The answer of `List`.
#[derive(Clone, PartialEq, prost::Message, prost_reflect::ReflectMessage)]
#[prost_reflect(
    descriptor_pool = "crate::proto::descriptor_pool()",
    message_name = "grpc.health.v1.HealthListResponse"
)]
pub struct HealthListResponse {
    /// The status of every service the server knows, by name (the server itself under `""`).
    #[prost(map = "string, message", tag = "1")]
    pub statuses: std::collections::HashMap<String, HealthCheckResponse>,
}

/// The descriptors of `grpc/health/v1/health.proto`, in a pool of their own (the messages' descriptors
/// resolve there). Give it to a server reflection builder to make the health service discoverable.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_proto(file_descriptor_proto())
            .expect("the grpc.health.v1 descriptor is well-formed");
        pool
    });
    &POOL
}

/// `grpc/health/v1/health.proto` as a `FileDescriptorProto`.
pub fn file_descriptor_proto() -> FileDescriptorProto {
    let response = ".grpc.health.v1.HealthCheckResponse";
    let request = ".grpc.health.v1.HealthCheckRequest";
    FileDescriptorProto {
        name: Some(FILE_NAME.into()),
        package: Some(PACKAGE.into()),
        syntax: Some("proto3".into()),
        message_type: vec![
            message(
                "HealthCheckRequest",
                vec![scalar("service", 1, Type::String)],
            ),
            DescriptorProto {
                enum_type: vec![EnumDescriptorProto {
                    name: Some("ServingStatus".into()),
                    value: [
                        ServingStatus::Unknown,
                        ServingStatus::Serving,
                        ServingStatus::NotServing,
                        ServingStatus::ServiceUnknown,
                    ]
                    .into_iter()
                    .map(|status| EnumValueDescriptorProto {
                        name: Some(status.as_str_name().into()),
                        number: Some(status as i32),
                        options: None,
                    })
                    .collect(),
                    ..Default::default()
                }],
                ..message(
                    "HealthCheckResponse",
                    vec![typed(
                        "status",
                        1,
                        Type::Enum,
                        ".grpc.health.v1.HealthCheckResponse.ServingStatus",
                    )],
                )
            },
            message("HealthListRequest", Vec::new()),
            DescriptorProto {
                nested_type: vec![DescriptorProto {
                    options: Some(MessageOptions {
                        map_entry: Some(true),
                        ..Default::default()
                    }),
                    ..message(
                        "StatusesEntry",
                        vec![
                            scalar("key", 1, Type::String),
                            typed("value", 2, Type::Message, response),
                        ],
                    )
                }],
                ..message(
                    "HealthListResponse",
                    vec![FieldDescriptorProto {
                        label: Some(Label::Repeated as i32),
                        ..typed(
                            "statuses",
                            1,
                            Type::Message,
                            ".grpc.health.v1.HealthListResponse.StatusesEntry",
                        )
                    }],
                )
            },
        ],
        service: vec![ServiceDescriptorProto {
            name: Some("Health".into()),
            method: vec![
                method("Check", request, response, false),
                method(
                    "List",
                    ".grpc.health.v1.HealthListRequest",
                    ".grpc.health.v1.HealthListResponse",
                    false,
                ),
                method("Watch", request, response, true),
            ],
            options: None,
        }],
        ..Default::default()
    }
}

fn message(name: &str, field: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field,
        ..Default::default()
    }
}

fn scalar(name: &str, number: i32, kind: Type) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(kind as i32),
        json_name: Some(name.into()),
        ..Default::default()
    }
}

fn typed(name: &str, number: i32, kind: Type, type_name: &str) -> FieldDescriptorProto {
    FieldDescriptorProto {
        type_name: Some(type_name.into()),
        ..scalar(name, number, kind)
    }
}

fn method(name: &str, input: &str, output: &str, server_streaming: bool) -> MethodDescriptorProto {
    MethodDescriptorProto {
        name: Some(name.into()),
        input_type: Some(input.into()),
        output_type: Some(output.into()),
        client_streaming: Some(false),
        server_streaming: Some(server_streaming),
        options: None,
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::ReflectMessage as _;

    use super::*;

    #[test]
    fn every_message_finds_its_descriptor() {
        assert_eq!(
            HealthCheckRequest::default().descriptor().full_name(),
            "grpc.health.v1.HealthCheckRequest"
        );
        let response = HealthCheckResponse::default().descriptor();
        let status = response.get_field_by_name("status").expect("status field");
        assert_eq!(status.number(), 1);
        let kind = status.kind();
        let statuses = kind.as_enum().expect("an enum");
        assert_eq!(
            statuses.get_value(3).expect("value 3").name(),
            "SERVICE_UNKNOWN"
        );
        assert_eq!(
            HealthListRequest::default().descriptor().full_name(),
            "grpc.health.v1.HealthListRequest"
        );
        let list = HealthListResponse::default().descriptor();
        assert!(
            list.get_field_by_name("statuses")
                .expect("statuses")
                .is_map()
        );
    }

    #[test]
    fn the_service_matches_the_method_specs() {
        let service = descriptor_pool()
            .get_service_by_name(SERVICE_NAME)
            .expect("the service");
        let methods: Vec<_> = service
            .methods()
            .map(|m| (m.name().to_owned(), m.is_server_streaming()))
            .collect();
        assert_eq!(
            methods,
            [
                (CHECK.method.to_owned(), false),
                (LIST.method.to_owned(), false),
                (WATCH.method.to_owned(), true),
            ]
        );
        for spec in [CHECK, LIST, WATCH] {
            assert_eq!(spec.path, format!("/{}/{}", spec.service, spec.method));
        }
    }

    #[test]
    fn messages_round_trip_through_json_names() {
        // The JSON codec reads field names from the descriptor: `service` and `status` as in health.proto.
        let message = HealthCheckResponse::new(ServingStatus::NotServing).transcode_to_dynamic();
        let status = message.get_field_by_name("status").expect("status");
        assert_eq!(status.as_enum_number(), Some(2));
    }
}
