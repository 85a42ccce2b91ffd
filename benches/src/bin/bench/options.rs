//! The driver's command line (which peers, scenarios, runs and cores) and the settings it reports.

use crate::peers::Peer;

pub const SCENARIOS: [&str; 15] = [
    "unary64",
    "unary1k",
    "latency",
    "stream",
    "bidi",
    "large",
    "idle",
    "protocols",
    "defaults",
    "http1",
    "codecs",
    "rest",
    "clients",
    "http3",
    "client-paths",
];

/// What to run, from the command line.
pub struct Options {
    pub runs: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub peers: Vec<Peer>,
    pub scenarios: Vec<String>,
    pub server_cpu: String,
    pub load_cpu: String,
    pub workers: usize,
    pub save: bool,
    pub args: Vec<String>,
}

impl Options {
    pub fn parse() -> Result<Options, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut o = Options {
            runs: 5,
            seconds: 5.0,
            warmup: 2.0,
            peers: Peer::ALL.to_vec(),
            scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
            server_cpu: "0".into(),
            load_cpu: "1".into(),
            workers: 1,
            save: false,
            args: args.clone(),
        };
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => {
                    o.seconds = 1.0;
                    o.warmup = 1.0;
                }
                "--runs" => o.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
                "--seconds" => {
                    o.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
                }
                "--warmup" => o.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
                "--peers" => {
                    o.peers = value()?
                        .split(',')
                        .map(|p| Peer::from_name(p).ok_or(format!("unknown peer {p}")))
                        .collect::<Result<_, _>>()?;
                }
                "--scenarios" => {
                    o.scenarios = value()?.split(',').map(String::from).collect();
                    if let Some(bad) = o
                        .scenarios
                        .iter()
                        .find(|s| !SCENARIOS.contains(&s.as_str()))
                    {
                        return Err(format!(
                            "unknown scenario {bad}; known: {}",
                            SCENARIOS.join(",")
                        ));
                    }
                }
                "--server-cpu" => o.server_cpu = value()?,
                "--load-cpu" => o.load_cpu = value()?,
                "--workers" => {
                    o.workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?
                }
                "--save" => o.save = true,
                "-h" | "--help" => {
                    return Err(format!(
                        "usage: benches/run [--quick] [--runs N] [--seconds S] [--warmup S] \
                         [--peers {}] [--scenarios {}] [--server-cpu N] [--load-cpu N] [--workers N] [--save]\n\
                         defaults: unary64 and stream again with every peer at its library's HTTP/2 defaults; \
                         http1: Connect unary 64 B over HTTP/1.1; codecs: Connect JSON unary 64 B, gRPC gzip unary 1 KiB and 64 KiB; \
                         rest: Trident's Connect JSON unary 64 B against the same call as a REST GET among 10 and 1000 bindings, over h2c and HTTP/1.1; client-paths: Trident's own client plain, with a retry policy, balanced over its one server, both, and balanced by p2c",
                        Peer::ALL.map(Peer::name).join(","),
                        SCENARIOS.join(",")
                    ));
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if o.runs < 1 {
            return Err("--runs must be at least 1".into());
        }
        Ok(o)
    }

