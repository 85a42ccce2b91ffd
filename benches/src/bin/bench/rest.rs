//! The `rest` scenario: what the server pays for a REST call (a method bound to a resource URL, as a
//! `google.api.http` rule binds it) against the same call as Connect with JSON, and whether the number
//! of bindings its router holds changes that. Trident only: no peer serves REST.
//!
//! Three variants of one unary `Echo` of a 64 B payload, each answered with `{"payload":"<base64>"}`:
//! - Connect JSON: POST `/trident.bench.v1.EchoService/Echo`, `application/json`, the body of the
//!   `codecs` scenario's JSON row;
//! - REST among 10 bindings: `GET /v1/echo/<base64url of the payload>`, no body, to `trident-echo`
//!   started with `TRIDENT_ECHO_REST_BINDINGS=10`;
//! - REST among 1,000 bindings: the same GET, with `TRIDENT_ECHO_REST_BINDINGS=1000`.
//!
//! Connect JSON runs against the 10-binding server (an RPC path never reaches the REST matcher). All
//! three run over h2c (16 connections × 16 streams, as the other unary rows) and over HTTP/1.1
//! ([`http1::CONNECTIONS`] connections, one request at a time each, as the `http1` row).
//!
//! The variants take turns, as in `client_paths`: each run measures every variant once (a fresh
//! server, one answer checked, a warm-up, one window), starting one variant further along each run, so
//! drift on the machine hits all alike. Each variant gets its rows; a REST row's cells carry the ratio
//! of its median to the median of the variant it is compared with, and a note adds the range of the
//! ratios within each run.

use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::codecs::{self, JSON_HEADERS};
use crate::h2client::Error;
use crate::h2load::{Load, RequestSpec};
use crate::http1;
use crate::peers::Peer;
use crate::report::{Cell, Figure, Row};
use crate::{Bench, Samples};

/// The environment variable that sets how many REST bindings `trident-echo`'s router holds.
const BINDINGS_ENV: &str = "TRIDENT_ECHO_REST_BINDINGS";

