//! Timeouts: enforced by the client (the server never answers), enforced by the server (raw requests
//! with `connect-timeout-ms`), and the time left visible to handlers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use trident::{Code, Request};
use trident_tests::{
    Codec, EchoRequest, Http, SilentServer, TestServer, build_client, configure_builder, envelope,
    raw_unary, text, within,
};

/// A delay the server would take that no test waits for.
const LONG_DELAY_MS: u32 = 60_000;
/// The client timeout in client-enforced tests.
const SHORT: Duration = Duration::from_millis(300);
/// Well before the server's delay: the bound a prompt deadline must meet.
const PROMPT: Duration = Duration::from_secs(10);

fn assert_deadline(result: Result<impl std::fmt::Debug, trident::Error>, started: Instant) {
    let error = result.expect_err("must time out");
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    assert!(
        started.elapsed() < PROMPT,
        "took {:?}, long after the timeout",
        started.elapsed()
    );
}

/// Every stream type against a server that accepts connections and never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_enforces_its_timeout_when_the_server_never_answers() {
    let silent = SilentServer::start().await;
    for http in [Http::H1, Http::H2] {
        let client = build_client(configure_builder(
            trident::Client::builder(silent.url()),
            Codec::Proto,
            http,
        ));

        let started = Instant::now();
        let result = within(
            "unary",
            client.echo(Request::new(text("x")).with_timeout(SHORT)),
        )
        .await;
        assert_deadline(result.map(|_| ()), started);

        let started = Instant::now();
        let result = within(
            "server stream",
            client.repeat(Request::new(text("x")).with_timeout(SHORT)),
        )
        .await;
        assert_deadline(result.map(|_| ()), started);

        let started = Instant::now();
        let result = within("client stream", async {
            let mut call = client.collect(Request::new(()).with_timeout(SHORT));
            // Sends may fill the pipe or fail with the deadline; either way the close reports it.
            let _ = call.send(text("x")).await;
            call.close_and_receive().await
        })
        .await;
        assert_deadline(result.map(|_| ()), started);

        if http == Http::H2 {
            let started = Instant::now();
            let result = within("bidi", async {
                let mut call = client.chat(Request::new(()).with_timeout(SHORT));
                let _ = call.send(text("x")).await;
                call.message().await
            })
            .await;
            assert_deadline(result.map(|_| ()), started);
        }
    }
}

/// The client's default timeout (`ClientBuilder::default_timeout`) applies to calls without their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_default_timeout_applies() {
    let silent = SilentServer::start().await;
    let client = build_client(
        configure_builder(
            trident::Client::builder(silent.url()),
            Codec::Json,
            Http::H2,
        )
        .default_timeout(SHORT),
    );
    let started = Instant::now();
    let result = within("unary", client.echo(text("x"))).await;
    assert_deadline(result.map(|_| ()), started);
}

/// Against a real server that delays far longer than the timeout, every stream type reports
/// `deadline_exceeded` promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handler_times_out_promptly() {
    let server = TestServer::start().await;
    let slow = EchoRequest {
        delay_ms: LONG_DELAY_MS,
        repeat: 1,
        ..text("slow")
    };
    for codec in [Codec::Proto, Codec::Json] {
        for http in [Http::H1, Http::H2] {
            let client = server.client(codec, http);
            let started = Instant::now();
            let result = within(
                "unary",
                client.echo(Request::new(slow.clone()).with_timeout(SHORT)),
            )
            .await;
            assert_deadline(result.map(|_| ()), started);

            let started = Instant::now();
            let result = within("server stream", async {
                let mut call = client
                    .repeat(Request::new(slow.clone()).with_timeout(SHORT))
                    .await?;
                call.message().await
            })
            .await;
            assert_deadline(result, started);

            if http == Http::H2 {
                let started = Instant::now();
                let result = within("bidi", async {
                    let mut call = client.chat(Request::new(()).with_timeout(SHORT));
                    call.send(slow.clone()).await?;
                    call.message().await
                })
                .await;
                assert_deadline(result, started);
            }
        }
    }
}

/// A zero timeout fails before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeout_fails_without_calling() {
    let server = TestServer::start().await;
    let client = server.client(Codec::Proto, Http::H2);
    let error = within(
        "unary",
        client.echo(Request::new(text("x")).with_timeout(Duration::ZERO)),
    )
    .await
    .expect_err("must fail");
    assert_eq!(error.code(), Code::DeadlineExceeded);
    assert_eq!(server.state().calls.get(), 0);
}

/// A stream that outlives its deadline delivers what came in time, then `deadline_exceeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_cuts_a_stream_short() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let client = server.client(Codec::Proto, http);
        let request = EchoRequest {
            repeat: 1000,
            delay_ms: 50,
            ..text("tick")
        };
        let (received, error) = within("stream", async {
            let mut call = client
                .repeat(Request::new(request).with_timeout(Duration::from_millis(600)))
                .await
                .expect("stream starts");
            let mut received = 0;
            loop {
                match call.message().await {
                    Ok(Some(_)) => received += 1,
                    Ok(None) => panic!("stream ended without error"),
                    Err(e) => break (received, e),
                }
            }
        })
        .await;
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
        assert!(received > 0, "some messages arrive before the deadline");
        assert!(received < 1000);
    }
}

