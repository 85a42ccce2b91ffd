//! Message size limits: exactly at the limit passes, one byte over is `resource_exhausted`, for what the
//! server receives and what the client receives, uncompressed and gzip-compressed (including compression
//! bombs: small gzip bodies expanding past the limit).

use bytes::Bytes;
use trident::{Code, Error, compression::CompressionRegistry};
use trident_tests::{
    Codec, EchoRequest, Http, TestServer, build_client, envelope, gzip, raw_unary, sized_request,
    text, text_for_stream_response, within,
};

/// The limit every test sets.
const LIMIT: usize = 2000;

fn assert_exhausted<T: std::fmt::Debug>(result: Result<T, Error>, context: &str) {
    let error = result.expect_err(context);
    assert_eq!(
        error.code(),
        Code::ResourceExhausted,
        "{context}: {error:?}"
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

/// Server receive limit, every stream type; `compressed` makes the client gzip everything it sends.
async fn server_receive(compressed: bool) {
    let server = TestServer::start_with(|r| r.read_max_bytes(LIMIT)).await;
    for (codec, http) in combos() {
        let mut builder = server.builder(codec, http);
        if compressed {
            builder = builder.send_compression("gzip").compress_min_bytes(0);
        }
        let client = build_client(builder);
        let at = sized_request(codec, LIMIT);
        let over = sized_request(codec, LIMIT + 1);
        let ctx = format!("{codec:?} {http:?} compressed={compressed}");

        let ok = within("unary at limit", client.echo_post(at.clone())).await;
        assert_eq!(ok.expect(&ctx).message().text, at.text);
        assert_exhausted(
            within("unary over", client.echo_post(over.clone())).await,
            &ctx,
        );

        let ok = within("server stream at limit", async {
            let mut call = client
                .repeat(EchoRequest {
                    repeat: 0,
                    ..at.clone()
                })
                .await?;
            call.message().await
        })
        .await;
        assert!(ok.expect(&ctx).is_none());
        let over_result = within("server stream over", async {
            let mut call = client.repeat(over.clone()).await?;
            call.message().await
        })
        .await;
        assert_exhausted(over_result, &ctx);

        let ok = within("client stream at limit", async {
            let mut call = client.collect(());
            call.send(at.clone()).await?;
            call.send(at.clone()).await?;
            call.close_and_receive().await
        })
        .await;
        assert_eq!(ok.expect(&ctx).message().received, 2);
        let over_result = within("client stream over", async {
            let mut call = client.collect(());
            call.send(at.clone()).await?;
            // The server may fail the call before this send completes.
            let _ = call.send(over.clone()).await;
            call.close_and_receive().await
        })
        .await;
        assert_exhausted(over_result, &ctx);

        if http == Http::H2 {
            let ok = within("bidi at limit", async {
                let mut call = client.chat(());
                call.send(at.clone()).await?;
                call.message().await
            })
            .await;
            assert!(ok.expect(&ctx).is_some());
            let over_result = within("bidi over", async {
                let mut call = client.chat(());
                call.send(over.clone()).await?;
                call.message().await
            })
            .await;
            assert_exhausted(over_result, &ctx);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_receive_limit() {
    server_receive(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_receive_limit_gzip() {
    server_receive(true).await;
}

/// Client receive limit, every stream type; `compressed` makes the server gzip every response.
async fn client_receive(compressed: bool) {
    let min = if compressed { 0 } else { usize::MAX };
    let server = TestServer::start_with(|r| r.compress_min_bytes(min)).await;
    for (codec, http) in combos() {
        let client = build_client(server.builder(codec, http).read_max_bytes(LIMIT));
        let at = sized_request(codec, LIMIT);
        let over = sized_request(codec, LIMIT + 1);
        let ctx = format!("{codec:?} {http:?} compressed={compressed}");

        let ok = within("unary at limit", client.echo(at.clone()))
            .await
            .expect(&ctx);
        assert_eq!(ok.message().text, at.text);
        assert_eq!(
            ok.headers().get("content-encoding"),
            compressed.then_some("gzip"),
            "{ctx}"
        );
        assert_exhausted(within("unary over", client.echo(over.clone())).await, &ctx);

        let ok = within("server stream at limit", async {
            let mut call = client
                .repeat(EchoRequest {
                    repeat: 1,
                    ..at.clone()
                })
                .await?;
            call.message().await
        })
        .await;
        assert_eq!(ok.expect(&ctx).expect("one message").text, at.text);
        let over_result = within("server stream over", async {
            let mut call = client
                .repeat(EchoRequest {
                    repeat: 1,
                    ..over.clone()
                })
                .await?;
            call.message().await
        })
        .await;
        assert_exhausted(over_result, &ctx);

        // Collect and Chat answer with `received = 1` besides the text.
        let at_text = text_for_stream_response(codec, LIMIT);
        let over_text = text_for_stream_response(codec, LIMIT + 1);
        let ok = within("client stream at limit", async {
            let mut call = client.collect(());
            call.send(text(&at_text)).await?;
            call.close_and_receive().await
        })
        .await;
        assert_eq!(ok.expect(&ctx).message().text, at_text);
        let over_result = within("client stream over", async {
            let mut call = client.collect(());
            call.send(text(&over_text)).await?;
            call.close_and_receive().await
        })
        .await;
        assert_exhausted(over_result, &ctx);

        if http == Http::H2 {
            let ok = within("bidi at limit", async {
                let mut call = client.chat(());
                call.send(text(&at_text)).await?;
                call.message().await
            })
            .await;
            assert_eq!(ok.expect(&ctx).expect("echo").text, at_text);
            let over_result = within("bidi over", async {
                let mut call = client.chat(());
                call.send(text(&over_text)).await?;
                call.message().await
            })
            .await;
            assert_exhausted(over_result, &ctx);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_receive_limit() {
    client_receive(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_receive_limit_gzip() {
    client_receive(true).await;
}

/// Send limits: the client refuses to send more than its limit (nothing reaches the server); the server
/// refuses to send more than its limit (the client gets `resource_exhausted`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_limits() {
    let server = TestServer::start_with(|r| r.send_max_bytes(LIMIT)).await;
    for (codec, http) in combos() {
        let ctx = format!("{codec:?} {http:?}");
        let at = sized_request(codec, LIMIT);
        let over = sized_request(codec, LIMIT + 1);

        // Server send limit.
        let client = server.client(codec, http);
        within("at", client.echo(at.clone())).await.expect(&ctx);
        assert_exhausted(within("over", client.echo(over.clone())).await, &ctx);
        let over_result = within("stream over", async {
            let mut call = client
                .repeat(EchoRequest {
                    repeat: 1,
                    ..over.clone()
                })
                .await?;
            call.message().await
        })
        .await;
        assert_exhausted(over_result, &ctx);

        // Client send limit.
        let client = build_client(server.builder(codec, http).send_max_bytes(LIMIT));
        let calls = server.state().calls.get();
        within("at", client.echo(at.clone())).await.expect(&ctx);
        assert_exhausted(within("over", client.echo(over.clone())).await, &ctx);
        let mut call = client.collect(());
        assert_exhausted(within("send over", call.send(over.clone())).await, &ctx);
        assert_eq!(
            server.state().calls.get(),
            calls + 1,
            "{ctx}: only the call within the limit reached the server"
        );
    }
}

/// A gzip bomb sent to the server: a compressed request smaller than the limit that expands far past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_bomb_to_server() {
    let server = TestServer::start_with(|r| r.read_max_bytes(LIMIT)).await;
    let bomb = gzip(&Codec::Proto.encode(&text(&"x".repeat(1024 * 1024))));
    assert!(
        bomb.len() < LIMIT,
        "the bomb is under the limit: {}",
        bomb.len()
    );
    for http in [Http::H1, Http::H2] {
        // Unary: the whole body is the compressed message.
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/EchoPost",
            "application/proto",
            &[("content-encoding", "gzip")],
            Bytes::from(bomb.clone()),
        )
        .await;
        assert_eq!(response.status.as_u16(), 429, "{response:?}");
        assert_eq!(response.error_code(), "resource_exhausted");

        // Streaming: one compressed envelope.
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/Collect",
            "application/connect+proto",
            &[("connect-content-encoding", "gzip")],
            envelope(1, &bomb),
        )
        .await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.end_stream_code(), "resource_exhausted");
    }
}

/// A bigger bomb (16 MiB expanded) against a 64 KiB limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_compression_bomb_to_server() {
    let server = TestServer::start_with(|r| r.read_max_bytes(64 * 1024)).await;
    let bomb = gzip(&Codec::Proto.encode(&text(&"x".repeat(16 * 1024 * 1024))));
    assert!(bomb.len() < 64 * 1024, "the bomb is small: {}", bomb.len());
    for http in [Http::H1, Http::H2] {
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/EchoPost",
            "application/proto",
            &[("content-encoding", "gzip")],
            Bytes::from(bomb.clone()),
        )
        .await;
        assert_eq!(response.status.as_u16(), 429, "{response:?}");
        assert_eq!(response.error_code(), "resource_exhausted");
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/Repeat",
            "application/connect+proto",
            &[("connect-content-encoding", "gzip")],
            envelope(1, &bomb),
        )
        .await;
        assert_eq!(response.end_stream_code(), "resource_exhausted");
    }
}

/// A gzip bomb received by the client: the server compresses a huge, repetitive response to a few
/// hundred bytes; the client refuses it by its decompressed size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_bomb_to_client() {
    let server = TestServer::start_with(|r| r.compress_min_bytes(0)).await;
    let huge = text(&"x".repeat(1024 * 1024));
    for (codec, http) in combos() {
        let ctx = format!("{codec:?} {http:?}");
        let client = build_client(
            server
                .builder(codec, http)
                .read_max_bytes(LIMIT)
                .send_compression("gzip")
                .compress_min_bytes(0),
        );
        assert_exhausted(within("unary", client.echo(huge.clone())).await, &ctx);
        let result = within("stream", async {
            let mut call = client
                .repeat(EchoRequest {
                    repeat: 1,
                    ..huge.clone()
                })
                .await?;
            call.message().await
        })
        .await;
        assert_exhausted(result, &ctx);
    }
}

/// Without gzip in the client's registry the server does not compress, and the limit still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_without_compression_support() {
    let server = TestServer::start_with(|r| r.compress_min_bytes(0)).await;
    let client = build_client(
        server
            .builder(Codec::Proto, Http::H2)
            .compression(CompressionRegistry::empty())
            .read_max_bytes(LIMIT),
    );
    let at = sized_request(Codec::Proto, LIMIT);
    let ok = within("at", client.echo(at)).await.expect("at the limit");
    assert_eq!(ok.headers().get("content-encoding"), None);
    assert_exhausted(
        within("over", client.echo(sized_request(Codec::Proto, LIMIT + 1))).await,
        "over",
    );
}
