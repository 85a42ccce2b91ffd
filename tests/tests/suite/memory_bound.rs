//! Server memory is bounded by what the peer lets it send: hundreds of server streams that a client
//! opens with the largest HTTP/2 windows and then never reads must not make the server buffer more than
//! the documented per-stream bound, nor, with the connection's response budget, more than that budget
//! and a message a stream.
//!
//! The server runs in a child process (this test binary, re-executed with [`SERVER_ENV`] set to run
//! only this test), so that its resident memory can be read from `/proc` apart from the client's. The
//! client is a raw h2 connection: it sends every request, waits for every response's headers, and then
//! stops polling its connection altogether, so the server's writes fill the kernel's socket buffers and
//! then stay in the server.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use trident::Server;
use trident_tests::{Codec, EchoRequest, envelope, percent_encode, router};

/// Set in the child process, to the response budget it serves with: serve instead of testing.
const SERVER_ENV: &str = "TRIDENT_TEST_MEMORY_BOUND_SERVER";
/// What the child prints before the address it listens on.
const LISTENING: &str = "memory-bound server listening on ";
const REPEAT: &str = "/trident.test.v1.EchoService/Repeat";

/// How many streams the client opens and never reads (the server allows exactly that many).
const STREAMS: u32 = 256;
/// The largest HTTP/2 flow-control window: the client lets the server send as much as it likes.
const MAX_WINDOW: u32 = (1 << 31) - 1;
/// The text each response message echoes: about 1 KiB per message.
const TEXT_BYTES: usize = 1000;
/// Messages per stream: far more than any buffer holds (about 1 GB per stream), so that every stream
/// is still writing when the test ends.
const MESSAGES: u32 = 1_000_000;

/// The bound the server's resident memory growth must stay under, derived from the documented
/// per-stream bound (see `Http2Settings::max_send_buffer_size` and the guide's "Memory" section).
///
/// Per never-read stream the server holds at most:
/// - what the response body has handed on and the connection has not yet written: less than two
///   batches, each under `BATCH_BYTES` (32 KiB) plus one message, in an allocation of at most 36 KiB:
///   72 KiB;
/// - the stream's own state (h2's and hyper's stream records, the handler's future and the call's
///   context, its request): a few KiB, allowed for as 16 KiB.
///
/// That is 88 KiB a stream, 22 MiB for 256. (The windows are granted only once every stream is open,
/// so that the server does not stream to a client still reading, which would leave the allocator with
/// more freed memory to keep.) On top, the connection itself (its write buffers, at most
/// 64 KiB gathered plus one frame in h2's codec) and the allocator's slack (freed memory it keeps, page
/// rounding, per-thread arenas), allowed for as 8 MiB: 30 MiB in all. Measured: about 21 MiB; an idle
/// stream costs about 7 KiB. Before the bound (h2's 400 KiB send buffer a stream, a batch more waiting
/// in hyper) the same client pinned about 140 MiB, 560 KiB a stream.
const PER_STREAM: usize = 72 * 1024 + 16 * 1024;
const ALLOWED_GROWTH: usize = STREAMS as usize * PER_STREAM + 8 * 1024 * 1024;
/// What the streams must at least have made the server buffer for the test to mean anything: a batch
/// (32 KiB) each, as when the windows were granted and the socket's buffers filled.
const EXPECTED_GROWTH: usize = STREAMS as usize * 32 * 1024;

/// With a budget too large to matter, each stream is held to its own bound.
#[test]
fn never_read_streams_hold_bounded_server_memory() {
    const NAME: &str = "never_read_streams_hold_bounded_server_memory";
    let growth = measure(NAME, 1 << 30, Form::Grpc);
    assert!(
        growth > EXPECTED_GROWTH,
        "the server's resident memory grew by only {growth} bytes: did it send at all?"
    );
    assert!(
        growth < ALLOWED_GROWTH,
        "the server's resident memory grew by {growth} bytes, more than the {ALLOWED_GROWTH} \
         bytes the per-stream bound allows"
    );
}

/// The budget a connection's responses share in the second test: well under what its streams would
/// hold each to their own bound (256 × 64 KiB = 16 MiB).
const BUDGET: usize = 4 * 1024 * 1024;

