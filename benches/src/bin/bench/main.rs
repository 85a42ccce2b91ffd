//! The benchmark driver behind `benches/run`: builds the connect-go peer, then for each scenario starts
//! each peer pinned to the server core, checks it answers correctly, drives it from the load core
//! (h2load, the in-process h2 client for ping-pong and idle streams, or each library's own client for
//! the client rows), records its CPU time and memory,
//! and prints a markdown report with the machine, the settings and one table of medians (min–max) with
//! Trident's ratio to each peer.
//!
//! `bench [--quick] [--runs N] [--seconds S] [--warmup S] [--peers a,b] [--scenarios x,y] [--save]`

mod client;
mod client_paths;
mod codecs;
mod defaults;
mod h2client;
mod h2load;
mod http1;
mod http3;
mod options;
mod peers;
mod report;
mod rest;
mod sys;
mod throughput;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use h2load::{Load, RequestSpec};
use options::{Options, settings_section};
use peers::{Dirs, Peer, Protocol, Server};
use report::{Cell, Figure, Row, num, percentile};

/// CPU and wall-clock accounting around one measured run.
struct Meter {
    server_pid: u32,
    server_cpu: u64,
    busy: u64,
    own: u64,
    start: Instant,
}

/// What a run cost.
struct Cost {
    wall_us: f64,
    server_cpu_us: f64,
    /// CPU time neither the server nor the load generator used: other work on the machine (cores).
    foreign_cores: f64,
}

impl Meter {
    fn start(server: &Server) -> Meter {
        Meter {
            server_pid: server.pid(),
            server_cpu: sys::process_cpu_us(server.pid()),
            busy: sys::system_busy_us(),
            own: sys::own_and_children_cpu_us(),
            start: Instant::now(),
        }
    }

    fn stop(self) -> Cost {
        let wall_us = self.start.elapsed().as_secs_f64() * 1e6;
        let server = sys::process_cpu_us(self.server_pid).saturating_sub(self.server_cpu) as f64;
        let busy = sys::system_busy_us().saturating_sub(self.busy) as f64;
        let own = sys::own_and_children_cpu_us().saturating_sub(self.own) as f64;
        Cost {
            wall_us,
            server_cpu_us: server,
            foreign_cores: ((busy - server - own) / wall_us).max(0.0),
        }
    }
}

/// Per-run samples of one peer in one throughput scenario.
#[derive(Default)]
struct Samples {
    rate: Vec<f64>,
    cpu_us_per_op: Vec<f64>,
    server_share: Vec<f64>,
    foreign: Vec<f64>,
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
    extra: Vec<f64>,
}

impl Samples {
    /// `†` when the server was not saturated (under 90% of its core): read CPU-µs per operation there.
    /// `‡` when other work on the machine took more than a quarter of a core in some run.
    fn saturation_note(&self) -> Option<String> {
        let share = Figure::new(self.server_share.clone()).median();
        let mut notes = Vec::new();
        if let Some(share) = share.filter(|s| *s < 0.9) {
            notes.push(format!("† {:.0}% CPU", share * 100.0));
        }
        if self.contention() > 0.25 {
            notes.push(format!("‡ {:.1} cores busy elsewhere", self.contention()));
        }
        (!notes.is_empty()).then(|| notes.join(" "))
    }

    fn contention(&self) -> f64 {
        self.foreign.iter().copied().fold(0.0, f64::max)
    }
}

struct Bench {
    options: Options,
    dirs: Dirs,
    addr: SocketAddr,
    rows: Vec<Row>,
    notes: Vec<String>,
    missing: Vec<(Peer, String)>,
    runtime: tokio::runtime::Runtime,
    /// Each peer's unary 64 B gRPC peak, for the fixed-rate latency runs.
    peaks: Vec<(Peer, f64)>,
    max_contention: f64,
    /// Extra environment for the peers started next (`BENCH_DEFAULTS=1` in the defaults scenario,
    /// `TRIDENT_ECHO_TLS_DIR` in the HTTP/3 one).
    peer_env: Vec<(&'static str, String)>,
}

impl Bench {
    fn start(&self, peer: Peer) -> Result<Server, String> {
        Server::start(
            peer,
            &self.dirs,
            self.addr,
            &self.options.server_cpu,
            self.options.workers,
            &self
                .peer_env
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect::<Vec<_>>(),
        )
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn missing_reason(&self, peer: Peer) -> Option<String> {
        self.missing
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, why)| why.clone())
    }

