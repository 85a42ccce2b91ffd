//! One RPC client under load, for the driver's client rows: Trident's, tonic's or connect-rust's client
//! calls a running echo server over gRPC with a fixed number of calls in flight, and reports per
//! measured window how many calls completed, their latency and what the client's own process spent.
//! (connect-go's client is `benches/go/client`, which speaks the same command line and output.)
//!
//! `client-load --client trident|tonic|connect-rust --addr HOST:PORT [--connections C] [--inflight N]
//! [--scenario unary|stream] [--size BYTES] [--warmup S] [--seconds S] [--runs R] [--server-pid PID]
//! [--protocol grpc|connect] [--http-version 2|3] [--tls-ca PEM-FILE] [--balanced] [--balance rr|p2c]
//! [--retry] [--intercept]`
//!
//! `--protocol`, `--http-version` and `--tls-ca` apply to Trident's client only: with `--tls-ca` it
//! calls `https://` and trusts that certificate; HTTP/3 needs it. So do the client paths the driver's
//! `client-paths` rows compare, which take no value: `--balanced` builds the client with
//! `.endpoints([ADDR])`, balancing over that one endpoint (round-robin, or power of two choices with
//! `--balance p2c`, which implies `--balanced`); `--retry` adds `.retry(RetryPolicy::new())`, which
//! never fires while calls succeed; `--intercept` attaches an interceptor that passes every call on
//! unchanged. Without them the client calls its base URL with no retry policy and no interceptor.
//!
//! The calls in flight are spread evenly over `C` HTTP/2 connections (one client object per
//! connection, as each library opens one connection per client or channel). After the warm-up, each of
//! the `R` windows prints one line: `calls=… seconds=… messages=… p50_us=… p99_us=… client_cpu_us=…
//! server_cpu_us=…` (server CPU from `/proc/PID/stat` when `--server-pid` is given, else 0). Any failed
//! call ends the program with a message on stderr and exit status 1: a figure from a run that failed is
//! not a figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which library's client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Library {
    Trident,
    Tonic,
    ConnectRust,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// `Echo` with a payload of `size` bytes.
    Unary,
    /// `Stream`: 1000 messages of `size` bytes per call, all received.
    Stream,
}

/// Messages per `Stream` call.
const STREAM_COUNT: u32 = 1000;

struct Args {
    library: Library,
    addr: String,
    connections: usize,
    inflight: usize,
    scenario: Scenario,
    size: usize,
    warmup: f64,
    seconds: f64,
    runs: usize,
    server_pid: Option<u32>,
    protocol: trident::ProtocolKind,
    http_version: trident::HttpVersion,
    tls_ca: Option<String>,
    /// `Some` for a client balancing over `[addr]` with this policy.
    balance: Option<trident::client::BalancePolicy>,
    retry: bool,
    intercept: bool,
}

/// Changes nothing: what one interceptor costs a call (`--intercept`).
struct PassThrough;

impl trident::Interceptor for PassThrough {}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        library: Library::Trident,
        addr: "127.0.0.1:50551".into(),
        connections: 1,
        inflight: 16,
        scenario: Scenario::Unary,
        size: 64,
        warmup: 2.0,
        seconds: 5.0,
        runs: 1,
        server_pid: None,
        protocol: trident::ProtocolKind::GRPC,
        http_version: trident::HttpVersion::Http2,
        tls_ca: None,
        balance: None,
        retry: false,
        intercept: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // The switches, which take no value.
        match flag.as_str() {
            "--balanced" => {
                args.balance = Some(args.balance.unwrap_or_default());
                continue;
            }
            "--retry" => {
                args.retry = true;
                continue;
            }
            "--intercept" => {
                args.intercept = true;
                continue;
            }
            _ => {}
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--client" => {
                args.library = match value.as_str() {
                    "trident" => Library::Trident,
                    "tonic" => Library::Tonic,
                    "connect-rust" => Library::ConnectRust,
                    other => return Err(format!("unknown client {other}")),
                }
            }
            "--addr" => args.addr = value,
            "--connections" => args.connections = value.parse().map_err(|e| bad(&e))?,
            "--inflight" => args.inflight = value.parse().map_err(|e| bad(&e))?,
            "--scenario" => {
                args.scenario = match value.as_str() {
                    "unary" => Scenario::Unary,
                    "stream" => Scenario::Stream,
                    other => return Err(format!("unknown scenario {other}")),
                }
            }
            "--size" => args.size = value.parse().map_err(|e| bad(&e))?,
            "--warmup" => args.warmup = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            "--runs" => args.runs = value.parse().map_err(|e| bad(&e))?,
            "--server-pid" => args.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            "--protocol" => {
                args.protocol = match value.as_str() {
                    "grpc" => trident::ProtocolKind::GRPC,
                    "connect" => trident::ProtocolKind::CONNECT,
                    other => return Err(format!("unknown protocol {other}")),
                }
            }
            "--http-version" => {
                args.http_version = match value.as_str() {
                    "2" => trident::HttpVersion::Http2,
                    "3" => trident::HttpVersion::Http3,
                    other => return Err(format!("unknown HTTP version {other}")),
                }
            }
            "--tls-ca" => args.tls_ca = Some(value),
            "--balance" => {
                args.balance = Some(match value.as_str() {
                    "rr" => trident::client::BalancePolicy::RoundRobin,
                    "p2c" => trident::client::BalancePolicy::PowerOfTwoChoices,
                    other => return Err(format!("unknown balance policy {other}")),
                })
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.connections == 0 || args.inflight < args.connections {
        return Err("need at least one connection and one call in flight per connection".into());
    }
    if args.library != Library::Trident && (args.balance.is_some() || args.retry || args.intercept)
    {
        return Err(
            "--balanced, --balance, --retry and --intercept are options of Trident's client".into(),
        );
    }
    Ok(args)
}

