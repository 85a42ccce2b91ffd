//! The soak: a Trident server (in a child process, at its defaults) under a steady mix of every call
//! type, protocol, codec and HTTP version, with connection churn, slow readers, cancellations and
//! deadlines, for as long as asked. Once a period (a minute by default) it prints the calls of each kind
//! that completed as expected in that period, the errors (expected ones, such as a deadline that was meant to pass, apart from unexpected ones) and
//! the resident memory of the server and of the client.
//!
//! ```text
//! cargo run --release -p trident-benches --bin soak -- --minutes 30
//! ```
//!
//! It exits non-zero if any call failed unexpectedly, and ends with the server's resident memory at
//! the end against its value after the first five minutes (or after the first period, for shorter
//! runs): a leak shows as growth there.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::panic::AssertUnwindSafe;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use trident::{Client, Code, ProtocolKind, Request, Server};
use trident_tests::{Codec, EchoRequest, EchoServiceClient, Http, TestService, router};

const USAGE: &str = "\
usage: soak [--minutes N] [--report-seconds S]

  --minutes N          how long to run (default 1; fractions allowed)
  --report-seconds S   how often to report (default 60)
";

/// How long the run warms up before its memory becomes the baseline.
const BASELINE_AFTER: Duration = Duration::from_secs(5 * 60);

/// What the workload does, one counter row each.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Unary,
    ServerStream,
    ClientStream,
    Bidi,
    Churn,
    SlowReader,
    Cancel,
    Deadline,
}

const KINDS: [Kind; 8] = [
    Kind::Unary,
    Kind::ServerStream,
    Kind::ClientStream,
    Kind::Bidi,
    Kind::Churn,
    Kind::SlowReader,
    Kind::Cancel,
    Kind::Deadline,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ServerStream => "server-stream",
            Kind::ClientStream => "client-stream",
            Kind::Bidi => "bidi",
            Kind::Churn => "new-connection",
            Kind::SlowReader => "slow-reader",
            Kind::Cancel => "cancel",
            Kind::Deadline => "deadline",
        }
    }
}

/// Completed calls and unexpected errors per kind.
#[derive(Default)]
struct Stats {
    ok: [AtomicU64; 8],
    unexpected: [AtomicU64; 8],
    /// The first few unexpected errors, to print.
    examples: std::sync::Mutex<Vec<String>>,
}

