//! Errors: code, message, typed details, and the headers and trailers sent with them, for unary calls
//! and every kind of stream, over both codecs and HTTP versions.

use trident::{Code, Error, MethodSpec, Request};
use trident_tests::{
    Codec, EchoRequest, ErrorSpec, FailureInfo, Http, TestServer, header, text, within,
};

/// Every status code except `ok`.
const CODES: [Code; 16] = [
    Code::Canceled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

const MESSAGE: &str = "it broke: ✗ \"quoted\" {braces}\nsecond line";

fn rich_error(after_messages: u32) -> ErrorSpec {
    ErrorSpec {
        code: Code::FailedPrecondition as u32,
        message: MESSAGE.into(),
        with_failure_info: true,
        retry_delay: Some(prost_types::Duration {
            seconds: 7,
            nanos: 5,
        }),
        headers: vec![header("x-err-h", "h1"), header("x-err-h", "h2")],
        trailers: vec![header("x-err-t", "t1")],
        after_messages,
        ..ErrorSpec::default()
    }
}

fn failing(after_messages: u32) -> EchoRequest {
    EchoRequest {
        error: Some(rich_error(after_messages)),
        repeat: 5,
        ..text("fail")
    }
}

/// Code, message and both details decode back.
fn assert_rich(error: &Error, context: &str) {
    assert_eq!(
        error.code(),
        Code::FailedPrecondition,
        "{context}: {error:?}"
    );
    assert_eq!(error.message(), MESSAGE, "{context}");
    let details = error.details();
    assert_eq!(details.len(), 2, "{context}: {details:?}");
    assert_eq!(details[0].type_name(), "trident.test.v1.FailureInfo");
    let info: FailureInfo = details[0].decode().expect("FailureInfo decodes");
    assert_eq!(
        info,
        FailureInfo {
            reason: MESSAGE.into(),
            attempt: 3
        }
    );
    assert_eq!(details[1].type_name(), "google.protobuf.Duration");
    let delay: prost_types::Duration = details[1].decode().expect("Duration decodes");
    assert_eq!((delay.seconds, delay.nanos), (7, 5));
    assert!(
        details[0].decode::<prost_types::Duration>().is_err(),
        "decoding as the wrong type fails"
    );
    assert_eq!(
        error.trailers().get_all("x-err-t"),
        vec!["t1"],
        "{context}: trailers {:?}",
        error.trailers()
    );
}

/// The error's headers came with it.
fn assert_error_headers(error: &Error, context: &str) {
    assert_eq!(
        error.headers().get_all("x-err-h"),
        vec!["h1", "h2"],
        "{context}: headers {:?}",
        error.headers()
    );
}

fn combos() -> Vec<(Codec, Http)> {
    vec![
        (Codec::Proto, Http::H1),
        (Codec::Proto, Http::H2),
        (Codec::Json, Http::H1),
        (Codec::Json, Http::H2),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_error_with_details_headers_and_trailers() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let client = server.client(codec, http);
        let context = format!("{codec:?} {http:?}");
        let error = within("unary", client.echo(failing(0)))
            .await
            .expect_err("must fail");
        assert_rich(&error, &context);
        assert_error_headers(&error, &context);
    }
}

/// A server stream that fails before its first message: headers, details and trailers all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_error_before_messages() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let client = server.client(codec, http);
        let context = format!("{codec:?} {http:?}");
        let error = within("server stream", async {
            let mut call = client.repeat(failing(0)).await?;
            assert_eq!(call.headers().get_all("x-err-h"), vec!["h1", "h2"]);
            call.message().await
        })
        .await
        .expect_err("must fail");
        assert_rich(&error, &context);
        assert_error_headers(&error, &context);
    }
}

