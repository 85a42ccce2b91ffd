//! Apache Dubbo's Triple protocol between Trident's own client and server (the interop with dubbo-go
//! itself is `dubbo_interop.rs`): unary calls in Triple's form, streams as gRPC, Triple's error
//! statuses and headers on the wire, service group and version routing for every protocol, and the
//! lower-case-first method fallback.

use bytes::Bytes;
use trident::triple::{TripleClientOptions as _, TripleRoutes as _};
use trident::{Code, ProtocolKind, Request, Response, Router, ServiceRoutes};
use trident_tests::{
    Codec, ECHO, EchoRequest, EchoResponse, ErrorSpec, Http, TestServer, TestService, build_client,
    configure_builder, echo_service_routes, g1_echo_routes, raw, router, scenarios, send_raw, text,
    within,
};

const ECHO_PATH: &str = "/trident.test.v1.EchoService/Echo";

/// The test service, plus `g1_echo_routes` (group `g1`, version `1.0.0`).
fn grouped_router() -> Router {
    router(TestService::new()).add(g1_echo_routes())
}

async fn start_grouped() -> TestServer {
    TestServer::start_with(|_| grouped_router()).await
}

/// Every stream type with the Triple client: unary in Triple's form, streams as gRPC (HTTP/2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_type_over_triple() {
    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        let client = build_client(
            server
                .builder(codec, Http::H2)
                .protocol(ProtocolKind::TRIPLE),
        );
        scenarios::unary(&client, http::Version::HTTP_2).await;
        scenarios::server_stream(&client, http::Version::HTTP_2).await;
        scenarios::client_stream(&client, http::Version::HTTP_2).await;
        scenarios::client_stream_empty(&client).await;
        scenarios::bidi(&client, http::Version::HTTP_2).await;
    }
}

/// Over HTTP/1.1, Triple's unary calls work; its streams (gRPC) fail at once with `unimplemented`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triple_over_http1_is_unary_only() {
    let server = TestServer::start().await;
    let client = build_client(
        server
            .builder(Codec::Json, Http::H1)
            .protocol(ProtocolKind::TRIPLE),
    );
    scenarios::unary(&client, http::Version::HTTP_11).await;
    let Err(error) = within("server stream", client.repeat(text("r"))).await else {
        panic!("a server stream over HTTP/1.1");
    };
    assert_eq!(error.code(), Code::Unimplemented, "{error}");
    assert!(error.message().contains("HTTP/2"), "{error}");
    assert_eq!(
        server.state().calls.get(),
        2,
        "nothing of the stream reached the server"
    );
}

