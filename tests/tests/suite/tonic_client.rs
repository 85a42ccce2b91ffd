//! Interop with tonic, the most used Rust gRPC implementation, over cleartext HTTP/2: a tonic client
//! calling a Trident server. Every stream type, with and without gzip; errors with typed details
//! (`grpc-status-details-bin` holding a `google.rpc.Status`); custom request and response metadata;
//! deadlines; and, both ways (with a Trident client calling a tonic server too), every status code and
//! unknown methods.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prost::Message as _;
use tokio::sync::mpsc;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;
use trident::{Client, Code, HttpVersion, ProtocolKind, Request};
use trident_tests::{
    EchoRequest, EchoResponse, ErrorSpec, FailureInfo, TestServer, header, text, within,
};

use crate::tonic_common::stubs::echo_service_client::EchoServiceClient as TonicClient;
use crate::tonic_common::{
    MESSAGE, RpcStatus, TonicServer, big_payload, bounded, echoed, encoding, expected_encoding,
    failing, huge_payload, tonic_values,
};

type Channel = tonic::transport::Channel;

// ---------------------------------------------------------------------------------------------------
// tonic client -> Trident server

/// A tonic client for the server at `addr`, over h2c; with `gzip`, it compresses requests and accepts
/// compressed responses.
async fn tonic_client(addr: SocketAddr, gzip: bool) -> TonicClient<Channel> {
    let channel = within(
        "tonic connects",
        Endpoint::from_shared(format!("http://{addr}"))
            .expect("valid endpoint")
            .connect(),
    )
    .await
    .expect("tonic connects to the Trident server");
    let client = TonicClient::new(channel);
    if gzip {
        client
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
    } else {
        client
    }
}

/// A tonic request stream fed through a channel, for ping-pong bidi calls.
fn request_stream() -> (
    mpsc::Sender<EchoRequest>,
    impl futures_util::Stream<Item = EchoRequest> + Send + 'static,
) {
    let (tx, rx) = mpsc::channel(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|message| (message, rx))
    });
    (tx, stream)
}