/// A server stream whose error is known from the response head (gRPC, gRPC-Web and Triple answer
/// trailers-only) fails when it is opened, with its details, headers and trailers; over Connect the
/// error travels in the body's end-stream message, so it comes with the first read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_whose_head_carries_the_error_fails_when_opened() {
    use trident::ProtocolKind;
    let server = TestServer::start().await;
    for (protocol, http) in [
        (ProtocolKind::GRPC, Http::H2),
        (ProtocolKind::GRPC_WEB, Http::H1),
        (ProtocolKind::GRPC_WEB, Http::H2),
        (ProtocolKind::TRIPLE, Http::H2),
    ] {
        let context = format!("{protocol} {http:?}");
        let client =
            trident_tests::build_client(server.builder(Codec::Proto, http).protocol(protocol));
        let error = within("open", client.repeat(failing(0)))
            .await
            .err()
            .unwrap_or_else(|| panic!("{context}: opening the stream fails"));
        assert_rich(&error, &context);
        assert_error_headers(&error, &context);
    }
    for http in [Http::H1, Http::H2] {
        let client = server.client(Codec::Proto, http);
        let mut call = within("open", client.repeat(failing(0)))
            .await
            .expect("Connect's head says nothing of the error");
        let error = within("read", call.message())
            .await
            .expect_err("the first read fails");
        assert_rich(&error, &format!("connect {http:?}"));
    }
}

/// A server stream that fails after two messages: the messages, then the error with details and
/// trailers; the stream's trailers are readable too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_error_after_messages() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let client = server.client(codec, http);
        let context = format!("{codec:?} {http:?}");
        let request = EchoRequest {
            response_headers: vec![header("x-resp", "r")],
            response_trailers: vec![header("x-trail", "ok-trailer")],
            ..failing(2)
        };
        within("server stream", async {
            let mut call = client.repeat(request).await.expect("stream starts");
            for index in 0..2 {
                let m = call.message().await.expect("message").expect("not over");
                assert_eq!(m.index, index);
            }
            let error = call.message().await.expect_err("must fail");
            assert_rich(&error, &context);
            // The response headers sent before the stream came along with the error.
            assert_eq!(error.headers().get("x-resp"), Some("r"), "{context}");
            let trailers = call.trailers().expect("trailers after the error");
            assert_eq!(trailers.get("x-err-t"), Some("t1"));
            assert_eq!(trailers.get("x-trail"), Some("ok-trailer"));
            let again = call.message().await.expect_err("the error sticks");
            assert_eq!(again.code(), Code::FailedPrecondition);
        })
        .await;
    }
}

/// A client stream failing on its second message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stream_error() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let client = server.client(codec, http);
        let context = format!("{codec:?} {http:?}");
        let error = within("client stream", async {
            let mut call = client.collect(());
            call.send(text("fine")).await.expect("send");
            call.send(failing(1)).await.expect("send");
            call.close_and_receive().await
        })
        .await
        .expect_err("must fail");
        assert_rich(&error, &context);
        assert_error_headers(&error, &context);
    }
}

/// Bidi: failing on the first message (headers carry the error's headers) and on a later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_errors() {
    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        let client = server.client(codec, Http::H2);
        let context = format!("{codec:?} first");
        let error = within("bidi", async {
            let mut call = client.chat(());
            call.send(failing(0)).await.expect("send");
            call.message().await
        })
        .await
        .expect_err("must fail");
        assert_rich(&error, &context);
        assert_error_headers(&error, &context);

        let context = format!("{codec:?} later");
        within("bidi", async {
            let mut call = client.chat(());
            call.send(text("one")).await.expect("send");
            call.message().await.expect("echo").expect("not over");
            call.send(failing(1)).await.expect("send");
            let error = call.message().await.expect_err("must fail");
            assert_rich(&error, &context);
            assert_eq!(
                call.trailers().expect("trailers").get("x-err-t"),
                Some("t1")
            );
        })
        .await;
    }
}

fn plain_error(code: Code) -> EchoRequest {
    EchoRequest {
        error: Some(ErrorSpec {
            code: code as u32,
            message: format!("code {}", code.as_str()),
            ..Default::default()
        }),
        ..text("x")
    }
}

