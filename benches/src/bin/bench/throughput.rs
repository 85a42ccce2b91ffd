//! The shape the library-defaults, HTTP/1.1 and codec scenarios share: one pre-encoded request sent by
//! h2load as hard as each peer can take it, giving two rows (a rate ↑ and the server's CPU per call or
//! message ↓). Each peer's answer is checked before it is measured; a peer that cannot serve the request
//! gets its reason in place of figures.

use crate::Bench;
use crate::h2load::{Load, RequestSpec};
use crate::peers::Peer;
use crate::report::{Cell, Figure, Row};

/// One saturating h2load scenario.
pub struct Throughput {
    /// The scenario's title in the table.
    pub scenario: String,
    /// The rate row's metric: `req/s`, `messages/s`.
    pub rate: &'static str,
    /// The CPU row's metric: `server CPU-µs/call`.
    pub cpu: &'static str,
    /// What h2load sends.
    pub spec: RequestSpec,
    /// How hard.
    pub load: Load,
    /// Operations per request (messages in a server stream), scaling both rows.
    pub per_call: f64,
}

impl Throughput {
    /// Unary calls: `req/s` and `server CPU-µs/call`.
    pub fn unary(scenario: String, spec: RequestSpec, load: Load) -> Throughput {
        Throughput {
            scenario,
            rate: "req/s",
            cpu: "server CPU-µs/call",
            spec,
            load,
            per_call: 1.0,
        }
    }
}

impl Bench {
    /// Measures `run` on every selected peer: a peer for which `support` gives a reason gets that reason
    /// in both rows; the others are started, checked with `check` (which must confirm the peer answered
    /// the way the scenario claims) and loaded. Adds the two rows to the report.
    pub(crate) fn throughput(
        &mut self,
        run: &Throughput,
        support: impl Fn(Peer) -> Result<(), &'static str>,
        mut check: impl FnMut(&Bench) -> Result<(), String>,
    ) {
        let mut rows = vec![
            Row::new(&run.scenario, run.rate, true),
            Row::new(&run.scenario, run.cpu, false),
        ];
        let mut peers = Vec::new();
        for peer in self.options.peers.clone() {
            match support(peer) {
                Ok(()) => peers.push(peer),
                Err(why) => {
                    for row in rows.iter_mut() {
                        row.cells.push((peer, Cell::Missing(why.into())));
                    }
                }
            }
        }
        self.each_peer(&peers, &mut rows, |bench, _peer, server| {
            check(bench)?;
            let samples = bench.h2load_runs(server, &run.spec, &run.load, run.per_call)?;
            Ok(vec![
                Cell::Value(Figure::new(samples.rate.clone()), samples.saturation_note()),
                Cell::Value(Figure::new(samples.cpu_us_per_op), None),
            ])
        });
        self.rows.extend(rows);
    }
}