/// What the call loops record: each unary call's latency in µs, and the messages received.
#[derive(Default)]
struct Record {
    latencies: std::sync::Mutex<Vec<u32>>,
    messages: AtomicU64,
}

impl Record {
    fn call(&self, started: Instant) {
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        self.latencies.lock().expect("not poisoned").push(micros);
    }
}

/// One connection's client, of whichever library.
#[derive(Clone)]
enum Caller {
    Trident(trident_benches::trident_gen::EchoServiceClient),
    Tonic(
        trident_benches::tonic_gen::echo_service_client::EchoServiceClient<
            tonic::transport::Channel,
        >,
    ),
    ConnectRust(
        Arc<
            trident_benches::connect_gen::EchoServiceClient<
                connectrpc::client::SharedHttp2Connection,
            >,
        >,
    ),
}

impl Caller {
    async fn connect(args: &Args) -> Result<Caller, String> {
        let addr = &args.addr;
        let url = format!("http://{addr}");
        match args.library {
            Library::Trident => {
                let builder = match &args.tls_ca {
                    None => trident::Client::builder(url),
                    Some(path) => trident::Client::builder(format!("https://{addr}"))
                        .tls_root_certificates_pem(
                            std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
                        ),
                };
                let builder = with_client_paths(
                    builder
                        .protocol(args.protocol)
                        .http_version(args.http_version),
                    args,
                )?;
                let client = builder.build().map_err(|e| e.to_string())?;
                Ok(Caller::Trident(
                    trident_benches::trident_gen::EchoServiceClient::new(client),
                ))
            }
            Library::Tonic => {
                let channel = tonic::transport::Endpoint::from_shared(url)
                    .map_err(|e| e.to_string())?
                    .connect()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Caller::Tonic(
                    trident_benches::tonic_gen::echo_service_client::EchoServiceClient::new(
                        channel,
                    ),
                ))
            }
            Library::ConnectRust => {
                let uri: http::Uri = url
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| e.to_string())?;
                let connection =
                    connectrpc::client::Http2Connection::connect_plaintext(uri.clone())
                        .await
                        .map_err(|e| e.to_string())?
                        .shared(1024);
                let config = connectrpc::client::ClientConfig::new(uri)
                    .with_protocol(connectrpc::Protocol::Grpc);
                Ok(Caller::ConnectRust(Arc::new(
                    trident_benches::connect_gen::EchoServiceClient::new(connection, config),
                )))
            }
        }
    }

    /// One unary call; checks the echo.
    async fn unary(&self, payload: &[u8]) -> Result<(), String> {
        let echoed = match self {
            Caller::Trident(client) => {
                let request = trident_benches::trident_gen::EchoRequest {
                    payload: payload.to_vec(),
                };
                let response = client.echo(request).await.map_err(|e| e.to_string())?;
                response.into_message().payload.len()
            }
            Caller::Tonic(client) => {
                let request = trident_benches::tonic_gen::EchoRequest {
                    payload: payload.to_vec(),
                };
                let response = client
                    .clone()
                    .echo(request)
                    .await
                    .map_err(|e| e.to_string())?;
                response.into_inner().payload.len()
            }
            Caller::ConnectRust(client) => {
                let request = trident_benches::connect_gen::EchoRequest {
                    payload: payload.to_vec(),
                    ..Default::default()
                };
                let response = client.echo(request).await.map_err(|e| e.to_string())?;
                response.view().payload.len()
            }
        };
        if echoed != payload.len() {
            return Err(format!("echoed {echoed} bytes of {}", payload.len()));
        }
        Ok(())
    }

    /// One `Stream` call of `STREAM_COUNT` messages of `size` bytes, all received; counts them in
    /// `messages` as they arrive.
    async fn stream(&self, size: usize, messages: &AtomicU64) -> Result<(), String> {
        let mut received = 0u32;
        match self {
            Caller::Trident(client) => {
                let request = trident_benches::trident_gen::StreamRequest {
                    count: STREAM_COUNT,
                    size: size as u32,
                    hold: false,
                };
                let mut call = client.stream(request).await.map_err(|e| e.to_string())?;
                while let Some(message) = call.message().await.map_err(|e| e.to_string())? {
                    check_size(message.payload.len(), size)?;
                    received += 1;
                    messages.fetch_add(1, Ordering::Relaxed);
                }
            }
            Caller::Tonic(client) => {
                let request = trident_benches::tonic_gen::StreamRequest {
                    count: STREAM_COUNT,
                    size: size as u32,
                    hold: false,
                };
                let mut stream = client
                    .clone()
                    .stream(request)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                while let Some(message) = stream.message().await.map_err(|e| e.to_string())? {
                    check_size(message.payload.len(), size)?;
                    received += 1;
                    messages.fetch_add(1, Ordering::Relaxed);
                }
            }
            Caller::ConnectRust(client) => {
                let request = trident_benches::connect_gen::StreamRequest {
                    count: STREAM_COUNT,
                    size: size as u32,
                    hold: false,
                    ..Default::default()
                };
                let mut stream = client.stream(request).await.map_err(|e| e.to_string())?;
                while let Some(message) = stream.message().await.map_err(|e| e.to_string())? {
                    check_size(message.payload().len(), size)?;
                    received += 1;
                    messages.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if received != STREAM_COUNT {
            return Err(format!("received {received} of {STREAM_COUNT} messages"));
        }
        Ok(())
    }
}

/// Adds the client paths asked for to Trident's `builder`: balancing over the one server's address, a
/// retry policy, and an interceptor.
fn with_client_paths(
    mut builder: trident::client::ClientBuilder,
    args: &Args,
) -> Result<trident::client::ClientBuilder, String> {
    if let Some(policy) = args.balance {
        let addr: std::net::SocketAddr = args.addr.parse().map_err(|e| {
            format!(
                "--balanced needs an IP:PORT address, not {}: {e}",
                args.addr
            )
        })?;
        builder = builder.endpoints([addr]).balance(policy);
    }
    if args.retry {
        builder = builder.retry(trident::client::RetryPolicy::new());
    }
    if args.intercept {
        builder = builder.intercept(PassThrough);
    }
    Ok(builder)
}

fn check_size(got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("a message of {got} bytes, expected {want}"))
    }
}

