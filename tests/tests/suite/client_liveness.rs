//! Client liveness over real loopback connections: HTTP/2 keepalive finds a connection that stopped
//! answering without closing (its calls fail with `unavailable` instead of waiting for their deadlines,
//! and the next call opens a new connection), and the connect timeout bounds a connect that is never
//! answered.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use trident::{Client, Code, HttpVersion, ProtocolKind, Request};
use trident_tests::{ECHO, EchoResponse, SilencingProxy, TestServer, text, within};

fn client(url: &str, keepalive: bool) -> Client {
    let mut builder = Client::builder(url)
        .protocol(ProtocolKind::GRPC)
        .http_version(HttpVersion::Http2);
    if keepalive {
        builder = builder.http2(
            trident::Http2Settings::new()
                .keep_alive_interval(Duration::from_millis(250))
                .keep_alive_timeout(Duration::from_secs(1)),
        );
    }
    builder.build().expect("client")
}

async fn echo(client: &Client, timeout: Duration) -> Result<String, trident::Error> {
    let request = Request::new(text("ping")).with_timeout(timeout);
    let response = client.unary::<_, EchoResponse>(&ECHO, request).await?;
    Ok(response.into_message().text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_drops_a_silent_connection_and_the_next_call_reconnects() {
    let server = TestServer::start().await;
    let proxy = SilencingProxy::start(server.addr).await;
    let client = client(&proxy.url(), true);
    let first = within("first call", echo(&client, Duration::from_secs(10))).await;
    assert_eq!(first.expect("answered"), "ping");

    proxy.silence_open_connections();
    let started = Instant::now();
    let error = within(
        "call on the silent connection",
        echo(&client, Duration::from_secs(10)),
    )
    .await
    .expect_err("the connection is dead");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "found by keepalive, not by the 10 s deadline: {:?}",
        started.elapsed()
    );

    let next = within("next call", echo(&client, Duration::from_secs(10))).await;
    assert_eq!(next.expect("a new connection answers"), "ping");
}

/// Without keepalive, the same silent connection keeps failing calls by their deadlines: what the
/// keepalive above is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keepalive_a_silent_connection_holds_calls_until_their_deadlines() {
    let server = TestServer::start().await;
    let proxy = SilencingProxy::start(server.addr).await;
    let client = client(&proxy.url(), false);
    let first = within("first call", echo(&client, Duration::from_secs(10))).await;
    assert_eq!(first.expect("answered"), "ping");

    proxy.silence_open_connections();
    for _ in 0..2 {
        let error = within("silent", echo(&client, Duration::from_millis(300)))
            .await
            .expect_err("no answer");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_timeout_ends_a_connect_nobody_answers() {
    // A listener that never accepts, with its accept queue filled: further connection attempts get
    // no answer at all (Linux drops their SYNs), as from a host that is gone.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let addr = socket.local_addr().expect("address");
    let _listener = socket.listen(1).expect("listen");
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(stream);
        }
    }

    let client = Client::builder(format!("http://{addr}"))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let started = Instant::now();
    let error = within("connect", echo(&client, Duration::from_secs(30)))
        .await
        .expect_err("nobody answers");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(error.message().contains("connect"), "{error}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "the connect was not refused at once but timed out: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "ended by the connect timeout, not the 30 s deadline: {:?}",
        started.elapsed()
    );
}

/// An interceptor that passes everything through (its defaults).
struct PassThrough;

impl trident::Interceptor for PassThrough {}

/// A client stream whose server went away mid-call: sends fail with `unavailable` (not `unknown`),
/// on both HTTP versions, with and without an interceptor in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_after_the_server_vanished_fail_with_unavailable() {
    use trident_tests::{Codec, EchoRequest, Http};
    for (http, intercepted) in [
        (Http::H1, false),
        (Http::H2, false),
        (Http::H1, true),
        (Http::H2, true),
    ] {
        let server = TestServer::start().await;
        let mut builder = Client::builder(format!("http://{}", server.addr));
        if intercepted {
            builder = builder.intercept(PassThrough);
        }
        let client = trident_tests::build_client(trident_tests::configure_builder(
            builder,
            Codec::Proto,
            http,
        ));
        let mut call = client.collect(());
        call.send(EchoRequest::default()).await.expect("first send");
        server
            .service
            .state()
            .calls
            .wait_for(1, "the call reaches the server")
            .await;
        // Stop serving: every connection is dropped.
        drop(server);
        let error = within("a send fails", async {
            loop {
                if let Err(error) = call.send(EchoRequest::default()).await {
                    return error;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_eq!(
            error.code(),
            Code::Unavailable,
            "{http:?}, intercepted: {intercepted}: {error}"
        );
    }
}
