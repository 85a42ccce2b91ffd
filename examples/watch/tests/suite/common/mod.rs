//! Helpers shared by the watch example's tests: a loopback server over a fresh store, clients for each
//! protocol and HTTP version, a raw HTTP/1.1 exchange (what `curl` does), and time limits on every step.

pub mod process;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use trident::{Client, Error, HttpVersion, ProtocolKind, Router};
use trident_watch::proto::*;
use trident_watch::store::{Store, StoreConfig, StoreStats};
use trident_watch::web::{ServeOptions, StaticFiles};

/// How long any single step may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(15);

/// Runs `future`, failing the test if it takes longer than [`STEP`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(STEP, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: did not finish within {STEP:?}"),
    }
}

/// A server on a loopback port over its own store.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The store it serves.
    pub store: Store,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// A server with the default store limits.
    pub async fn start() -> Self {
        Self::with_config(StoreConfig::default()).await
    }

    /// A server whose store has these limits.
    pub async fn with_config(config: StoreConfig) -> Self {
        Self::with_options(config, ServeOptions::default()).await
    }

    /// A server that also serves the files under `dir` (as `watch-server --static DIR`).
    pub async fn with_static(dir: &std::path::Path) -> Self {
        let options = ServeOptions {
            static_files: Some(StaticFiles::new(dir).expect("static directory")),
            ..ServeOptions::default()
        };
        Self::with_options(StoreConfig::default(), options).await
    }

    /// A server that lets pages of any origin call (as `watch-server --cors`).
    pub async fn with_cors() -> Self {
        let options = ServeOptions {
            cors: true,
            ..ServeOptions::default()
        };
        Self::with_options(StoreConfig::default(), options).await
    }

    async fn with_options(config: StoreConfig, options: ServeOptions) -> Self {
        let store = Store::new(config);
        let router = Router::new().add(trident_watch::routes(store.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            trident_watch::web::serve(listener, router, options)
                .await
                .expect("serve");
        });
        Self { addr, store, task }
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A Connect client over HTTP/1.1.
    pub fn client(&self) -> KvServiceClient {
        self.client_with(ProtocolKind::CONNECT, HttpVersion::Http1)
    }

    /// A Connect client over h2c (needed for `WatchStream`).
    pub fn h2_client(&self) -> KvServiceClient {
        self.client_with(ProtocolKind::CONNECT, HttpVersion::Http2)
    }

    /// A client for any protocol and HTTP version.
    pub fn client_with(&self, protocol: ProtocolKind, http: HttpVersion) -> KvServiceClient {
        let client = Client::builder(self.url())
            .protocol(protocol)
            .http_version(http)
            .build()
            .expect("client");
        KvServiceClient::new(client)
    }

    /// Waits until the store's counters satisfy `check`, failing after [`STEP`].
    pub async fn wait_for_stats(&self, what: &str, check: impl Fn(&StoreStats) -> bool) {
        within(what, async {
            loop {
                if check(&self.store.stats()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    /// Puts `key` = `value` through the store directly; answers the revision.
    pub fn put(&self, key: &str, value: &str) -> i64 {
        self.store.put(key, value).expect("put").revision
    }
}

/// The key of every event in `events`, with its revision.
pub fn revisions_and_keys(events: &[Event]) -> Vec<(i64, String)> {
    events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().expect("event without kv");
            (kv.mod_revision, kv.key.clone())
        })
        .collect()
}

/// Reads watch responses until `count` events have arrived (skipping progress notifications).
pub async fn collect_events(
    call: &mut trident::client::ServerStreamCall<WatchResponse>,
    count: usize,
) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    while events.len() < count {
        match within("next watch response", call.message()).await? {
            Some(response) => events.extend(response.events),
            None => panic!("the watch ended after {} events", events.len()),
        }
    }
    Ok(events)
}

/// A raw HTTP/1.1 exchange, as `curl` makes it: one request on a fresh connection (`Connection:
/// close`), read to the end. Answers the status, the headers (lower-case names) and the body.
pub async fn raw_http1(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("Connection: close\r\n\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, headers, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// A header's value from [`raw_http1`]'s answer.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
