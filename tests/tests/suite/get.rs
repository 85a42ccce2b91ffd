//! Connect GET: the idempotent `Echo` may be called with GET (by the client with `use_get`, or raw);
//! the non-idempotent methods answer GET with 405.

use bytes::Bytes;
use trident::{Code, Request};
use trident_tests::{
    Codec, EchoRequest, ErrorSpec, Http, MethodLog, TestServer, TestService, build_client,
    configure_builder, header, percent_encode, raw, router, send_raw, within,
};

const ECHO_PATH: &str = "/trident.test.v1.EchoService/Echo";
const ECHO_POST_PATH: &str = "/trident.test.v1.EchoService/EchoPost";
const REPEAT_PATH: &str = "/trident.test.v1.EchoService/Repeat";

/// Text that needs percent-encoding in a query.
const AWKWARD: &str = "a b&c=d?e/f+g%h#i ✓ \"q\"";

fn probe() -> EchoRequest {
    EchoRequest {
        text: AWKWARD.to_string(),
        payload: vec![0, 0xff, b'&', b'='],
        echo_headers: vec!["content-type".into()],
        echo_context: true,
        ..Default::default()
    }
}

/// `use_get` sends `Echo` as GET (no content type reaches the handler) and `EchoPost` as POST, over both
/// HTTP versions and codecs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_uses_get_for_the_idempotent_method_only() {
    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        for http in [Http::H1, Http::H2] {
            let client = build_client(server.builder(codec, http).use_get(true));
            let echo = within("GET echo", client.echo(probe()))
                .await
                .expect("GET call succeeds")
                .into_message();
            assert_eq!(echo.text, AWKWARD, "{codec:?} {http:?}");
            assert_eq!(echo.http_method, "GET");
            assert_eq!(echo.payload, vec![0, 0xff, b'&', b'=']);
            assert!(
                echo.headers.is_empty(),
                "a GET has no content-type, got {:?}",
                echo.headers
            );
            let post = within("POST echo", client.echo_post(probe()))
                .await
                .expect("POST call succeeds")
                .into_message();
            assert_eq!(post.text, AWKWARD);
            assert_eq!(post.http_method, "POST");
            assert_eq!(
                post.headers,
                vec![header(
                    "content-type",
                    &format!("application/{}", codec.name())
                )]
            );
        }
    }
}

/// The transport sees GET for `Echo` and POST for `EchoPost`, and POST for `Echo` without `use_get`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_sees_the_http_method() {
    let log = MethodLog::default();
    let builder = trident::Client::builder("http://in-memory.test")
        .transport(log.transport(router(TestService::new())));
    let client = build_client(configure_builder(builder, Codec::Json, Http::H2).use_get(true));
    within("calls", async {
        client.echo(probe()).await.expect("echo");
        client.echo_post(probe()).await.expect("echo post");
    })
    .await;
    assert_eq!(log.methods(), vec![http::Method::GET, http::Method::POST]);

    let log = MethodLog::default();
    let builder = trident::Client::builder("http://in-memory.test")
        .transport(log.transport(router(TestService::new())));
    let client = build_client(configure_builder(builder, Codec::Proto, Http::H2));
    within("call", client.echo(probe())).await.expect("echo");
    assert_eq!(log.methods(), vec![http::Method::POST]);
}

/// GET with a compressed message in the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_compressed_message() {
    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        let client = build_client(
            server
                .builder(codec, Http::H1)
                .use_get(true)
                .send_compression("gzip")
                .compress_min_bytes(0),
        );
        let request = EchoRequest {
            text: "z".repeat(5000),
            ..probe()
        };
        let echo = within("compressed GET", client.echo(request))
            .await
            .expect("compressed GET succeeds")
            .into_message();
        assert_eq!(echo.text.len(), 5000);
        assert!(echo.headers.is_empty(), "still a GET: {:?}", echo.headers);
        assert_eq!(echo.http_method, "GET");
    }
}