    /// Whether `scenario` was asked for.
    pub fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

/// The report's "Peers and settings" lines that describe how every peer was run.
pub fn settings_section(options: &Options) -> Vec<String> {
    use trident_benches::settings::*;
    vec![
        format!(
            "server pinned to CPU {} and the load generator (h2load, or the driver's h2 client) to CPU {} with `taskset`",
            options.server_cpu, options.load_cpu
        ),
        format!(
            "server runtime workers: {} (Tokio multi-thread runtime with that many workers; `GOMAXPROCS` for Go); system allocator for the Rust peers, Go's own for Go",
            options.workers
        ),
        format!(
            "HTTP/2 (h2c, prior knowledge): initial stream window {STREAM_WINDOW} B, connection window {CONNECTION_WINDOW} B, max concurrent streams {MAX_CONCURRENT_STREAMS}, max frame {MAX_FRAME_SIZE} B, no adaptive window (hyper's defaults), set explicitly on every peer (`Server::http2_*` on Trident), except in the library-defaults rows"
        ),
        "library-defaults rows (`defaults`): the driver starts each peer with `BENCH_DEFAULTS=1`, and the peer sets no HTTP/2 window, frame size or max concurrent streams: Trident's `Server::new()`, tonic's `Server::builder()`, connect-rust's `Server` (adaptive window on, its default), hyper's `http2::Builder` and Go's `net/http` (no `HTTP2Config`) as they come; TCP_NODELAY and the message limits stay as below, h2load keeps its own settings".into(),
        "TCP_NODELAY on every accepted connection (Trident, tonic, connect-rust and raw hyper set it; Go sets it by default)".into(),
        "no compression outside the gzip rows: requests carry no `grpc-encoding`/`Content-Encoding`, and no server compresses unasked".into(),
        format!("message limits raised to {} MiB on every peer for the 4 MiB scenario", MAX_MESSAGE >> 20),
        "h2load: one thread, client windows 2^30, pre-encoded request bodies (the same bytes for every peer); unary and streaming scenarios use gRPC, which every peer speaks, except the HTTP/1.1 and JSON rows".into(),
        format!(
            "HTTP/1.1 row (`http1`): Connect unary 64 B (`application/proto`, `connect-protocol-version: 1`) with h2load `--h1`, {} connections with one request at a time each (`-m 1`, no pipelining); Trident's `Server`, connect-rust's `Server` and Go's `net/http` serve HTTP/1.1 on the same port with no extra setting; tonic speaks gRPC only and raw hyper HTTP/2 only. Before the load, the driver checks one call over HTTP/1.1 (hyper's client)",
            crate::http1::CONNECTIONS
        ),
        "JSON row (`codecs`): Connect unary with `content-type: application/json`, body `{\"payload\":\"<base64>\"}` of the 64 B payload; Trident and connect-go have JSON built in, connect-rust with its crate's `json` feature (and JSON impls generated by `connectrpc-build`); tonic has no JSON codec. The driver checks each answer decodes to the payload".into(),
        format!(
            "REST rows (`rest`, Trident only: no peer serves REST): unary `Echo` of the 64 B payload as Connect JSON (the JSON row's request) and as `GET /v1/echo/<base64url of the payload>` (a `google.api.http` binding of `Echo`, no body), both answered `{{\"payload\":\"<base64>\"}}`; `trident-echo` started with `TRIDENT_ECHO_REST_BINDINGS=10` (Connect JSON and the first GET) or `=1000` (its router holds that many bindings of five shapes: literal prefixes, two variables around literals, a custom verb with a body, a multi-segment variable, a `**` tail); over h2c (16×16 streams) and HTTP/1.1 (h2load `--h1`, {} connections × 1 request at a time). The three variants take turns, each run measuring each once (fresh server, one answer checked for status 200 and the payload in JSON, warm-up, one window), starting one further along each run; the REST cells give their ratio of medians to the variant they are compared with, and the notes the range of per-run ratios",
            crate::http1::CONNECTIONS
        ),
        "gzip rows (`codecs`): gRPC unary whose request message is gzip-compressed (envelope flag set, `grpc-encoding: gzip`, `grpc-accept-encoding: gzip`); the payload is text-like (words from a fixed 64-word vocabulary and one number in eight, picked by a seeded LCG, the same bytes for every peer; the title gives its compressed size). Every peer compresses at gzip level 6: Trident's `Router` default (gzip answers to a gzip request, messages of 1 KiB and more), tonic with its `gzip` feature and `accept_compressed`/`send_compressed`, connect-rust with its `gzip` feature and `GzipProvider::with_level(6)` (its default is 1), connect-go built in. Before the load, the driver checks each peer answers with a compressed message (flag set, `grpc-encoding: gzip`) that decompresses to the request's".into(),
        format!(
            "each figure: {} s warm-up, then {} runs of {} s; median **bold** with (min–max); a fresh server process per peer and scenario",
            options.warmup, options.runs, options.seconds
        ),
        "server CPU: utime+stime from `/proc/<pid>/stat` before and after each run; † marks runs where the server used under 90% of its core (not saturated, or starved by other work: read CPU-µs per call there); ‡ marks figures where other processes used more than a quarter of a core during a run (busy time from `/proc/stat` less the server's and the load generator's)".into(),
        "latency: h2load `--rps` (fixed rate per connection, 64 streams each) at 50% and 80% of each peer's own unary 64 B peak from this run, percentiles from h2load's per-request log".into(),
        "idle streams: the driver opens 50 connections (one warm-up call each), reads the server's VmRSS, opens 200 held `Stream` calls per connection, waits for each one's first message, reads VmRSS again".into(),
        "client rows: each library's own client (`client-load` for Trident, tonic 0.14 `Channel` and connect-rust's `Http2Connection`; `benches/go/client` for connect-go's over Go's h2c transport) calls `trident-echo` over gRPC with that many calls in flight, spread evenly over the connections (one client object per connection), each library at its client defaults; client and server on one runtime thread each; client CPU from its own `/proc/self/stat` over each window; latency of every call in the window; § marks rows where the server's core was over 90% busy, so the server may have set the pace".into(),
        "client-paths rows: Trident's client as in the client rows, built plain (one base URL, no retry policy), with `.retry(RetryPolicy::new())`, with `.endpoints([server])` (round-robin over that one endpoint), with both, and with `.balance(BalancePolicy::PowerOfTwoChoices)`; the variants take turns, each run measuring each once (fresh server, warm-up, one window), starting one variant further along each run; notes give each variant's ratio to plain".into(),
        "ratios are Trident's median divided by the peer's: above 1 is better for ↑ rows, below 1 is better for ↓ rows".into(),
    ]
}