/// One way of making the call.
struct Variant {
    /// Its name in the rows.
    name: &'static str,
    /// How many REST bindings the server holds.
    bindings: usize,
    /// REST (a GET of the resource URL) rather than Connect JSON.
    rest: bool,
    /// The variant its ratios are to (an index into [`VARIANTS`]), and that variant's name in them.
    compared_with: Option<(usize, &'static str)>,
}

/// The variants, the baseline first.
const VARIANTS: [Variant; 3] = [
    Variant {
        name: "Connect JSON POST",
        bindings: 10,
        rest: false,
        compared_with: None,
    },
    Variant {
        name: "REST GET, 10 bindings",
        bindings: 10,
        rest: true,
        compared_with: Some((0, "Connect JSON")),
    },
    Variant {
        name: "REST GET, 1000 bindings",
        bindings: 1000,
        rest: true,
        compared_with: Some((1, "10 bindings")),
    },
];

/// A metric of a window: its name, whether higher is better, and its values, one per run.
type Metric = (&'static str, bool, fn(&Samples) -> &Vec<f64>);

const METRICS: [Metric; 2] = [
    ("req/s", true, |s| &s.rate),
    ("server CPU-µs/call", false, |s| &s.cpu_us_per_op),
];

/// What a variant gave over one transport: one sample per run, or why it failed.
type Outcome = Result<Samples, String>;

/// What is sent, over one transport.
struct Case {
    /// The transport and load, for the rows' titles.
    label: String,
    /// The Connect JSON request.
    connect: RequestSpec,
    /// The REST request.
    rest: RequestSpec,
    load: Load,
}

impl Bench {
    /// The REST rows and their notes.
    pub(crate) fn rest(&mut self) {
        let others: Vec<Peer> = self
            .options
            .peers
            .iter()
            .copied()
            .filter(|p| *p != Peer::Trident)
            .collect();
        if others.len() == self.options.peers.len() {
            return self
                .notes
                .push("rest: skipped, it measures the trident peer only".into());
        }
        let payload = trident_benches::wire::payload(64);
        let body = codecs::json_body(&payload);
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        let seconds = self.options.seconds;
        for http1 in [false, true] {
            let (label, load) = if http1 {
                let connections = http1::CONNECTIONS;
                (
                    format!("HTTP/1.1, {connections} conns × 1 request at a time"),
                    Load::saturating(connections, 1, seconds),
                )
            } else {
                (
                    "h2c, 16×16 streams".to_string(),
                    Load::saturating(16, 16, seconds),
                )
            };
            let name = if http1 {
                "rest-h1.json"
            } else {
                "rest-h2.json"
            };
            let mut connect =
                match codecs::spec(&self.dirs.work, name, &JSON_HEADERS, body.as_bytes()) {
                    Ok(spec) => spec,
                    Err(e) => return self.notes.push(e),
                };
            connect.http1 = http1;
            let mut rest = RequestSpec::get(format!("/v1/echo/{encoded}"));
            rest.http1 = http1;
            let case = Case {
                label,
                connect,
                rest,
                load,
            };
            let outcomes = self.rest_case(&case, &body, &encoded, &payload);
            for (variant, outcome) in VARIANTS.iter().zip(&outcomes) {
                let scenario = format!("unary 64 B JSON, {}: {}", case.label, variant.name);
                self.rows.extend(variant_rows(
                    &scenario, variant, outcome, &outcomes, &others,
                ));
            }
            let ratios: Vec<String> = VARIANTS
                .iter()
                .zip(&outcomes)
                .filter_map(|(variant, outcome)| {
                    let (base, base_name) = variant.compared_with?;
                    let note = ratio_note(outcomes[base].as_ref().ok()?, outcome.as_ref().ok()?);
                    Some(format!("{} ÷ {base_name}: {note}", variant.name))
                })
                .collect();
            if !ratios.is_empty() {
                self.notes.push(format!(
                    "REST, {} (medians, then the range of per-run ratios): {}",
                    case.label,
                    ratios.join("; ")
                ));
            }
        }
    }

    /// Measures every variant `--runs` times over `case`'s transport, taking turns.
    fn rest_case(
        &mut self,
        case: &Case,
        body: &str,
        encoded: &str,
        payload: &[u8],
    ) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = VARIANTS
            .iter()
            .map(|_| match self.missing_reason(Peer::Trident) {
                Some(why) => Err(why),
                None => Ok(Samples::default()),
            })
            .collect();
        for run in 0..self.options.runs {
            for turn in 0..VARIANTS.len() {
                let i = (run + turn) % VARIANTS.len();
                let Ok(samples) = &mut outcomes[i] else {
                    continue;
                };
                let variant = &VARIANTS[i];
                self.log(&format!(
                    "REST, {} (run {}): {} … trident",
                    variant.name,
                    run + 1,
                    case.label
                ));
                let spec = if variant.rest {
                    &case.rest
                } else {
                    &case.connect
                };
                self.peer_env = vec![(BINDINGS_ENV, variant.bindings.to_string())];
                let result = self.start(Peer::Trident).and_then(|server| {
                    let check = Check {
                        addr: self.addr,
                        http1: spec.http1,
                        payload,
                    };
                    let checked = if variant.rest {
                        self.runtime.block_on(check.rest(encoded, variant.bindings))
                    } else {
                        self.runtime.block_on(check.connect(body))
                    };
                    checked.map_err(|e| format!("wrong answer: {e}"))?;
                    self.h2load_windows(&server, spec, &case.load, 1.0, 1)
                });
                self.peer_env.clear();
                match result {
                    Ok(window) => {
                        samples.rate.extend(window.rate);
                        samples.cpu_us_per_op.extend(window.cpu_us_per_op);
                        samples.server_share.extend(window.server_share);
                        samples.foreign.extend(window.foreign);
                    }
                    Err(why) => {
                        self.log(&format!("REST, {}: {why}", variant.name));
                        outcomes[i] = Err(why);
                    }
                }
            }
        }
        outcomes
    }
}

/// One row per metric for a variant: its Trident cell (with the saturation marks on the rate, and the
/// ratio to the variant it is compared with), `n/a` for the other peers.
fn variant_rows(
    scenario: &str,
    variant: &Variant,
    outcome: &Outcome,
    outcomes: &[Outcome],
    others: &[Peer],
) -> Vec<Row> {
    METRICS
        .iter()
        .enumerate()
        .map(|(i, (metric, higher, values))| {
            let mut row = Row::new(scenario, metric, *higher);
            let cell = match outcome {
                Ok(samples) => {
                    let figure = Figure::new(values(samples).clone());
                    let ratio = variant.compared_with.and_then(|(base, name)| {
                        let base = Figure::new(values(outcomes[base].as_ref().ok()?).clone());
                        Some(format!("{:.2}× {name}", figure.median()? / base.median()?))
                    });
                    let saturation = if i == 0 {
                        samples.saturation_note()
                    } else {
                        None
                    };
                    let remark: Vec<String> = saturation.into_iter().chain(ratio).collect();
                    Cell::Value(figure, (!remark.is_empty()).then(|| remark.join(", ")))
                }
                Err(why) => Cell::Missing(why.chars().take(60).collect()),
            };
            row.cells.push((Peer::Trident, cell));
            for peer in others {
                row.cells.push((
                    *peer,
                    Cell::Missing("Trident only: no peer serves REST".into()),
                ));
            }
            row
        })
        .collect()
}

/// `req/s 1.02× (0.97–1.05), server CPU-µs/call …`: each metric's median over the base's, then the
/// lowest and highest ratio of the two within one run.
fn ratio_note(base: &Samples, variant: &Samples) -> String {
    let parts: Vec<String> = METRICS
        .iter()
        .filter_map(|(metric, _, values)| {
            let (of_base, of_variant) = (values(base), values(variant));
            let median = Figure::new(of_variant.clone()).median()?
                / Figure::new(of_base.clone()).median()?;
            let per_run = Figure::new(of_base.iter().zip(of_variant).map(|(b, v)| v / b).collect());
            let range = match (per_run.min(), per_run.max()) {
                (Some(lo), Some(hi)) => format!(" ({lo:.2}–{hi:.2})"),
                _ => String::new(),
            };
            Some(format!("{metric} {median:.2}×{range}"))
        })
        .collect();
    parts.join(", ")
}

/// The check of one answer before the load.
struct Check<'a> {
    addr: SocketAddr,
    http1: bool,
    payload: &'a [u8],
}

