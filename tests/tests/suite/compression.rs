//! gzip round trips: the client compressing what it sends, the server compressing its responses, the
//! size threshold below which nothing is compressed, and encodings one side does not support.

use bytes::Bytes;
use trident::{Code, Request, compression::CompressionRegistry};
use trident_tests::{
    Codec, EchoRequest, Http, TestServer, build_client, envelope, gunzip, gzip, raw_unary, text,
    within,
};

fn combos() -> Vec<(Codec, Http)> {
    vec![
        (Codec::Proto, Http::H1),
        (Codec::Proto, Http::H2),
        (Codec::Json, Http::H1),
        (Codec::Json, Http::H2),
    ]
}

/// A large, compressible request that asks for the given headers to be echoed.
fn big(echo: &str) -> EchoRequest {
    EchoRequest {
        text: "compress me ".repeat(500),
        payload: vec![42; 4096],
        echo_headers: vec![echo.into()],
        repeat: 2,
        ..Default::default()
    }
}

fn echoed(headers: &[trident_tests::Header]) -> Vec<&str> {
    headers.iter().map(|h| h.value.as_str()).collect()
}

/// The client gzips requests of every stream type; the handler sees the encoding header and the
/// original message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_send_compression() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let ctx = format!("{codec:?} {http:?}");
        let client = build_client(server.builder(codec, http).send_compression("gzip"));

        let echo = within("unary", client.echo(big("content-encoding")))
            .await
            .expect(&ctx)
            .into_message();
        assert_eq!(echoed(&echo.headers), vec!["gzip"], "{ctx}");
        assert_eq!(echo.text, big("").text);
        assert_eq!(echo.payload, vec![42; 4096]);

        let messages = within("server stream", async {
            let mut call = client.repeat(big("connect-content-encoding")).await?;
            let mut out = Vec::new();
            while let Some(m) = call.message().await? {
                out.push(m);
            }
            Ok::<_, trident::Error>(out)
        })
        .await
        .expect(&ctx);
        assert_eq!(messages.len(), 2);
        assert_eq!(echoed(&messages[0].headers), vec!["gzip"], "{ctx}");
        assert_eq!(messages[1].text, big("").text);

        let echo = within("client stream", async {
            let mut call = client.collect(());
            call.send(big("connect-content-encoding")).await?;
            call.send(big("")).await?;
            call.close_and_receive().await
        })
        .await
        .expect(&ctx)
        .into_message();
        assert_eq!(echo.received, 2);
        assert_eq!(echoed(&echo.headers), vec!["gzip"], "{ctx}");

        if http == Http::H2 {
            let echo = within("bidi", async {
                let mut call = client.chat(());
                call.send(big("connect-content-encoding")).await?;
                call.message().await
            })
            .await
            .expect(&ctx)
            .expect("echo");
            assert_eq!(echoed(&echo.headers), vec!["gzip"], "{ctx}");
            assert_eq!(echo.payload, vec![42; 4096]);
        }
    }
}

/// The server gzips responses for clients that accept gzip (all Trident clients by default), above its
/// threshold; the client decodes them transparently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_response_compression() {
    let server = TestServer::start().await;
    for (codec, http) in combos() {
        let ctx = format!("{codec:?} {http:?}");
        let client = server.client(codec, http);

        let response = within("unary", client.echo(big("accept-encoding")))
            .await
            .expect(&ctx);
        assert_eq!(
            response.headers().get("content-encoding"),
            Some("gzip"),
            "{ctx}"
        );
        let accepted = echoed(&response.message().headers);
        assert!(accepted[0].contains("gzip"), "{ctx}: {accepted:?}");
        assert_eq!(response.message().text, big("").text);

        within("server stream", async {
            let mut call = client.repeat(big("connect-accept-encoding")).await?;
            assert_eq!(
                call.headers().get("connect-content-encoding"),
                Some("gzip"),
                "{ctx}"
            );
            let first = call.message().await?.expect("message");
            let accepted = echoed(&first.headers);
            assert!(accepted[0].contains("gzip"), "{ctx}: {accepted:?}");
            assert_eq!(first.payload, vec![42; 4096]);
            Ok::<_, trident::Error>(())
        })
        .await
        .expect(&ctx);

        // Small responses stay uncompressed (default threshold 1 KiB).
        let response = within("small unary", client.echo(text("tiny")))
            .await
            .expect(&ctx);
        assert_eq!(response.headers().get("content-encoding"), None, "{ctx}");
    }
}

/// Compression both ways at once, with thresholds of zero on both sides, for every stream type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_directions_compressed() {
    let server = TestServer::start_with(|r| r.compress_min_bytes(0)).await;
    for (codec, http) in combos() {
        let client = build_client(
            server
                .builder(codec, http)
                .send_compression("gzip")
                .compress_min_bytes(0),
        );
        trident_tests::scenarios::unary(&client, version(http)).await;
        trident_tests::scenarios::server_stream(&client, version(http)).await;
        trident_tests::scenarios::client_stream(&client, version(http)).await;
        if http == Http::H2 {
            trident_tests::scenarios::bidi(&client, version(http)).await;
        }
    }
}

fn version(http: Http) -> http::Version {
    match http {
        Http::H1 => http::Version::HTTP_11,
        Http::H2 => http::Version::HTTP_2,
    }
}

