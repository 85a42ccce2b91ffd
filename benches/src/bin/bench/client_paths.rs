//! The `client-paths` scenario: what Trident's client pays for its balancing and retry paths when it has
//! one endpoint and every call succeeds. Trident's client (`client-load`) calls `trident-echo` with gRPC
//! unary 64 B over one HTTP/2 connection, at 1 and 64 calls in flight, built six ways: plain (one base
//! URL, no retry policy, no interceptor: the baseline), with a retry policy (`--retry`), balancing over
//! the one server's address (`--balanced`, round-robin), both, balancing with power of two choices, and
//! with one pass-through interceptor on each side (`--intercept` on the client, and the server started
//! with `TRIDENT_ECHO_OBSERVE=intercept`).
//!
//! The variants take turns: each run measures every variant once (a fresh server, a warm-up, one
//! window), starting one variant further along each run, so drift on the machine hits all alike.
//! Each variant gets its rows (Trident cells only), and a note gives its figures as ratios to
//! plain's: of the medians, and the range of the ratios within each run.

use crate::Bench;
use crate::client::{ClientLoad, Window};
use crate::peers::Peer;
use crate::report::{Cell, Figure, Row};

/// A way of building the client: its name in the rows, the `client-load` arguments for it, and the
/// server's `TRIDENT_ECHO_OBSERVE` (empty: none).
struct Variant {
    name: &'static str,
    args: &'static [&'static str],
    server_observe: &'static str,
}

/// The variants, the baseline first.
const VARIANTS: [Variant; 6] = [
    Variant {
        name: "plain",
        args: &[],
        server_observe: "",
    },
    Variant {
        name: "retry",
        args: &["--retry"],
        server_observe: "",
    },
    Variant {
        name: "balanced",
        args: &["--balanced"],
        server_observe: "",
    },
    Variant {
        name: "balanced + retry",
        args: &["--balanced", "--retry"],
        server_observe: "",
    },
    Variant {
        name: "balanced p2c",
        args: &["--balance", "p2c"],
        server_observe: "",
    },
    Variant {
        name: "intercepted both sides",
        args: &["--intercept"],
        server_observe: "intercept",
    },
];

/// A metric: its name, whether higher is better, and how a window gives its value.
type Metric = (&'static str, bool, fn(&Window) -> f64);

const METRICS: [Metric; 5] = [
    ("calls/s", true, |w| w.calls / w.seconds),
    ("client CPU-µs/call", false, |w| w.client_cpu_us / w.calls),
    ("server CPU-µs/call", false, |w| w.server_cpu_us / w.calls),
    ("p50 µs", false, |w| w.p50_us),
    ("p99 µs", false, |w| w.p99_us),
];

/// Calls in flight of each case.
const INFLIGHT: [usize; 2] = [1, 64];

/// What a variant gave in one case: its windows in run order, or why it failed.
type Outcome = Result<Vec<Window>, String>;

impl Bench {
    /// The client-paths rows and their notes.
    pub(crate) fn client_paths(&mut self) {
        for inflight in INFLIGHT {
            let label = format!("unary 64 B, gRPC, {inflight} in flight over 1 connection");
            let outcomes = self.client_paths_case(inflight, &label);
            for (variant, outcome) in VARIANTS.iter().zip(&outcomes) {
                let scenario = format!("client paths, {}: {label}", variant.name);
                self.rows.extend(variant_rows(&scenario, outcome));
            }
            let ratios: Vec<String> = VARIANTS
                .iter()
                .zip(&outcomes)
                .skip(1)
                .filter_map(|(variant, outcome)| {
                    ratio_note(
                        variant.name,
                        outcomes[0].as_ref().ok()?,
                        outcome.as_ref().ok()?,
                    )
                })
                .collect();
            if !ratios.is_empty() {
                self.notes.push(format!(
                    "client paths ÷ plain ({label}; medians, then the range of per-run ratios): {}",
                    ratios.join("; ")
                ));
            }
        }
    }

    /// Measures every variant `runs` times at `inflight`, taking turns.
    fn client_paths_case(&mut self, inflight: usize, label: &str) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = VARIANTS.iter().map(|_| Ok(Vec::new())).collect();
        for run in 0..self.options.runs {
            for turn in 0..VARIANTS.len() {
                let i = (run + turn) % VARIANTS.len();
                let Ok(windows) = &mut outcomes[i] else {
                    continue;
                };
                let variant = &VARIANTS[i];
                self.log(&format!(
                    "client paths, {} (run {}): {label} … trident client",
                    variant.name,
                    run + 1
                ));
                let load = ClientLoad {
                    scenario: "unary",
                    connections: 1,
                    inflight,
                    size: 64,
                    extra: variant.args.iter().map(|s| s.to_string()).collect(),
                };
                self.peer_env = if variant.server_observe.is_empty() {
                    Vec::new()
                } else {
                    vec![("TRIDENT_ECHO_OBSERVE", variant.server_observe.to_string())]
                };
                let result = self.client_windows_of(Peer::Trident, &load, 1);
                self.peer_env.clear();
                match result {
                    Ok(window) => windows.extend(window),
                    Err(why) => {
                        self.log(&format!("client paths, {}: {why}", variant.name));
                        outcomes[i] = Err(why);
                    }
                }
            }
        }
        outcomes
    }
}

/// One row per metric for a variant: its Trident cell, or why it has none. The first row notes the
/// server's core when it was busy enough to have set the pace.
fn variant_rows(scenario: &str, outcome: &Outcome) -> Vec<Row> {
    METRICS
        .iter()
        .enumerate()
        .map(|(i, (metric, higher, value))| {
            let mut row = Row::new(scenario, metric, *higher);
            let cell = match outcome {
                Ok(windows) => Cell::Value(
                    Figure::new(windows.iter().map(value).collect()),
                    if i == 0 { server_busy(windows) } else { None },
                ),
                Err(why) => Cell::Missing(why.chars().take(60).collect()),
            };
            row.cells.push((Peer::Trident, cell));
            row
        })
        .collect()
}

/// `§ server core N% busy` when the server's core was over 90% busy in some window.
fn server_busy(windows: &[Window]) -> Option<String> {
    let busiest = windows
        .iter()
        .map(|w| w.server_cpu_us / (w.seconds * 1e6))
        .fold(0.0, f64::max);
    (busiest > 0.9).then(|| format!("§ server core {:.0}% busy", busiest * 100.0))
}

/// `name: calls/s 1.00× (0.98–1.02), …`: each metric's median over plain's, then the lowest and
/// highest ratio of the two within one run.
fn ratio_note(name: &str, plain: &[Window], variant: &[Window]) -> Option<String> {
    let parts: Vec<String> = METRICS
        .iter()
        .filter_map(|(metric, _, value)| {
            let median =
                |windows: &[Window]| Figure::new(windows.iter().map(value).collect()).median();
            let (base, this) = (median(plain)?, median(variant)?);
            if base == 0.0 {
                return None;
            }
            let per_run = Figure::new(
                plain
                    .iter()
                    .zip(variant)
                    .map(|(p, v)| value(v) / value(p))
                    .collect(),
            );
            let range = match (per_run.min(), per_run.max()) {
                (Some(lo), Some(hi)) => format!(" ({lo:.2}–{hi:.2})"),
                _ => String::new(),
            };
            Some(format!("{metric} {:.2}×{range}", this / base))
        })
        .collect();
    (!parts.is_empty()).then(|| format!("{name}: {}", parts.join(", ")))
}
