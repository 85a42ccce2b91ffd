//! The reflection service over real loopback servers, asked with a Trident bidi client in every protocol
//! that carries bidi streams (HTTP/2), in both versions: listing, every kind of symbol, files with their
//! dependencies, extensions, and errors that leave the stream open.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, OneofDescriptorProto,
    ServiceDescriptorProto, descriptor_proto::ExtensionRange,
};
use trident::{Client, Code, HttpVersion, ProtocolKind, Request, Router, client::BidiStreamCall};
use trident_reflection::v1::server_reflection_request::MessageRequest;
use trident_reflection::v1::server_reflection_response::MessageResponse;
use trident_reflection::v1::{ExtensionRequest, ServerReflectionRequest, ServerReflectionResponse};
use trident_reflection::{v1, v1alpha};

const PROTOCOLS: [ProtocolKind; 3] = [
    ProtocolKind::CONNECT,
    ProtocolKind::GRPC,
    ProtocolKind::GRPC_WEB,
];

const STEP: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {STEP:?}"))
}

// The test schema: three files. `test/v1/dep.proto` (proto2: a message with an extension range, an
// enum), `test/v1/service.proto` (a service, a message with a nested message and a oneof; imports
// dep.proto) and `test/v1/ext.proto` (extensions of the dep.proto message; imports dep.proto).

fn field(name: &str, number: i32, kind: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(kind as i32),
        type_name: type_name.map(Into::into),
        // As protoc writes it (and as descriptor pools fill it in): every name here is one word.
        json_name: Some(name.into()),
        ..Default::default()
    }
}

fn dep_file() -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some("test/v1/dep.proto".into()),
        package: Some("test.v1".into()),
        syntax: Some("proto2".into()),
        message_type: vec![DescriptorProto {
            name: Some("Extendable".into()),
            field: vec![field("id", 1, Type::Int64, None)],
            extension_range: vec![ExtensionRange {
                start: Some(100),
                end: Some(200),
                options: None,
            }],
            ..Default::default()
        }],
        enum_type: vec![EnumDescriptorProto {
            name: Some("Color".into()),
            value: ["COLOR_UNSPECIFIED", "COLOR_RED"]
                .iter()
                .zip(0..)
                .map(|(name, number)| EnumValueDescriptorProto {
                    name: Some((*name).into()),
                    number: Some(number),
                    options: None,
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn service_file() -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some("test/v1/service.proto".into()),
        package: Some("test.v1".into()),
        syntax: Some("proto3".into()),
        dependency: vec!["test/v1/dep.proto".into()],
        message_type: vec![DescriptorProto {
            name: Some("Outer".into()),
            field: vec![
                field("name", 1, Type::String, None),
                FieldDescriptorProto {
                    oneof_index: Some(0),
                    ..field("inner", 2, Type::Message, Some(".test.v1.Outer.Inner"))
                },
                FieldDescriptorProto {
                    oneof_index: Some(0),
                    ..field("color", 3, Type::Enum, Some(".test.v1.Color"))
                },
            ],
            nested_type: vec![DescriptorProto {
                name: Some("Inner".into()),
                field: vec![field(
                    "extendable",
                    1,
                    Type::Message,
                    Some(".test.v1.Extendable"),
                )],
                ..Default::default()
            }],
            oneof_decl: vec![OneofDescriptorProto {
                name: Some("choice".into()),
                options: None,
            }],
            ..Default::default()
        }],
        service: vec![ServiceDescriptorProto {
            name: Some("TestService".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Do".into()),
                input_type: Some(".test.v1.Outer".into()),
                output_type: Some(".test.v1.Outer".into()),
                ..Default::default()
            }],
            options: None,
        }],
        ..Default::default()
    }
}

fn ext_file() -> FileDescriptorProto {
    let extension = |name: &str, number: i32| FieldDescriptorProto {
        extendee: Some(".test.v1.Extendable".into()),
        ..field(name, number, Type::String, None)
    };
    FileDescriptorProto {
        name: Some("test/v1/ext.proto".into()),
        package: Some("test.v1".into()),
        syntax: Some("proto2".into()),
        dependency: vec!["test/v1/dep.proto".into()],
        extension: vec![extension("note", 101), extension("label", 100)],
        ..Default::default()
    }
}

fn test_descriptor_set() -> Vec<u8> {
    FileDescriptorSet {
        file: vec![dep_file(), service_file(), ext_file()],
    }
    .encode_to_vec()
}

/// A server with health and reflection (describing the test schema and health) on a loopback port.
struct TestServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start(builder: trident_reflection::Builder) -> Self {
        let (_, health) = trident_health::service();
        let reflection = builder
            .register_file_descriptor_set(&test_descriptor_set())
            .expect("test schema")
            .register_pool(trident_health::descriptor_pool())
            .expect("health schema")
            .build();
        let router = reflection.add_to(Router::new().add(health));
        router.check().expect("each service once");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            trident::Server::new()
                .serve(listener, router)
                .await
                .expect("serve");
        });
        Self { addr, task }
    }

    fn client(&self, protocol: ProtocolKind) -> Client {
        Client::builder(format!("http://{}", self.addr))
            .protocol(protocol)
            .http_version(HttpVersion::Http2)
            .build()
            .expect("client")
    }
}