/// The client's threshold: messages under `compress_min_bytes` go uncompressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_threshold() {
    let server = TestServer::start().await;
    let client = build_client(
        server
            .builder(Codec::Proto, Http::H1)
            .send_compression("gzip")
            .compress_min_bytes(1000),
    );
    let small = EchoRequest {
        echo_headers: vec!["content-encoding".into()],
        ..text("small")
    };
    let echo = within("small", client.echo(small)).await.expect("small");
    assert!(echo.message().headers.is_empty(), "{:?}", echo.message());
    let echo = within("big", client.echo(big("content-encoding")))
        .await
        .expect("big");
    assert_eq!(echoed(&echo.message().headers), vec!["gzip"]);
}

/// A client without gzip support: the server answers uncompressed even above its threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_gzip_gets_identity() {
    let server = TestServer::start_with(|r| r.compress_min_bytes(0)).await;
    for http in [Http::H1, Http::H2] {
        let client = build_client(
            server
                .builder(Codec::Proto, http)
                .compression(CompressionRegistry::empty()),
        );
        let response = within("unary", client.echo(big("accept-encoding")))
            .await
            .expect("unary");
        assert_eq!(response.headers().get("content-encoding"), None);
        assert_eq!(echoed(&response.message().headers), vec!["identity"]);
        within("stream", async {
            let mut call = client.repeat(big("")).await?;
            assert_eq!(call.headers().get("connect-content-encoding"), None);
            call.message().await
        })
        .await
        .expect("stream");
    }
}

/// A client asked to send an encoding it does not know fails to build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_send_compression_fails_to_build() {
    let error = trident::Client::builder("http://127.0.0.1:1")
        .send_compression("bogus-encoding")
        .build()
        .expect_err("bogus-encoding is not registered");
    assert!(
        error.message().contains("\"bogus-encoding\"") && error.message().contains("gzip"),
        "the error names the encoding and what is supported: {error}"
    );
}

/// A server without gzip support refuses gzip requests with `unimplemented`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_without_gzip_refuses_gzip() {
    let server = TestServer::start_with(|r| r.compression(CompressionRegistry::empty())).await;
    for http in [Http::H1, Http::H2] {
        let client = build_client(
            server
                .builder(Codec::Proto, http)
                .send_compression("gzip")
                .compress_min_bytes(0),
        );
        let error = within("unary", client.echo(Request::new(text("x"))))
            .await
            .expect_err("refused");
        assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
        let error = within("stream", async {
            let mut call = client.repeat(text("x")).await?;
            call.message().await
        })
        .await
        .expect_err("refused");
        assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
    }
}

/// Raw: a gzip request body is accepted, and a gzip response decompresses to the expected message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_gzip_round_trip() {
    let server = TestServer::start().await;
    let request = big("");
    let encoded = Codec::Proto.encode(&request);
    for http in [Http::H1, Http::H2] {
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/EchoPost",
            "application/proto",
            &[("content-encoding", "gzip"), ("accept-encoding", "gzip")],
            Bytes::from(gzip(&encoded)),
        )
        .await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        let echo: trident_tests::EchoResponse = Codec::Proto.decode(&gunzip(&response.body));
        assert_eq!(echo.text, request.text);

        // Streaming: a compressed envelope in, compressed envelopes out (the end-stream message is not).
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/Repeat",
            "application/connect+proto",
            &[
                ("connect-content-encoding", "gzip"),
                ("connect-accept-encoding", "gzip"),
            ],
            envelope(1, &gzip(&encoded)),
        )
        .await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.header("connect-content-encoding"), Some("gzip"));
        let envelopes = response.envelopes();
        assert_eq!(envelopes.len(), 3, "two messages and the end");
        for (flags, payload) in &envelopes[..2] {
            assert_eq!(*flags, 1, "compressed flag");
            let echo: trident_tests::EchoResponse = Codec::Proto.decode(&gunzip(payload));
            assert_eq!(echo.text, request.text);
        }
        assert!(response.end_stream()["error"].is_null());
    }
}

/// A stream mixing compressed and uncompressed messages (the client's threshold decides per message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_mix_compressed_and_plain_messages() {
    let server = TestServer::start_with(|r| r.compress_min_bytes(100)).await;
    for http in [Http::H1, Http::H2] {
        let client = build_client(
            server
                .builder(Codec::Proto, http)
                .send_compression("gzip")
                .compress_min_bytes(100),
        );
        let echo = within("client stream", async {
            let mut call = client.collect(());
            call.send(text("small")).await?;
            call.send(text(&"large".repeat(100))).await?;
            call.send(text("small again")).await?;
            call.close_and_receive().await
        })
        .await
        .expect("collect")
        .into_message();
        assert_eq!(echo.received, 3);
        assert_eq!(
            echo.text,
            format!("small,{},small again", "large".repeat(100))
        );
        if http == Http::H2 {
            within("bidi", async {
                let mut call = client.chat(());
                for t in ["s", &"L".repeat(500), "s"] {
                    call.send(text(t)).await?;
                    let echo = call.message().await?.expect("echo");
                    assert_eq!(echo.text, t);
                }
                Ok::<_, trident::Error>(())
            })
            .await
            .expect("bidi");
        }
    }
}
