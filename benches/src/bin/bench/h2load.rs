//! Running h2load (nghttp2) on the load core against one peer, and reading its summary and per-request log.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::peers::Protocol;

/// One kind of request h2load sends over and over: path, headers and a pre-encoded body file (a POST),
/// or no body (a GET).
pub struct RequestSpec {
    /// The URL path: `/trident.bench.v1.EchoService/Echo`, or a REST resource's.
    pub path: String,
    /// Request headers, `name: value`.
    pub headers: Vec<&'static str>,
    /// The file holding the request body; `None` sends GETs.
    pub body: Option<PathBuf>,
    /// HTTP/1.1 instead of HTTP/2 (`h2load --h1`).
    pub http1: bool,
}

impl RequestSpec {
    /// `message` (a protobuf-encoded request) sent to `method` with `protocol`'s framing and headers;
    /// the body is written to `dir/name`.
    pub fn new(
        protocol: Protocol,
        method: &'static str,
        message: &[u8],
        dir: &Path,
        name: &str,
    ) -> std::io::Result<RequestSpec> {
        let (headers, body) = match protocol {
            Protocol::Grpc => (
                vec!["content-type: application/grpc", "te: trailers"],
                trident_benches::wire::envelope(message),
            ),
            Protocol::GrpcWeb => (
                vec!["content-type: application/grpc-web+proto", "x-grpc-web: 1"],
                trident_benches::wire::envelope(message),
            ),
            Protocol::Connect => (
                vec![
                    "content-type: application/proto",
                    "connect-protocol-version: 1",
                ],
                message.to_vec(),
            ),
        };
        let body_path = dir.join(name);
        std::fs::write(&body_path, body)?;
        Ok(RequestSpec {
            path: rpc_path(method),
            headers,
            body: Some(body_path),
            http1: false,
        })
    }

    /// A GET of `path`, with no body and no headers beyond h2load's own.
    pub fn get(path: String) -> RequestSpec {
        RequestSpec {
            path,
            headers: Vec::new(),
            body: None,
            http1: false,
        }
    }
}

/// The URL path of the echo service's `method`.
pub fn rpc_path(method: &str) -> String {
    format!("/trident.bench.v1.EchoService/{method}")
}

/// How hard to push.
#[derive(Clone, Debug)]
pub struct Load {
    /// Connections (h2load clients).
    pub connections: u32,
    /// Concurrent streams per connection.
    pub streams: u32,
    /// Measured duration, seconds.
    pub seconds: f64,
    /// Requests per second per connection, for fixed-rate runs.
    pub rate_per_connection: Option<u32>,
    /// Where h2load writes its per-request log, for latency runs.
    pub log_file: Option<PathBuf>,
}

impl Load {
    /// As hard as the peer can take: `connections` × `streams` concurrent calls for `seconds`.
    pub fn saturating(connections: u32, streams: u32, seconds: f64) -> Load {
        Load {
            connections,
            streams,
            seconds,
            rate_per_connection: None,
            log_file: None,
        }
    }
}

/// h2load's summary of a run.
#[derive(Debug)]
pub struct Summary {
    /// Requests answered with a 2xx status.
    pub succeeded: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Requests that hit a connection error.
    pub errored: u64,
    /// The measured duration.
    pub seconds: f64,
    /// Completed requests per second.
    pub req_per_s: f64,
}

/// Runs h2load pinned to `cpu` against `base` (`http://127.0.0.1:port`).
pub fn run(cpu: &str, base: &str, spec: &RequestSpec, load: &Load) -> Result<Summary, String> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu, "h2load", "-t", "1"])
        .arg(format!("-c{}", load.connections))
        .arg(format!("-m{}", load.streams))
        // In milliseconds: h2load takes no fractional seconds (`--warmup 0.5`).
        .arg(format!("-D{}ms", (load.seconds * 1000.0).round().max(1.0)))
        // The client's own windows (2^30) never throttle the server's responses.
        .args(["-w", "30", "-W", "30"]);
    if let Some(body) = &spec.body {
        cmd.arg("-d").arg(body);
    }
    for header in &spec.headers {
        cmd.arg("-H").arg(header);
    }
    if spec.http1 {
        cmd.arg("--h1");
    }
    if let Some(rate) = load.rate_per_connection {
        cmd.arg(format!("--rps={rate}"));
    }
    if let Some(log) = &load.log_file {
        cmd.arg(format!("--log-file={}", log.display()));
    }
    cmd.arg(format!("{base}{}", spec.path));
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run h2load: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse(&text).ok_or_else(|| {
        format!(
            "unreadable h2load output: {}{}",
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

fn number_before(text: &str, suffix: &str) -> Option<f64> {
    let end = text.find(suffix)?;
    let start = text[..end].trim_end().rfind(' ').map_or(0, |i| i + 1);
    text[start..end].trim().parse().ok()
}

fn parse(text: &str) -> Option<Summary> {
    let finished = text.lines().find(|l| l.starts_with("finished in"))?;
    // "finished in 5.00s, 123456.70 req/s, 12.34MB/s" (or "500.12ms" for short runs)
    let elapsed = finished.strip_prefix("finished in ")?.split(',').next()?;
    let seconds = match elapsed.strip_suffix("ms") {
        Some(ms) => ms.parse::<f64>().ok()? / 1e3,
        None => elapsed.strip_suffix('s')?.parse().ok()?,
    };
    let req_per_s = number_before(finished, " req/s")?;
    let requests = text.lines().find(|l| l.starts_with("requests:"))?;
    Some(Summary {
        succeeded: number_before(requests, " succeeded")? as u64,
        failed: number_before(requests, " failed")? as u64,
        errored: number_before(requests, " errored")? as u64,
        seconds,
        req_per_s,
    })
}

/// Response times (µs) of the successful requests in an h2load `--log-file`.
pub fn latencies_us(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let _start = fields.next()?;
            let status: u32 = fields.next()?.trim().parse().ok()?;
            let micros: u64 = fields.next()?.trim().parse().ok()?;
            (status == 200).then_some(micros)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_summary() {
        let text = "finished in 5.00s, 123456.70 req/s, 12.34MB/s\n\
                    requests: 617283 total, 617283 started, 617280 done, 617280 succeeded, 3 failed, 0 errored, 0 timeout\n";
        let summary = super::parse(text).unwrap();
        assert_eq!(summary.succeeded, 617280);
        assert_eq!(summary.failed, 3);
        assert_eq!(summary.errored, 0);
        assert!((summary.req_per_s - 123456.7).abs() < 1e-6);
        assert!((summary.seconds - 5.0).abs() < 1e-9);
        let short = text.replace("5.00s,", "500.00ms,");
        assert!((super::parse(&short).unwrap().seconds - 0.5).abs() < 1e-9);
    }
}