/// With the (default) 4 MiB budget, the same streams hold the budget, give or take a batch per worker
/// thread that was being made as it ran out (the server has two), plus one message a stream; with each
/// stream's own state (16 KiB, as above) and the allocator's slack (8 MiB, as above):
/// 4 MiB + 72 KiB + 256 × 17 KiB + 8 MiB, about 16.4 MiB. Measured: about 6.5 MiB (21 MiB without
/// the budget, in the test above).
const BUDGETED_GROWTH: usize =
    BUDGET + 2 * 36 * 1024 + STREAMS as usize * (16 * 1024 + 1024) + 8 * 1024 * 1024;

#[test]
fn a_connections_response_budget_caps_its_never_read_streams() {
    const NAME: &str = "a_connections_response_budget_caps_its_never_read_streams";
    assert_eq!(BUDGET, trident::Server::DEFAULT_MAX_BUFFERED_RESPONSE_BYTES);
    assert_held_to_the_budget(measure(NAME, BUDGET, Form::Grpc));
}

/// The same streams followed as server-sent events (a GET accepting `text/event-stream`, each
/// message about 1 KiB of JSON) are held to the same budget: push streams go out through the same
/// gated response body as every other stream.
#[test]
fn never_read_event_streams_are_held_to_the_response_budget() {
    const NAME: &str = "never_read_event_streams_are_held_to_the_response_budget";
    assert_held_to_the_budget(measure(NAME, BUDGET, Form::Events));
}

/// Checks that the server's resident memory grew (it sent at all) within what [`BUDGET`] allows.
fn assert_held_to_the_budget(growth: usize) {
    assert!(
        growth > BUDGET / 2,
        "the server's resident memory grew by only {growth} bytes: did it send at all?"
    );
    assert!(
        growth < BUDGETED_GROWTH,
        "the server's resident memory grew by {growth} bytes, more than the {BUDGETED_GROWTH} \
         bytes the response budget allows"
    );
}

/// How the client asks for its streams.
#[derive(Clone, Copy)]
enum Form {
    /// gRPC calls (POST).
    Grpc,
    /// Server-sent events (GET, the message in the query).
    Events,
}

/// In the child (re-executed as test `name`), serves with `budget`; in the test, runs the client
/// against such a child and returns the server's resident memory growth.
fn measure(name: &str, budget: usize, form: Form) -> usize {
    if let Some(budget) = std::env::var_os(SERVER_ENV) {
        let budget = budget
            .to_str()
            .and_then(|b| b.parse().ok())
            .expect("a budget");
        serve_until_stdin_closes(budget);
        std::process::exit(0);
    }
    let mut server = ServerProcess::spawn(name, budget);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let (before, after) = runtime.block_on(fill_never_read_streams(&mut server, form));
    let growth = after.saturating_sub(before);
    eprintln!(
        "{name}: server VmRSS {} KiB before, {} KiB with {STREAMS} never-read streams: {} KiB growth \
         ({} KiB a stream)",
        before / 1024,
        after / 1024,
        growth / 1024,
        growth / 1024 / STREAMS as usize,
    );
    growth
}

/// The child: serves the test service on a loopback port with room for [`STREAMS`] streams and a
/// response budget of `budget` bytes, prints the address, and exits when its stdin closes (the test
/// ended, or died).
fn serve_until_stdin_closes(budget: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let service = trident_tests::TestService::new();
        let serve = Server::new()
            .http2(trident::Http2Settings::new().max_concurrent_streams(STREAMS))
            .max_buffered_response_bytes(budget)
            .serve(listener, router(service));
        tokio::spawn(async move {
            let _ = serve.await;
        });
        println!("{LISTENING}{addr}");
        std::io::stdout().flush().expect("flush stdout");
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .expect("stdin reader");
    });
}

