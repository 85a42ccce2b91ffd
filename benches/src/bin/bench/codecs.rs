//! The `codecs` scenario: what the wire format costs beyond the binary, uncompressed default.
//!
//! - JSON: Connect unary calls with `content-type: application/json`, the body
//!   `{"payload":"<base64>"}` of the 64 B payload, on the peers with a JSON codec.
//! - gzip: gRPC unary calls whose request message is gzip-compressed (envelope flag set,
//!   `grpc-encoding: gzip`) and which accept a gzip answer (`grpc-accept-encoding: gzip`), at 1 KiB and
//!   64 KiB. The payload is text-like, words drawn from a small fixed vocabulary (and some numbers) by a
//!   seeded LCG ([`text_payload`]), so that it compresses the way text does rather than trivially, and
//!   it is the same bytes for every peer.
//!
//! Before the load, each peer's answer is checked: the JSON one must decode to the payload, the gzip one
//! must be a compressed message (flag set, `grpc-encoding: gzip`) that decompresses to the request's;
//! otherwise the peer's cell says why.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use trident::compression::Compression as _;

use crate::Bench;
use crate::h2client::{self, Error};
use crate::h2load::{Load, RequestSpec};
use crate::peers::Peer;
use crate::throughput::Throughput;

/// The JSON row's request headers (Connect unary).
pub const JSON_HEADERS: [&str; 2] = [
    "content-type: application/json",
    "connect-protocol-version: 1",
];

/// The gzip rows' request headers (gRPC, compressed both ways).
const GZIP_HEADERS: [&str; 4] = [
    "content-type: application/grpc",
    "te: trailers",
    "grpc-encoding: gzip",
    "grpc-accept-encoding: gzip",
];

/// The words [`text_payload`] draws from.
const WORDS: [&str; 64] = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "which",
    "an",
    "but",
    "not",
    "have",
    "has",
    "one",
    "all",
    "server",
    "client",
    "request",
    "response",
    "message",
    "stream",
    "call",
    "error",
    "status",
    "deadline",
    "header",
    "trailer",
    "payload",
    "buffer",
    "window",
    "frame",
    "connection",
    "protocol",
    "service",
    "method",
    "codec",
    "compression",
    "timeout",
    "retry",
    "metadata",
    "latency",
    "throughput",
    "benchmark",
    "runtime",
    "thread",
    "queue",
    "socket",
    "handler",
    "router",
    "encoding",
    "version",
];

/// `size` bytes of text-like filler: words from [`WORDS`] picked by a fixed-seed LCG, one in eight
/// replaced by a number (as in log lines or ids), separated by spaces and now and then by a comma or a
/// full stop. Deterministic: the same bytes on every run.
pub fn text_payload(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x5EED_1234_ABCD_0001;
    let mut out = Vec::with_capacity(size + 16);
    while out.len() < size {
        // Knuth's MMIX constants; the high bits are the well-mixed ones.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        if (state >> 32) & 7 == 0 {
            out.extend_from_slice(((state >> 40) % 100_000).to_string().as_bytes());
        } else {
            out.extend_from_slice(WORDS[(state >> 58) as usize].as_bytes());
        }
        match (state >> 36) & 15 {
            0 => out.extend_from_slice(b". "),
            1 => out.extend_from_slice(b", "),
            _ => out.push(b' '),
        }
    }
    out.truncate(size);
    out
}

/// One gRPC envelope with the compressed flag holding `message` gzip-compressed (level 6).
fn gzip_envelope(message: &[u8]) -> Result<Vec<u8>, String> {
    let mut compressed = BytesMut::new();
    trident::compression::Gzip
        .compress(message, &mut compressed)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(compressed.len() + 5);
    out.push(1);
    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    out.extend_from_slice(&compressed);
    Ok(out)
}

/// The JSON row's request body: `{"payload":"<base64>"}`.
pub fn json_body(payload: &[u8]) -> String {
    format!(
        r#"{{"payload":"{}"}}"#,
        base64::engine::general_purpose::STANDARD.encode(payload)
    )
}

/// A request spec for `Echo` with `headers` and `body` written to `dir/name`.
pub fn spec(
    dir: &Path,
    name: &str,
    headers: &[&'static str],
    body: &[u8],
) -> Result<RequestSpec, String> {
    let path = dir.join(name);
    std::fs::write(&path, body).map_err(|e| format!("cannot write a request body: {e}"))?;
    Ok(RequestSpec {
        path: crate::h2load::rpc_path("Echo"),
        headers: headers.to_vec(),
        body: Some(path),
        http1: false,
    })
}

/// The JSON row's peers: those with a JSON codec.
fn json_support(peer: Peer) -> Result<(), &'static str> {
    match peer {
        Peer::Tonic => Err("no JSON codec: gRPC with protobuf only"),
        Peer::Hyper => Err("no RPC layer, no JSON"),
        _ => Ok(()),
    }
}

/// The gzip rows' peers: those with gzip.
fn gzip_support(peer: Peer) -> Result<(), &'static str> {
    match peer {
        Peer::Hyper => Err("no RPC layer, no compression"),
        _ => Ok(()),
    }
}

impl Bench {
    /// The JSON row and the two gzip rows.
    pub(crate) fn codecs(&mut self) {
        if let Err(e) = self.json_row() {
            self.notes.push(e);
        }
        for (size, label, streams) in [(1024, "1 KiB", 16), (64 << 10, "64 KiB", 4)] {
            if let Err(e) = self.gzip_row(size, label, streams) {
                self.notes.push(e);
            }
        }
    }

