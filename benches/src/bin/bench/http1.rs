//! The `http1` scenario: Connect unary calls (64 B, `application/proto`) over HTTP/1.1, which has no
//! multiplexing: h2load `--h1` with [`CONNECTIONS`] connections, one request at a time on each. Only
//! the peers that speak Connect and serve HTTP/1.1 take part; before the load, the driver sends one call
//! over HTTP/1.1 with hyper's client and checks the answer.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Bench;
use crate::h2client::Error;
use crate::h2load::{Load, RequestSpec};
use crate::peers::{Peer, Protocol};
use crate::throughput::Throughput;

/// HTTP/1.1 connections h2load opens; each carries one request at a time (`-m 1`, no pipelining).
pub const CONNECTIONS: u32 = 64;

impl Bench {
    /// Connect unary 64 B over HTTP/1.1: req/s and server CPU-µs/call.
    pub(crate) fn http1(&mut self) {
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(64));
        let mut spec = match RequestSpec::new(
            Protocol::Connect,
            "Echo",
            &message,
            &self.dirs.work,
            "http1-unary-64.connect",
        ) {
            Ok(spec) => spec,
            Err(e) => return self.notes.push(format!("cannot write a request body: {e}")),
        };
        spec.http1 = true;
        let run = Throughput::unary(
            format!("unary 64 B, Connect over HTTP/1.1, {CONNECTIONS} conns × 1 request at a time"),
            spec,
            Load::saturating(CONNECTIONS, 1, self.options.seconds),
        );
        self.throughput(&run, support, |bench| {
            bench
                .runtime
                .block_on(check_echo(bench.addr, &message))
                .map_err(|e| format!("wrong HTTP/1.1 answer: {e}"))
        });
    }
}

/// Which peers can serve Connect over HTTP/1.1.
fn support(peer: Peer) -> Result<(), &'static str> {
    match peer {
        Peer::Hyper => Err("HTTP/2-only server, no RPC layer"),
        _ if !peer.speaks(Protocol::Connect) => Err("speaks gRPC only, no Connect"),
        _ => Ok(()),
    }
}

/// Sends one Connect unary `Echo` call over an HTTP/1.1 connection and checks the answer is HTTP/1.1,
/// status 200, `application/proto`, and carries exactly `message` back.
async fn check_echo(addr: SocketAddr, message: &[u8]) -> Result<(), Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::post("/trident.bench.v1.EchoService/Echo")
        .header("host", addr.to_string())
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .body(Full::new(Bytes::copy_from_slice(message)))?;
    let response = sender.send_request(request).await?;
    if response.version() != http::Version::HTTP_11 {
        return Err(format!("answered with {:?}", response.version()).into());
    }
    if response.status() != 200 {
        return Err(format!("HTTP status {}", response.status()).into());
    }
    let content_type = response.headers().get("content-type").cloned();
    if content_type
        .as_ref()
        .is_none_or(|v| v != "application/proto")
    {
        return Err(format!("content-type {content_type:?}").into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    if body[..] != message[..] {
        return Err("the answer differs from the request".into());
    }
    Ok(())
}
