//! The axum example's application, served by axum over a real socket: its plain routes and the mounted
//! Trident router answer side by side over HTTP/1.1 and h2c, and the router's interceptor guards every
//! RPC (for Connect, gRPC and gRPC-Web callers) without touching axum's routes.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use trident::{Client, Code, HttpVersion, ProtocolKind, Request};
use trident_examples::axum_app::{TOKEN, app};
use trident_examples::greet::{GreetRequest, GreetServiceClient, ShoutRequest, SumRequest};

const LIMIT: Duration = Duration::from_secs(20);

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app()).await.expect("serving") });
    format!("http://{addr}")
}

async fn get(url: &str, http2: bool) -> (http::StatusCode, http::Version, String) {
    let client = HyperClient::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http::<Empty<Bytes>>();
    let response = tokio::time::timeout(LIMIT, client.get(url.parse().expect("a URL")))
        .await
        .expect("in time")
        .expect("a response");
    let (status, version) = (response.status(), response.version());
    let body = response.into_body().collect().await.expect("a body");
    let text = String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8");
    (status, version, text)
}

fn signed<T>(message: T) -> Request<T> {
    Request::new(message)
        .with_header("authorization", &format!("Bearer {TOKEN}"))
        .expect("a valid header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_and_the_trident_router_share_one_port() {
    let url = serve().await;
    for http2 in [false, true] {
        let (status, version, text) = get(&format!("{url}/healthz"), http2).await;
        assert_eq!((status, text.as_str()), (http::StatusCode::OK, "ok"));
        let expected = if http2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        assert_eq!(version, expected);
        let (status, _, _) = get(&format!("{url}/no/such/path"), http2).await;
        assert_eq!(status, http::StatusCode::NOT_FOUND, "the router's own 404");
    }

    let cases = [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::CONNECT, HttpVersion::Http2),
        (ProtocolKind::GRPC, HttpVersion::Http2),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
    ];
    for (protocol, http) in cases {
        let case = format!("{protocol} over {http:?}");
        let client = GreetServiceClient::new(
            Client::builder(&url)
                .protocol(protocol)
                .http_version(http)
                .build()
                .expect("client"),
        );
        let greeting = tokio::time::timeout(
            LIMIT,
            client.greet(signed(GreetRequest {
                name: "axum".into(),
            })),
        )
        .await
        .expect("in time")
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(greeting.message().greeting, "Hello, axum!", "{case}");

        let refused = tokio::time::timeout(
            LIMIT,
            client.greet(GreetRequest {
                name: "axum".into(),
            }),
        )
        .await
        .expect("in time")
        .expect_err("no token");
        assert_eq!(refused.code(), Code::Unauthenticated, "{case}: {refused}");

        let mut sum = client.sum(signed(()));
        for number in [1, 2, 3] {
            sum.send(SumRequest { number }).await.expect("sent");
        }
        let total = tokio::time::timeout(LIMIT, sum.close_and_receive())
            .await
            .expect("in time")
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(total.message().total, 6, "{case}");

        if http == HttpVersion::Http2 {
            let mut shout = client.shout(signed(()));
            shout
                .send(ShoutRequest { line: "hey".into() })
                .await
                .expect("sent");
            let line = tokio::time::timeout(LIMIT, shout.message())
                .await
                .expect("in time")
                .expect("a message")
                .expect("one line");
            assert_eq!(line.line, "HEY", "{case}");
        }
    }
}
