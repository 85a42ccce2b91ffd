//! The `grpc.reflection.v1` and `grpc.reflection.v1alpha` wire schemas: their messages, their file
//! descriptors (built here in Rust, not read from `.proto` files) and the method specs of their
//! `ServerReflection` services.
//!
//! The two versions are the same schema under two package names (`v1alpha` is the older one, still asked
//! for by many clients), so one macro declares the messages of both. Field names and numbers are those of
//! `grpc/reflection/v1/reflection.proto` in the gRPC project: they are part of the protocol.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MethodDescriptorProto,
    OneofDescriptorProto, ServiceDescriptorProto,
};

/// Declares the reflection messages in the current module; the arguments are their full names.
// rustfmt re-indents attributes inside macro bodies a little further on every run: keep it out.
#[rustfmt::skip]
macro_rules! reflection_messages {
    (
        $request:literal,
        $extension_request:literal,
        $response:literal,
        $file_descriptor_response:literal,
        $extension_number_response:literal,
        $list_service_response:literal,
        $service_response:literal,
        $error_response:literal $(,)?
    ) => {
        /// One question on a reflection stream.
        #[derive(Clone, PartialEq, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $request
        )]
        pub struct ServerReflectionRequest {
            /// The host the question is about (echoed back in `valid_host`).
            #[prost(string, tag = "1")]
            pub host: String,
            /// The question.
            #[prost(
                oneof = "server_reflection_request::MessageRequest",
                tags = "3, 4, 5, 6, 7"
            )]
            pub message_request: Option<server_reflection_request::MessageRequest>,
        }

        /// The `message_request` oneof of [`ServerReflectionRequest`].
        pub mod server_reflection_request {
            /// What a reflection request asks for.
            #[derive(Clone, PartialEq, ::prost::Oneof)]
            pub enum MessageRequest {
                /// The file of this name (such as `greet/v1/greet.proto`), with its dependencies.
                #[prost(string, tag = "3")]
                FileByFilename(String),
                /// The file defining this fully-qualified symbol (service, method, message, enum, field,
                /// enum value or extension), with its dependencies.
                #[prost(string, tag = "4")]
                FileContainingSymbol(String),
                /// The file defining the extension of a message with a field number, with its
                /// dependencies.
                #[prost(message, tag = "5")]
                FileContainingExtension(super::ExtensionRequest),
                /// The field numbers of every known extension of this message type.
                #[prost(string, tag = "6")]
                AllExtensionNumbersOfType(String),
                /// The names of the services the server offers (the string's content is not used).
                #[prost(string, tag = "7")]
                ListServices(String),
            }
        }

        /// Names an extension: the message it extends and its field number.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $extension_request
        )]
        pub struct ExtensionRequest {
            /// The fully-qualified name of the extended message.
            #[prost(string, tag = "1")]
            pub containing_type: String,
            /// The extension's field number.
            #[prost(int32, tag = "2")]
            pub extension_number: i32,
        }

        /// One answer on a reflection stream, in the order of the questions.
        #[derive(Clone, PartialEq, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $response
        )]
        pub struct ServerReflectionResponse {
            /// The request's `host`.
            #[prost(string, tag = "1")]
            pub valid_host: String,
            /// The question answered.
            #[prost(message, optional, tag = "2")]
            pub original_request: Option<ServerReflectionRequest>,
            /// The answer.
            #[prost(
                oneof = "server_reflection_response::MessageResponse",
                tags = "4, 5, 6, 7"
            )]
            pub message_response: Option<server_reflection_response::MessageResponse>,
        }

        /// The `message_response` oneof of [`ServerReflectionResponse`].
        pub mod server_reflection_response {
            /// What a reflection response carries.
            #[derive(Clone, PartialEq, ::prost::Oneof)]
            pub enum MessageResponse {
                /// Encoded `FileDescriptorProto`s, answering the three file questions.
                #[prost(message, tag = "4")]
                FileDescriptorResponse(super::FileDescriptorResponse),
                /// Extension numbers, answering `all_extension_numbers_of_type`.
                #[prost(message, tag = "5")]
                AllExtensionNumbersResponse(super::ExtensionNumberResponse),
                /// Service names, answering `list_services`.
                #[prost(message, tag = "6")]
                ListServicesResponse(super::ListServiceResponse),
                /// Why the question has no answer.
                #[prost(message, tag = "7")]
                ErrorResponse(super::ErrorResponse),
            }
        }

        /// Encoded `google.protobuf.FileDescriptorProto`s: the file asked for first, then those of its
        /// (transitive) imports that this stream has not sent yet.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $file_descriptor_response
        )]
        pub struct FileDescriptorResponse {
            /// One encoded `FileDescriptorProto` per file.
            #[prost(bytes = "vec", repeated, tag = "1")]
            pub file_descriptor_proto: Vec<Vec<u8>>,
        }

        /// The extension numbers of one message type.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $extension_number_response
        )]
        pub struct ExtensionNumberResponse {
            /// The message type's fully-qualified name.
            #[prost(string, tag = "1")]
            pub base_type_name: String,
            /// The field numbers of its known extensions.
            #[prost(int32, repeated, tag = "2")]
            pub extension_number: Vec<i32>,
        }

        /// The services a server offers.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $list_service_response
        )]
        pub struct ListServiceResponse {
            /// One entry per service.
            #[prost(message, repeated, tag = "1")]
            pub service: Vec<ServiceResponse>,
        }

        /// One service a server offers.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $service_response
        )]
        pub struct ServiceResponse {
            /// The service's fully-qualified name.
            #[prost(string, tag = "1")]
            pub name: String,
        }

        /// Why a question has no answer; the stream itself goes on.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message, ::prost_reflect::ReflectMessage)]
        #[prost_reflect(
            descriptor_pool = "crate::proto::descriptor_pool()",
            message_name = $error_response
        )]
        pub struct ErrorResponse {
            /// A gRPC status code (`NOT_FOUND`, 5, for unknown names).
            #[prost(int32, tag = "1")]
            pub error_code: i32,
            /// What was not found, or what was wrong.
            #[prost(string, tag = "2")]
            pub error_message: String,
        }
    };
}