impl Check<'_> {
    /// A Connect JSON call with `body` must answer 200 with the payload in JSON.
    async fn connect(&self, body: &str) -> Result<(), Error> {
        let mut request = http::Request::post(self.uri(&crate::h2load::rpc_path("Echo")));
        for header in JSON_HEADERS {
            let (name, value) = header.split_once(": ").ok_or("a header without `: `")?;
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::copy_from_slice(body.as_bytes())))?;
        let (parts, data) = self.send(request).await?;
        codecs::json_answer(&parts, &data, self.payload)
    }

    /// `GET /v1/echo/<encoded>` must answer 200 with the payload in JSON; so must the last
    /// `/v1/extra{i}/echo/{payload}` of the extra bindings `trident-echo` adds to reach `bindings`
    /// (`trident_benches::rest_bindings::extra`, every fifth one), which shows the server holds them.
    async fn rest(&self, encoded: &str, bindings: usize) -> Result<(), Error> {
        let mut paths = vec![format!("/v1/echo/{encoded}")];
        let last = (bindings.saturating_sub(1) / 5) * 5;
        if last > 0 {
            paths.push(format!("/v1/extra{last}/echo/{encoded}"));
        }
        for path in paths {
            let request = http::Request::get(self.uri(&path)).body(Full::new(Bytes::new()))?;
            let (parts, data) = self.send(request).await?;
            codecs::json_answer(&parts, &data, self.payload).map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(())
    }

    /// The request URI: the path alone over HTTP/1.1 (with a `host` header), absolute over HTTP/2.
    fn uri(&self, path: &str) -> String {
        if self.http1 {
            path.to_string()
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Sends `request` on a new connection (HTTP/1.1 or h2c) and reads the whole answer, which must
    /// come in the same HTTP version.
    async fn send(
        &self,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, Bytes), Error> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let io = TokioIo::new(tcp);
        let (response, version) = if self.http1 {
            let host = http::HeaderValue::from_str(&self.addr.to_string())?;
            request.headers_mut().insert(http::header::HOST, host);
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            (sender.send_request(request).await?, http::Version::HTTP_11)
        } else {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            (sender.send_request(request).await?, http::Version::HTTP_2)
        };
        if response.version() != version {
            return Err(format!("answered with {:?}", response.version()).into());
        }
        let (parts, body) = response.into_parts();
        Ok((parts, body.collect().await?.to_bytes()))
    }
}