/// What a Triple request looks like on the wire, and Triple's answers: the content type, the
/// protocol version, `trailer-` headers, Triple's statuses for errors, and a bad version refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triple_on_the_wire() {
    let server = start_grouped().await;
    let post = |headers: &[(&str, &str)], body: &str| {
        let mut builder = raw(http::Method::POST, server.addr, ECHO_PATH, Http::H1)
            .header("content-type", "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder
            .body(Bytes::from(body.to_string()))
            .expect("request")
    };
    let triple = [("triple-protocol-version", "0.1.0")];

    let ok = send_raw(
        server.addr,
        Http::H1,
        post(
            &triple,
            r#"{"text":"hi","responseTrailers":[{"name":"x-trail","value":"t"}]}"#,
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    assert_eq!(ok.header("trailer-x-trail"), Some("t"));
    assert_eq!(ok.json()["text"], "hi");

    // Codes whose HTTP status differs from Connect's.
    for (code, status) in [
        (Code::Unimplemented, 404),
        (Code::FailedPrecondition, 412),
        (Code::DeadlineExceeded, 408),
        (Code::Canceled, 408),
        (Code::NotFound, 404),
    ] {
        let request = EchoRequest {
            error: Some(ErrorSpec {
                code: code as u32,
                message: "as asked".into(),
                ..Default::default()
            }),
            ..text("fail")
        };
        let body = String::from_utf8(Codec::Json.encode(&request)).expect("JSON");
        let response = send_raw(server.addr, Http::H1, post(&triple, &body)).await;
        assert_eq!(response.status, status, "{code:?}");
        assert_eq!(response.error_code(), code.as_str());
        // The same request without the Triple header is Connect's.
        let connect = send_raw(server.addr, Http::H1, post(&[], &body)).await;
        assert_eq!(connect.status, code.http_status(), "{code:?} over Connect");
    }

    // A timeout in Triple's header bounds the call.
    let body = r#"{"text":"slow","delayMs":2000}"#;
    let timed = send_raw(
        server.addr,
        Http::H1,
        post(&[("triple-timeout-ms", "100")], body),
    )
    .await;
    assert_eq!(timed.status, 408);
    assert_eq!(timed.error_code(), "deadline_exceeded");

    let bad_version = send_raw(
        server.addr,
        Http::H1,
        post(&[("triple-protocol-version", "1")], r#"{"text":"x"}"#),
    )
    .await;
    assert_eq!(bad_version.status, 400);
    assert_eq!(bad_version.error_code(), "invalid_argument");

    // An unknown group and version: unimplemented, which Triple answers 404.
    let unknown = send_raw(
        server.addr,
        Http::H1,
        post(
            &[
                ("triple-protocol-version", "0.1.0"),
                ("tri-service-group", "nope"),
                ("tri-service-version", "9"),
            ],
            r#"{"text":"x"}"#,
        ),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "unimplemented");
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nope")
    );
}

/// Service group and version pick the implementation, whatever the protocol; a pair with no
/// implementation fails with `unimplemented`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_version_routing_for_every_protocol() {
    let server = start_grouped().await;
    for protocol in [
        ProtocolKind::TRIPLE,
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ] {
        let builder = || {
            configure_builder(
                trident::Client::builder(server.url()).protocol(protocol),
                Codec::Proto,
                Http::H2,
            )
        };
        let plain = build_client(builder());
        let echoed = within("default", plain.echo(text("a")))
            .await
            .expect("served");
        assert_eq!(echoed.message().text, "a", "{protocol:?}");

        let grouped = build_client(builder().service_group("g1").service_version("1.0.0"));
        let echoed = within("g1/1.0.0", grouped.echo(text("b")))
            .await
            .expect("served");
        assert_eq!(echoed.message().text, "g1/1.0.0:b", "{protocol:?}");

        let unknown = build_client(builder().service_group("g1").service_version("2.0.0"));
        let error = within("unknown pair", unknown.echo(text("c")))
            .await
            .expect_err("no such implementation");
        assert_eq!(error.code(), Code::Unimplemented, "{protocol:?}: {error}");

        // The variant implements Echo only: its other methods are unimplemented too.
        let error = within("unknown method of the pair", grouped.echo_post(text("d")))
            .await
            .expect_err("no such implementation");
        assert_eq!(error.code(), Code::Unimplemented, "{protocol:?}: {error}");
    }
}

/// dubbo-go routes `/pkg.Service/echo` to `Echo` when no path matches exactly; so does Trident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_first_method_names_reach_the_method() {
    let server = TestServer::start().await;
    let request = raw(
        http::Method::POST,
        server.addr,
        "/trident.test.v1.EchoService/echo",
        Http::H1,
    )
    .header("content-type", "application/json")
    .header("triple-protocol-version", "0.1.0")
    .body(Bytes::from_static(br#"{"text":"lower"}"#))
    .expect("request");
    let response = send_raw(server.addr, Http::H1, request).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["text"], "lower");
    let missing = raw(
        http::Method::POST,
        server.addr,
        "/trident.test.v1.EchoService/nothing",
        Http::H1,
    )
    .header("content-type", "application/json")
    .body(Bytes::from_static(b"{}"))
    .expect("request");
    assert_eq!(send_raw(server.addr, Http::H1, missing).await.status, 404);
}

/// Registering the same service twice is refused only for the same group and version.
#[test]
fn duplicate_group_and_version_is_refused() {
    let twice = grouped_router().add(
        ServiceRoutes::new("trident.test.v1.EchoService")
            .unary(&ECHO, |_: Request<EchoRequest>| async {
                Ok(Response::new(EchoResponse::default()))
            })
            .group("g1")
            .version("1.0.0"),
    );
    let error = twice.check().expect_err("the same group and version twice");
    assert!(error.to_string().contains("\"g1\""), "{error}");
}

/// Apache Dubbo's business error (status 17) travels as `code_17` (HTTP 500) in Triple's unary form
/// and as `grpc-status: 17` over gRPC, and comes back as a business error; Connect callers see
/// `unknown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_errors() {
    let server = TestServer::start().await;
    let business = || EchoRequest {
        error: Some(ErrorSpec {
            code: 17,
            message: "not enough stock".into(),
            ..Default::default()
        }),
        ..text("order")
    };
    for protocol in [ProtocolKind::TRIPLE, ProtocolKind::GRPC] {
        let client = build_client(server.builder(Codec::Proto, Http::H2).protocol(protocol));
        let error = within("business error", client.echo(business()))
            .await
            .expect_err("fails");
        assert!(error.is_business(), "{protocol:?}: {error}");
        assert_eq!(error.code(), Code::Unknown);
        assert_eq!(error.message(), "not enough stock");
        // A stream too (Triple's are gRPC): its trailers-only head fails the open.
        let error = within("stream", client.repeat(business()))
            .await
            .err()
            .expect("the open fails");
        assert!(error.is_business(), "{protocol:?} stream: {error}");
    }
    let connect = build_client(server.builder(Codec::Proto, Http::H2));
    let error = within("over Connect", connect.echo(business()))
        .await
        .expect_err("fails");
    assert_eq!(error.code(), Code::Unknown);
    assert!(!error.is_business());

    let body = String::from_utf8(Codec::Json.encode(&business())).expect("JSON");
    let request = raw(http::Method::POST, server.addr, ECHO_PATH, Http::H1)
        .header("content-type", "application/json")
        .header("triple-protocol-version", "0.1.0")
        .body(Bytes::from(body))
        .expect("request");
    let response = send_raw(server.addr, Http::H1, request).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.error_code(), "code_17");
}

/// Java-defined Dubbo services are called by their interface's name: an alias serves them, with
/// either case of the method's first letter. A codec the server does not have is refused with 415.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_name_aliases_and_unknown_codecs() {
    let server = TestServer::start_with(|_| {
        Router::new().add(echo_service_routes(TestService::new()).alias("org.example.EchoFacade"))
    })
    .await;
    let post = |path: &str, content_type: &str| {
        raw(http::Method::POST, server.addr, path, Http::H1)
            .header("content-type", content_type)
            .header("triple-protocol-version", "0.1.0")
            .body(Bytes::from_static(br#"{"text":"aliased"}"#))
            .expect("request")
    };
    for path in [
        "/org.example.EchoFacade/echo",
        "/org.example.EchoFacade/Echo",
        ECHO_PATH,
    ] {
        let response = send_raw(server.addr, Http::H1, post(path, "application/json")).await;
        assert_eq!(response.status, 200, "{path}: {:?}", response.body);
        assert_eq!(response.json()["text"], "aliased", "{path}");
    }
    let unknown = send_raw(
        server.addr,
        Http::H1,
        post("/org.example.Other/echo", "application/json"),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let xml = send_raw(server.addr, Http::H1, post(ECHO_PATH, "application/xml")).await;
    assert_eq!(xml.status, 415);
}