impl Stats {
    /// Records `calls` completed as expected, or one unexpected error.
    fn record(&self, kind: Kind, result: Result<u64, String>) {
        match result {
            Ok(calls) => self.ok[kind as usize].fetch_add(calls, Ordering::Relaxed),
            Err(error) => {
                let mut examples = self.examples.lock().unwrap_or_else(|e| e.into_inner());
                if examples.len() < 20 {
                    examples.push(format!("{}: {error}", kind.name()));
                }
                self.unexpected[kind as usize].fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    fn snapshot(&self) -> ([u64; 8], [u64; 8]) {
        let read =
            |counters: &[AtomicU64; 8]| counters.each_ref().map(|c| c.load(Ordering::Relaxed));
        (read(&self.ok), read(&self.unexpected))
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut minutes = 1.0f64;
    let mut report = Duration::from_secs(60);
    let mut serve = false;
    while let Some(arg) = args.next() {
        let value = |name: &str, value: Option<String>| -> f64 {
            match value.as_deref().map(str::parse::<f64>) {
                Some(Ok(number)) if number > 0.0 => number,
                _ => {
                    eprintln!("{name} needs a positive number\n{USAGE}");
                    std::process::exit(2);
                }
            }
        };
        match arg.as_str() {
            "--minutes" => minutes = value("--minutes", args.next()),
            "--report-seconds" => {
                report = Duration::from_secs_f64(value("--report-seconds", args.next()))
            }
            "--serve" => serve = true,
            _ => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    if serve {
        return runtime.block_on(run_server());
    }
    runtime.block_on(run_soak(Duration::from_secs_f64(minutes * 60.0), report))
}

/// The child: a server at every default, printing its address.
async fn run_server() -> ExitCode {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bind: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("a bound address");
    println!("listening on http://{addr}");
    match Server::new()
        .serve(listener, router(TestService::new()))
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("serve: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Kills the server when the soak ends, however it ends.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_soak(length: Duration, report: Duration) -> ExitCode {
    let exe = std::env::current_exe().expect("this program's path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the server's address");
    let server = ServerProcess(child);
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    println!(
        "soak: {:.1} minutes against {url} (server pid {}), reporting every {:?}",
        length.as_secs_f64() / 60.0,
        server.0.id(),
        report
    );

    let stats = Arc::new(Stats::default());
    let running = Arc::new(AtomicBool::new(true));
    let mut workers = Vec::new();
    let spawn = |workers: &mut Vec<_>, kind: Kind, work: fn(String) -> WorkFuture| {
        let (stats, running, url) = (stats.clone(), running.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                // A panic is an unexpected error like any other, and the worker goes on.
                let result = AssertUnwindSafe(work(url.clone()))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err("the work panicked".into()));
                stats.record(kind, result);
            }
        }));
    };
    for _ in 0..4 {
        spawn(&mut workers, Kind::Unary, |url| Box::pin(unary_round(url)));
    }
    spawn(&mut workers, Kind::ServerStream, |url| {
        Box::pin(server_stream(url))
    });
    spawn(&mut workers, Kind::ClientStream, |url| {
        Box::pin(client_stream(url))
    });
    spawn(&mut workers, Kind::Bidi, |url| Box::pin(bidi(url)));
    spawn(&mut workers, Kind::Churn, |url| Box::pin(churn(url)));
    spawn(&mut workers, Kind::SlowReader, |url| {
        Box::pin(slow_reader(url))
    });
    spawn(&mut workers, Kind::Cancel, |url| Box::pin(cancel(url)));
    spawn(&mut workers, Kind::Deadline, |url| Box::pin(deadline(url)));

    let started = Instant::now();
    let server_pid = server.0.id();
    let mut previous = stats.snapshot();
    let mut baseline: Option<(Duration, u64)> = None;
    let mut last_rss = 0;
    print_header();
    while started.elapsed() < length {
        let left = length.saturating_sub(started.elapsed());
        tokio::time::sleep(report.min(left)).await;
        let now = stats.snapshot();
        let server_rss = rss_kib(server_pid);
        let client_rss = rss_kib(std::process::id());
        print_row(started.elapsed(), &previous, &now, server_rss, client_rss);
        previous = now;
        last_rss = server_rss;
        let settled = started.elapsed() >= BASELINE_AFTER.min(report);
        let past_warmup = started.elapsed() >= BASELINE_AFTER;
        match baseline {
            None if settled => baseline = Some((started.elapsed(), server_rss)),
            Some((at, _)) if past_warmup && at < BASELINE_AFTER => {
                baseline = Some((started.elapsed(), server_rss));
            }
            _ => {}
        }
    }
    running.store(false, Ordering::Relaxed);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    }

    let (ok, unexpected) = stats.snapshot();
    let total_ok: u64 = ok.iter().sum();
    let total_unexpected: u64 = unexpected.iter().sum();
    println!(
        "\nsoak done after {:.1} minutes: {total_ok} calls completed as expected, {total_unexpected} unexpected errors",
        started.elapsed().as_secs_f64() / 60.0
    );
    for example in stats
        .examples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        println!("  unexpected: {example}");
    }
    if let Some((at, rss)) = baseline {
        let change = (last_rss as f64 / rss.max(1) as f64 - 1.0) * 100.0;
        println!(
            "server resident memory: {:.1} MiB at {:.1} min, {:.1} MiB at the end ({change:+.1}%)",
            rss as f64 / 1024.0,
            at.as_secs_f64() / 60.0,
            last_rss as f64 / 1024.0
        );
    }
    drop(server);
    if total_unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_header() {
    let mut line = format!("{:>7}", "minute");
    for kind in KINDS {
        let _ = write!(line, " {:>14}", kind.name());
    }
    let _ = write!(
        line,
        " {:>10} {:>12} {:>12}",
        "errors", "server MiB", "client MiB"
    );
    println!("{line}");
}

fn print_row(
    elapsed: Duration,
    previous: &([u64; 8], [u64; 8]),
    now: &([u64; 8], [u64; 8]),
    server_rss: u64,
    client_rss: u64,
) {
    let mut line = format!("{:>7.1}", elapsed.as_secs_f64() / 60.0);
    for kind in KINDS {
        let index = kind as usize;
        let _ = write!(line, " {:>14}", now.0[index] - previous.0[index]);
    }
    let errors: u64 = now.1.iter().sum::<u64>() - previous.1.iter().sum::<u64>();
    let _ = write!(
        line,
        " {errors:>10} {:>12.1} {:>12.1}",
        server_rss as f64 / 1024.0,
        client_rss as f64 / 1024.0
    );
    println!("{line}");
}

/// A process's resident memory, in KiB (0 where it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One round of some work: how many calls it completed as expected, or what went wrong.
type WorkFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send>>;

/// A client of `url` with these settings.
fn client(
    url: &str,
    protocol: ProtocolKind,
    codec: Codec,
    http: Http,
) -> Result<EchoServiceClient, String> {
    let builder = Client::builder(url).protocol(protocol);
    trident_tests::configure_builder(builder, codec, http)
        .build()
        .map(EchoServiceClient::new)
        .map_err(|e| e.to_string())
}

fn request(text: &str) -> Request<EchoRequest> {
    Request::new(EchoRequest {
        text: text.into(),
        ..Default::default()
    })
    .with_timeout(Duration::from_secs(30))
}

/// Every protocol, codec and HTTP version, one unary call each, on clients made for the round (their
/// connections stay open while the round lasts; new rounds reconnect, a gentle churn).
async fn unary_round(url: String) -> Result<u64, String> {
    let mut calls = 0;
    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ] {
        for codec in [Codec::Proto, Codec::Json] {
            for http in [Http::H1, Http::H2] {
                if protocol == ProtocolKind::GRPC && http == Http::H1 {
                    continue; // gRPC needs HTTP/2.
                }
                let client = client(&url, protocol, codec, http)?;
                for i in 0..20 {
                    let text = format!("unary {i}");
                    let reply = client
                        .echo(request(&text))
                        .await
                        .map_err(|e| format!("{protocol:?}/{codec:?}/{http:?}: {e}"))?;
                    if reply.message().text != text {
                        return Err(format!("echoed {:?}", reply.message().text));
                    }
                    calls += 1;
                }
            }
        }
    }
    Ok(calls)
}

async fn server_stream(url: String) -> Result<u64, String> {
    let client = client(&url, ProtocolKind::GRPC, Codec::Proto, Http::H2)?;
    let mut stream = client
        .repeat(
            Request::new(EchoRequest {
                text: "stream".into(),
                repeat: 100,
                ..Default::default()
            })
            .with_timeout(Duration::from_secs(30)),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut received = 0;
    while stream.message().await.map_err(|e| e.to_string())?.is_some() {
        received += 1;
    }
    if received == 100 {
        Ok(1)
    } else {
        Err(format!("{received} of 100 messages"))
    }
}

async fn client_stream(url: String) -> Result<u64, String> {
    let client = client(&url, ProtocolKind::CONNECT, Codec::Proto, Http::H1)?;
    let mut call = client.collect(Request::new(()).with_timeout(Duration::from_secs(30)));
    for _ in 0..50 {
        call.send(EchoRequest::default())
            .await
            .map_err(|e| e.to_string())?;
    }
    let response = call.close_and_receive().await.map_err(|e| e.to_string())?;
    match response.message().received {
        50 => Ok(1),
        other => Err(format!("the server counted {other} of 50")),
    }
}

async fn bidi(url: String) -> Result<u64, String> {
    let client = client(&url, ProtocolKind::GRPC_WEB, Codec::Json, Http::H2)?;
    let mut call = client.chat(Request::new(()).with_timeout(Duration::from_secs(30)));
    for i in 0..20 {
        call.send(EchoRequest {
            text: format!("ping {i}"),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        match call.message().await.map_err(|e| e.to_string())? {
            Some(_) => {}
            None => return Err(format!("the stream ended after {i} replies")),
        }
    }
    call.close_send().map_err(|e| e.to_string())?;
    match call.message().await.map_err(|e| e.to_string())? {
        None => Ok(1),
        Some(_) => Err("a reply too many".into()),
    }
}

/// A new client, so a new connection, for every call: the accept path and connection teardown.
async fn churn(url: String) -> Result<u64, String> {
    for http in [Http::H1, Http::H2] {
        let client = client(&url, ProtocolKind::CONNECT, Codec::Proto, http)?;
        client
            .echo(request("churn"))
            .await
            .map_err(|e| format!("{http:?}: {e}"))?;
    }
    Ok(2)
}

/// Opens a large server stream, reads a few messages slowly, and walks away.
async fn slow_reader(url: String) -> Result<u64, String> {
    let client = client(&url, ProtocolKind::GRPC, Codec::Proto, Http::H2)?;
    let mut stream = client
        .repeat(
            Request::new(EchoRequest {
                text: "x".repeat(4096),
                repeat: 100_000,
                ..Default::default()
            })
            .with_timeout(Duration::from_secs(60)),
        )
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..5 {
        stream
            .message()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the stream ended early")?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(1)
}

/// Starts a call that waits for cancellation and drops it midway.
async fn cancel(url: String) -> Result<u64, String> {
    let client = client(&url, ProtocolKind::CONNECT, Codec::Proto, Http::H2)?;
    let call = tokio::spawn(async move { client.wait(request("cancel me")).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    call.abort();
    match call.await {
        Err(joined) if joined.is_cancelled() => Ok(1),
        Err(joined) => Err(format!("the call's task failed: {joined}")),
        Ok(result) => Err(format!("a call waiting forever ended: {result:?}")),
    }
}

/// A call with a short deadline on a method that waits: `deadline_exceeded` is the expected end.
async fn deadline(url: String) -> Result<u64, String> {
    let client = client(&url, ProtocolKind::GRPC_WEB, Codec::Proto, Http::H1)?;
    let request = Request::new(EchoRequest::default()).with_timeout(Duration::from_millis(50));
    match client.wait(request).await {
        Err(error) if error.code() == Code::DeadlineExceeded => Ok(1),
        other => Err(format!("expected deadline_exceeded, got {other:?}")),
    }
}
