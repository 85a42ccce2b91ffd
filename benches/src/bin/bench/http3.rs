//! The `http3` scenario: HTTP/3 against HTTP/2, both over TLS with the same certificate, Trident's own
//! client (`client-load`) calling `trident-echo` with the Connect protocol: unary 64 B with 64 calls in
//! flight on one connection, and server-stream receive (1000 × 64 B per call, 16 in flight).
//!
//! No other peer has both an HTTP/3 server and client, so these rows compare transports, not
//! libraries: each has a Trident cell only, and a note gives HTTP/3's figures as a ratio to HTTP/2's.

use crate::Bench;
use crate::client::{ClientLoad, Window};
use crate::peers::Peer;
use crate::report::{Cell, Figure, Row};

/// A metric: its name, whether higher is better, and how a window gives its value.
type Metric = (&'static str, bool, fn(&Window) -> f64);

/// One load, measured over each HTTP version.
struct Case {
    label: &'static str,
    load: fn() -> ClientLoad,
    /// The metrics and how each is read from a window: name, higher is better, value.
    metrics: &'static [Metric],
}

const UNARY: Case = Case {
    label: "unary 64 B, Connect over TLS, 64 in flight over 1 connection",
    load: || ClientLoad {
        scenario: "unary",
        connections: 1,
        inflight: 64,
        size: 64,
        extra: Vec::new(),
    },
    metrics: &[
        ("calls/s", true, |w| w.calls / w.seconds),
        ("client CPU-µs/call", false, |w| w.client_cpu_us / w.calls),
        ("server CPU-µs/call", false, |w| w.server_cpu_us / w.calls),
        ("p50 µs", false, |w| w.p50_us),
        ("p99 µs", false, |w| w.p99_us),
    ],
};

const STREAM: Case = Case {
    label: "server-stream receive, 1000×64 B per call, Connect over TLS, 16 in flight over 1 connection",
    load: || ClientLoad {
        scenario: "stream",
        connections: 1,
        inflight: 16,
        size: 64,
        extra: Vec::new(),
    },
    metrics: &[
        ("messages/s", true, |w| w.messages / w.seconds),
        ("client CPU-µs/message", false, |w| {
            w.client_cpu_us / w.messages
        }),
        ("server CPU-µs/message", false, |w| {
            w.server_cpu_us / w.messages
        }),
    ],
};

impl Bench {
    /// The HTTP/3 rows and their note.
    pub(crate) fn http3(&mut self) {
        let dir = self.dirs.work.clone();
        self.peer_env = vec![("TRIDENT_ECHO_TLS_DIR", dir.display().to_string())];
        let ca = dir.join("cert.pem").display().to_string();
        for case in [UNARY, STREAM] {
            let mut medians = Vec::new();
            for version in ["2", "3"] {
                let scenario = format!("HTTP/{version}: {}", case.label);
                self.log(&format!("{scenario} … trident client"));
                let mut load = (case.load)();
                load.extra = [
                    "--protocol",
                    "connect",
                    "--http-version",
                    version,
                    "--tls-ca",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([ca.clone()])
                .collect();
                let mut rows: Vec<Row> = case
                    .metrics
                    .iter()
                    .map(|(metric, higher, _)| Row::new(&scenario, metric, *higher))
                    .collect();
                match self.client_windows(Peer::Trident, &load) {
                    Ok(windows) => {
                        for (row, (_, _, value)) in rows.iter_mut().zip(case.metrics) {
                            let figure = Figure::new(windows.iter().map(value).collect());
                            medians.push((version, row.metric.clone(), figure.median()));
                            row.cells.push((Peer::Trident, Cell::Value(figure, None)));
                        }
                    }
                    Err(why) => {
                        self.log(&format!("HTTP/{version}: {why}"));
                        let short: String = why.chars().take(60).collect();
                        for row in &mut rows {
                            row.cells
                                .push((Peer::Trident, Cell::Missing(short.clone())));
                        }
                    }
                }
                self.rows.extend(rows);
            }
            let ratios: Vec<String> = case
                .metrics
                .iter()
                .filter_map(|(metric, _, _)| {
                    let find = |v: &str| {
                        medians
                            .iter()
                            .find(|(version, m, _)| *version == v && m == metric)
                            .and_then(|(_, _, median)| *median)
                    };
                    let (h2, h3) = (find("2")?, find("3")?);
                    (h2 != 0.0).then(|| format!("{metric} {:.2}×", h3 / h2))
                })
                .collect();
            if !ratios.is_empty() {
                self.notes.push(format!(
                    "HTTP/3 ÷ HTTP/2 ({}): {}",
                    case.label,
                    ratios.join(", ")
                ));
            }
        }
        self.peer_env.clear();
    }
}