/// `grpc.reflection.v1`: the current version.
pub mod v1 {
    use trident::{Idempotency, MethodSpec, StreamType};

    reflection_messages!(
        "grpc.reflection.v1.ServerReflectionRequest",
        "grpc.reflection.v1.ExtensionRequest",
        "grpc.reflection.v1.ServerReflectionResponse",
        "grpc.reflection.v1.FileDescriptorResponse",
        "grpc.reflection.v1.ExtensionNumberResponse",
        "grpc.reflection.v1.ListServiceResponse",
        "grpc.reflection.v1.ServiceResponse",
        "grpc.reflection.v1.ErrorResponse",
    );

    /// The protobuf package.
    pub const PACKAGE: &str = "grpc.reflection.v1";
    /// The schema's file name.
    pub const FILE_NAME: &str = "grpc/reflection/v1/reflection.proto";
    /// Fully-qualified name of the reflection service.
    pub const SERVICE_NAME: &str = "grpc.reflection.v1.ServerReflection";

    /// `ServerReflectionInfo`: the one (bidi) method; each request gets one response, in order.
    pub const SERVER_REFLECTION_INFO: MethodSpec = MethodSpec {
        service: SERVICE_NAME,
        method: "ServerReflectionInfo",
        path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        stream_type: StreamType::BidiStream,
        idempotency: Idempotency::Unknown,
    };
}

/// `grpc.reflection.v1alpha`: the older version, identical but for the package name.
pub mod v1alpha {
    use trident::{Idempotency, MethodSpec, StreamType};

