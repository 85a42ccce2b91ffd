//! Shared pieces of the benchmark suite: the echo service generated for each Rust peer from
//! `proto/trident/bench/v1/echo.proto`, the server settings every peer is held to, and the wire bytes the
//! load generators send.
//!
//! The peers are binaries in `src/bin/` (`trident-echo`, `tonic-echo`, `connectrpc-echo`, `hyper-echo`;
//! connect-go is in `go/`), `loadgen` drives what h2load cannot (ping-pong, idle streams), and `bench`
//! is the driver behind `benches/run`.

use std::net::SocketAddr;

pub mod rest_bindings;

/// Trident's messages, server trait and client for `trident.bench.v1`.
#[allow(missing_docs)]
pub mod trident_gen {
    include!(concat!(env!("OUT_DIR"), "/trident.bench.v1.rs"));
}

/// tonic's messages and server stubs for `trident.bench.v1`.
#[allow(missing_docs)]
pub mod tonic_gen {
    include!(concat!(env!("OUT_DIR"), "/tonic/trident.bench.v1.rs"));
}

/// connect-rust's buffa messages and service for `trident.bench.v1`.
#[allow(missing_docs, clippy::all)]
pub mod connect_gen {
    include!(concat!(
        env!("OUT_DIR"),
        "/connectrpc/trident.bench.v1.mod.rs"
    ));
}

/// The echo service as Trident serves it (`trident-echo`, `stream-memory`).
pub mod echo {
    use futures_util::StreamExt as _;
    use trident::{Error, Request, Response, ResponseStream, Streaming};

    use crate::trident_gen::{EchoRequest, EchoResponse, EchoService, StreamRequest};

    /// Answers `Echo` with the request's payload, `Stream` with `count` messages of `size` bytes (then
    /// holds the stream open with `hold`), and every `Bidi` message with its payload.
    pub struct Echo;

    impl EchoService for Echo {
        async fn echo(
            &self,
            request: Request<EchoRequest>,
        ) -> Result<Response<EchoResponse>, Error> {
            Ok(Response::new(EchoResponse {
                payload: request.into_message().payload,
            }))
        }

        async fn stream(
            &self,
            request: Request<StreamRequest>,
        ) -> Result<Response<ResponseStream<EchoResponse>>, Error> {
            let StreamRequest { count, size, hold } = request.into_message();
            let message = EchoResponse {
                payload: crate::wire::payload(size as usize),
            };
            let messages =
                futures_util::stream::repeat_with(move || Ok(message.clone())).take(count as usize);
            if hold {
                Ok(Response::new(Box::pin(
                    messages.chain(futures_util::stream::pending()),
                )))
            } else {
                Ok(Response::new(Box::pin(messages)))
            }
        }

        async fn bidi(
            &self,
            request: Request<Streaming<EchoRequest>>,
        ) -> Result<Response<ResponseStream<EchoResponse>>, Error> {
            let replies = request
                .into_message()
                .map(|message| message.map(|m| EchoResponse { payload: m.payload }));
            Ok(Response::new(Box::pin(replies)))
        }
    }
}

/// The settings every peer is configured with, written down in `benches/RESULTS.md` too. They are
/// hyper's own HTTP/2 defaults (what `trident::Server` uses), set explicitly on the peers that differ.
pub mod settings {
    /// HTTP/2 initial stream window (SETTINGS_INITIAL_WINDOW_SIZE), bytes.
    pub const STREAM_WINDOW: u32 = 1024 * 1024;
    /// HTTP/2 connection window, bytes.
    pub const CONNECTION_WINDOW: u32 = 1024 * 1024;
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u32 = 200;
    /// HTTP/2 SETTINGS_MAX_FRAME_SIZE, bytes.
    pub const MAX_FRAME_SIZE: u32 = 16 * 1024;
    /// Largest message a server accepts or sends: room for the 4 MiB scenario.
    pub const MAX_MESSAGE: usize = 8 * 1024 * 1024;
    /// Whether `BENCH_DEFAULTS=1` asks the peer to leave its library's HTTP/2 settings (windows, frame
    /// size, max concurrent streams) at their defaults instead of the constants above: the driver's
    /// "library defaults" rows. TCP_NODELAY and the message limits stay as they are.
    pub fn library_defaults() -> bool {
        std::env::var("BENCH_DEFAULTS").is_ok_and(|v| v == "1")
    }

    /// Runtime worker threads (`GOMAXPROCS` for Go), from `BENCH_WORKERS`, 1 by default: the server
    /// has one core.
    pub fn workers() -> usize {
        std::env::var("BENCH_WORKERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1)
    }
}

/// The address a peer binary serves on: its first argument, `127.0.0.1:50051` by default.
pub fn listen_addr() -> SocketAddr {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_string())
        .parse()
        .expect("the first argument is a socket address")
}

/// A Tokio runtime with [`settings::workers`] worker threads, the same for every Rust peer.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings::workers())
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Wire bytes of the benchmark's messages, encoded by hand so that every peer sees the same bytes.
pub mod wire {
    /// The payload of `size` bytes every scenario sends: a repeating, non-zero pattern.
    pub fn payload(size: usize) -> Vec<u8> {
        (0..size).map(|i| b'a' + (i % 26) as u8).collect()
    }

    fn varint(mut value: u64, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// `EchoRequest { payload }` (and `EchoResponse`, which has the same shape) in protobuf binary.
    pub fn echo_message(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 6);
        if !payload.is_empty() {
            out.push(0x0a); // field 1, length-delimited
            varint(payload.len() as u64, &mut out);
            out.extend_from_slice(payload);
        }
        out
    }

    /// `StreamRequest { count, size, hold }` in protobuf binary.
    pub fn stream_request(count: u32, size: u32, hold: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if count != 0 {
            out.push(0x08);
            varint(count.into(), &mut out);
        }
        if size != 0 {
            out.push(0x10);
            varint(size.into(), &mut out);
        }
        if hold {
            out.extend_from_slice(&[0x18, 1]);
        }
        out
    }

    /// One gRPC / Connect-streaming envelope: flags byte 0 (uncompressed), big-endian length, message.
    pub fn envelope(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + 5);
        out.push(0);
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use prost::Message as _;

        #[test]
        fn hand_encoding_matches_prost() {
            for size in [0, 1, 64, 127, 128, 1024, 4 << 20] {
                let payload = payload(size);
                let expected = crate::trident_gen::EchoRequest {
                    payload: payload.clone(),
                }
                .encode_to_vec();
                assert_eq!(echo_message(&payload), expected, "size {size}");
            }
            let expected = crate::trident_gen::StreamRequest {
                count: 1000,
                size: 64,
                hold: true,
            }
            .encode_to_vec();
            assert_eq!(stream_request(1000, 64, true), expected);
        }
    }
}