/// Calls all four method shapes of the Trident server from tonic, checking messages and, through the
/// echoed `grpc-encoding` header and the response's, whether each direction was compressed.
async fn tonic_calls_every_stream_type(addr: SocketAddr, gzip: bool) {
    let mut client = tonic_client(addr, gzip).await;
    let payload = big_payload();
    let want = expected_encoding(gzip);
    let request = |t: &str| EchoRequest {
        payload: payload.clone(),
        echo_headers: vec!["grpc-encoding".into()],
        ..text(t)
    };

    // Unary.
    let response = within("tonic unary", client.echo(request("unary")))
        .await
        .expect("unary call");
    assert_eq!(
        encoding(
            response
                .metadata()
                .get("grpc-encoding")
                .map(|v| v.to_str().unwrap())
        ),
        want,
        "unary response encoding"
    );
    let message = response.into_inner();
    assert_eq!(message.text, "unary");
    assert_eq!(message.payload, payload);
    assert_eq!(
        encoding(echoed(&message, "grpc-encoding").first().copied()),
        want,
        "unary request encoding seen by the handler"
    );

    // An empty message (a zero-length frame, or a compressed empty one), and a huge one.
    let response = within("tonic empty unary", client.echo(EchoRequest::default()))
        .await
        .expect("empty unary call");
    assert_eq!(response.into_inner(), EchoResponse::default());
    let huge = huge_payload();
    let response = within(
        "tonic huge unary",
        client.echo(EchoRequest {
            payload: huge.clone(),
            ..text("huge")
        }),
    )
    .await
    .expect("huge unary call");
    assert!(response.get_ref().payload == huge, "huge payload echoed");

    // Server stream.
    let response = within(
        "tonic server stream",
        client.repeat(EchoRequest {
            repeat: 3,
            ..request("many")
        }),
    )
    .await
    .expect("server stream call");
    assert_eq!(
        encoding(
            response
                .metadata()
                .get("grpc-encoding")
                .map(|v| v.to_str().unwrap())
        ),
        want,
        "server stream response encoding"
    );
    let mut stream = response.into_inner();
    for index in 0..3 {
        let message = within("server stream message", stream.message())
            .await
            .expect("message")
            .expect("three messages");
        assert_eq!((message.text.as_str(), message.index), ("many", index));
        assert_eq!(message.payload, payload);
    }
    assert!(
        within("server stream end", stream.message())
            .await
            .expect("clean end")
            .is_none()
    );

    // Client stream.
    let requests = vec![request("a"), request("b"), request("c")];
    let response = within(
        "tonic client stream",
        client.collect(futures_util::stream::iter(requests)),
    )
    .await
    .expect("client stream call");
    assert_eq!(
        encoding(
            response
                .metadata()
                .get("grpc-encoding")
                .map(|v| v.to_str().unwrap())
        ),
        want,
        "client stream response encoding"
    );
    let message = response.into_inner();
    assert_eq!((message.text.as_str(), message.received), ("a,b,c", 3));
    assert_eq!(message.payload, payload);
    assert_eq!(
        encoding(echoed(&message, "grpc-encoding").first().copied()),
        want
    );

    // Bidi stream, ping-pong: each answer arrives before the next request is sent.
    let (tx, requests) = request_stream();
    tx.send(request("ping0")).await.expect("queue");
    let response = within("tonic bidi", client.chat(requests))
        .await
        .expect("bidi call");
    assert_eq!(
        encoding(
            response
                .metadata()
                .get("grpc-encoding")
                .map(|v| v.to_str().unwrap())
        ),
        want,
        "bidi response encoding"
    );
    let mut stream = response.into_inner();
    for index in 0..3u32 {
        if index > 0 {
            tx.send(request(&format!("ping{index}")))
                .await
                .expect("queue");
        }
        let message = within("bidi message", stream.message())
            .await
            .expect("message")
            .expect("one answer per request");
        assert_eq!(message.text, format!("ping{index}"));
        assert_eq!((message.index, message.received), (index, index + 1));
        assert_eq!(message.payload, payload);
    }
    drop(tx);
    assert!(
        within("bidi end", stream.message())
            .await
            .expect("clean end")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_calls_every_stream_type() {
    bounded(async {
        let server = TestServer::start().await;
        tonic_calls_every_stream_type(server.addr, false).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_calls_every_stream_type_with_gzip() {
    bounded(async {
        let server = TestServer::start().await;
        tonic_calls_every_stream_type(server.addr, true).await;
    })
    .await;
}

/// A Trident server without gzip refuses tonic's gzip requests with `unimplemented`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_gzip_refused_by_trident_without_gzip() {
    bounded(async {
        let server = TestServer::start_with(|r| {
            r.compression(trident::compression::CompressionRegistry::empty())
        })
        .await;
        let mut client = tonic_client(server.addr, true).await;
        let status = within("compressed unary", client.echo(text("gz")))
            .await
            .expect_err("Trident refuses gzip");
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
        // Uncompressed calls still work.
        let mut client = tonic_client(server.addr, false).await;
        within("plain unary", client.echo(text("plain")))
            .await
            .expect("uncompressed call");
    })
    .await;
}

/// Dropping a tonic stream cancels the Trident handler's call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_cancellation_reaches_trident() {
    bounded(async {
        let server = TestServer::start().await;
        let mut client = tonic_client(server.addr, false).await;
        let mut stream = within("wait stream", client.wait_stream(text("w")))
            .await
            .expect("the stream starts")
            .into_inner();
        within("first message", stream.message())
            .await
            .expect("message")
            .expect("one message before waiting");
        server
            .state()
            .hang_started
            .wait_for(1, "the handler waits")
            .await;
        drop(stream);
        server
            .state()
            .cancelled
            .wait_for(1, "the Trident call is cancelled")
            .await;
    })
    .await;
}

/// A tonic `Status` carries Trident's code, message, typed details (as `google.rpc.Status` in
/// `grpc-status-details-bin`) and the error's trailers; `with_headers` when the error came before any
/// message, so its headers went out with it.
fn assert_rich_status(status: &tonic::Status, with_headers: bool, context: &str) {
    assert_eq!(
        status.code(),
        tonic::Code::FailedPrecondition,
        "{context}: {status:?}"
    );
    assert_eq!(status.message(), MESSAGE, "{context}");
    let rpc = RpcStatus::decode(status.details()).expect("details are a google.rpc.Status");
    assert_eq!(
        rpc.code,
        tonic::Code::FailedPrecondition as i32,
        "{context}"
    );
    assert_eq!(rpc.message, MESSAGE, "{context}");
    assert_eq!(rpc.details.len(), 2, "{context}: {:?}", rpc.details);
    let info: FailureInfo = rpc.details[0]
        .to_msg()
        .expect("first detail is FailureInfo");
    assert_eq!(
        info,
        FailureInfo {
            reason: MESSAGE.into(),
            attempt: 3
        }
    );
    assert_eq!(
        rpc.details[0].type_url,
        "type.googleapis.com/trident.test.v1.FailureInfo"
    );
    let delay: prost_types::Duration = rpc.details[1].to_msg().expect("second detail is Duration");
    assert_eq!((delay.seconds, delay.nanos), (7, 5), "{context}");
    assert_eq!(
        tonic_values(status.metadata(), "x-err-t"),
        ["t1"],
        "{context}: {:?}",
        status.metadata()
    );
    if with_headers {
        assert_eq!(
            tonic_values(status.metadata(), "x-err-h"),
            ["h1", "h2"],
            "{context}: {:?}",
            status.metadata()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_sees_trident_errors_with_details() {
    bounded(async {
        let server = TestServer::start().await;
        let mut client = tonic_client(server.addr, false).await;

        let status = within("unary", client.echo(failing(0)))
            .await
            .expect_err("unary fails");
        assert_rich_status(&status, true, "unary");

        // A server stream failing before its first message: a trailers-only response.
        let status = within("server stream", async {
            client
                .repeat(failing(0))
                .await?
                .into_inner()
                .message()
                .await
        })
        .await
        .expect_err("server stream fails");
        assert_rich_status(&status, true, "server stream, no message");

        // A server stream failing after two messages: the error arrives in the trailers.
        let mut stream = within("server stream", client.repeat(failing(2)))
            .await
            .expect("the stream starts")
            .into_inner();
        for index in 0..2 {
            let message = within("message", stream.message())
                .await
                .expect("message")
                .expect("two messages before the error");
            assert_eq!(message.index, index);
        }
        let status = within("error", stream.message())
            .await
            .expect_err("then the error");
        assert_rich_status(&status, false, "server stream, after messages");

        // A client stream failing on its second message.
        let requests = vec![text("one"), failing(1), text("never read")];
        let status = within(
            "client stream",
            client.collect(futures_util::stream::iter(requests)),
        )
        .await
        .expect_err("client stream fails");
        assert_rich_status(&status, true, "client stream");

        // A bidi stream failing on its second message, after answering the first.
        let (tx, requests) = request_stream();
        tx.send(text("one")).await.expect("queue");
        let mut stream = within("bidi", client.chat(requests))
            .await
            .expect("the stream starts")
            .into_inner();
        let first = within("bidi message", stream.message())
            .await
            .expect("first answer")
            .expect("a message");
        assert_eq!(first.text, "one");
        tx.send(failing(1)).await.expect("queue");
        let status = within("bidi error", stream.message())
            .await
            .expect_err("then the error");
        assert_rich_status(&status, false, "bidi");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_metadata_reaches_trident_and_back() {
    bounded(async {
        let server = TestServer::start().await;
        let mut client = tonic_client(server.addr, false).await;
        let binary = [0u8, 1, 2, 0xfe, 0xff, b'\n'];

        let mut request = tonic::Request::new(EchoRequest {
            echo_headers: vec!["x-multi".into(), "x-data-bin".into()],
            response_headers: vec![header("x-resp", "r1"), header("x-resp-bin", "AAEC/w")],
            response_trailers: vec![header("x-trail", "t1"), header("x-trail", "t2")],
            ..text("md")
        });
        let md = request.metadata_mut();
        md.append("x-multi", MetadataValue::from_static("1"));
        md.append("x-multi", MetadataValue::from_static("2"));
        md.insert_bin("x-data-bin", MetadataValue::from_bytes(&binary));
        let response = within("unary", client.echo(request))
            .await
            .expect("unary call");
        // tonic merges a unary call's trailers into the response metadata.
        let metadata = response.metadata().clone();
        assert_eq!(tonic_values(&metadata, "x-resp"), ["r1"]);
        assert_eq!(
            metadata
                .get_bin("x-resp-bin")
                .expect("binary response header")
                .to_bytes()
                .expect("base64"),
            [0u8, 1, 2, 0xff].as_slice()
        );
        assert_eq!(tonic_values(&metadata, "x-trail"), ["t1", "t2"]);
        let message = response.into_inner();
        assert_eq!(echoed(&message, "x-multi"), ["1", "2"]);
        let mut decoded = trident::Metadata::new();
        for value in echoed(&message, "x-data-bin") {
            decoded.append("x-data-bin", value).expect("valid");
        }
        assert_eq!(
            decoded.get_bin_all("x-data-bin").expect("base64"),
            vec![binary.to_vec()]
        );

        // A server stream: headers first, trailers after the last message.
        let mut request = tonic::Request::new(EchoRequest {
            repeat: 2,
            echo_headers: vec!["x-multi".into()],
            response_headers: vec![header("x-resp", "s")],
            response_trailers: vec![header("x-trail", "end")],
            ..text("stream")
        });
        request
            .metadata_mut()
            .insert("x-multi", MetadataValue::from_static("streamed"));
        let response = within("server stream", client.repeat(request))
            .await
            .expect("server stream");
        assert_eq!(tonic_values(response.metadata(), "x-resp"), ["s"]);
        let mut stream = response.into_inner();
        let first = within("message", stream.message())
            .await
            .expect("message")
            .expect("a message");
        assert_eq!(echoed(&first, "x-multi"), ["streamed"]);
        while within("drain", stream.message())
            .await
            .expect("clean stream")
            .is_some()
        {}
        let trailers = within("trailers", stream.trailers())
            .await
            .expect("trailers")
            .expect("the stream has trailers");
        assert_eq!(tonic_values(&trailers, "x-trail"), ["end"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_deadlines_reach_trident() {
    bounded(async {
        let server = TestServer::start().await;
        let mut client = tonic_client(server.addr, false).await;

        // The timeout reaches the handler as its deadline.
        let mut request = tonic::Request::new(EchoRequest {
            echo_context: true,
            ..text("ctx")
        });
        request.set_timeout(Duration::from_secs(30));
        let message = within("unary", client.echo(request))
            .await
            .expect("unary call")
            .into_inner();
        let remaining = message.remaining_ms.expect("the handler sees a deadline");
        assert!(
            remaining > 20_000 && remaining <= 30_000,
            "remaining {remaining} ms"
        );
        assert_eq!(message.http_version, "HTTP/2.0");

        // A slow unary handler. tonic's channel also times the call out itself until the response
        // headers arrive, reporting `cancelled: Timeout expired`: whichever is first wins.
        let mut request = tonic::Request::new(EchoRequest {
            delay_ms: 10_000,
            ..text("slow")
        });
        request.set_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let status = within("slow unary", client.echo(request))
            .await
            .expect_err("the deadline passes first");
        assert!(
            status.code() == tonic::Code::DeadlineExceeded
                || (status.code() == tonic::Code::Cancelled
                    && status.message() == "Timeout expired"),
            "{status:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        // A handler waiting for cancellation sees its call cancelled either way.
        let mut request = tonic::Request::new(text("wait"));
        request.set_timeout(Duration::from_millis(200));
        let _ = within("wait", client.wait(request))
            .await
            .expect_err("the deadline passes");
        server
            .state()
            .cancelled
            .wait_for(1, "the Trident call is cancelled")
            .await;

        // Once the response headers are in, only the Trident server enforces the deadline: a server
        // stream whose messages come too slowly ends with `deadline_exceeded`.
        let mut request = tonic::Request::new(EchoRequest {
            repeat: 10,
            delay_ms: 150,
            ..text("slow stream")
        });
        request.set_timeout(Duration::from_millis(400));
        let started = Instant::now();
        let mut stream = within("slow stream", client.repeat(request))
            .await
            .expect("the stream starts")
            .into_inner();
        let status = within("slow stream", async {
            while stream.message().await?.is_some() {}
            Ok::<_, tonic::Status>(())
        })
        .await
        .expect_err("the deadline passes mid-stream");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        // The same for a bidi stream: one quick answer, then a slow one.
        let (tx, requests) = request_stream();
        tx.send(text("quick")).await.expect("queue");
        let mut request = tonic::Request::new(requests);
        request.set_timeout(Duration::from_millis(400));
        let started = Instant::now();
        let mut stream = within("slow bidi", client.chat(request))
            .await
            .expect("the stream starts")
            .into_inner();
        let first = within("bidi message", stream.message())
            .await
            .expect("first answer")
            .expect("a message");
        assert_eq!(first.text, "quick");
        tx.send(EchoRequest {
            delay_ms: 10_000,
            ..text("slow")
        })
        .await
        .expect("queue");
        let status = within("slow bidi", stream.message())
            .await
            .expect_err("the deadline passes mid-stream");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------
// Both ways

/// Every status code keeps its meaning both ways, for plain errors without details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_code_both_ways() {
    bounded(async {
        let trident_server = TestServer::start().await;
        let mut tonic_client = tonic_client(trident_server.addr, false).await;
        let tonic_server = TonicServer::start(false).await;
        let trident_client = tonic_server.client(false);
        for code in 1..=16u32 {
            let plain = || EchoRequest {
                error: Some(ErrorSpec {
                    code,
                    message: format!("code {code}"),
                    ..Default::default()
                }),
                ..text("fail")
            };
            let status = within("tonic -> Trident", tonic_client.echo(plain()))
                .await
                .expect_err("fails");
            assert_eq!(status.code() as u32, code, "{status:?}");
            assert_eq!(status.message(), format!("code {code}"));
            if !status.details().is_empty() {
                let rpc = RpcStatus::decode(status.details()).expect("a google.rpc.Status");
                assert_eq!(rpc.code as u32, code);
                assert!(rpc.details.is_empty(), "{rpc:?}");
            }

            let error = within("Trident -> tonic", trident_client.echo(plain()))
                .await
                .expect_err("fails");
            assert_eq!(error.code() as u32, code, "{error:?}");
            assert_eq!(error.message(), format!("code {code}"));
            assert!(error.details().is_empty(), "{error:?}");
        }
    })
    .await;
}

/// A method neither side serves is `unimplemented`, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_are_unimplemented_both_ways() {
    static MISSING: trident::MethodSpec = trident::MethodSpec {
        service: "trident.test.v1.EchoService",
        method: "Missing",
        path: "/trident.test.v1.EchoService/Missing",
        stream_type: trident::StreamType::Unary,
        idempotency: trident::Idempotency::Unknown,
    };
    bounded(async {
        // tonic -> Trident, through tonic's generic client.
        let server = TestServer::start().await;
        let channel = Endpoint::from_shared(format!("http://{}", server.addr))
            .expect("valid endpoint")
            .connect()
            .await
            .expect("connect");
        let mut grpc = tonic::client::Grpc::new(channel);
        within("ready", grpc.ready()).await.expect("ready");
        let status = within(
            "missing method",
            grpc.unary::<EchoRequest, EchoResponse, _>(
                tonic::Request::new(text("x")),
                http::uri::PathAndQuery::from_static(MISSING.path),
                tonic_prost::ProstCodec::default(),
            ),
        )
        .await
        .expect_err("no such method");
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");

        // Trident -> tonic.
        let tonic_server = TonicServer::start(false).await;
        let client = Client::builder(format!("http://{}", tonic_server.addr))
            .protocol(ProtocolKind::GRPC)
            .http_version(HttpVersion::Http2)
            .build()
            .expect("client builds");
        let error = within(
            "missing method",
            client.unary::<EchoRequest, EchoResponse>(&MISSING, Request::new(text("x"))),
        )
        .await
        .expect_err("no such method");
        assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
    })
    .await;
}