/// One reflection stream, in either version; questions and answers are `v1` messages (the wire format
/// is the same, so `v1alpha` ones are re-read).
enum Stream {
    V1(BidiStreamCall<ServerReflectionRequest, ServerReflectionResponse>),
    V1Alpha(BidiStreamCall<v1alpha::ServerReflectionRequest, v1alpha::ServerReflectionResponse>),
}

fn recode<A: prost::Message, B: prost::Message + Default>(message: &A) -> B {
    B::decode(message.encode_to_vec().as_slice()).expect("same wire format")
}

impl Stream {
    fn open(client: &Client, alpha: bool) -> Self {
        if alpha {
            Self::V1Alpha(client.bidi_stream(&v1alpha::SERVER_REFLECTION_INFO, Request::new(())))
        } else {
            Self::V1(client.bidi_stream(&v1::SERVER_REFLECTION_INFO, Request::new(())))
        }
    }

    async fn ask(&mut self, question: MessageRequest) -> MessageResponse {
        let request = ServerReflectionRequest {
            host: "example.test".into(),
            message_request: Some(question),
        };
        let response: ServerReflectionResponse = match self {
            Self::V1(call) => {
                within("send", call.send(request.clone()))
                    .await
                    .expect("send");
                within("receive", call.message())
                    .await
                    .expect("answer")
                    .expect("open")
            }
            Self::V1Alpha(call) => {
                within("send", call.send(recode(&request)))
                    .await
                    .expect("send");
                let answer = within("receive", call.message()).await.expect("answer");
                recode(&answer.expect("open"))
            }
        };
        assert_eq!(response.valid_host, "example.test");
        assert_eq!(response.original_request.as_ref(), Some(&request));
        response.message_response.expect("an answer")
    }

    async fn close(self) {
        match self {
            Self::V1(mut call) => {
                call.close_send().expect("close");
                assert!(
                    within("end", call.message())
                        .await
                        .expect("clean end")
                        .is_none()
                );
            }
            Self::V1Alpha(mut call) => {
                call.close_send().expect("close");
                assert!(
                    within("end", call.message())
                        .await
                        .expect("clean end")
                        .is_none()
                );
            }
        }
    }
}

/// The names of the files in a file answer, in order.
fn file_names(answer: MessageResponse) -> Vec<String> {
    match answer {
        MessageResponse::FileDescriptorResponse(files) => files
            .file_descriptor_proto
            .iter()
            .map(|bytes| {
                FileDescriptorProto::decode(bytes.as_slice())
                    .expect("a FileDescriptorProto")
                    .name
                    .expect("named")
            })
            .collect(),
        other => panic!("expected files, got {other:?}"),
    }
}

