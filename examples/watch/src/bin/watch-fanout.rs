//! Fan-out benchmark: many concurrent watchers over a few HTTP/2 connections, one writer. Watchers are
//! `Watch` calls (one HTTP/2 stream each), watches multiplexed on one `WatchStream` per connection, or
//! `Watch` followed as server-sent events (a GET with `Accept: text/event-stream`, one HTTP/2 stream
//! each, as browsers' `EventSource`s share an HTTP/2 connection). Each RPC connection is a Trident
//! client of its own (`ClientBuilder` with HTTP/2, the built-in transport and its default flow-control
//! windows); each SSE connection is hyper's HTTP/2 client with the same windows, reading events as text.
//!
//! ```text
//! cargo run --release -p trident-watch --bin watch-fanout -- [OPTIONS]    (--help lists them)
//! ```
//!
//! By default it starts the server in a child process (this same binary, `--serve`), serving the watch
//! service with the library's `web::serve` exactly as `watch-server` does, with the HTTP/2 limit of
//! concurrent streams per connection at 100,000 (`watch-server --max-streams`) so that thousands of
//! watches fit on a few connections. Keeping the server in its own process lets its memory and CPU time
//! be read alone from `/proc/PID/`. With `--server`, start `watch-server --max-streams N` with N at least
//! watchers / connections.
//!
//! Every watcher watches the prefix `fanout/`; every put writes the time it was sent (Unix nanoseconds)
//! into its value, so each watcher measures the delivery latency of every event itself: put sent → event
//! decoded by the watcher. It prints the percentiles of all deliveries, the time until the last watcher
//! got each put, the server's resident memory before and after the watchers were created, and the CPU
//! time both sides used. It prints figures only and asserts nothing.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use trident::{Client, HttpVersion, ProtocolKind};
use trident_watch::proto::watch_stream_request::Request as StreamRequest;
use trident_watch::proto::{
    Event, KvServiceClient, PutRequest, RangeRequest, WatchRequest, WatchStreamRequest,
};
use trident_watch::web::ServeOptions;
use trident_watch::{Store, StoreConfig};

type BoxError = Box<dyn Error + Send + Sync>;

const PREFIX: &str = "fanout/";
const WARM_UP_PUTS: usize = 3;

struct Options {
    watchers: usize,
    connections: usize,
    puts: usize,
    interval: Duration,
    protocol: ProtocolKind,
    server: Option<String>,
    server_pid: Option<u32>,
    /// The modes to run, in order.
    modes: Vec<Mode>,
}

/// How the watchers watch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One `Watch` call each.
    Watch,
    /// Watches multiplexed on one `WatchStream` per connection.
    WatchStream,
    /// One `Watch` each, followed as server-sent events.
    Events,
}

const USAGE: &str = "\
usage: watch-fanout [options]

  --watchers N         concurrent watchers (default 10000)
  --connections N      HTTP/2 connections they share (default 8)
  --puts N             measured puts (default 50), after 3 warm-up puts
  --interval-ms N      time between puts (default 200)
  --protocol P         connect (default), grpc or grpc-web
  --mode M             watch (one Watch call per watcher), watch-stream (one WatchStream per
                       connection), sse (one Watch per watcher as server-sent events), or all
                       (default; each against a fresh server)
  --server URL         use a running server (watch-server --max-streams N) instead of a child
  --server-pid PID     its pid, to read its memory and CPU time

Each connection is a Trident client of its own, on its built-in HTTP/2 transport.
";

fn usage() -> ! {
    eprint!("{USAGE}");
    std::process::exit(2)
}

fn parse_options() -> Options {
    let mut options = Options {
        watchers: 10_000,
        connections: 8,
        puts: 50,
        interval: Duration::from_millis(200),
        protocol: ProtocolKind::CONNECT,
        server: None,
        server_pid: None,
        modes: vec![Mode::Watch, Mode::WatchStream, Mode::Events],
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        fn number<T: std::str::FromStr>(text: String) -> T {
            text.parse().unwrap_or_else(|_| usage())
        }
        match flag.as_str() {
            "--watchers" => options.watchers = number(value()),
            "--connections" => options.connections = number::<usize>(value()).max(1),
            "--puts" => options.puts = number(value()),
            "--interval-ms" => options.interval = Duration::from_millis(number(value())),
            "--protocol" => {
                options.protocol = match value().as_str() {
                    "connect" => ProtocolKind::CONNECT,
                    "grpc" => ProtocolKind::GRPC,
                    "grpc-web" => ProtocolKind::GRPC_WEB,
                    _ => usage(),
                }
            }
            "--server" => options.server = Some(value()),
            "--server-pid" => options.server_pid = Some(number(value())),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0)
            }
            "--mode" => {
                options.modes = match value().as_str() {
                    "watch" => vec![Mode::Watch],
                    "watch-stream" => vec![Mode::WatchStream],
                    "sse" => vec![Mode::Events],
                    "all" => vec![Mode::Watch, Mode::WatchStream, Mode::Events],
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    options
}

fn main() -> Result<(), BoxError> {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return serve_child();
    }
    let options = parse_options();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

/// The server process: the watch service on a loopback port, printed on stdout; it ends when its
/// parent closes its stdin.
fn serve_child() -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        let store = Store::new(StoreConfig::default());
        let router = trident::Router::new().add(trident_watch::routes(store));
        let options = ServeOptions {
            static_files: None,
            max_concurrent_streams: 100_000,
            ..ServeOptions::default()
        };
        tokio::spawn(trident_watch::web::serve(listener, router, options).into_future());
        // Serve until the benchmark closes our stdin (or goes away).
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
        })
        .await?;
        Ok(())
    })
}

