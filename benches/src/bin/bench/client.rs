//! The client rows: each library's RPC client (Trident's, tonic's, connect-rust's from `client-load`,
//! connect-go's from `benches/go/client`) calls the same server, Trident's `trident-echo`, over gRPC.
//!
//! The server is Trident's because it is the cheapest server of the suite per call (the server rows
//! show it), so it leaves the most headroom; each row notes how busy the server's core was, so a row
//! where the server and not the client set the pace can be told apart. The client is pinned to the
//! load core and the server to the server core, one runtime thread each (`GOMAXPROCS=1` for Go).

use std::process::Command;

use crate::Bench;
use crate::peers::{Peer, Server};
use crate::report::{Cell, Figure, Row};

/// One measured window of a client, as `client-load` prints it.
pub(crate) struct Window {
    pub calls: f64,
    pub seconds: f64,
    pub messages: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub client_cpu_us: f64,
    pub server_cpu_us: f64,
}

impl Window {
    fn parse(line: &str) -> Option<Window> {
        let field = |name: &str| -> Option<f64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(Window {
            calls: field("calls")?,
            seconds: field("seconds")?,
            messages: field("messages")?,
            p50_us: field("p50_us")?,
            p99_us: field("p99_us")?,
            client_cpu_us: field("client_cpu_us")?,
            server_cpu_us: field("server_cpu_us")?,
        })
    }
}

/// What one client is asked to do.
pub(crate) struct ClientLoad {
    pub scenario: &'static str,
    pub connections: usize,
    pub inflight: usize,
    pub size: usize,
    /// More arguments for `client-load` (Trident's only: protocol, HTTP version, TLS).
    pub extra: Vec<String>,
}

/// The clients that exist: every peer but raw hyper, which has no RPC client.
fn command(bench: &Bench, peer: Peer) -> Result<Command, String> {
    let (program, library) = match peer {
        Peer::Trident => (bench.dirs.rust_bin.join("client-load"), Some("trident")),
        Peer::Tonic => (bench.dirs.rust_bin.join("client-load"), Some("tonic")),
        Peer::ConnectRust => (
            bench.dirs.rust_bin.join("client-load"),
            Some("connect-rust"),
        ),
        Peer::ConnectGo => (bench.dirs.work.join("connect-go-client"), None),
        Peer::Hyper => return Err("no RPC client".into()),
    };
    if !program.exists() {
        return Err(format!("{} is missing", program.display()));
    }
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &bench.options.load_cpu]).arg(program);
    if let Some(library) = library {
        cmd.args(["--client", library]);
    }
    Ok(cmd)
}

impl Bench {
    /// Runs one client against a fresh `trident-echo`: a warm-up, then `runs` windows.
    pub(crate) fn client_windows(
        &mut self,
        peer: Peer,
        load: &ClientLoad,
    ) -> Result<Vec<Window>, String> {
        self.client_windows_of(peer, load, self.options.runs)
    }

    /// Runs one client against a fresh `trident-echo`: a warm-up, then `runs` windows of the
    /// configured length.
    pub(crate) fn client_windows_of(
        &mut self,
        peer: Peer,
        load: &ClientLoad,
        runs: usize,
    ) -> Result<Vec<Window>, String> {
        let mut cmd = command(self, peer)?;
        let server: Server = self.start(Peer::Trident)?;
        cmd.args(["--addr", &self.addr.to_string()])
            .args(["--scenario", load.scenario])
            .args(["--connections", &load.connections.to_string()])
            .args(["--inflight", &load.inflight.to_string()])
            .args(["--size", &load.size.to_string()])
            .args(["--warmup", &self.options.warmup.to_string()])
            .args(["--seconds", &self.options.seconds.to_string()])
            .args(["--runs", &runs.to_string()])
            .args(["--server-pid", &server.pid().to_string()])
            .args(&load.extra);
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run the client: {e}"))?;
        drop(server);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("client failed: {}", stderr.trim()));
        }
        let windows: Vec<Window> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(Window::parse)
            .collect();
        if windows.len() != runs || windows.iter().any(|w| w.calls == 0.0) {
            return Err("the client reported no calls".into());
        }
        Ok(windows)
    }

    /// The client rows: unary 64 B at 1, 16, 64 and 256 calls in flight over one connection and at 16,
    /// 64 and 256 over four, then server-streaming receive.
    pub fn clients(&mut self) {
        let mut configs: Vec<(usize, usize)> = [1, 16, 64, 256].map(|n| (1, n)).to_vec();
        configs.extend([16, 64, 256].map(|n| (4, n)));
        for (connections, inflight) in configs {
            let load = ClientLoad {
                scenario: "unary",
                connections,
                inflight,
                size: 64,
                extra: Vec::new(),
            };
            let plural = if connections == 1 { "" } else { "s" };
            let scenario = format!(
                "client: unary 64 B, gRPC, {inflight} in flight over {connections} connection{plural}"
            );
            let mut rows = vec![
                Row::new(&scenario, "calls/s", true),
                Row::new(&scenario, "client CPU-µs/call", false),
                Row::new(&scenario, "p50 µs", false),
                Row::new(&scenario, "p99 µs", false),
            ];
            self.client_rows(&mut rows, &load, |w| {
                vec![
                    w.calls / w.seconds,
                    w.client_cpu_us / w.calls,
                    w.p50_us,
                    w.p99_us,
                ]
            });
            self.rows.extend(rows);
        }
        let load = ClientLoad {
            scenario: "stream",
            connections: 1,
            inflight: 16,
            size: 64,
            extra: Vec::new(),
        };
        let scenario = "client: server-stream receive, 1000×64 B per call, gRPC, 16 in flight over 1 connection";
        let mut rows = vec![
            Row::new(scenario, "messages/s", true),
            Row::new(scenario, "client CPU-µs/message", false),
        ];
        self.client_rows(&mut rows, &load, |w| {
            vec![w.messages / w.seconds, w.client_cpu_us / w.messages]
        });
        self.rows.extend(rows);
    }

    /// Fills `rows` for every peer's client: `figures` turns a window into one value per row; the first
    /// row notes the server's core when it was busy enough to have set the pace.
    fn client_rows(
        &mut self,
        rows: &mut [Row],
        load: &ClientLoad,
        figures: impl Fn(&Window) -> Vec<f64>,
    ) {
        let peers = self.options.peers.clone();
        for peer in peers {
            self.log(&format!("{} … {} client", rows[0].scenario, peer.name()));
            let cells = match self.client_windows(peer, load) {
                Ok(windows) => {
                    let mut columns = vec![Vec::new(); rows.len()];
                    for window in &windows {
                        for (column, value) in columns.iter_mut().zip(figures(window)) {
                            column.push(value);
                        }
                    }
                    let busiest = windows
                        .iter()
                        .map(|w| w.server_cpu_us / (w.seconds * 1e6))
                        .fold(0.0, f64::max);
                    let note = (busiest > 0.9)
                        .then(|| format!("§ server core {:.0}% busy", busiest * 100.0));
                    columns
                        .into_iter()
                        .enumerate()
                        .map(|(i, column)| {
                            Cell::Value(
                                Figure::new(column),
                                if i == 0 { note.clone() } else { None },
                            )
                        })
                        .collect()
                }
                Err(why) => {
                    self.log(&format!("{} client: {why}", peer.name()));
                    let short: String = why.chars().take(60).collect();
                    vec![Cell::Missing(short); rows.len()]
                }
            };
            for (row, cell) in rows.iter_mut().zip(cells) {
                row.cells.push((peer, cell));
            }
        }
    }
}