fn error_code(answer: MessageResponse) -> Code {
    match answer {
        MessageResponse::ErrorResponse(error) => {
            Code::from_u32(u32::try_from(error.error_code).expect("positive")).expect("a code")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn lists_services_in_every_protocol_and_both_versions() {
    let server = TestServer::start(trident_reflection::Builder::new()).await;
    for protocol in PROTOCOLS {
        for alpha in [false, true] {
            let mut stream = Stream::open(&server.client(protocol), alpha);
            let answer = stream
                .ask(MessageRequest::ListServices(String::new()))
                .await;
            let MessageResponse::ListServicesResponse(list) = answer else {
                panic!("{protocol:?} alpha={alpha}: {answer:?}");
            };
            let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
            assert_eq!(
                names,
                [
                    "grpc.health.v1.Health",
                    "grpc.reflection.v1.ServerReflection",
                    "grpc.reflection.v1alpha.ServerReflection",
                    "test.v1.TestService",
                ],
                "{protocol:?} alpha={alpha}"
            );
            stream.close().await;
        }
    }
}

#[tokio::test]
async fn sends_each_file_with_the_dependencies_the_stream_lacks() {
    let server = TestServer::start(trident_reflection::Builder::new()).await;
    for protocol in PROTOCOLS {
        for alpha in [false, true] {
            let mut stream = Stream::open(&server.client(protocol), alpha);
            let case = format!("{protocol:?} alpha={alpha}");
            let answer = stream
                .ask(MessageRequest::FileContainingSymbol(
                    "test.v1.TestService".into(),
                ))
                .await;
            assert_eq!(
                file_names(answer),
                ["test/v1/service.proto", "test/v1/dep.proto"],
                "{case}"
            );
            // dep.proto went out already: the file asked for comes again, its dependency does not.
            let answer = stream
                .ask(MessageRequest::FileByFilename("test/v1/ext.proto".into()))
                .await;
            assert_eq!(file_names(answer), ["test/v1/ext.proto"], "{case}");
            let answer = stream
                .ask(MessageRequest::FileContainingSymbol(
                    "test.v1.Extendable".into(),
                ))
                .await;
            assert_eq!(file_names(answer), ["test/v1/dep.proto"], "{case}");
            stream.close().await;
        }
    }
}

#[tokio::test]
async fn finds_every_kind_of_symbol() {
    let server = TestServer::start(trident_reflection::Builder::new()).await;
    let mut stream = Stream::open(&server.client(ProtocolKind::GRPC), false);
    for (symbol, file) in [
        ("test.v1.TestService", "test/v1/service.proto"),
        ("test.v1.TestService.Do", "test/v1/service.proto"),
        (".test.v1.Outer", "test/v1/service.proto"),
        ("test.v1.Outer.Inner", "test/v1/service.proto"),
        ("test.v1.Outer.name", "test/v1/service.proto"),
        ("test.v1.Outer.choice", "test/v1/service.proto"),
        ("test.v1.Outer.Inner.extendable", "test/v1/service.proto"),
        ("test.v1.Color", "test/v1/dep.proto"),
        ("test.v1.COLOR_RED", "test/v1/dep.proto"),
        ("test.v1.Extendable.id", "test/v1/dep.proto"),
        ("test.v1.note", "test/v1/ext.proto"),
        ("grpc.health.v1.Health.Watch", "grpc/health/v1/health.proto"),
        (
            "grpc.health.v1.HealthCheckResponse.SERVING",
            "grpc/health/v1/health.proto",
        ),
        (
            "grpc.reflection.v1.ServerReflection",
            "grpc/reflection/v1/reflection.proto",
        ),
        (
            "grpc.reflection.v1alpha.ErrorResponse",
            "grpc/reflection/v1alpha/reflection.proto",
        ),
    ] {
        let answer = stream
            .ask(MessageRequest::FileContainingSymbol(symbol.into()))
            .await;
        assert_eq!(
            file_names(answer).first().map(String::as_str),
            Some(file),
            "{symbol}"
        );
    }
    // Errors answer the one question; the stream goes on.
    for missing in [
        "test.v1.Missing",
        "test.v1.TestService.Missing",
        "test.v1.Outer.missing",
        "test.v1.COLOR_BLUE",
        "test",
        "",
    ] {
        let answer = stream
            .ask(MessageRequest::FileContainingSymbol(missing.into()))
            .await;
        assert_eq!(error_code(answer), Code::NotFound, "{missing:?}");
    }
    let answer = stream
        .ask(MessageRequest::FileByFilename(
            "test/v1/missing.proto".into(),
        ))
        .await;
    assert_eq!(error_code(answer), Code::NotFound);
    stream.close().await;
}

#[tokio::test]
async fn answers_extension_questions_from_the_registered_files() {
    let server = TestServer::start(trident_reflection::Builder::new()).await;
    for alpha in [false, true] {
        let mut stream = Stream::open(&server.client(ProtocolKind::CONNECT), alpha);
        let answer = stream
            .ask(MessageRequest::AllExtensionNumbersOfType(
                "test.v1.Extendable".into(),
            ))
            .await;
        let MessageResponse::AllExtensionNumbersResponse(numbers) = answer else {
            panic!("{answer:?}");
        };
        assert_eq!(numbers.base_type_name, "test.v1.Extendable");
        assert_eq!(numbers.extension_number, [100, 101]);

        let answer = stream
            .ask(MessageRequest::AllExtensionNumbersOfType(
                "test.v1.Outer".into(),
            ))
            .await;
        let MessageResponse::AllExtensionNumbersResponse(numbers) = answer else {
            panic!("{answer:?}");
        };
        assert!(numbers.extension_number.is_empty());

        let answer = stream
            .ask(MessageRequest::AllExtensionNumbersOfType(
                "test.v1.Nope".into(),
            ))
            .await;
        assert_eq!(error_code(answer), Code::NotFound);

        let answer = stream
            .ask(MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type: "test.v1.Extendable".into(),
                extension_number: 101,
            }))
            .await;
        assert_eq!(
            file_names(answer),
            ["test/v1/ext.proto", "test/v1/dep.proto"]
        );
        for (containing_type, extension_number) in [
            ("test.v1.Extendable", 150),
            ("test.v1.Nope", 100),
            ("test.v1.Extendable", -1),
        ] {
            let answer = stream
                .ask(MessageRequest::FileContainingExtension(ExtensionRequest {
                    containing_type: containing_type.into(),
                    extension_number,
                }))
                .await;
            assert_eq!(error_code(answer), Code::NotFound);
        }
        stream.close().await;
    }
}

#[tokio::test]
async fn files_come_back_as_registered() {
    let server = TestServer::start(trident_reflection::Builder::new()).await;
    let mut stream = Stream::open(&server.client(ProtocolKind::GRPC), false);
    let answer = stream
        .ask(MessageRequest::FileByFilename(
            "test/v1/service.proto".into(),
        ))
        .await;
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        panic!("{answer:?}");
    };
    let decoded: Vec<FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("decodes"))
        .collect();
    assert_eq!(decoded, [service_file(), dep_file()]);
    stream.close().await;
}

