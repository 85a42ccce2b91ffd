//! The server's connection protections over real loopback sockets: idle and header-read timeouts, the
//! minimum request data rate, the connection limit's eviction of idle connections, keepalive PINGs,
//! the maximum connection age, header list limits alike on both HTTP versions, the calls-in-flight
//! limit and the default timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use trident::{Client, Code, Server, server::MinDataRate};
use trident_tests::{
    Codec, ECHO, EchoRequest, EchoServiceClient, Http, SilencingProxy, TestService, raw, router,
    send_on_new_connection, send_raw, text, within,
};

/// A test service served by `server` on a free port; the server stops when this is dropped.
struct Running {
    addr: SocketAddr,
    service: TestService,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(server: Server) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let service = TestService::new();
        let task = tokio::spawn(
            server
                .serve(listener, router(service.clone()))
                .into_future(),
        );
        Self {
            addr,
            service,
            task,
        }
    }

    fn client(&self, http: Http) -> EchoServiceClient {
        client(&format!("http://{}", self.addr), http)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn client(url: &str, http: Http) -> EchoServiceClient {
    trident_tests::build_client(trident_tests::configure_builder(
        Client::builder(url),
        Codec::Proto,
        http,
    ))
}

/// Opens a `WaitStream` call that holds its stream open until cancelled, and reads its first message.
async fn held_stream(
    client: &EchoServiceClient,
) -> trident::client::ServerStreamCall<trident_tests::EchoResponse> {
    let mut stream = within("open a stream", client.wait_stream(text("hold")))
        .await
        .expect("stream");
    within("first message", stream.message())
        .await
        .expect("message")
        .expect("one");
    stream
}

/// Reads from `stream` until the server closes it; returns how long that took.
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    within("the server closes the connection", async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    started.elapsed()
}

/// A connection that never sends a request, and one that has finished its calls, are closed after the
/// idle timeout, on both HTTP versions; one with a call in flight is not, however long the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    const IDLE: Duration = Duration::from_millis(300);
    let server = Running::start(Server::new().idle_timeout(IDLE)).await;

    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let waited = closed_after(&mut silent).await;
    assert!(waited >= IDLE - Duration::from_millis(50), "{waited:?}");

    let mut used = TcpStream::connect(server.addr).await.expect("connect");
    used.write_all(b"GET /nothing HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("write");
    let waited = closed_after(&mut used).await;
    assert!(waited >= IDLE - Duration::from_millis(50), "{waited:?}");

    // HTTP/2: a call, then nothing; the server sends GOAWAY and closes, which ends the client's
    // connection future.
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("handshake");
    let connection = tokio::spawn(connection);
    let request = raw(http::Method::GET, server.addr, "/nothing", Http::H2)
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("a response");
    assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
    drop(response);
    within("the HTTP/2 connection is closed", connection)
        .await
        .expect("connection task")
        .expect("a clean close");

    // A stream held open three idle timeouts long is left alone.
    let client = server.client(Http::H2);
    let _stream = held_stream(&client).await;
    tokio::time::sleep(IDLE * 3).await;
    assert_eq!(server.service.state().cancelled.get(), 0, "not idle");
}

/// An HTTP/1.1 client that trickles its request headers is cut off after the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_off() {
    let server =
        Running::start(Server::new().http1_header_read_timeout(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"POST /x HTTP/1.1\r\n")
        .await
        .expect("write");
    let trickle = async {
        for _ in 0..100 {
            if stream.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    within("the connection is closed", trickle).await;
    let waited = closed_after(&mut stream).await;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

/// The frames of a [`trickled_body`].
type Trickle = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send>,
>;

/// A body that yields `len` bytes, one every `every`.
fn trickled_body(len: usize, every: Duration) -> StreamBody<Trickle> {
    StreamBody::new(Box::pin(futures_util::stream::unfold(
        0,
        move |sent| async move {
            if sent == len {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((
                Ok(http_body::Frame::data(Bytes::from_static(b"\x0a"))),
                sent + 1,
            ))
        },
    )))
}

/// A unary request whose body arrives a byte at a time fails with `resource_exhausted` once it falls
/// behind the minimum rate, on both HTTP versions; a client stream that pauses between messages is not
/// cut off, however long the pauses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_fall_behind_the_minimum_rate() {
    let rate = MinDataRate::new(100, Duration::from_millis(300));
    let server = Running::start(Server::new().min_request_data_rate(rate)).await;
    for http in [Http::H1, Http::H2] {
        let request = raw(http::Method::POST, server.addr, ECHO.path, http)
            .header("content-type", "application/proto")
            .header("connect-protocol-version", "1")
            .body(trickled_body(1000, Duration::from_millis(50)))
            .expect("request");
        let started = Instant::now();
        let response = within(
            "the server answers",
            send_on_new_connection(server.addr, http, request),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(5), "{http:?}");
        assert_eq!(
            response.status(),
            http::StatusCode::TOO_MANY_REQUESTS,
            "{http:?}: resource_exhausted"
        );
        let body = within("the error body", response.into_body().collect())
            .await
            .expect("body")
            .to_bytes();
        let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
        assert_eq!(error["code"], "resource_exhausted", "{http:?}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("100 bytes per second")),
            "{error}"
        );

        let client = server.client(http);
        let mut call = client.collect(());
        for _ in 0..3 {
            call.send(EchoRequest::default()).await.expect("send");
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        let response = within("the stream completes", call.close_and_receive())
            .await
            .unwrap_or_else(|e| panic!("{http:?}: pauses between messages are fine: {e}"));
        assert_eq!(response.message().received, 3);
    }
}

/// At the connection limit, connections that sit idle are closed to make room: a flood of idle
/// sockets does not lock a real client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_make_room_at_the_connection_limit() {
    let server = Running::start(Server::new().max_connections(4)).await;
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let client = server.client(Http::H2);
    let started = Instant::now();
    let reply = within("a real call gets through", client.echo(text("through")))
        .await
        .expect("served");
    assert_eq!(reply.message().text, "through");
    // Room is made a second or so at a time: well within the test's bound.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// A client that vanishes without closing its connection is found by the server's keepalive PINGs:
/// the connection is closed and the handler of its open stream sees the call cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_find_clients_that_vanished() {
    let server = Running::start(
        Server::new().http2(
            trident::Http2Settings::new()
                .keep_alive_interval(Duration::from_millis(200))
                .keep_alive_timeout(Duration::from_millis(300)),
        ),
    )
    .await;
    let proxy = SilencingProxy::start(server.addr).await;
    let client = client(&proxy.url(), Http::H2);
    let _stream = held_stream(&client).await;
    proxy.silence_open_connections();
    server
        .service
        .state()
        .cancelled
        .wait_for(1, "the server gives up on the silent client")
        .await;
}

/// A connection past its maximum age is asked to finish (GOAWAY), and after the age grace its calls
/// are cancelled; the client's next call opens a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_connections_are_retired() {
    let server = Running::start(
        Server::new()
            .max_connection_age(Duration::from_millis(300))
            .max_connection_age_grace(Duration::from_millis(300)),
    )
    .await;
    let client = server.client(Http::H2);
    let _stream = held_stream(&client).await;
    server
        .service
        .state()
        .cancelled
        .wait_for(1, "the stream is cut off after the age grace")
        .await;
    let reply = within("a new call", client.echo(text("again")))
        .await
        .expect("the client reconnects");
    assert_eq!(reply.message().text, "again");
}

/// The header list limit means the same on HTTP/1.1 and HTTP/2: a list within it passes on both, one
/// over it (whether by one large field or many small ones) is answered 431 on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_lists_are_limited_alike_on_both_versions() {
    const LIMIT: u32 = 4096;
    let server = Running::start(Server::new().max_header_list_size(LIMIT)).await;
    let large = |len: usize| vec![("x-large".to_string(), "v".repeat(len))];
    let many = |count: usize| {
        (0..count)
            .map(|i| (format!("x-field-{i:03}"), "0123456789".to_string()))
            .collect::<Vec<_>>()
    };
    // Each of `many`'s fields measures 11 + 10 + 32 = 53 bytes.
    let cases = [
        (large(3000), true),
        (large(5000), false),
        (many(60), true),
        (many(90), false),
    ];
    for http in [Http::H1, Http::H2] {
        for (fields, fits) in &cases {
            let mut request = raw(http::Method::GET, server.addr, "/nothing", http);
            for (name, value) in fields {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = send_raw(
                server.addr,
                http,
                request.body(Bytes::new()).expect("request"),
            )
            .await;
            let expected = if *fits {
                http::StatusCode::NOT_FOUND
            } else {
                http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            };
            assert_eq!(
                response.status,
                expected,
                "{http:?}, {} fields",
                fields.len()
            );
        }
    }
}

/// Beyond the calls-in-flight limit a call fails at once with `unavailable`; once a call ends, the
/// next one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_in_flight_limit_are_shed() {
    let server = Running::start(Server::new().max_calls_in_flight(1)).await;
    let client = server.client(Http::H2);
    let holder = tokio::spawn({
        let client = client.clone();
        async move { client.wait(text("hold")).await }
    });
    server
        .service
        .state()
        .hang_started
        .wait_for(1, "the first call holds the only slot")
        .await;
    let error = within("the second call", client.echo(text("shed")))
        .await
        .expect_err("shed");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(error.message().contains("calls in flight"), "{error}");

    holder.abort();
    server
        .service
        .state()
        .cancelled
        .wait_for(1, "the first call is cancelled")
        .await;
    let reply = within("a call after the slot is free", async {
        loop {
            match client.echo(text("served")).await {
                Err(error) if error.code() == Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    })
    .await
    .expect("served");
    assert_eq!(reply.message().text, "served");
}

/// A call that states no timeout gets the server's default; the handler's wait ends with
/// `deadline_exceeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_timeout_get_the_default() {
    let server = Running::start(Server::new().default_timeout(Duration::from_millis(200))).await;
    for http in [Http::H1, Http::H2] {
        let client = server.client(http);
        let started = Instant::now();
        let error = within("the call ends", client.wait(text("forever")))
            .await
            .expect_err("past the default deadline");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{http:?}: {error}");
        assert!(started.elapsed() >= Duration::from_millis(150), "{http:?}");
    }
}