    fn json_row(&mut self) -> Result<(), String> {
        let payload = trident_benches::wire::payload(64);
        let body = json_body(&payload);
        let spec = spec(
            &self.dirs.work,
            "codecs-unary-64.json",
            &JSON_HEADERS,
            body.as_bytes(),
        )?;
        let run = Throughput::unary(
            "unary 64 B, Connect with JSON (`application/json`), 16×16 streams".into(),
            spec,
            Load::saturating(16, 16, self.options.seconds),
        );
        self.throughput(&run, json_support, |bench| {
            bench
                .runtime
                .block_on(check_json(bench.addr, body.as_bytes(), &payload))
                .map_err(|e| format!("wrong JSON answer: {e}"))
        });
        Ok(())
    }

    fn gzip_row(&mut self, size: usize, label: &str, streams: u32) -> Result<(), String> {
        let message = trident_benches::wire::echo_message(&text_payload(size));
        let envelope = gzip_envelope(&message)?;
        let percent = (envelope.len() - 5) as f64 * 100.0 / message.len() as f64;
        let spec = spec(
            &self.dirs.work,
            &format!("codecs-gzip-{size}.grpc"),
            &GZIP_HEADERS,
            &envelope,
        )?;
        let run = Throughput::unary(
            format!(
                "unary {label} text, gRPC with gzip both ways (gzipped to {percent:.0}%), \
                 {streams}×{streams} streams"
            ),
            spec,
            Load::saturating(streams, streams, self.options.seconds),
        );
        self.throughput(&run, gzip_support, |bench| {
            bench
                .runtime
                .block_on(check_gzip(bench.addr, &envelope, &message))
                .map_err(|e| format!("gzip: {e}"))
        });
        Ok(())
    }
}

/// Sends one `Echo` call over h2c with `headers` (`name: value`) and `body`; returns the response head,
/// its body and its trailers.
async fn call(
    addr: SocketAddr,
    headers: &[&str],
    body: &[u8],
) -> Result<(http::response::Parts, BytesMut, Option<HeaderMap>), Error> {
    let mut client = h2client::connect(addr).await?;
    let mut request = http::Request::post("http://127.0.0.1/trident.bench.v1.EchoService/Echo");
    for header in headers {
        let (name, value) = header.split_once(": ").ok_or("a header without `: `")?;
        request = request.header(name, value);
    }
    let (response, mut send) = client.send_request(request.body(())?, false)?;
    send.reserve_capacity(body.len());
    send.send_data(Bytes::copy_from_slice(body), true)?;
    let (parts, mut recv) = response.await?.into_parts();
    let mut data = BytesMut::new();
    while h2client::read_some(&mut recv, &mut data).await? {}
    let trailers = recv.trailers().await?;
    Ok((parts, data, trailers))
}

/// Checks a Connect JSON answer: see [`json_answer`].
async fn check_json(addr: SocketAddr, body: &[u8], payload: &[u8]) -> Result<(), Error> {
    let (parts, data, _) = call(addr, &JSON_HEADERS, body).await?;
    json_answer(&parts, &data, payload)
}

/// Checks an `Echo` answer in JSON (Connect's, or REST's): status 200, `application/json`, and a
/// `payload` field whose base64 decodes to `payload`.
pub fn json_answer(
    parts: &http::response::Parts,
    data: &[u8],
    payload: &[u8],
) -> Result<(), Error> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    if parts.status != 200 {
        return Err(format!("HTTP status {}", parts.status).into());
    }
    let content_type = parts.headers.get("content-type");
    if content_type.is_none_or(|v| !v.as_bytes().starts_with(b"application/json")) {
        return Err(format!("content-type {content_type:?}").into());
    }
    let answer: serde_json::Value = serde_json::from_slice(data)?;
    let text = answer
        .get("payload")
        .and_then(|p| p.as_str())
        .ok_or("no string field `payload`")?;
    let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or("`payload` is not base64")?;
    if decoded != payload {
        return Err("the payload differs from the request's".into());
    }
    Ok(())
}

/// Checks a gRPC gzip answer: status 200, `grpc-encoding: gzip`, one envelope with the compressed flag
/// whose gzip decompresses to `message`, and `grpc-status: 0`.
async fn check_gzip(addr: SocketAddr, envelope: &[u8], message: &[u8]) -> Result<(), Error> {
    let (parts, data, trailers) = call(addr, &GZIP_HEADERS, envelope).await?;
    if parts.status != 200 {
        return Err(format!("HTTP status {}", parts.status).into());
    }
    let status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| parts.headers.get("grpc-status"));
    if status.is_none_or(|s| s != "0") {
        return Err(format!("grpc-status {status:?}").into());
    }
    let encoding = parts.headers.get("grpc-encoding");
    if encoding.is_none_or(|e| e != "gzip") {
        return Err(format!("answered with grpc-encoding {encoding:?}, not gzip").into());
    }
    if data.len() < 5 {
        return Err("no message in the answer".into());
    }
    let length = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if data.len() != 5 + length {
        return Err(format!("{} bytes after a {length}-byte envelope", data.len() - 5).into());
    }
    if data[0] & 1 == 0 {
        return Err("the answer's message is not compressed (flag 0)".into());
    }
    let mut plain = BytesMut::new();
    trident::compression::Gzip.decompress(&data[5..], message.len() + 1, &mut plain)?;
    if plain[..] != message[..] {
        return Err("the decompressed answer differs from the request".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payload_is_fixed_and_compresses_like_text() {
        for size in [1024, 64 << 10] {
            let payload = text_payload(size);
            assert_eq!(payload.len(), size);
            assert_eq!(payload, text_payload(size));
            assert!(payload.is_ascii());
            let envelope = gzip_envelope(&payload).unwrap();
            let ratio = (envelope.len() - 5) as f64 / size as f64;
            assert!(
                (0.25..0.6).contains(&ratio),
                "{size} B gzipped to {ratio:.2}"
            );
        }
    }
}