/// The name the test harness knows this module's test `name` by, for `--exact`: the module's path
/// without the crate's name (`memory_bound::NAME` in the suite binary).
fn test_path(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_crate, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// The server child process; killed when dropped.
struct ServerProcess {
    child: Child,
    addr: std::net::SocketAddr,
}

impl ServerProcess {
    fn spawn(test: &str, budget: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                &test_path(test),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVER_ENV, budget.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .expect("read the server's output");
            // libtest may have begun the line ("test ... ").
            if let Some((_, addr)) = line.split_once(LISTENING) {
                break addr.trim().parse().expect("an address");
            }
        };
        Self { child, addr }
    }

    /// The child's resident set size, in bytes.
    fn rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the server's /proc status");
        let kib: usize = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in the server's /proc status");
        kib * 1024
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens [`STREAMS`] never-read streams with the largest windows on one connection; returns the
/// server's resident memory before the streams (after one connection and one whole call) and once it
/// has stopped growing with them open.
async fn fill_never_read_streams(server: &mut ServerProcess, form: Form) -> (usize, usize) {
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(MAX_WINDOW)
        .initial_connection_window_size(MAX_WINDOW)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("h2 handshake");
    let mut connection = connection;

    // One whole call first, so that the baseline includes the runtime's and the connection's first
    // allocations.
    let warm_up = async {
        let (response, _sent) = send_repeat(client.clone(), 3, form).await;
        let mut body = response.await.expect("response").into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("data");
            let _ = body.flow_control().release_capacity(chunk.len());
        }
    };
    tokio::select! {
        () = warm_up => {}
        result = &mut connection => panic!("connection ended: {result:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss();

    // Open every stream with no window at all, so that the server sends nothing while the client still
    // reads (the server acknowledges this before it sees the requests), and wait for every response's
    // headers; the response bodies are kept and never read.
    connection
        .set_initial_window_size(0)
        .expect("no settings pending");
    let open = async {
        let mut kept = Vec::new();
        for _ in 0..STREAMS {
            kept.push(send_repeat(client.clone(), MESSAGES, form).await);
        }
        let mut bodies = Vec::new();
        for (response, sent) in kept {
            let response = response.await.expect("response headers");
            assert_eq!(response.status(), 200);
            bodies.push((response.into_body(), sent));
        }
        bodies
    };
    let bodies = tokio::select! {
        bodies = open => bodies,
        result = &mut connection => panic!("connection ended: {result:?}"),
    };
    // Then grant every stream the largest window, and poll the connection once more only, to send
    // that: from now on nothing reads the socket.
    connection
        .set_initial_window_size(MAX_WINDOW)
        .expect("the server acknowledged the empty window");
    if let std::task::Poll::Ready(result) = futures_util::poll!(&mut connection) {
        panic!("connection ended: {result:?}");
    }

    // The server writes until the socket's buffers are full, then holds what it has produced: wait
    // until its memory stops growing.
    let after = settled_rss(server);
    drop(bodies);
    drop(connection);
    (before, after)
}

/// Sends one Repeat request for `messages` messages of [`TEXT_BYTES`] bytes, in `form`.
async fn send_repeat(
    client: h2::client::SendRequest<Bytes>,
    messages: u32,
    form: Form,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let mut client = client.ready().await.expect("the connection takes a stream");
    let message = EchoRequest {
        text: "x".repeat(TEXT_BYTES),
        repeat: messages,
        ..Default::default()
    };
    match form {
        Form::Grpc => {
            let request = http::Request::post(REPEAT)
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .expect("request");
            let (response, mut sent) = client.send_request(request, false).expect("send request");
            let body = envelope(0, &Codec::Proto.encode(&message));
            sent.send_data(Bytes::from(body), true)
                .expect("send the request");
            (response, sent)
        }
        Form::Events => {
            let query = percent_encode(&Codec::Json.encode(&message));
            let request = http::Request::get(format!("{REPEAT}?message={query}"))
                .header("accept", "text/event-stream")
                .body(())
                .expect("request");
            client.send_request(request, true).expect("send request")
        }
    }
}

/// The server's resident memory once it has not grown for half a second (or after ten seconds).
fn settled_rss(server: &ServerProcess) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut highest = server.rss();
    let mut steady = 0;
    while steady < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let rss = server.rss();
        if rss > highest + 64 * 1024 {
            steady = 0;
        } else {
            steady += 1;
        }
        highest = highest.max(rss);
    }
    highest
}
