//! Interop with tonic, the most used Rust gRPC implementation, over cleartext HTTP/2: a Trident gRPC
//! client calling a tonic server (`tonic_common::TonicServer`). Every stream type, with and without
//! gzip; errors with typed details (`grpc-status-details-bin` holding a `google.rpc.Status`); custom
//! request and response metadata; and deadlines.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use tonic::metadata::MetadataMap;
use trident::{Client, Code, HttpVersion, ProtocolKind, Request};
use trident_tests::{
    EchoRequest, EchoResponse, EchoServiceClient, FailureInfo, header, text, within,
};

use crate::tonic_common::{
    MESSAGE, TonicServer, big_payload, bounded, echoed, encoding, expected_encoding, failing,
    huge_payload, parse_grpc_timeout,
};

/// Calls all four method shapes of the tonic server from Trident, checking messages and, through the
/// echoed `grpc-encoding` header and the response's, whether each direction was compressed.
async fn trident_calls_every_stream_type(gzip: bool) {
    let server = TonicServer::start(gzip).await;
    let client = server.client(gzip);
    let payload = big_payload();
    let want = expected_encoding(gzip);
    let request = |t: &str| EchoRequest {
        payload: payload.clone(),
        echo_headers: vec!["grpc-encoding".into()],
        ..text(t)
    };

    // Unary.
    let response = within("unary", client.echo(request("unary")))
        .await
        .expect("unary call");
    assert_eq!(
        encoding(response.headers().get("grpc-encoding")),
        want,
        "unary response encoding"
    );
    let message = response.into_message();
    assert_eq!(message.text, "unary");
    assert_eq!(message.payload, payload);
    assert_eq!(
        encoding(echoed(&message, "grpc-encoding").first().copied()),
        want,
        "unary request encoding seen by tonic"
    );

    // An empty message, and a huge one.
    let response = within("empty unary", client.echo(EchoRequest::default()))
        .await
        .expect("empty unary call");
    assert_eq!(response.into_message(), EchoResponse::default());
    let huge = huge_payload();
    let response = within(
        "huge unary",
        client.echo(EchoRequest {
            payload: huge.clone(),
            ..text("huge")
        }),
    )
    .await
    .expect("huge unary call");
    assert!(response.message().payload == huge, "huge payload echoed");

    // Server stream.
    let mut call = within(
        "server stream",
        client.repeat(EchoRequest {
            repeat: 3,
            ..request("many")
        }),
    )
    .await
    .expect("server stream call");
    assert_eq!(encoding(call.headers().get("grpc-encoding")), want);
    for index in 0..3 {
        let message = within("server stream message", call.message())
            .await
            .expect("message")
            .expect("three messages");
        assert_eq!((message.text.as_str(), message.index), ("many", index));
        assert_eq!(message.payload, payload);
    }
    assert!(
        within("server stream end", call.message())
            .await
            .expect("clean end")
            .is_none()
    );

    // Client stream.
    let response = within("client stream", async {
        let mut call = client.collect(());
        for t in ["a", "b", "c"] {
            call.send(request(t)).await?;
        }
        call.close_and_receive().await
    })
    .await
    .expect("client stream call");
    assert_eq!(encoding(response.headers().get("grpc-encoding")), want);
    let message = response.into_message();
    assert_eq!((message.text.as_str(), message.received), ("a,b,c", 3));
    assert_eq!(message.payload, payload);
    assert_eq!(
        encoding(echoed(&message, "grpc-encoding").first().copied()),
        want
    );

    // Bidi stream, ping-pong.
    let mut call = client.chat(());
    for index in 0..3u32 {
        within("bidi send", call.send(request(&format!("ping{index}"))))
            .await
            .expect("send");
        let message = within("bidi message", call.message())
            .await
            .expect("message")
            .expect("one answer per request");
        assert_eq!(message.text, format!("ping{index}"));
        assert_eq!((message.index, message.received), (index, index + 1));
        assert_eq!(message.payload, payload);
    }
    assert_eq!(
        encoding(
            within("bidi headers", call.headers())
                .await
                .expect("headers")
                .get("grpc-encoding")
        ),
        want
    );
    call.close_send().expect("close");
    assert!(
        within("bidi end", call.message())
            .await
            .expect("clean end")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_client_calls_every_tonic_stream_type() {
    bounded(trident_calls_every_stream_type(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_client_calls_every_tonic_stream_type_with_gzip() {
    bounded(trident_calls_every_stream_type(true)).await;
}

/// A tonic server that does not accept gzip refuses a compressed request with `unimplemented`, and
/// the Trident client reports that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_client_gzip_refused_by_tonic_without_gzip() {
    bounded(async {
        let server = TonicServer::start(false).await;
        let client = server.client(true);
        let error = within(
            "compressed unary",
            client.echo(EchoRequest {
                payload: big_payload(),
                ..text("gz")
            }),
        )
        .await
        .expect_err("tonic refuses gzip");
        assert_eq!(error.code(), Code::Unimplemented, "{error:?}");
    })
    .await;
}

/// A Trident error carries tonic's code, message, typed details and metadata (sent in the trailers, or
/// in the headers of a trailers-only response).
fn assert_rich_error(error: &trident::Error, context: &str) {
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
    let delay: prost_types::Duration = details[1].decode().expect("Duration decodes");
    assert_eq!((delay.seconds, delay.nanos), (7, 5));
    assert_eq!(
        error.trailers().get_all("x-err-t"),
        ["t1"],
        "{context}: {error:?}"
    );
    assert_eq!(
        error.trailers().get_all("x-err-h"),
        ["h1", "h2"],
        "{context}: {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_client_sees_tonic_errors_with_details() {
    bounded(async {
        let server = TonicServer::start(false).await;
        let client = server.client(false);

        let error = within("unary", client.echo(failing(0)))
            .await
            .expect_err("unary fails");
        assert_rich_error(&error, "unary");

        let error = within("server stream", async {
            client.repeat(failing(0)).await?.message().await
        })
        .await
        .expect_err("server stream fails");
        assert_rich_error(&error, "server stream, no message");

        let mut call = within("server stream", client.repeat(failing(2)))
            .await
            .expect("the stream starts");
        for index in 0..2 {
            let message = within("message", call.message())
                .await
                .expect("message")
                .expect("two messages before the error");
            assert_eq!(message.index, index);
        }
        let error = within("error", call.message())
            .await
            .expect_err("then the error");
        assert_rich_error(&error, "server stream, after messages");

        let error = within("client stream", async {
            let mut call = client.collect(());
            call.send(text("one")).await?;
            call.send(failing(1)).await?;
            call.close_and_receive().await
        })
        .await
        .expect_err("client stream fails");
        assert_rich_error(&error, "client stream");

        let mut call = client.chat(());
        within("bidi send", call.send(text("one")))
            .await
            .expect("send");
        let first = within("bidi message", call.message())
            .await
            .expect("first answer")
            .expect("a message");
        assert_eq!(first.text, "one");
        within("bidi send", call.send(failing(1)))
            .await
            .expect("send");
        let error = within("bidi error", call.message())
            .await
            .expect_err("then the error");
        assert_rich_error(&error, "bidi");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_client_metadata_reaches_tonic_and_back() {
    bounded(async {
        let server = TonicServer::start(false).await;
        let client = server.client(false);
        let binary = [0u8, 1, 2, 0xfe, 0xff, b'\n'];

        let mut request = Request::new(EchoRequest {
            echo_headers: vec!["x-multi".into(), "x-data-bin".into()],
            response_headers: vec![header("x-resp", "r1"), header("x-resp-bin", "AAEC/w")],
            ..text("md")
        });
        let md = request.headers_mut();
        md.append("x-multi", "1").expect("valid");
        md.append("x-multi", "2").expect("valid");
        md.append_bin("x-data-bin", &binary).expect("valid");
        let response = within("unary", client.echo(request))
            .await
            .expect("unary call");
        assert_eq!(response.headers().get_all("x-resp"), ["r1"]);
        assert_eq!(
            response
                .headers()
                .get_bin_all("x-resp-bin")
                .expect("base64"),
            vec![vec![0u8, 1, 2, 0xff]]
        );
        let message = response.into_message();
        assert_eq!(echoed(&message, "x-multi"), ["1", "2"]);
        // tonic decodes what Trident encoded.
        let mut headers = HeaderMap::new();
        for value in echoed(&message, "x-data-bin") {
            headers.append(
                "x-data-bin",
                HeaderValue::from_str(value).expect("valid value"),
            );
        }
        let received = MetadataMap::from_headers(headers);
        assert_eq!(
            received
                .get_bin("x-data-bin")
                .expect("binary header")
                .to_bytes()
                .expect("tonic decodes Trident's base64"),
            binary.as_slice()
        );

        let options = Request::new(())
            .with_header("x-multi", "a")
            .and_then(|o| o.with_header("x-multi", "b"))
            .expect("valid");
        let response = within("client stream", async {
            let mut call = client.collect(options);
            call.send(EchoRequest {
                echo_headers: vec!["x-multi".into()],
                response_headers: vec![header("x-resp", "collected")],
                ..text("one")
            })
            .await?;
            call.close_and_receive().await
        })
        .await
        .expect("client stream");
        assert_eq!(response.headers().get_all("x-resp"), ["collected"]);
        assert_eq!(echoed(response.message(), "x-multi"), ["a", "b"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_client_deadlines_against_tonic() {
    bounded(async {
        let server = TonicServer::start(false).await;
        let client = server.client(false);

        // The timeout is sent as `grpc-timeout`.
        let request = Request::new(EchoRequest {
            echo_headers: vec!["grpc-timeout".into()],
            ..text("ctx")
        })
        .with_timeout(Duration::from_secs(30));
        let message = within("unary", client.echo(request))
            .await
            .expect("unary call")
            .into_message();
        let sent = echoed(&message, "grpc-timeout");
        assert_eq!(sent.len(), 1, "{:?}", message.headers);
        let sent = parse_grpc_timeout(sent[0]);
        assert!(
            sent > Duration::from_secs(29) && sent <= Duration::from_secs(30),
            "grpc-timeout {sent:?}"
        );

        // A slow unary handler. The tonic server times the call out too (answering `cancelled`), but
        // the Trident client's own deadline started first and needs no round trip.
        let request = Request::new(EchoRequest {
            delay_ms: 10_000,
            ..text("slow")
        })
        .with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let error = within("slow unary", client.echo(request))
            .await
            .expect_err("the deadline passes first");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        // A slow client stream.
        let started = Instant::now();
        let error = within("slow client stream", async {
            let mut call =
                client.collect(Request::new(()).with_timeout(Duration::from_millis(300)));
            call.send(EchoRequest {
                delay_ms: 10_000,
                ..text("slow")
            })
            .await?;
            call.close_and_receive().await
        })
        .await
        .expect_err("the deadline passes first");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        // A server stream whose messages come too slowly (tonic's own timeout stops at the response
        // headers: only the Trident client's deadline ends this one).
        let request = Request::new(EchoRequest {
            repeat: 10,
            delay_ms: 150,
            ..text("slow stream")
        })
        .with_timeout(Duration::from_millis(400));
        let started = Instant::now();
        let error = within("slow stream", async {
            let mut call = client.repeat(request).await?;
            while call.message().await?.is_some() {}
            Ok::<_, trident::Error>(())
        })
        .await
        .expect_err("the deadline passes mid-stream");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        // A bidi call whose handler is slow to answer, with a client-wide timeout.
        let slow_client = EchoServiceClient::new(
            Client::builder(format!("http://{}", server.addr))
                .protocol(ProtocolKind::GRPC)
                .http_version(HttpVersion::Http2)
                .default_timeout(Duration::from_millis(300))
                .build()
                .expect("client builds"),
        );
        let started = Instant::now();
        let error = within("slow bidi", async {
            let mut call = slow_client.chat(());
            call.send(EchoRequest {
                delay_ms: 10_000,
                ..text("slow")
            })
            .await?;
            call.message().await
        })
        .await
        .expect_err("the deadline passes first");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await;
}

/// The `grpc-timeout` a lazily started stream sends should be the time left when the request starts,
/// not the timeout the call was opened with: otherwise the server's deadline falls after the client's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_stream_sends_the_time_left() {
    bounded(async {
        let server = TonicServer::start(false).await;
        let client = server.client(false);
        let mut call = client.collect(Request::new(()).with_timeout(Duration::from_secs(30)));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let response = within("client stream", async {
            call.send(EchoRequest {
                echo_headers: vec!["grpc-timeout".into()],
                ..text("late")
            })
            .await?;
            call.close_and_receive().await
        })
        .await
        .expect("client stream");
        let sent = parse_grpc_timeout(echoed(response.message(), "grpc-timeout")[0]);
        assert!(
            sent <= Duration::from_millis(28_600),
            "grpc-timeout {sent:?}, 1.5 s after opening a 30 s call"
        );
    })
    .await;
}