#[tokio::test]
async fn an_empty_question_is_an_error_answer_not_a_failed_stream() {
    let server = TestServer::start(trident_reflection::Builder::new()).await;
    let client = server.client(ProtocolKind::GRPC);
    let mut call: BidiStreamCall<ServerReflectionRequest, ServerReflectionResponse> =
        client.bidi_stream(&v1::SERVER_REFLECTION_INFO, Request::new(()));
    within("send", call.send(ServerReflectionRequest::default()))
        .await
        .expect("send");
    let answer = within("receive", call.message())
        .await
        .expect("answer")
        .expect("open");
    assert_eq!(
        error_code(answer.message_response.expect("an answer")),
        Code::InvalidArgument
    );
    let mut stream = Stream::V1(call);
    let answer = stream.ask(MessageRequest::ListServices("*".into())).await;
    assert!(matches!(answer, MessageResponse::ListServicesResponse(_)));
    stream.close().await;
}

#[tokio::test]
async fn v1_only_leaves_v1alpha_out() {
    let server = TestServer::start(trident_reflection::Builder::new().v1alpha(false)).await;
    let client = server.client(ProtocolKind::GRPC);
    let mut stream = Stream::open(&client, false);
    let MessageResponse::ListServicesResponse(list) = stream
        .ask(MessageRequest::ListServices(String::new()))
        .await
    else {
        panic!("a list");
    };
    assert!(
        list.service
            .iter()
            .all(|s| s.name != "grpc.reflection.v1alpha.ServerReflection"),
        "{list:?}"
    );
    let answer = stream
        .ask(MessageRequest::FileByFilename(
            "grpc/reflection/v1alpha/reflection.proto".into(),
        ))
        .await;
    assert_eq!(error_code(answer), Code::NotFound);
    stream.close().await;

    let mut alpha = client
        .bidi_stream::<v1alpha::ServerReflectionRequest, v1alpha::ServerReflectionResponse>(
            &v1alpha::SERVER_REFLECTION_INFO,
            Request::new(()),
        );
    let _ = alpha
        .send(v1alpha::ServerReflectionRequest::default())
        .await;
    let error = within("receive", alpha.message())
        .await
        .expect_err("no v1alpha route");
    assert_eq!(error.code(), Code::Unimplemented);
}