    fn log(&self, text: &str) {
        eprintln!("[bench] {text}");
    }

    /// Warm-up, then `--runs` h2load runs of `spec` under `load`; `per_call` scales requests to
    /// operations (messages in a stream, bytes in a large message).
    fn h2load_runs(
        &mut self,
        server: &Server,
        spec: &RequestSpec,
        load: &Load,
        per_call: f64,
    ) -> Result<Samples, String> {
        self.h2load_windows(server, spec, load, per_call, self.options.runs)
    }

    /// Warm-up, then `runs` h2load runs of `spec` under `load` (see [`Bench::h2load_runs`]).
    fn h2load_windows(
        &mut self,
        server: &Server,
        spec: &RequestSpec,
        load: &Load,
        per_call: f64,
        runs: usize,
    ) -> Result<Samples, String> {
        let warm = Load {
            seconds: self.options.warmup,
            log_file: None,
            ..load.clone()
        };
        h2load::run(&self.options.load_cpu, &self.base(), spec, &warm)?;
        let mut samples = Samples::default();
        for _ in 0..runs {
            if let Some(log) = &load.log_file {
                let _ = std::fs::remove_file(log);
            }
            let meter = Meter::start(server);
            let summary = h2load::run(&self.options.load_cpu, &self.base(), spec, load)?;
            let cost = meter.stop();
            if summary.failed + summary.errored > 0 || summary.succeeded == 0 {
                return Err(format!(
                    "h2load: {} succeeded, {} failed, {} errored",
                    summary.succeeded, summary.failed, summary.errored
                ));
            }
            let ops = summary.succeeded as f64 * per_call;
            samples.rate.push(summary.req_per_s * per_call);
            samples.cpu_us_per_op.push(cost.server_cpu_us / ops);
            samples.server_share.push(cost.server_cpu_us / cost.wall_us);
            samples.foreign.push(cost.foreign_cores);
            if let Some(log) = &load.log_file {
                let mut latencies = h2load::latencies_us(log);
                samples.extra.push(latencies.len() as f64 / summary.seconds);
                samples
                    .p50_us
                    .push(percentile(&mut latencies, 50.0).unwrap_or(0) as f64);
                samples
                    .p99_us
                    .push(percentile(&mut latencies, 99.0).unwrap_or(0) as f64);
            }
        }
        self.max_contention = self.max_contention.max(samples.contention());
        Ok(samples)
    }

    /// Runs `measure` against a fresh server of each peer; peers that fail get the reason in every row.
    fn each_peer(
        &mut self,
        peers: &[Peer],
        rows: &mut [Row],
        mut measure: impl FnMut(&mut Bench, Peer, &Server) -> Result<Vec<Cell>, String>,
    ) {
        for &peer in peers {
            let result = match self.missing_reason(peer) {
                Some(why) => Err(why),
                None => self.start(peer).and_then(|server| {
                    self.log(&format!("{} … {}", rows[0].scenario, peer.name()));
                    measure(self, peer, &server)
                }),
            };
            match result {
                Ok(cells) => {
                    for (row, cell) in rows.iter_mut().zip(cells) {
                        row.cells.push((peer, cell));
                    }
                }
                Err(why) => {
                    self.log(&format!("{}: {why}", peer.name()));
                    let short: String = why.chars().take(60).collect();
                    for row in rows.iter_mut() {
                        row.cells.push((peer, Cell::Missing(short.clone())));
                    }
                }
            }
        }
    }

