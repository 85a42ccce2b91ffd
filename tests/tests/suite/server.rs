//! The connection level of `trident::Server` over real loopback sockets: graceful shutdown (the
//! listener closes at once, calls in flight finish within the grace period, what outlives it is cut
//! off), dropping the serve future, the connection limit, and the HTTP/1.1 and HTTP/2 options.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use trident::Server;
use trident_tests::{Codec, EchoRequest, Http, TestServer, TestService, router, text, within};

/// A test service served with graceful shutdown; `stop` sends the signal.
struct Running {
    addr: SocketAddr,
    service: TestService,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    async fn start(server: Server) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let service = TestService::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            server
                .serve(listener, router(service.clone()))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Self {
            addr,
            service,
            stop: Some(stop),
            task,
        }
    }

    fn client(&self, http: Http) -> trident_tests::EchoServiceClient {
        let builder = trident::Client::builder(format!("http://{}", self.addr));
        trident_tests::build_client(trident_tests::configure_builder(
            builder,
            Codec::Proto,
            http,
        ))
    }

    fn stop(&mut self) {
        self.stop
            .take()
            .expect("stopped once")
            .send(())
            .expect("the server is running");
    }

    /// Waits for the serve future to resolve, failing the test if it does not or fails.
    async fn stopped(&mut self) {
        within("the serve future resolves", &mut self.task)
            .await
            .expect("serve task")
            .expect("serve returns Ok");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects until the connection is refused (the listener is closed asynchronously, right after the
/// signal; a connection caught in the listener's backlog as it closes is reset); panics if connections
/// are still accepted after many tries.
async fn assert_refused(addr: SocketAddr) {
    for _ in 0..200 {
        match TcpStream::connect(addr).await {
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => return,
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("connect failed otherwise than refused: {error}"),
            Ok(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("connections to {addr} are still accepted after the shutdown signal");
}

/// A raw HTTP/1.1 request for a path the router does not know (answered 404, keep-alive).
const RAW_REQUEST: &[u8] = b"GET /nothing/here HTTP/1.1\r\nhost: test\r\n\r\n";

/// Reads until the end of a response head; returns the head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read the response");
        assert_eq!(n, 1, "connection closed mid-head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("ASCII head")
}

/// After the signal a new connection is refused at once, even while a call still holds a connection
/// open; the call itself is cancelled when the grace period ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_listener_at_once() {
    let mut server = Running::start(Server::new().grace_period(Duration::from_secs(1))).await;
    let client = server.client(Http::H2);
    let call = tokio::spawn(async move { client.wait(text("hold the connection")).await });
    server
        .service
        .state()
        .hang_started
        .wait_for(1, "the call reaches its handler")
        .await;
    server.stop();
    assert_refused(server.addr).await;
    assert!(
        !server.task.is_finished(),
        "the call still holds a connection"
    );
    server.stopped().await;
    let result = within("the call ends", call).await.expect("call task");
    assert!(result.is_err(), "the call was cut off: {result:?}");
    server
        .service
        .state()
        .cancelled
        .wait_for(1, "the handler's call is cancelled")
        .await;
}

/// A unary call in flight when the signal arrives completes normally (over HTTP/1.1 and HTTP/2), and
/// the serve future resolves as soon as it has, long before the grace period is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_within_the_grace_period() {
    for http in [Http::H1, Http::H2] {
        let mut server = Running::start(Server::new().grace_period(Duration::from_secs(60))).await;
        let client = server.client(http);
        let call = tokio::spawn(async move {
            client
                .echo(EchoRequest {
                    text: "slow".into(),
                    delay_ms: 300,
                    ..Default::default()
                })
                .await
        });
        server
            .service
            .state()
            .calls
            .wait_for(1, "the call reaches its handler")
            .await;
        server.stop();
        let reply = within("the call completes", call)
            .await
            .expect("call task")
            .unwrap_or_else(|e| panic!("{http:?}: the call in flight fails: {e}"));
        assert_eq!(reply.message().text, "slow", "{http:?}");
        server.stopped().await;
        assert_eq!(
            server.service.state().cancelled.get(),
            0,
            "{http:?}: nothing was cancelled"
        );
    }
}

/// A server stream that waits for cancellation outlives the grace period: it is cut off then (its
/// call's cancellation fires, as the response is dropped), the client sees the stream fail, and the
/// serve future resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_streams_are_cut_off_after_the_grace_period() {
    const GRACE: Duration = Duration::from_millis(200);
    for http in [Http::H1, Http::H2] {
        let mut server = Running::start(Server::new().grace_period(GRACE)).await;
        let client = server.client(http);
        let mut stream = within("open the stream", client.wait_stream(text("forever")))
            .await
            .expect("stream opens");
        within("first message", stream.message())
            .await
            .expect("first message")
            .expect("a message before the wait");
        let stopped_at = tokio::time::Instant::now();
        server.stop();
        server.stopped().await;
        assert!(
            stopped_at.elapsed() >= GRACE,
            "{http:?}: the stream had the whole grace period"
        );
        server
            .service
            .state()
            .cancelled
            .wait_for(1, "the handler's call is cancelled")
            .await;
        let end = within("the stream ends", stream.message()).await;
        assert!(end.is_err(), "{http:?}: the stream was cut off: {end:?}");
    }
}

/// Dropping the serve future is a hard stop: open connections are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_serve_future_closes_connections() {
    let server = Running::start(Server::new()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(RAW_REQUEST).await.expect("write");
    let head = within("response", read_head(&mut stream)).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    drop(server);
    let mut rest = [0u8; 16];
    let read = within("the connection closes", stream.read(&mut rest)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

/// At `max_connections`, the server accepts nothing more until a connection closes: a further
/// client waits (in the kernel's backlog) and is served once the first one leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_holds_further_clients_back() {
    let server = Running::start(Server::new().max_connections(1)).await;
    let mut first = TcpStream::connect(server.addr).await.expect("connect");
    first.write_all(RAW_REQUEST).await.expect("write");
    let head = within("first response", read_head(&mut first)).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // The first connection stays open (keep-alive): the second one is not served meanwhile.
    let mut second = TcpStream::connect(server.addr)
        .await
        .expect("connect (the kernel completes the handshake)");
    second.write_all(RAW_REQUEST).await.expect("write");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");

    drop(first);
    let head = within("second response", read_head(&mut second)).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

/// With HTTP/1.1 keep-alive off, a response says `connection: close` and the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_keep_alive_off_closes_after_each_response() {
    let server = Running::start(Server::new().http1_keep_alive(false)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(RAW_REQUEST).await.expect("write");
    let mut response = Vec::new();
    within("read to the end", stream.read_to_end(&mut response))
        .await
        .expect("the server closes the connection");
    let response = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(response.starts_with("http/1.1 404"), "{response}");
    assert!(response.contains("connection: close"), "{response}");
}

/// A client that does not finish its request headers within the header read timeout is disconnected
/// (without the option it would be kept waiting for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_header_read_timeout_disconnects_slow_clients() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let server = Running::start(Server::new().http1_header_read_timeout(TIMEOUT)).await;
    let client = server.client(Http::H1);
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let started = tokio::time::Instant::now();
    slow.write_all(b"GET /nothing/here HTTP/1.1\r\nhost: te")
        .await
        .expect("write half a head");
    let mut rest = [0u8; 64];
    let read = within("the slow client is disconnected", slow.read(&mut rest)).await;
    assert!(
        started.elapsed() >= TIMEOUT,
        "closed before the timeout: {read:?}"
    );
    assert!(
        !matches!(read, Ok(n) if n > 0 && rest[..n].starts_with(b"HTTP/1.1 2")),
        "the incomplete request was not served: {read:?}"
    );
    // Well-behaved clients are unaffected.
    let reply = within("echo", client.echo(text("prompt")))
        .await
        .expect("a prompt client is served");
    assert_eq!(reply.message().text, "prompt");
}

/// A raised HTTP/2 stream limit lets one connection carry more concurrent calls than hyper's default
/// of 200: 300 calls that each wait for cancellation must all reach their handler at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_limit_is_applied() {
    let server = TestServer::start_on(
        Server::new().http2(trident::Http2Settings::new().max_concurrent_streams(400)),
        |r| r,
    )
    .await;
    let client = server.client(Codec::Proto, Http::H2);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..300 {
        let client = client.clone();
        calls.spawn(async move { client.wait(text(&format!("call {i}"))).await });
    }
    server
        .state()
        .hang_started
        .wait_for(300, "300 handlers running at once on one connection")
        .await;
    calls.abort_all();
}

/// Who tower middleware in front of the router says the caller is.
#[derive(Clone, Debug)]
struct Caller(&'static str);

/// `Server` serves a tower stack around a router, not only a router: middleware sees every request
/// first, and what it attaches reaches the handler through `Request::extensions`, beside what the
/// server itself attaches (the peer's address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tower_stack_around_the_router_is_served_and_hands_values_to_handlers() {
    use trident::{Error, Request, Response, ServiceRoutes};
    use trident_tests::EchoResponse;

    let routes = ServiceRoutes::new("trident.test.v1.EchoService").unary(
        &trident_tests::ECHO,
        |request: Request<EchoRequest>| async move {
            let caller = request
                .extensions()
                .get::<Caller>()
                .map_or("nobody", |caller| caller.0);
            let peer = request
                .context()
                .peer_addr()
                .expect("the server attaches the peer");
            Ok::<_, Error>(Response::new(EchoResponse {
                text: format!("{caller} from {}", peer.ip()),
                ..Default::default()
            }))
        },
    );
    let router = trident::Router::new().add(routes);
    let stack = tower::ServiceBuilder::new()
        .map_request(|mut request: http::Request<trident::Body>| {
            request.extensions_mut().insert(Caller("ada"));
            request
        })
        .service(router);

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(Server::new().serve(listener, stack).into_future());
    for http in [Http::H1, Http::H2] {
        let client = trident::Client::builder(format!("http://{addr}"))
            .http_version(http.version())
            .build()
            .expect("client");
        let reply: Response<EchoResponse> = within(
            "the call",
            client.unary(&trident_tests::ECHO, Request::new(text("who am I"))),
        )
        .await
        .unwrap_or_else(|e| panic!("{http:?}: {e}"));
        assert_eq!(reply.message().text, "ada from 127.0.0.1", "{http:?}");
    }
    server.abort();
}
