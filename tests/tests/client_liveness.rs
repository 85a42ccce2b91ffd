//! Client liveness over real loopback connections: HTTP/2 keepalive finds a connection that stopped
//! answering without closing (its calls fail with `unavailable` instead of waiting for their deadlines,
//! and the next call opens a new connection), and the connect timeout bounds a connect that is never
//! answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use trident::{Client, Code, HttpVersion, ProtocolKind, Request};
use trident_tests::{ECHO, EchoResponse, TestServer, text, within};

/// A TCP proxy to `upstream` that can make every connection open so far go silent: bytes are still
/// read from both sides, but no longer passed on, and nothing is closed (a host that crashed, a NAT
/// entry that was dropped). Connections opened later pass bytes as usual.
struct SilencingProxy {
    addr: SocketAddr,
    /// Connections numbered below this are silent.
    silent_below: Arc<AtomicU64>,
    next_id: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SilencingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let silent_below = Arc::new(AtomicU64::new(0));
        let next_id = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (silent_below, next_id) = (silent_below.clone(), next_id.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pass(client_read, server_write, id, silent_below.clone()));
                    tokio::spawn(pass(server_read, client_write, id, silent_below.clone()));
                }
            }
        });
        Self {
            addr,
            silent_below,
            next_id,
            task,
        }
    }

    /// Silences every connection opened so far.
    fn silence_open_connections(&self) {
        let opened = self.next_id.load(Ordering::SeqCst);
        self.silent_below.store(opened, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilencingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to` until either ends, dropping the bytes once connection `id` is silenced.
async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    silent_below: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if id < silent_below.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn client(url: &str, keepalive: bool) -> Client {
    let mut builder = Client::builder(url)
        .protocol(ProtocolKind::Grpc)
        .http_version(HttpVersion::Http2);
    if keepalive {
        builder = builder
            .http2_keep_alive_interval(Duration::from_millis(250))
            .http2_keep_alive_timeout(Duration::from_secs(1));
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
