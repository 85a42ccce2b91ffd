//! CORS through tower-http's `CorsLayer` as `trident::cors` sets it up, over real loopback servers, with
//! raw requests as a browser would send them: preflights from allowed and other origins, the headers on
//! actual Connect and gRPC-Web responses (success, error, GET), any-origin mode, credentials, and
//! `OPTIONS` requests that are no preflight.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use tower::Layer as _;
use trident::cors::{AllowOrigin, CorsLayer};
use trident::{codec::Codec as _, codec::ProtoCodec};
use trident_tests::{
    Codec, EchoRequest, EchoResponse, ErrorSpec, Http, RawResponse, TestServer, envelope, raw,
    raw_unary, send_raw, text, within,
};

const ECHO_PATH: &str = "/trident.test.v1.EchoService/Echo";
const ECHO_POST_PATH: &str = "/trident.test.v1.EchoService/EchoPost";
const REPEAT_PATH: &str = "/trident.test.v1.EchoService/Repeat";

const APP: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example";

/// What a Connect-Web client's preflight asks for.
const CONNECT_HEADERS: &str = "connect-protocol-version,connect-timeout-ms,content-type";
/// What a gRPC-Web client's preflight asks for.
const GRPC_WEB_HEADERS: &str = "content-type,grpc-timeout,x-grpc-web,x-user-agent";

const BOTH: [Http; 2] = [Http::H1, Http::H2];

/// CORS for one origin, with one custom request header and one custom response header.
fn app_cors() -> CorsLayer {
    let allowed: Vec<HeaderName> = trident::cors::allow_headers()
        .into_iter()
        .chain([HeaderName::from_static("x-tenant")])
        .collect();
    let exposed: Vec<HeaderName> = trident::cors::expose_headers()
        .into_iter()
        .chain([HeaderName::from_static("x-request-id")])
        .collect();
    trident::cors::layer()
        .allow_origin(AllowOrigin::list([HeaderValue::from_static(APP)]))
        .allow_headers(allowed)
        .expose_headers(exposed)
}

async fn serve(cors: CorsLayer) -> TestServer {
    TestServer::start_wrapped(|router| cors.layer(router)).await
}