/// Errors come back from GET calls as from POST calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_errors_carry_code_and_details() {
    let server = TestServer::start().await;
    let client = build_client(server.builder(Codec::Json, Http::H2).use_get(true));
    let request = EchoRequest {
        error: Some(ErrorSpec {
            code: Code::NotFound as u32,
            message: "no such thing".into(),
            with_failure_info: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let error = within("GET error", client.echo(request))
        .await
        .expect_err("must fail");
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(error.message(), "no such thing");
    assert_eq!(error.details().len(), 1);
}

fn base64_url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A hand-built GET with a JSON message in the query, and one with base64 protobuf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_get_requests() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let json = Codec::Json.encode(&probe());
        let path = format!(
            "{ECHO_PATH}?connect=v1&encoding=json&message={}",
            percent_encode(&json)
        );
        let request = raw(http::Method::GET, server.addr, &path, http)
            .body(Bytes::new())
            .expect("valid request");
        let response = send_raw(server.addr, http, request).await;
        assert_eq!(response.status, http::StatusCode::OK, "{response:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let echo: trident_tests::EchoResponse = Codec::Json.decode(&response.body);
        assert_eq!(echo.text, AWKWARD);
        assert_eq!(echo.http_method, "GET");

        let proto = Codec::Proto.encode(&probe());
        let path = format!(
            "{ECHO_PATH}?connect=v1&encoding=proto&base64=1&message={}",
            base64_url(&proto)
        );
        let request = raw(http::Method::GET, server.addr, &path, http)
            .body(Bytes::new())
            .expect("valid request");
        let response = send_raw(server.addr, http, request).await;
        assert_eq!(response.status, http::StatusCode::OK, "{response:?}");
        assert_eq!(response.header("content-type"), Some("application/proto"));
        let echo: trident_tests::EchoResponse = Codec::Proto.decode(&response.body);
        assert_eq!(echo.text, AWKWARD);
        assert_eq!(echo.payload, vec![0, 0xff, b'&', b'=']);
    }
}

/// GET to a unary method without `NO_SIDE_EFFECTS` is 405, allowing POST only. A GET of a
/// server-streaming method is served only when it accepts server-sent events or JSON lines (see
/// `push.rs`): without, it is a request in no form the method serves (415).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_to_non_idempotent_method_is_405() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        for (path, status) in [
            (ECHO_POST_PATH, http::StatusCode::METHOD_NOT_ALLOWED),
            (REPEAT_PATH, http::StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ] {
            let json = Codec::Json.encode(&probe());
            let path = format!(
                "{path}?connect=v1&encoding=json&message={}",
                percent_encode(&json)
            );
            let request = raw(http::Method::GET, server.addr, &path, http)
                .body(Bytes::new())
                .expect("valid request");
            let response = send_raw(server.addr, http, request).await;
            assert_eq!(response.status, status, "{path}");
            if status == http::StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(response.header("allow"), Some("POST"));
            }
        }
    }
    assert_eq!(server.state().calls.get(), 0, "no handler may run");
}

/// Bad GET queries: missing encoding (invalid_argument, 400), unknown encoding (415), bad base64 (400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_get_queries() {
    let server = TestServer::start().await;
    let http = Http::H1;
    let cases = [
        ("?connect=v1&message=%7B%7D", 400, Some("invalid_argument")),
        ("?connect=v1&encoding=xml&message=x", 415, None),
        (
            "?connect=v1&encoding=proto&base64=1&message=!!!",
            400,
            Some("invalid_argument"),
        ),
        (
            "?connect=v1&encoding=json&message=%7Bnot",
            400,
            Some("invalid_argument"),
        ),
    ];
    for (query, status, code) in cases {
        let path = format!("{ECHO_PATH}{query}");
        let request = raw(http::Method::GET, server.addr, &path, http)
            .body(Bytes::new())
            .expect("valid request");
        let response = send_raw(server.addr, http, request).await;
        assert_eq!(response.status.as_u16(), status, "{query}: {response:?}");
        if let Some(code) = code {
            assert_eq!(response.error_code(), code, "{query}");
        }
    }
    // A good request still works afterwards.
    let client = server.client(Codec::Proto, Http::H1);
    within("echo", client.echo(Request::new(probe())))
        .await
        .expect("server still serves");
}

/// A GET whose `If-None-Match` names the entity tag the handler answers with gets 304 Not Modified with
/// the tag and no body; another tag, or a POST, gets the full answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_matching_if_none_match_is_304() {
    let server = TestServer::start().await;
    let request = EchoRequest {
        text: "cached".into(),
        response_headers: vec![
            header("etag", "\"rev-7\""),
            header("cache-control", "max-age=1"),
        ],
        ..Default::default()
    };
    let json = Codec::Json.encode(&request);
    let path = format!(
        "{ECHO_PATH}?connect=v1&encoding=json&message={}",
        percent_encode(&json)
    );
    for http in [Http::H1, Http::H2] {
        let get = |if_none_match: Option<&str>| {
            let mut builder = raw(http::Method::GET, server.addr, &path, http);
            if let Some(tags) = if_none_match {
                builder = builder.header("if-none-match", tags);
            }
            builder.body(Bytes::new()).expect("valid request")
        };
        let fresh = send_raw(server.addr, http, get(None)).await;
        assert_eq!(fresh.status, http::StatusCode::OK, "{fresh:?}");
        assert_eq!(fresh.header("etag"), Some("\"rev-7\""));

        for tags in ["\"rev-7\"", "\"rev-6\", W/\"rev-7\"", "*"] {
            let cached = send_raw(server.addr, http, get(Some(tags))).await;
            assert_eq!(
                cached.status,
                http::StatusCode::NOT_MODIFIED,
                "{tags}: {cached:?}"
            );
            assert!(cached.body.is_empty());
            assert_eq!(cached.header("etag"), Some("\"rev-7\""));
            assert_eq!(cached.header("cache-control"), Some("max-age=1"));
            assert_eq!(cached.header("content-type"), None);
        }

        let stale = send_raw(server.addr, http, get(Some("\"rev-6\""))).await;
        assert_eq!(stale.status, http::StatusCode::OK);
        let echo: trident_tests::EchoResponse = Codec::Json.decode(&stale.body);
        assert_eq!(echo.text, "cached");

        // Only GET is conditional: a POST with the same tag gets the answer.
        let post = raw(http::Method::POST, server.addr, ECHO_PATH, http)
            .header("content-type", "application/json")
            .header("if-none-match", "\"rev-7\"")
            .body(Bytes::from(json.clone()))
            .expect("valid request");
        let posted = send_raw(server.addr, http, post).await;
        assert_eq!(posted.status, http::StatusCode::OK, "{posted:?}");
    }
}
