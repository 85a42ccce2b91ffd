//! `trident::server::error_response` from tower middleware in front of the router: an authentication layer that
//! rejects calls without a token answers each protocol in its own form, so every client reads the code,
//! message and headers (where a plain `401 text/plain` would break gRPC clients).

use std::convert::Infallible;

use tokio::net::TcpListener;
use tower::ServiceExt as _;
use trident::{Body, Client, Code, Error, HttpVersion, ProtocolKind, Request, Server};
use trident_tests::{EchoServiceClient, TestService, router, text, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_rejections_reach_every_client_as_rpc_errors() {
    let router = router(TestService::new());
    let authenticated = tower::service_fn(move |request: http::Request<Body>| {
        let router = router.clone();
        async move {
            if request.headers().contains_key("authorization") {
                return router.oneshot(request).await;
            }
            let mut error = Error::new(Code::Unauthenticated, "a token is required");
            error
                .headers_mut()
                .insert("www-authenticate", "Bearer")
                .expect("a valid header");
            Ok::<_, Infallible>(trident::server::error_response(&request, &error))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(Server::new().serve(listener, authenticated).into_future());

    let cases = [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::CONNECT, HttpVersion::Http2),
        (ProtocolKind::GRPC, HttpVersion::Http2),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
    ];
    for (protocol, http) in cases {
        let case = format!("{protocol} over {http:?}");
        let client = EchoServiceClient::new(
            Client::builder(format!("http://{addr}"))
                .protocol(protocol)
                .http_version(http)
                .build()
                .expect("client"),
        );

        // Unary: refused without a token, served with one.
        let refused = within(&case, client.echo(text("no token")))
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::Unauthenticated, "{case}: {refused}");
        assert_eq!(refused.message(), "a token is required", "{case}");
        assert_eq!(
            refused.headers().get("www-authenticate"),
            Some("Bearer"),
            "{case}: the error's headers go out with it"
        );
        let request = Request::new(text("token"))
            .with_header("authorization", "Bearer t")
            .expect("a valid header");
        let reply = within(&case, client.echo(request))
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(reply.message().text, "token", "{case}");

        // A stream: Connect answers with its end-stream form, gRPC and gRPC-Web trailers-only.
        let refused = match within(&case, client.repeat(text("no token"))).await {
            Err(error) => error,
            Ok(mut messages) => within(&case, messages.message())
                .await
                .expect_err("the stream is refused"),
        };
        assert_eq!(refused.code(), Code::Unauthenticated, "{case}: {refused}");
    }

    // An `EventSource`'s GET gets the error as its last event, with status 200 (the only status whose
    // body an `EventSource` reads); `curl -N` asking for JSON lines, the code's status and a line.
    let events = trident::server::error_response(
        &http::Request::get("/trident.test.v1.EchoService/Repeat")
            .header("accept", "text/event-stream")
            .body(())
            .expect("a request"),
        &Error::new(Code::Unauthenticated, "a token is required"),
    );
    assert_eq!(events.status(), http::StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let lines = trident::server::error_response(
        &http::Request::get("/trident.test.v1.EchoService/Repeat")
            .header("accept", "application/x-ndjson")
            .body(())
            .expect("a request"),
        &Error::new(Code::Unauthenticated, "a token is required"),
    );
    assert_eq!(lines.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(lines.headers()["content-type"], "application/x-ndjson");

    // A request of no protocol gets Connect's unary form: the code's HTTP status and JSON.
    let plain = trident::server::error_response(
        &http::Request::get("/anything").body(()).expect("a request"),
        &Error::new(Code::Unauthenticated, "a token is required"),
    );
    assert_eq!(plain.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(plain.headers()["content-type"], "application/json");
    server.abort();
}