/// A server child process, ended when dropped.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> Result<(ServerChild, String), BoxError> {
    let mut child = ServerChild(
        Command::new(std::env::current_exe()?)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected server output: {line:?}"))?
        .to_string();
    Ok((child, url))
}

/// Resident and peak memory of a process, in bytes, from `/proc/PID/status`.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat` (in USER_HZ = 100 ticks/s).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// An error with its sources, for messages.
fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A client on an HTTP/2 connection of its own: Trident's built-in transport, which keeps one
/// connection per client and origin.
///
/// Its default windows (2 MiB per stream, 5 MiB per connection) are enough for 1,250 watches on one
/// connection, so none are set here. With a `Watch` call each, every event is a small DATA frame of its
/// own (about 60 bytes), and h2 tolerates unread small frames up to a budget of half the connection
/// window: about 13,000 of them, the events of ten puts for every watch on the connection. With one
/// `WatchStream`, a put's 1,250 events (about 75 KB) fill under a twentieth of the stream window.
async fn client(url: &str, protocol: ProtocolKind) -> Result<KvServiceClient, BoxError> {
    let builder = Client::builder(url)
        .http_version(HttpVersion::Http2)
        .protocol(protocol);
    let client = KvServiceClient::new(builder.build()?);
    // One call first, so the connection is open (and the server known to answer) before the watchers
    // start; every later call shares it.
    client
        .range(RangeRequest {
            key: "fanout-setup".into(),
            ..Default::default()
        })
        .await?;
    Ok(client)
}

/// One watcher: watches the prefix, counts itself in `created` once the server confirmed the watch, and
/// collects (put number, latency in µs) for every event until it has seen `expected` puts.
async fn watcher(
    client: KvServiceClient,
    created: Arc<AtomicUsize>,
    expected: usize,
) -> Result<Vec<(u32, u32)>, BoxError> {
    let mut call = client
        .watch(WatchRequest {
            key: PREFIX.to_string(),
            prefix: true,
            ..Default::default()
        })
        .await?;
    let first = call.message().await?.ok_or("watch ended before created")?;
    if !first.created {
        return Err("the first response was not `created`".into());
    }
    created.fetch_add(1, Ordering::Relaxed);
    let mut seen = Vec::with_capacity(expected);
    while seen.len() < expected {
        let response = call
            .message()
            .await?
            .ok_or("watch ended before the last put")?;
        let now = unix_nanos();
        for event in response.events {
            seen.push(delivery(event, now)?);
        }
    }
    Ok(seen)
}

/// `count` watchers as watches on one `WatchStream` call: creates them all, counts each in `created`
/// once confirmed, and collects (put number, latency in µs) for every event of every watch until each
/// has seen `expected` puts.
async fn multiplexed_watchers(
    client: KvServiceClient,
    count: usize,
    created: Arc<AtomicUsize>,
    expected: usize,
) -> Result<Vec<(u32, u32)>, BoxError> {
    let mut call = client.watch_stream(());
    for _ in 0..count {
        call.send(WatchStreamRequest {
            request: Some(StreamRequest::Create(WatchRequest {
                key: PREFIX.to_string(),
                prefix: true,
                ..Default::default()
            })),
        })
        .await?;
    }
    let mut seen = Vec::with_capacity(expected * count);
    while seen.len() < expected * count {
        let response = call
            .message()
            .await?
            .ok_or("watch stream ended before the last put")?;
        if response.canceled {
            return Err(format!(
                "watch {} canceled: {}",
                response.watch_id, response.cancel_message
            )
            .into());
        }
        if response.created {
            created.fetch_add(1, Ordering::Relaxed);
        }
        let now = unix_nanos();
        for event in response.events {
            seen.push(delivery(event, now)?);
        }
    }
    Ok(seen)
}