/// Every code survives the trip, unary (where it also picks the HTTP status) and streaming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_code_round_trips() {
    let server = TestServer::start().await;
    for (codec, http) in [(Codec::Proto, Http::H1), (Codec::Json, Http::H2)] {
        let client = server.client(codec, http);
        for code in CODES {
            let error = within("unary", client.echo_post(plain_error(code)))
                .await
                .expect_err("must fail");
            assert_eq!(error.code(), code, "unary {codec:?} {http:?}");
            assert_eq!(error.message(), format!("code {}", code.as_str()));
            assert!(error.details().is_empty());

            let error = within("stream", async {
                let mut call = client.repeat(plain_error(code)).await?;
                call.message().await
            })
            .await
            .expect_err("must fail");
            assert_eq!(error.code(), code, "stream {codec:?} {http:?}");
            assert_eq!(error.message(), format!("code {}", code.as_str()));
        }
    }
}

/// The HTTP status of unary errors follows the Connect mapping, with a JSON body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_error_http_status() {
    let server = TestServer::start().await;
    for code in CODES {
        let body = Codec::Proto.encode(&plain_error(code));
        let response = trident_tests::raw_unary(
            server.addr,
            Http::H1,
            "/trident.test.v1.EchoService/EchoPost",
            "application/proto",
            &[],
            body,
        )
        .await;
        assert_eq!(response.status.as_u16(), code.http_status(), "{code:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.error_code(), code.as_str());
        assert_eq!(
            response.json()["message"],
            format!("code {}", code.as_str())
        );
    }
}

/// Response headers and trailers on success are not mistaken for errors, and unary trailers do not leak
/// into headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_headers_and_trailers_stay_apart() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let client = server.client(codec, http);
        let request = EchoRequest {
            response_headers: vec![header("x-h", "1")],
            response_trailers: vec![header("x-t", "2"), header("x-t", "3")],
            ..text("ok")
        };
        let response = within("unary", client.echo(Request::new(request)))
            .await
            .expect("succeeds");
        assert_eq!(response.headers().get("x-h"), Some("1"));
        assert_eq!(response.headers().get("x-t"), None);
        assert_eq!(response.headers().get("trailer-x-t"), None);
        assert_eq!(response.trailers().get_all("x-t"), vec!["2", "3"]);
    }
}

/// A method the server does not have: `unimplemented` for every stream type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_is_unimplemented() {
    static MISSING_UNARY: MethodSpec = MethodSpec {
        service: "trident.test.v1.EchoService",
        method: "Missing",
        path: "/trident.test.v1.EchoService/Missing",
        stream_type: trident::StreamType::Unary,
        idempotency: trident::Idempotency::Unknown,
    };
    static MISSING_STREAM: MethodSpec = MethodSpec {
        service: "trident.test.v1.EchoService",
        method: "MissingStream",
        path: "/trident.test.v1.EchoService/MissingStream",
        stream_type: trident::StreamType::ServerStream,
        idempotency: trident::Idempotency::Unknown,
    };
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let client = server.builder(Codec::Proto, http).build().expect("client");
        let error = within(
            "unary",
            client.unary::<EchoRequest, trident_tests::EchoResponse>(
                &MISSING_UNARY,
                Request::new(text("x")),
            ),
        )
        .await
        .expect_err("must fail");
        assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
        let error = within(
            "stream",
            client.server_stream::<EchoRequest, trident_tests::EchoResponse>(
                &MISSING_STREAM,
                Request::new(text("x")),
            ),
        )
        .await
        .err()
        .expect("must fail");
        assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
    }
}