/// One of the calls in flight: calls back to back until the process ends.
async fn call_loop(caller: Caller, args: Arc<Args>, record: Arc<Record>) -> Result<(), String> {
    let payload = trident_benches::wire::payload(args.size);
    loop {
        let started = Instant::now();
        match args.scenario {
            Scenario::Unary => {
                caller.unary(&payload).await?;
                record.call(started);
            }
            Scenario::Stream => {
                caller.stream(args.size, &record.messages).await?;
                record.call(started);
            }
        }
    }
}

/// utime + stime of a process, µs.
fn cpu_us(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * 10_000
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(args: Args) -> Result<(), String> {
    let args = Arc::new(args);
    let mut callers = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        callers.push(Caller::connect(&args).await?);
    }
    let record = Arc::new(Record::default());
    let (failed_tx, mut failed) = tokio::sync::mpsc::channel::<String>(1);
    for i in 0..args.inflight {
        let caller = callers[i % args.connections].clone();
        let (args, record, failed_tx) = (args.clone(), record.clone(), failed_tx.clone());
        tokio::spawn(async move {
            if let Err(e) = call_loop(caller, args, record).await {
                let _ = failed_tx.send(e).await;
            }
        });
    }
    let wait = |seconds: f64| tokio::time::sleep(Duration::from_secs_f64(seconds));
    tokio::select! {
        _ = wait(args.warmup) => {}
        Some(e) = failed.recv() => return Err(e),
    }
    let server = args.server_pid.map(|p| p.to_string());
    for _ in 0..args.runs {
        record.latencies.lock().expect("not poisoned").clear();
        let messages = record.messages.load(Ordering::Relaxed);
        let client_cpu = cpu_us("self");
        let server_cpu = server.as_deref().map(cpu_us).unwrap_or(0);
        let started = Instant::now();
        tokio::select! {
            _ = wait(args.seconds) => {}
            Some(e) = failed.recv() => return Err(e),
        }
        let mut latencies = std::mem::take(&mut *record.latencies.lock().expect("not poisoned"));
        let seconds = started.elapsed().as_secs_f64();
        let client_cpu = cpu_us("self") - client_cpu;
        let server_cpu = server.as_deref().map(cpu_us).unwrap_or(0) - server_cpu;
        let messages = record.messages.load(Ordering::Relaxed) - messages;
        latencies.sort_unstable();
        println!(
            "calls={} seconds={seconds:.4} messages={messages} p50_us={} p99_us={} client_cpu_us={client_cpu} server_cpu_us={server_cpu}",
            latencies.len(),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
        );
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("client-load: {e}");
            std::process::exit(2);
        }
    };
    // The same runtime as the server peers: one worker thread, the work spawned onto it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let result = runtime.block_on(async { tokio::spawn(run(args)).await });
    match result {
        Ok(Ok(())) => std::process::exit(0),
        Ok(Err(e)) => {
            eprintln!("client-load: {e}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("client-load: {e}");
            std::process::exit(1);
        }
    }
}