/// A raw unary request with `connect-timeout-ms` to a sleeping handler: the server answers
/// `deadline_exceeded` with HTTP 504 on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_enforces_unary_deadline() {
    let server = TestServer::start().await;
    let body = Codec::Json.encode(&EchoRequest {
        delay_ms: LONG_DELAY_MS,
        ..text("sleepy")
    });
    for http in [Http::H1, Http::H2] {
        let started = Instant::now();
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/Echo",
            "application/json",
            &[("connect-timeout-ms", "200")],
            body.clone(),
        )
        .await;
        assert!(started.elapsed() < PROMPT);
        assert_eq!(response.status, http::StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.error_code(), "deadline_exceeded");
    }
}

/// The same for a server stream: HTTP 200 and an end-stream message with `deadline_exceeded`, after the
/// messages that made it in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_enforces_stream_deadline() {
    let server = TestServer::start().await;
    let body = envelope(
        0,
        &Codec::Proto.encode(&EchoRequest {
            repeat: 3,
            delay_ms: LONG_DELAY_MS,
            ..text("sleepy")
        }),
    );
    for http in [Http::H1, Http::H2] {
        let started = Instant::now();
        let response = raw_unary(
            server.addr,
            http,
            "/trident.test.v1.EchoService/Repeat",
            "application/connect+proto",
            &[("connect-timeout-ms", "200")],
            body.clone(),
        )
        .await;
        assert!(started.elapsed() < PROMPT);
        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.envelopes().len(), 1, "only the end-stream message");
        assert_eq!(response.end_stream_code(), "deadline_exceeded");
    }
}

/// A client stream whose handler waits past the deadline: `deadline_exceeded`, and the handler's
/// `cancelled()` fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_enforces_client_stream_deadline() {
    let server = TestServer::start().await;
    let body = envelope(
        0,
        &Codec::Proto.encode(&EchoRequest {
            hang: true,
            ..text("hang")
        }),
    );
    let response = raw_unary(
        server.addr,
        Http::H2,
        "/trident.test.v1.EchoService/Collect",
        "application/connect+proto",
        &[("connect-timeout-ms", "200")],
        body,
    )
    .await;
    assert_eq!(response.status, http::StatusCode::OK);
    assert_eq!(response.end_stream_code(), "deadline_exceeded");
    server
        .state()
        .cancelled
        .wait_for(1, "cancelled() after the deadline")
        .await;
}

/// The handler sees the time left: at most the timeout, more than zero, and nothing without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_sees_remaining_time() {
    let server = TestServer::start().await;
    let timeout = Duration::from_secs(30);
    let probe = EchoRequest {
        echo_context: true,
        echo_headers: vec!["connect-timeout-ms".into()],
        repeat: 1,
        ..text("t")
    };
    let check = |remaining: Option<i64>, headers: &[trident_tests::Header]| {
        let remaining = remaining.expect("a deadline is set");
        assert!(
            remaining > 0 && remaining <= 30_000,
            "remaining {remaining} ms"
        );
        let sent: i64 = headers[0].value.parse().expect("numeric timeout header");
        assert!(sent > 0 && sent <= 30_000, "connect-timeout-ms {sent}");
    };
    for codec in [Codec::Proto, Codec::Json] {
        for http in [Http::H1, Http::H2] {
            let client = server.client(codec, http);
            let echo = within(
                "unary",
                client.echo(Request::new(probe.clone()).with_timeout(timeout)),
            )
            .await
            .expect("echo")
            .into_message();
            check(echo.remaining_ms, &echo.headers);

            let echo = within("server stream", async {
                let mut call = client
                    .repeat(Request::new(probe.clone()).with_timeout(timeout))
                    .await
                    .expect("stream");
                call.message().await.expect("message").expect("one message")
            })
            .await;
            check(echo.remaining_ms, &echo.headers);

            let echo = within("client stream", async {
                let mut call = client.collect(Request::new(()).with_timeout(timeout));
                call.send(probe.clone()).await.expect("send");
                call.close_and_receive().await.expect("response")
            })
            .await
            .into_message();
            check(echo.remaining_ms, &echo.headers);

            // Without a timeout there is no deadline.
            let echo = within("unary", client.echo(probe.clone()))
                .await
                .expect("echo")
                .into_message();
            assert_eq!(echo.remaining_ms, None);
            assert!(echo.headers.is_empty(), "no connect-timeout-ms header");
        }
    }
}

/// A raw `connect-timeout-ms` shows up in the handler's remaining time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_timeout_header_sets_the_deadline() {
    let server = TestServer::start().await;
    let body = Codec::Proto.encode(&EchoRequest {
        echo_context: true,
        ..text("t")
    });
    let response = raw_unary(
        server.addr,
        Http::H1,
        "/trident.test.v1.EchoService/EchoPost",
        "application/proto",
        &[("connect-timeout-ms", "7000")],
        Bytes::from(body),
    )
    .await;
    assert_eq!(response.status, http::StatusCode::OK);
    let echo: trident_tests::EchoResponse = Codec::Proto.decode(&response.body);
    let remaining = echo.remaining_ms.expect("deadline from the header");
    assert!(remaining > 0 && remaining <= 7000, "remaining {remaining}");
}