    reflection_messages!(
        "grpc.reflection.v1alpha.ServerReflectionRequest",
        "grpc.reflection.v1alpha.ExtensionRequest",
        "grpc.reflection.v1alpha.ServerReflectionResponse",
        "grpc.reflection.v1alpha.FileDescriptorResponse",
        "grpc.reflection.v1alpha.ExtensionNumberResponse",
        "grpc.reflection.v1alpha.ListServiceResponse",
        "grpc.reflection.v1alpha.ServiceResponse",
        "grpc.reflection.v1alpha.ErrorResponse",
    );

    /// The protobuf package.
    pub const PACKAGE: &str = "grpc.reflection.v1alpha";
    /// The schema's file name.
    pub const FILE_NAME: &str = "grpc/reflection/v1alpha/reflection.proto";
    /// Fully-qualified name of the reflection service.
    pub const SERVICE_NAME: &str = "grpc.reflection.v1alpha.ServerReflection";

    /// `ServerReflectionInfo`: the one (bidi) method; each request gets one response, in order.
    pub const SERVER_REFLECTION_INFO: MethodSpec = MethodSpec {
        service: SERVICE_NAME,
        method: "ServerReflectionInfo",
        path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        stream_type: StreamType::BidiStream,
        idempotency: Idempotency::Unknown,
    };
}

/// The descriptors of both reflection files, in a pool of their own (the messages' descriptors resolve
/// there).
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos([
            file_descriptor_proto(v1::PACKAGE, v1::FILE_NAME),
            file_descriptor_proto(v1alpha::PACKAGE, v1alpha::FILE_NAME),
        ])
        .expect("the grpc.reflection descriptors are well-formed");
        pool
    });
    &POOL
}