/// The sending half of an HTTP/2 connection for server-sent events.
type EventsConnection = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An HTTP/2 connection of its own for server-sent events: hyper's client, with the windows Trident's
/// client uses (2 MiB per stream, 5 MiB per connection), as `client` has for the RPC modes.
async fn events_connection(url: &str) -> Result<EventsConnection, BoxError> {
    let authority = url.strip_prefix("http://").ok_or("an http:// URL")?;
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One watcher following `Watch` as server-sent events, as an `EventSource` would: counts itself in
/// `created` once the first event (the `created` response) arrived, and collects (put number,
/// latency in µs) for every change until it has seen `expected` puts.
async fn events_watcher(
    mut connection: EventsConnection,
    url: String,
    created: Arc<AtomicUsize>,
    expected: usize,
) -> Result<Vec<(u32, u32)>, BoxError> {
    // {"key":"fanout/","prefix":true}
    let query = "message=%7B%22key%22%3A%22fanout%2F%22%2C%22prefix%22%3Atrue%7D";
    let request = http::Request::get(format!("{url}/trident.watch.v1.KvService/Watch?{query}"))
        .header(http::header::ACCEPT, "text/event-stream")
        .body(Empty::<Bytes>::new())?;
    connection.ready().await?;
    let response = connection.send_request(request).await?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("the watch answered {}", response.status()).into());
    }
    let mut body = response.into_body();
    let mut pending: Vec<u8> = Vec::new();
    let mut seen = Vec::with_capacity(expected);
    let mut confirmed = false;
    while seen.len() < expected {
        let frame = body
            .frame()
            .await
            .ok_or("watch ended before the last put")??;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        let now = unix_nanos();
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = pending.drain(..end + 2).collect();
            for line in block.split(|b| *b == b'\n') {
                if line.starts_with(b"event: error") {
                    return Err(
                        format!("the watch failed: {}", String::from_utf8_lossy(&block)).into(),
                    );
                }
                let Some(json) = line.strip_prefix(b"data: ") else {
                    continue;
                };
                let response: serde_json::Value = serde_json::from_slice(json)?;
                if response["created"] == true {
                    if !confirmed {
                        confirmed = true;
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                for event in response["events"].as_array().into_iter().flatten() {
                    let value = event["kv"]["value"].as_str().unwrap_or_default();
                    seen.push(delivery_of(value, now)?);
                }
            }
        }
    }
    Ok(seen)
}

/// The put number and the latency in µs of one event received at `now`.
fn delivery(event: Event, now: u128) -> Result<(u32, u32), BoxError> {
    let value = event.kv.map(|kv| kv.value).unwrap_or_default();
    delivery_of(&value, now)
}