    fn check(&self, protocol: Protocol, message: &[u8]) -> Result<(), String> {
        self.runtime
            .block_on(h2client::check_echo(self.addr, protocol, message))
            .map_err(|e| format!("wrong {} answer: {e}", protocol.name()))
    }

    fn unary(&mut self, size: usize, label: &str) {
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(size));
        let scenario = format!("unary {label}, gRPC, {}×{} streams", 16, 16);
        let mut rows = vec![
            Row::new(&scenario, "req/s", true),
            Row::new(&scenario, "server CPU-µs/call", false),
        ];
        let spec = match RequestSpec::new(
            Protocol::Grpc,
            "Echo",
            &message,
            &self.dirs.work,
            &format!("unary-{size}.grpc"),
        ) {
            Ok(spec) => spec,
            Err(e) => return self.notes.push(format!("cannot write a request body: {e}")),
        };
        let load = Load::saturating(16, 16, self.options.seconds);
        let peers = self.options.peers.clone();
        let is_64 = size == 64;
        self.each_peer(&peers, &mut rows, |bench, peer, server| {
            bench.check(Protocol::Grpc, &message)?;
            let samples = bench.h2load_runs(server, &spec, &load, 1.0)?;
            let rate = Figure::new(samples.rate.clone());
            if is_64 && let Some(peak) = rate.median() {
                bench.peaks.push((peer, peak));
            }
            Ok(vec![
                Cell::Value(rate, samples.saturation_note()),
                Cell::Value(Figure::new(samples.cpu_us_per_op), None),
            ])
        });
        self.rows.extend(rows);
    }

    fn latency(&mut self) {
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(64));
        let spec = match RequestSpec::new(
            Protocol::Grpc,
            "Echo",
            &message,
            &self.dirs.work,
            "latency.grpc",
        ) {
            Ok(spec) => spec,
            Err(e) => return self.notes.push(format!("cannot write a request body: {e}")),
        };
        let connections = 8;
        for fraction in [0.5, 0.8] {
            let scenario = format!(
                "unary 64 B at {:.0}% of own peak, gRPC, {connections} conns",
                fraction * 100.0
            );
            let mut rows = vec![
                Row::new(&scenario, "p50 µs", false),
                Row::new(&scenario, "p99 µs", false),
                Row::new(&scenario, "server CPU-µs/call", false),
                Row::new(&scenario, "achieved req/s", true),
            ];
            let peers = self.options.peers.clone();
            let log = self.dirs.work.join("latency.log");
            self.each_peer(&peers, &mut rows, |bench, peer, server| {
                bench.check(Protocol::Grpc, &message)?;
                let peak = match bench.peaks.iter().find(|(p, _)| *p == peer) {
                    Some((_, peak)) => *peak,
                    None => {
                        let load = Load::saturating(16, 16, bench.options.seconds);
                        let peak =
                            h2load::run(&bench.options.load_cpu, &bench.base(), &spec, &load)?
                                .req_per_s;
                        bench.peaks.push((peer, peak));
                        peak
                    }
                };
                let per_connection =
                    ((peak * fraction) / connections as f64).round().max(1.0) as u32;
                let load = Load {
                    connections,
                    streams: 64,
                    seconds: bench.options.seconds,
                    rate_per_connection: Some(per_connection),
                    log_file: Some(log.clone()),
                };
                let samples = bench.h2load_runs(server, &spec, &load, 1.0)?;
                let target = format!("(target {})", num((per_connection * connections) as f64));
                Ok(vec![
                    Cell::Value(Figure::new(samples.p50_us), None),
                    Cell::Value(Figure::new(samples.p99_us), None),
                    Cell::Value(Figure::new(samples.cpu_us_per_op), None),
                    Cell::Value(Figure::new(samples.extra), Some(target)),
                ])
            });
            self.rows.extend(rows);
        }
    }

    fn stream(&mut self) {
        let (count, size) = (1000u32, 64u32);
        let message = trident_benches::wire::stream_request(count, size, false);
        let spec = match RequestSpec::new(
            Protocol::Grpc,
            "Stream",
            &message,
            &self.dirs.work,
            "stream.grpc",
        ) {
            Ok(spec) => spec,
            Err(e) => return self.notes.push(format!("cannot write a request body: {e}")),
        };
        let scenario = format!("server stream, {count}×{size} B per call, gRPC, 4×4 streams");
        let mut rows = vec![
            Row::new(&scenario, "messages/s", true),
            Row::new(&scenario, "server CPU-µs/message", false),
        ];
        let load = Load::saturating(4, 4, self.options.seconds);
        let peers = self.options.peers.clone();
        self.each_peer(&peers, &mut rows, |bench, _peer, server| {
            let samples = bench.h2load_runs(server, &spec, &load, f64::from(count))?;
            Ok(vec![
                Cell::Value(Figure::new(samples.rate.clone()), samples.saturation_note()),
                Cell::Value(Figure::new(samples.cpu_us_per_op), None),
            ])
        });
        self.rows.extend(rows);
    }

    fn large(&mut self) {
        let size = 4 << 20;
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(size));
        let spec = match RequestSpec::new(
            Protocol::Grpc,
            "Echo",
            &message,
            &self.dirs.work,
            "large.grpc",
        ) {
            Ok(spec) => spec,
            Err(e) => return self.notes.push(format!("cannot write a request body: {e}")),
        };
        let scenario = "unary 4 MiB echo, gRPC, 2×2 streams";
        let mut rows = vec![
            Row::new(scenario, "MB/s echoed", true),
            Row::new(scenario, "server CPU-ms/call", false),
        ];
        let load = Load::saturating(2, 2, self.options.seconds);
        let peers = self.options.peers.clone();
        self.each_peer(&peers, &mut rows, |bench, _peer, server| {
            bench.check(Protocol::Grpc, &message)?;
            let samples = bench.h2load_runs(server, &spec, &load, 1.0)?;
            let mb = size as f64 / 1e6;
            Ok(vec![
                Cell::Value(
                    Figure::new(samples.rate.iter().map(|r| r * mb).collect()),
                    samples.saturation_note(),
                ),
                Cell::Value(
                    Figure::new(samples.cpu_us_per_op.iter().map(|c| c / 1e3).collect()),
                    None,
                ),
            ])
        });
        self.rows.extend(rows);
    }

    fn bidi(&mut self) {
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(64));
        let scenario = "bidi ping-pong, 64 B, one gRPC stream";
        let mut rows = vec![
            Row::new(scenario, "round trip p50 µs", false),
            Row::new(scenario, "round trip p99 µs", false),
            Row::new(scenario, "round trips/s", true),
            Row::new(scenario, "server CPU-µs/round trip", false),
        ];
        let peers = self.options.peers.clone();
        let seconds = self.options.seconds;
        let warmup = self.options.warmup;
        let runs = self.options.runs;
        self.each_peer(&peers, &mut rows, |bench, _peer, server| {
            let duration = |s: f64| Duration::from_secs_f64(s);
            bench
                .runtime
                .block_on(h2client::ping_pong(bench.addr, &message, duration(warmup)))
                .map_err(|e| format!("ping-pong: {e}"))?;
            let mut samples = Samples::default();
            for _ in 0..runs {
                let meter = Meter::start(server);
                let rtts = bench
                    .runtime
                    .block_on(h2client::ping_pong(bench.addr, &message, duration(seconds)))
                    .map_err(|e| format!("ping-pong: {e}"))?;
                let cost = meter.stop();
                let mut micros: Vec<u64> = rtts.iter().map(|d| d.as_micros() as u64).collect();
                samples.rate.push(rtts.len() as f64 / (cost.wall_us / 1e6));
                samples
                    .cpu_us_per_op
                    .push(cost.server_cpu_us / rtts.len() as f64);
                samples
                    .p50_us
                    .push(percentile(&mut micros, 50.0).unwrap_or(0) as f64);
                samples
                    .p99_us
                    .push(percentile(&mut micros, 99.0).unwrap_or(0) as f64);
                samples.foreign.push(cost.foreign_cores);
            }
            bench.max_contention = bench.max_contention.max(samples.contention());
            Ok(vec![
                Cell::Value(Figure::new(samples.p50_us), None),
                Cell::Value(Figure::new(samples.p99_us), None),
                Cell::Value(Figure::new(samples.rate), None),
                Cell::Value(Figure::new(samples.cpu_us_per_op), None),
            ])
        });
        self.rows.extend(rows);
    }

    fn idle(&mut self) {
        let (connections, per_connection) = (50usize, 200usize);
        let total = connections * per_connection;
        let scenario =
            format!("{total} idle server streams ({connections} conns × {per_connection})");
        let mut rows = vec![
            Row::new(&scenario, "RSS bytes/stream", false),
            Row::new(&scenario, "RSS MiB with streams", false),
        ];
        let peers = self.options.peers.clone();
        let runs = self.options.runs;
        for &peer in &peers {
            let mut per_stream = Vec::new();
            let mut totals = Vec::new();
            let mut failure = self.missing_reason(peer);
            for _ in 0..runs {
                if failure.is_some() {
                    break;
                }
                let result = self.start(peer).and_then(|server| {
                    self.log(&format!("{scenario} … {}", peer.name()));
                    self.runtime.block_on(async {
                        let clients = h2client::open_connections(self.addr, connections)
                            .await
                            .map_err(|e| format!("connect: {e}"))?;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let before = sys::rss_kib(server.pid());
                        let held = h2client::hold_streams(clients, per_connection)
                            .await
                            .map_err(|e| format!("streams: {e}"))?;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let after = sys::rss_kib(server.pid());
                        drop(held);
                        Ok::<_, String>((before, after))
                    })
                });
                match result {
                    Ok((before, after)) => {
                        per_stream
                            .push(after.saturating_sub(before) as f64 * 1024.0 / total as f64);
                        totals.push(after as f64 / 1024.0);
                    }
                    Err(why) => failure = Some(why),
                }
            }
            let cells = match failure {
                Some(why) => {
                    self.log(&format!("{}: {why}", peer.name()));
                    vec![Cell::Missing(why.clone()), Cell::Missing(why)]
                }
                None => vec![
                    Cell::Value(Figure::new(per_stream), None),
                    Cell::Value(Figure::new(totals), None),
                ],
            };
            for (row, cell) in rows.iter_mut().zip(cells) {
                row.cells.push((peer, cell));
            }
        }
        self.rows.extend(rows);
    }

    fn protocols(&mut self) {
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(64));
        for protocol in [Protocol::Connect, Protocol::Grpc, Protocol::GrpcWeb] {
            let scenario = format!("unary 64 B over {}, 16×16 streams", protocol.name());
            let mut rows = vec![
                Row::new(&scenario, "req/s", true),
                Row::new(&scenario, "server CPU-µs/call", false),
            ];
            let spec = match RequestSpec::new(
                protocol,
                "Echo",
                &message,
                &self.dirs.work,
                &format!("protocol-{}", protocol.name()),
            ) {
                Ok(spec) => spec,
                Err(e) => return self.notes.push(format!("cannot write a request body: {e}")),
            };
            let load = Load::saturating(16, 16, self.options.seconds);
            let peers: Vec<Peer> = self
                .options
                .peers
                .iter()
                .copied()
                .filter(|p| p.speaks(protocol))
                .collect();
            self.each_peer(&peers, &mut rows, |bench, _peer, server| {
                bench.check(protocol, &message)?;
                let samples = bench.h2load_runs(server, &spec, &load, 1.0)?;
                Ok(vec![
                    Cell::Value(Figure::new(samples.rate.clone()), samples.saturation_note()),
                    Cell::Value(Figure::new(samples.cpu_us_per_op), None),
                ])
            });
            self.rows.extend(rows);
        }
    }
}