/// The comma-separated names of header `name`, trimmed and lowercased.
fn listed(response: &RawResponse, name: &str) -> Vec<String> {
    response
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Sends a preflight for `method` on `path` from `origin`, asking for `headers`.
async fn preflight(
    addr: SocketAddr,
    http: Http,
    path: &str,
    origin: &str,
    headers: &str,
) -> RawResponse {
    let request = raw(http::Method::OPTIONS, addr, path, http)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .body(Bytes::new())
        .expect("valid request");
    send_raw(addr, http, request).await
}

/// The `access-control-*` headers of a response.
fn cors_headers(response: &RawResponse) -> Vec<String> {
    response
        .headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// Whether `Vary` names `origin`.
fn varies_by_origin(response: &RawResponse) -> bool {
    response
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

/// A raw Connect unary JSON call to `path` from `origin` (none if empty).
async fn connect_call(
    addr: SocketAddr,
    http: Http,
    path: &str,
    origin: &str,
    body: &str,
) -> RawResponse {
    let extra: &[(&str, &str)] = if origin.is_empty() {
        &[]
    } else {
        &[("origin", origin)]
    };
    raw_unary(
        addr,
        http,
        path,
        "application/json",
        extra,
        body.to_string(),
    )
    .await
}

/// Checks the headers an allowed origin's actual response carries.
fn assert_actual_cors(response: &RawResponse, origin: &str, credentials: bool) {
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(origin),
        "{:?}",
        response.headers
    );
    let exposed = response
        .header("access-control-expose-headers")
        .expect("exposed headers");
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "connect-content-encoding",
        "content-encoding",
    ] {
        assert!(exposed.contains(name), "{name} not in {exposed:?}");
    }
    assert_eq!(
        response.header("access-control-allow-credentials"),
        credentials.then_some("true")
    );
    assert!(varies_by_origin(response), "{:?}", response.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_from_allowed_origin() {
    let server = serve(app_cors()).await;
    for http in BOTH {
        for (path, headers) in [
            (ECHO_PATH, CONNECT_HEADERS),
            (REPEAT_PATH, GRPC_WEB_HEADERS),
            (ECHO_POST_PATH, "content-type,x-tenant"),
        ] {
            let response = preflight(server.addr, http, path, APP, headers).await;
            assert!(response.status.is_success(), "{http:?} {}", response.status);
            assert_eq!(response.header("access-control-allow-origin"), Some(APP));
            assert_eq!(
                listed(&response, "access-control-allow-methods"),
                ["get", "post", "put", "patch", "delete"]
            );
            let allowed = listed(&response, "access-control-allow-headers");
            for name in headers.split(',') {
                assert!(allowed.iter().any(|a| a == name), "{name} in {allowed:?}");
            }
            assert_eq!(response.header("access-control-max-age"), Some("7200"));
            assert_eq!(response.header("access-control-allow-credentials"), None);
            assert!(varies_by_origin(&response));
            assert!(response.body.is_empty());
        }
    }
    assert_eq!(
        server.state().calls.get(),
        0,
        "preflights never reach handlers"
    );
}

/// Requested headers that are not allowed are not listed, so the browser refuses to send them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_leaves_out_headers_not_allowed() {
    let server = serve(app_cors()).await;
    let response = preflight(
        server.addr,
        Http::H1,
        ECHO_PATH,
        APP,
        "content-type,x-secret,X-Tenant",
    )
    .await;
    assert!(response.status.is_success());
    let allowed = listed(&response, "access-control-allow-headers");
    assert!(allowed.iter().any(|a| a == "x-tenant"), "{allowed:?}");
    assert!(allowed.iter().any(|a| a == "content-type"), "{allowed:?}");
    assert!(!allowed.iter().any(|a| a == "x-secret"), "{allowed:?}");
}

/// Other origins' preflights are answered without `Access-Control-Allow-Origin`, so the browser
/// refuses to send the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_from_other_origin_is_not_allowed() {
    let server = serve(app_cors()).await;
    for http in BOTH {
        for origin in [OTHER, "https://app.example.com.evil.example", "null"] {
            let response = preflight(server.addr, http, ECHO_PATH, origin, CONNECT_HEADERS).await;
            assert_eq!(
                response.header("access-control-allow-origin"),
                None,
                "{origin}"
            );
            assert_eq!(response.header("access-control-allow-credentials"), None);
            assert!(varies_by_origin(&response));
        }
    }
    assert_eq!(server.state().calls.get(), 0);
}

/// The layer answers every `OPTIONS` request itself, preflight or not (tower-http's rule), so none
/// reaches a handler; without the layer the router answers `OPTIONS` as always (`405` with `Allow`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_requests_are_the_layers_or_the_routers() {
    let server = serve(app_cors()).await;
    // OPTIONS with an origin but no Access-Control-Request-Method is no preflight.
    let request = raw(http::Method::OPTIONS, server.addr, ECHO_PATH, Http::H1)
        .header("origin", APP)
        .body(Bytes::new())
        .expect("valid request");
    let response = send_raw(server.addr, Http::H1, request).await;
    assert!(response.status.is_success(), "{}", response.status);
    assert_eq!(response.header("access-control-allow-origin"), Some(APP));
    assert_eq!(server.state().calls.get(), 0);

    let plain = TestServer::start().await;
    for http in BOTH {
        let response = preflight(plain.addr, http, ECHO_PATH, APP, CONNECT_HEADERS).await;
        assert_eq!(response.status, http::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.header("allow"), Some("GET, POST"));
        assert_eq!(cors_headers(&response), Vec::<String>::new());
        assert!(!varies_by_origin(&response));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_responses_carry_cors_headers() {
    let server = serve(app_cors()).await;
    for http in BOTH {
        // Success, with custom response metadata the page may read.
        let body = r#"{"text":"hi","responseHeaders":[{"name":"x-request-id","value":"7"}]}"#;
        let response = connect_call(server.addr, http, ECHO_PATH, APP, body).await;
        assert_eq!(response.status, http::StatusCode::OK, "{:?}", response.body);
        assert_eq!(response.json()["text"], "hi");
        assert_actual_cors(&response, APP, false);
        assert!(
            listed(&response, "access-control-expose-headers").contains(&"x-request-id".into()),
            "{:?}",
            response.headers
        );

        // A Connect error: the page must see the status and body too.
        let body = r#"{"error":{"code":5,"message":"nope"}}"#;
        let response = connect_call(server.addr, http, ECHO_POST_PATH, APP, body).await;
        assert_eq!(response.status, http::StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), "not_found");
        assert_actual_cors(&response, APP, false);

        // GET (Echo has no side effects), e.g. from a cached fetch.
        let path =
            format!("{ECHO_PATH}?connect=v1&encoding=json&message=%7B%22text%22%3A%22g%22%7D");
        let request = raw(http::Method::GET, server.addr, &path, http)
            .header("origin", APP)
            .body(Bytes::new())
            .expect("valid request");
        let response = send_raw(server.addr, http, request).await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.json()["text"], "g");
        assert_actual_cors(&response, APP, false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_responses_carry_cors_headers() {
    let server = serve(app_cors()).await;
    let message = EchoRequest {
        repeat: 2,
        ..text("web")
    };
    let body = envelope(0, &Codec::Proto.encode(&message));
    for http in BOTH {
        let request = raw(http::Method::POST, server.addr, REPEAT_PATH, http)
            .header("origin", APP)
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(Bytes::from(body.clone()))
            .expect("valid request");
        let response = send_raw(server.addr, http, request).await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_actual_cors(&response, APP, false);
        let envelopes = response.envelopes();
        assert_eq!(envelopes.len(), 3, "two messages and the trailers");
        let mut first = EchoResponse::default();
        ProtoCodec
            .decode(envelopes[0].1.clone(), &mut first)
            .expect("a message");
        assert_eq!(first.text, "web");
        assert_eq!(envelopes[2].0, 0x80, "a trailers frame");
        assert_eq!(&envelopes[2].1[..], b"grpc-status: 0\r\n");
    }
}

/// The server still answers other origins (it cannot stop them), but without CORS headers, so the
/// browser hides the answer from the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_to_other_origins_have_no_cors_headers() {
    let server = serve(app_cors()).await;
    for http in BOTH {
        for origin in [OTHER, ""] {
            let response =
                connect_call(server.addr, http, ECHO_PATH, origin, r#"{"text":"x"}"#).await;
            assert_eq!(response.status, http::StatusCode::OK);
            assert_eq!(
                response.header("access-control-allow-origin"),
                None,
                "{origin:?}"
            );
            assert!(varies_by_origin(&response));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_mode() {
    let server = serve(trident::cors::permissive()).await;
    for http in BOTH {
        let origin = "https://anyone.example:8443";
        let response = preflight(
            server.addr,
            http,
            ECHO_PATH,
            origin,
            "content-type,x-anything",
        )
        .await;
        assert!(response.status.is_success());
        assert_eq!(response.header("access-control-allow-origin"), Some(origin));
        assert_eq!(
            listed(&response, "access-control-allow-headers"),
            ["content-type", "x-anything"]
        );
        let response = connect_call(server.addr, http, ECHO_PATH, origin, r#"{"text":"x"}"#).await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_actual_cors(&response, origin, false);
    }

    // Any origin, but only the protocols' request headers.
    let server = serve(trident::cors::layer().allow_origin(AllowOrigin::mirror_request())).await;
    let response = preflight(
        server.addr,
        Http::H1,
        ECHO_PATH,
        OTHER,
        "content-type,x-anything",
    )
    .await;
    assert_eq!(response.header("access-control-allow-origin"), Some(OTHER));
    let allowed = listed(&response, "access-control-allow-headers");
    assert!(allowed.iter().any(|a| a == "content-type"), "{allowed:?}");
    assert!(!allowed.iter().any(|a| a == "x-anything"), "{allowed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_max_age() {
    let server = serve(
        app_cors()
            .allow_credentials(true)
            .max_age(Duration::from_secs(600)),
    )
    .await;
    for http in BOTH {
        let response = preflight(server.addr, http, ECHO_PATH, APP, CONNECT_HEADERS).await;
        assert!(response.status.is_success());
        assert_eq!(response.header("access-control-allow-origin"), Some(APP));
        assert_eq!(
            response.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(response.header("access-control-max-age"), Some("600"));

        let response = connect_call(server.addr, http, ECHO_PATH, APP, r#"{"text":"c"}"#).await;
        assert_actual_cors(&response, APP, true);

        // Other origins are not allowed.
        let response = connect_call(server.addr, http, ECHO_PATH, OTHER, r#"{"text":"c"}"#).await;
        assert_eq!(response.header("access-control-allow-origin"), None);
    }
}

/// Trident's own client (which sends no `Origin`) is unaffected by CORS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_origin_are_unaffected() {
    let server = serve(trident::cors::permissive()).await;
    for http in BOTH {
        let client = server.client(Codec::Json, http);
        let reply = within("echo", client.echo(text("plain")))
            .await
            .expect("call succeeds");
        assert_eq!(reply.message().text, "plain");
        let error = within(
            "echo error",
            client.echo_post(EchoRequest {
                error: Some(ErrorSpec {
                    code: 9,
                    message: "no".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        )
        .await
        .expect_err("call fails");
        assert_eq!(error.code(), trident::Code::FailedPrecondition);
    }
}