/// The put number and the latency in µs of a put's value (`"<number> <unix nanos when sent>"`)
/// received at `now`.
fn delivery_of(value: &str, now: u128) -> Result<(u32, u32), BoxError> {
    let (number, sent) = value.split_once(' ').ok_or("unexpected value")?;
    let sent: u128 = sent.parse()?;
    let micros = now.saturating_sub(sent) / 1_000;
    Ok((number.parse()?, u32::try_from(micros).unwrap_or(u32::MAX)))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

async fn run(options: Options) -> Result<(), BoxError> {
    for (i, &mode) in options.modes.iter().enumerate() {
        if i > 0 {
            println!();
            if options.server.is_some() {
                println!(
                    "(same server as before: it reuses the memory the first run freed, so its memory \
                     per watcher reads low; run one --mode at a time to measure it)"
                );
            }
        }
        run_mode(&options, mode).await?;
    }
    Ok(())
}

/// One run: the watchers in one mode, the puts, the figures.
async fn run_mode(options: &Options, mode: Mode) -> Result<(), BoxError> {
    let (_child, url, pid) = match &options.server {
        Some(url) => (None, url.clone(), options.server_pid),
        None => {
            let (child, url) = start_server()?;
            let pid = child.0.id();
            (Some(child), url, Some(pid))
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "watch-fanout: {} watchers ({}) over {} HTTP/2 connections ({}), {} puts every {} ms, server {url}, {cores} cores",
        options.watchers,
        match mode {
            Mode::Watch => "one Watch call each",
            Mode::WatchStream => "one WatchStream per connection",
            Mode::Events => "one Watch each as server-sent events",
        },
        options.connections,
        if mode == Mode::Events {
            "text/event-stream".to_string()
        } else {
            format!("{:?}", options.protocol)
        },
        options.puts,
        options.interval.as_millis()
    );

    // The writer has a connection of its own. One put first, so the server has done its lazy set-up.
    let writer = client(&url, options.protocol).await?;
    writer
        .put(PutRequest {
            key: "fanout-setup".into(),
            value: "x".into(),
            prev_kv: false,
        })
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = pid.and_then(memory);

    // The watchers, spread round-robin over the connections.
    let created = Arc::new(AtomicUsize::new(0));
    let expected = WARM_UP_PUTS + options.puts;
    let mut connections = Vec::with_capacity(options.connections);
    let mut event_connections = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        match mode {
            Mode::Events => event_connections.push(events_connection(&url).await?),
            _ => connections.push(client(&url, options.protocol).await?),
        }
    }
    let started = Instant::now();
    let tasks: Vec<_> = if mode == Mode::Events {
        (0..options.watchers)
            .map(|i| {
                let connection = event_connections[i % event_connections.len()].clone();
                tokio::spawn(events_watcher(
                    connection,
                    url.clone(),
                    created.clone(),
                    expected,
                ))
            })
            .collect()
    } else if mode == Mode::WatchStream {
        let n = connections.len();
        (0..n)
            .map(|i| {
                // The watchers split as evenly as they go.
                let count = options.watchers / n + usize::from(i < options.watchers % n);
                tokio::spawn(multiplexed_watchers(
                    connections[i].clone(),
                    count,
                    created.clone(),
                    expected,
                ))
            })
            .collect()
    } else {
        (0..options.watchers)
            .map(|i| {
                tokio::spawn(watcher(
                    connections[i % connections.len()].clone(),
                    created.clone(),
                    expected,
                ))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while created.load(Ordering::Relaxed) < options.watchers {
        if Instant::now() > deadline || tasks.iter().any(|t| t.is_finished()) {
            let done = created.load(Ordering::Relaxed);
            for task in tasks {
                if task.is_finished()
                    && let Ok(Err(error)) = task.await
                {
                    return Err(format!("{done} watchers created, then: {}", chain(&*error)).into());
                }
            }
            return Err(format!("only {done} of {} watchers created", options.watchers).into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let setup = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_watchers = pid.and_then(memory);
    println!(
        "{} watchers created in {:.2} s",
        options.watchers,
        setup.as_secs_f64()
    );

    // The writer: warm-up puts, then the measured ones, each value "<number> <unix nanos when sent>".
    let cpu_before = pid.and_then(cpu_time);
    let own_cpu_before = cpu_time(std::process::id());
    let mut next = tokio::time::Instant::now();
    for number in 0..expected {
        tokio::time::sleep_until(next).await;
        next += options.interval;
        writer
            .put(PutRequest {
                key: format!("{PREFIX}{}", number % 16),
                value: format!("{number} {}", unix_nanos()),
                prev_kv: false,
            })
            .await?;
    }
    let mut all = Vec::with_capacity(options.watchers * options.puts);
    let mut last_per_put = vec![0u32; expected];
    for task in tasks {
        let seen = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .map_err(|_| "a watcher did not get every put within 60 s")???;
        for (number, micros) in seen {
            let number = number as usize;
            if number >= WARM_UP_PUTS {
                all.push(micros);
            }
            if let Some(last) = last_per_put.get_mut(number) {
                *last = (*last).max(micros);
            }
        }
    }
    let cpu_used = match (cpu_before, pid.and_then(cpu_time)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let own_cpu_used = match (own_cpu_before, cpu_time(std::process::id())) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let after = pid.and_then(memory);

    all.sort_unstable();
    let mut fan_out: Vec<u32> = last_per_put[WARM_UP_PUTS..].to_vec();
    fan_out.sort_unstable();
    println!(
        "delivery latency (put sent -> event decoded by a watcher), {} deliveries:",
        all.len()
    );
    println!(
        "  p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 100.0)
    );
    println!(
        "time until the last watcher had a put: p50 {:.2} ms   max {:.2} ms",
        percentile(&fan_out, 50.0),
        percentile(&fan_out, 100.0)
    );
    match (before, with_watchers, after) {
        (Some((rss0, _)), Some((rss1, _)), Some((rss2, hwm))) => {
            let per_watcher = rss1.saturating_sub(rss0) as f64 / options.watchers.max(1) as f64;
            println!(
                "server memory: RSS {:.1} MiB before the watchers, {:.1} MiB with them, {:.1} MiB after \
                 the puts (peak {:.1} MiB): {:.1} KiB per watcher",
                mib(rss0),
                mib(rss1),
                mib(rss2),
                mib(hwm),
                per_watcher / 1024.0
            );
        }
        _ => println!("server memory: not measured (give --server-pid with --server)"),
    }
    let span = (options.interval * expected as u32).as_secs_f64();
    let seconds = |cpu: Option<Duration>| {
        cpu.map_or("?".to_string(), |c| format!("{:.2} s", c.as_secs_f64()))
    };
    println!(
        "CPU time while the puts were delivered (about {span:.1} s): server {}, watchers and writer {}",
        seconds(cpu_used),
        seconds(own_cpu_used)
    );
    Ok(())
}
