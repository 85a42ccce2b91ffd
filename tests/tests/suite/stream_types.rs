//! Every stream type × codec (proto, JSON) × HTTP version (HTTP/1.1, h2c), over a real loopback server.

use trident::ProtocolKind;
use trident_tests::{Codec, EchoRequest, Http, TestServer, scenarios, within};

/// The version the handler must see for `http`.
fn version(http: Http) -> http::Version {
    match http {
        Http::H1 => http::Version::HTTP_11,
        Http::H2 => http::Version::HTTP_2,
    }
}

macro_rules! matrix {
    ($($name:ident: $codec:ident, $http:ident;)*) => {
        /// Unary calls.
        mod unary {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = TestServer::start().await;
                    let client = server.client(Codec::$codec, Http::$http);
                    scenarios::unary(&client, version(Http::$http)).await;
                }
            )*
        }

        /// Server-streaming calls.
        mod server_stream {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = TestServer::start().await;
                    let client = server.client(Codec::$codec, Http::$http);
                    scenarios::server_stream(&client, version(Http::$http)).await;
                }
            )*
        }

        /// Client-streaming calls, with messages and without.
        mod client_stream {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = TestServer::start().await;
                    let client = server.client(Codec::$codec, Http::$http);
                    scenarios::client_stream(&client, version(Http::$http)).await;
                    scenarios::client_stream_empty(&client).await;
                }
            )*
        }

        /// Bidi calls: full duplex over h2c, an immediate `unimplemented` over HTTP/1.1.
        mod bidi {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = TestServer::start().await;
                    let client = server.client(Codec::$codec, Http::$http);
                    match Http::$http {
                        Http::H1 => scenarios::bidi_over_http1(&client, server.state()).await,
                        Http::H2 => scenarios::bidi(&client, version(Http::$http)).await,
                    }
                }
            )*
        }
    };
}

matrix! {
    proto_http1: Proto, H1;
    proto_h2c: Proto, H2;
    json_http1: Json, H1;
    json_h2c: Json, H2;
}

/// Several calls of every kind share one client (and its pooled connections) concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_a_client() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let client = server.client(Codec::Proto, http);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                scenarios::unary(&client, version(http)).await;
                scenarios::server_stream(&client, version(http)).await;
                scenarios::client_stream(&client, version(http)).await;
                if http == Http::H2 {
                    scenarios::bidi(&client, version(http)).await;
                }
            }));
        }
        for task in tasks {
            trident_tests::within("concurrent calls", task)
                .await
                .expect("task succeeds");
        }
    }
}

/// Empty messages (zero bytes in protobuf, `{}` in JSON) in every stream type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_messages() {
    use trident_tests::EchoRequest;

    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        for http in [Http::H1, Http::H2] {
            let client = server.client(codec, http);
            trident_tests::within("empty messages", async {
                let echo = client.echo(EchoRequest::default()).await.expect("unary");
                assert_eq!(echo.message(), &trident_tests::EchoResponse::default());

                let mut call = client
                    .repeat(EchoRequest::default())
                    .await
                    .expect("server stream");
                assert!(call.message().await.expect("end").is_none(), "repeat 0");

                let mut call = client.collect(());
                for _ in 0..3 {
                    call.send(EchoRequest::default()).await.expect("send");
                }
                let response = call.close_and_receive().await.expect("client stream");
                assert_eq!(response.message().received, 3);

                if http == Http::H2 {
                    let mut call = client.chat(());
                    call.send(EchoRequest::default()).await.expect("send");
                    let echo = call.message().await.expect("echo").expect("not over");
                    assert_eq!((echo.index, echo.received), (0, 1));
                    call.close_send().expect("close");
                    assert!(call.message().await.expect("end").is_none());
                }
            })
            .await;
        }
    }
}

/// Messages of a few MiB, split across many HTTP frames, arrive intact in every stream type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages() {
    use trident_tests::EchoRequest;

    let server = TestServer::start().await;
    let payload: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let big = EchoRequest {
        payload: payload.clone(),
        repeat: 2,
        ..Default::default()
    };
    for http in [Http::H1, Http::H2] {
        let client = server.client(Codec::Proto, http);
        trident_tests::within("large messages", async {
            let echo = client.echo(big.clone()).await.expect("unary");
            assert!(echo.message().payload == payload, "unary payload intact");

            let mut call = client.repeat(big.clone()).await.expect("server stream");
            while let Some(m) = call.message().await.expect("message") {
                assert!(m.payload == payload, "streamed payload intact");
            }

            let mut call = client.collect(());
            call.send(big.clone()).await.expect("send");
            call.send(big.clone()).await.expect("send");
            let response = call.close_and_receive().await.expect("client stream");
            assert!(response.message().payload == payload);

            if http == Http::H2 {
                let mut call = client.chat(());
                for _ in 0..2 {
                    call.send(big.clone()).await.expect("send");
                    let echo = call.message().await.expect("echo").expect("not over");
                    assert!(echo.payload == payload, "bidi payload intact");
                }
            }
        })
        .await;
    }
}

/// A client that reads gets every batch of a long stream, over every protocol and HTTP version: a
/// server stream waits for the connection to write out its batches (see tests/memory_bound.rs), and
/// each one written makes room for the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_client_gets_every_batch_of_a_long_stream() {
    const COUNT: u32 = 2_000;
    let server = TestServer::start().await;
    let request = EchoRequest {
        text: "x".repeat(1000),
        repeat: COUNT,
        ..Default::default()
    };
    for (protocol, http) in [
        (ProtocolKind::CONNECT, Http::H1),
        (ProtocolKind::CONNECT, Http::H2),
        (ProtocolKind::GRPC, Http::H2),
        (ProtocolKind::GRPC_WEB, Http::H1),
        (ProtocolKind::GRPC_WEB, Http::H2),
    ] {
        let client =
            trident_tests::build_client(server.builder(Codec::Proto, http).protocol(protocol));
        within("a long stream", async {
            let mut call = client.repeat(request.clone()).await.expect("stream");
            let mut received = 0;
            while let Some(echo) = call.message().await.expect("message") {
                assert_eq!(echo.index, received, "{protocol:?} over {http:?}");
                received += 1;
            }
            assert_eq!(received, COUNT, "{protocol:?} over {http:?}");
        })
        .await;
    }
}