fn main() {
    let options = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let dirs = Dirs::find();
    let mut missing = Vec::new();
    if options.peers.contains(&Peer::ConnectGo) {
        eprintln!("[bench] building the connect-go peer");
        if let Err(e) = peers::build_go(&dirs) {
            eprintln!("[bench] connect-go: {e}");
            missing.push((Peer::ConnectGo, "Go build failed".to_string()));
        }
    }
    for &peer in &options.peers {
        if !peers::available(peer, &dirs) && !missing.iter().any(|(p, _)| *p == peer) {
            missing.push((peer, "binary missing".into()));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let started = Instant::now();
    let machine = sys::machine_description();
    let mut bench = Bench {
        addr: "127.0.0.1:50551".parse().expect("an address"),
        dirs,
        rows: Vec::new(),
        notes: Vec::new(),
        missing,
        runtime,
        peaks: Vec::new(),
        max_contention: 0.0,
        peer_env: Vec::new(),
        options,
    };
    if bench.options.wants("unary64") {
        bench.unary(64, "64 B");
    }
    if bench.options.wants("unary1k") {
        bench.unary(1024, "1 KiB");
    }
    if bench.options.wants("latency") {
        bench.latency();
    }
    if bench.options.wants("stream") {
        bench.stream();
    }
    if bench.options.wants("bidi") {
        bench.bidi();
    }
    if bench.options.wants("large") {
        bench.large();
    }
    if bench.options.wants("idle") {
        bench.idle();
    }
    if bench.options.wants("protocols") {
        bench.protocols();
    }
    if bench.options.wants("defaults") {
        bench.defaults();
    }
    if bench.options.wants("http1") {
        bench.http1();
    }
    if bench.options.wants("codecs") {
        bench.codecs();
    }
    if bench.options.wants("rest") {
        bench.rest();
    }
    if bench.options.wants("clients") {
        bench.clients();
    }
    if bench.options.wants("http3") {
        bench.http3();
    }
    if bench.options.wants("client-paths") {
        bench.client_paths();
    }

    let command = std::iter::once("benches/run".to_string())
        .chain(bench.options.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut out = String::new();
    out += "<!-- Written by benches/run; the numbers below come from one run of the command on the machine described. -->\n\n";
    out += "# Benchmark results\n\n";
    out += &format!(
        "Command: `{command}` ({date}, {:.0} min)\n\n",
        started.elapsed().as_secs_f64() / 60.0
    );
    out += "## Machine\n\n";
    for line in &machine {
        out += &format!("- {line}\n");
    }
    out += &format!(
        "- contention: at most {:.2} cores of other work during a measured run (CPU time neither the server nor the load generator used)\n\n",
        bench.max_contention
    );
    out += "## Peers and settings\n\n";
    for peer in &bench.options.peers {
        out += &format!("- {}: {}\n", peer.name(), peer.describe());
    }
    for line in settings_section(&bench.options) {
        out += &format!("- {line}\n");
    }
    out += "\n## Results\n\n";
    out += &report::table(&bench.rows, &bench.options.peers);
    if !bench.notes.is_empty() || !bench.missing.is_empty() {
        out += "\n## Notes\n\n";
        for (peer, why) in &bench.missing {
            out += &format!("- {} is missing: {why}\n", peer.name());
        }
        for note in &bench.notes {
            out += &format!("- {note}\n");
        }
    }
    print!("{out}");
    let _ = std::fs::write(bench.dirs.work.join("RESULTS.md"), &out);
    if bench.options.save {
        let path = bench.dirs.benches.join("RESULTS.md");
        match std::fs::write(&path, &out) {
            Ok(()) => eprintln!("[bench] wrote {}", path.display()),
            Err(e) => eprintln!("[bench] cannot write {}: {e}", path.display()),
        }
    }
}