/// The reflection schema as a `FileDescriptorProto` named `file_name`, in `package`.
pub(crate) fn file_descriptor_proto(package: &str, file_name: &str) -> FileDescriptorProto {
    let t = |name: &str| format!(".{package}.{name}");
    let in_oneof = |field: FieldDescriptorProto| FieldDescriptorProto {
        oneof_index: Some(0),
        ..field
    };
    let repeated = |field: FieldDescriptorProto| FieldDescriptorProto {
        label: Some(Label::Repeated as i32),
        ..field
    };
    FileDescriptorProto {
        name: Some(file_name.into()),
        package: Some(package.into()),
        syntax: Some("proto3".into()),
        message_type: vec![
            DescriptorProto {
                name: Some("ServerReflectionRequest".into()),
                field: vec![
                    field("host", 1, Type::String, None),
                    in_oneof(field("file_by_filename", 3, Type::String, None)),
                    in_oneof(field("file_containing_symbol", 4, Type::String, None)),
                    in_oneof(field(
                        "file_containing_extension",
                        5,
                        Type::Message,
                        Some(t("ExtensionRequest")),
                    )),
                    in_oneof(field(
                        "all_extension_numbers_of_type",
                        6,
                        Type::String,
                        None,
                    )),
                    in_oneof(field("list_services", 7, Type::String, None)),
                ],
                oneof_decl: vec![oneof("message_request")],
                ..Default::default()
            },
            message(
                "ExtensionRequest",
                vec![
                    field("containing_type", 1, Type::String, None),
                    field("extension_number", 2, Type::Int32, None),
                ],
            ),
            DescriptorProto {
                name: Some("ServerReflectionResponse".into()),
                field: vec![
                    field("valid_host", 1, Type::String, None),
                    field(
                        "original_request",
                        2,
                        Type::Message,
                        Some(t("ServerReflectionRequest")),
                    ),
                    in_oneof(field(
                        "file_descriptor_response",
                        4,
                        Type::Message,
                        Some(t("FileDescriptorResponse")),
                    )),
                    in_oneof(field(
                        "all_extension_numbers_response",
                        5,
                        Type::Message,
                        Some(t("ExtensionNumberResponse")),
                    )),
                    in_oneof(field(
                        "list_services_response",
                        6,
                        Type::Message,
                        Some(t("ListServiceResponse")),
                    )),
                    in_oneof(field(
                        "error_response",
                        7,
                        Type::Message,
                        Some(t("ErrorResponse")),
                    )),
                ],
                oneof_decl: vec![oneof("message_response")],
                ..Default::default()
            },
            message(
                "FileDescriptorResponse",
                vec![repeated(field(
                    "file_descriptor_proto",
                    1,
                    Type::Bytes,
                    None,
                ))],
            ),
            message(
                "ExtensionNumberResponse",
                vec![
                    field("base_type_name", 1, Type::String, None),
                    repeated(field("extension_number", 2, Type::Int32, None)),
                ],
            ),
            message(
                "ListServiceResponse",
                vec![repeated(field(
                    "service",
                    1,
                    Type::Message,
                    Some(t("ServiceResponse")),
                ))],
            ),
            message(
                "ServiceResponse",
                vec![field("name", 1, Type::String, None)],
            ),
            message(
                "ErrorResponse",
                vec![
                    field("error_code", 1, Type::Int32, None),
                    field("error_message", 2, Type::String, None),
                ],
            ),
        ],
        service: vec![ServiceDescriptorProto {
            name: Some("ServerReflection".into()),
            method: vec![MethodDescriptorProto {
                name: Some("ServerReflectionInfo".into()),
                input_type: Some(t("ServerReflectionRequest")),
                output_type: Some(t("ServerReflectionResponse")),
                client_streaming: Some(true),
                server_streaming: Some(true),
                options: None,
            }],
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

fn oneof(name: &str) -> OneofDescriptorProto {
    OneofDescriptorProto {
        name: Some(name.into()),
        options: None,
    }
}

/// A singular field; `type_name` for message fields.
fn field(name: &str, number: i32, kind: Type, type_name: Option<String>) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(kind as i32),
        type_name,
        json_name: Some(json_name(name)),
        ..Default::default()
    }
}

/// protoc's JSON name: `snake_case` to `lowerCamelCase`.
fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use prost_reflect::ReflectMessage as _;

    use super::*;

    #[test]
    fn both_versions_find_their_descriptors() {
        assert_eq!(
            v1::ServerReflectionRequest::default()
                .descriptor()
                .full_name(),
            "grpc.reflection.v1.ServerReflectionRequest"
        );
        assert_eq!(
            v1alpha::ErrorResponse::default().descriptor().full_name(),
            "grpc.reflection.v1alpha.ErrorResponse"
        );
        let response = v1::ServerReflectionResponse::default().descriptor();
        let oneof = response.oneofs().next().expect("one oneof");
        assert_eq!(oneof.name(), "message_response");
        assert_eq!(
            oneof.fields().map(|f| f.number()).collect::<Vec<_>>(),
            [4, 5, 6, 7]
        );
        assert_eq!(
            response
                .get_field_by_name("original_request")
                .expect("field")
                .json_name(),
            "originalRequest"
        );
    }

    #[test]
    fn the_versions_share_one_wire_format() {
        let request = v1::ServerReflectionRequest {
            host: "h".into(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingExtension(
                    v1::ExtensionRequest {
                        containing_type: "a.B".into(),
                        extension_number: 100,
                    },
                ),
            ),
        };
        let alpha = v1alpha::ServerReflectionRequest::decode(request.encode_to_vec().as_slice())
            .expect("decodes");
        assert_eq!(alpha.encode_to_vec(), request.encode_to_vec());
        assert_eq!(
            alpha.transcode_to_dynamic().descriptor().full_name(),
            "grpc.reflection.v1alpha.ServerReflectionRequest"
        );
    }

    #[test]
    fn the_services_match_the_method_specs() {
        for spec in [v1::SERVER_REFLECTION_INFO, v1alpha::SERVER_REFLECTION_INFO] {
            let service = descriptor_pool()
                .get_service_by_name(spec.service)
                .expect("service");
            let method = service.methods().next().expect("one method");
            assert_eq!(method.name(), spec.method);
            assert!(method.is_client_streaming() && method.is_server_streaming());
            assert_eq!(spec.path, format!("/{}/{}", spec.service, spec.method));
        }
        assert_eq!(
            json_name("all_extension_numbers_of_type"),
            "allExtensionNumbersOfType"
        );
    }
}