/// A handler's `google.rpc` details reach a Trident client typed, over Connect (both codecs),
/// gRPC and gRPC-Web, for unary calls and for a stream that fails after its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_rpc_details_arrive_typed_over_every_protocol() {
    use trident::ProtocolKind;
    use trident::error_details::{BadRequest, ErrorInfo, FieldViolation, LocalizedMessage};

    let server = TestServer::start().await;
    let request = |after_messages| EchoRequest {
        error: Some(ErrorSpec {
            code: Code::InvalidArgument as u32,
            message: "bad".into(),
            with_google_rpc_details: true,
            after_messages,
            ..ErrorSpec::default()
        }),
        repeat: 2,
        ..text("fail")
    };
    let expected_bad_request = BadRequest::field("name", "must not be empty").with_violation(
        FieldViolation::new("shelf", "unknown shelf")
            .with_reason("UNKNOWN_SHELF")
            .with_localized_message(LocalizedMessage::new("fr", "étagère inconnue")),
    );
    for (protocol, codec, http) in [
        (ProtocolKind::CONNECT, Codec::Proto, Http::H1),
        (ProtocolKind::CONNECT, Codec::Json, Http::H2),
        (ProtocolKind::GRPC, Codec::Proto, Http::H2),
        (ProtocolKind::GRPC_WEB, Codec::Proto, Http::H1),
        (ProtocolKind::GRPC_WEB, Codec::Json, Http::H2),
    ] {
        let client = trident_tests::build_client(server.builder(codec, http).protocol(protocol));
        let context = format!("{protocol:?} {codec:?} {http:?}");
        let unary = within("unary", client.echo(request(0)))
            .await
            .expect_err("must fail");
        let stream = within("stream", async {
            let mut stream = client.repeat(request(1)).await?;
            while stream.message().await?.is_some() {}
            Ok::<_, Error>(())
        })
        .await
        .expect_err("must fail");
        for error in [unary, stream] {
            assert_eq!(error.code(), Code::InvalidArgument, "{context}: {error:?}");
            assert_eq!(
                error.error_info(),
                Some(
                    ErrorInfo::new("EMPTY_NAME", "test.trident.dev").with_metadata("field", "name")
                ),
                "{context}"
            );
            assert_eq!(
                error.bad_request().as_ref(),
                Some(&expected_bad_request),
                "{context}"
            );
            assert_eq!(error.retry_info(), None, "{context}");
        }
    }
}

/// Connect's error JSON carries each `google.rpc` detail's proto3 JSON as `debug`, unary and in
/// the end-stream message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_error_json_carries_the_details_debug_form() {
    use trident_tests::raw_unary;

    let server = TestServer::start().await;
    let request = EchoRequest {
        error: Some(ErrorSpec {
            code: Code::InvalidArgument as u32,
            message: "bad".into(),
            with_google_rpc_details: true,
            ..ErrorSpec::default()
        }),
        ..text("fail")
    };
    let response = raw_unary(
        server.addr,
        Http::H1,
        "/trident.test.v1.EchoService/EchoPost",
        "application/json",
        &[],
        serde_json::to_vec(&serde_json::json!({"text": "fail", "error": {
            "code": 3, "message": "bad", "withGoogleRpcDetails": true}}))
        .unwrap(),
    )
    .await;
    assert_eq!(response.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
    let details = body["details"].as_array().expect("details");
    assert_eq!(details[0]["type"], "google.rpc.ErrorInfo");
    assert_eq!(
        details[0]["debug"],
        serde_json::json!({"reason": "EMPTY_NAME", "domain": "test.trident.dev",
                           "metadata": {"field": "name"}})
    );
    assert_eq!(details[1]["type"], "google.rpc.BadRequest");
    assert_eq!(
        details[1]["debug"]["fieldViolations"][1],
        serde_json::json!({"field": "shelf", "description": "unknown shelf",
                           "reason": "UNKNOWN_SHELF",
                           "localizedMessage": {"locale": "fr", "message": "étagère inconnue"}})
    );
    // The proto codec's answer is the same JSON; a Trident client reads it typed.
    let client = server.client(Codec::Proto, Http::H1);
    let error = within("unary", client.echo(request))
        .await
        .expect_err("fails");
    assert_eq!(error.details()[1].debug(), Some(&details[1]["debug"]));
}
