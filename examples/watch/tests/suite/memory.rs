//! One connection must not be able to make the server hold unbounded memory: a client opens many `Watch`
//! streams that replay a large history on one HTTP/2 connection, opens its flow-control windows wide, and
//! never reads a byte. The server (a `watch-server` child process, so that its resident memory can be
//! read alone from `/proc`) must grow by a bounded amount, and keep serving others.

use std::time::Duration;

use crate::common::process::{ServerProcess, resident_kib};
use crate::common::*;
use prost::Message as _;
use tokio::io::AsyncWriteExt as _;
use trident_watch::proto::*;

/// Events of history every stream replays, of [`VALUE_BYTES`] each: 16 MiB in all (shared by every
/// watcher: the history is kept once).
const HISTORY_EVENTS: usize = 2_000;
const VALUE_BYTES: usize = 8 * 1024;
/// Streams the client opens on its one connection.
const STREAMS: u32 = 1_000;

/// The bound on the server's growth, in KiB.
///
/// The server accepts at most 100 concurrent streams per connection (`DEFAULT_MAX_CONCURRENT_STREAMS`);
/// the other 900 are refused. Each accepted stream may pin:
/// - what hyper's HTTP/2 layer buffers for it while the peer does not read: at most its per-stream send
///   buffer, 400 KiB (the client's window is wide open, so flow control does not stop it sooner);
/// - the response body's batch of framed messages, at most 32 KiB and one message;
/// - one watch response being produced: about `CATCH_UP_BYTES` (64 KiB) of events and one change, here
///   at most 72 KiB, encoded once more when framed.
///
/// That is about 100 x (400 + 32 + 2 x 72) KiB = 57,600 KiB (measured: about 52,000 KiB). Per-stream
/// call state adds little, and the kernel's full socket buffers are not in the server's resident memory;
/// 80 MiB leaves room for the allocator and still catches the unbounded case: with the former limit of
/// 10,000 streams, the same client opens all 1,000 streams and the server grows by about 510,000 KiB.
const BOUND_KIB: u64 = 80 * 1024;

/// An HTTP/2 frame: 9-byte header and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK header block of literal fields without indexing (no Huffman coding): the simplest encoding
/// every decoder accepts.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        for text in [name, value] {
            assert!(text.len() < 127, "one-byte lengths only");
            out.push(text.len() as u8);
            out.extend_from_slice(text.as_bytes());
        }
    }
    out
}

const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The connection preface with the client's settings: no push, and every stream's window wide open.
fn preface() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let mut settings = Vec::new();
    settings.extend_from_slice(&2u16.to_be_bytes()); // SETTINGS_ENABLE_PUSH
    settings.extend_from_slice(&0u32.to_be_bytes());
    settings.extend_from_slice(&4u16.to_be_bytes()); // SETTINGS_INITIAL_WINDOW_SIZE
    settings.extend_from_slice(&MAX_WINDOW.to_be_bytes());
    out.extend(frame(0x4, 0, 0, &settings));
    out
}

/// Reads frames until the server's SETTINGS; answers its SETTINGS_MAX_CONCURRENT_STREAMS (unlimited if
/// it sets none). This is all the client ever reads.
async fn server_max_streams(socket: &mut tokio::net::TcpStream) -> u32 {
    use tokio::io::AsyncReadExt as _;
    loop {
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.expect("a frame header");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        socket
            .read_exact(&mut payload)
            .await
            .expect("a frame payload");
        if head[3] == 0x4 && head[4] & 0x1 == 0 {
            return payload
                .chunks_exact(6)
                .find(|setting| setting[..2] == [0, 3])
                .map_or(u32::MAX, |setting| {
                    u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]])
                });
        }
    }
}

/// The rest of what the client sends: the acknowledgement of the server's settings, the connection's
/// window wide open, and `streams` gRPC `Watch` calls that replay the whole history.
fn flood(authority: &str, streams: u32) -> Vec<u8> {
    let mut out = frame(0x4, 0x1, 0, &[]);
    out.extend(frame(0x8, 0, 0, &(MAX_WINDOW - 65_535).to_be_bytes()));
    let request = WatchRequest {
        key: String::new(),
        prefix: true,
        start_revision: 1,
        ..Default::default()
    }
    .encode_to_vec();
    let mut message = vec![0];
    message.extend_from_slice(&(request.len() as u32).to_be_bytes());
    message.extend_from_slice(&request);
    let headers = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/trident.watch.v1.KvService/Watch"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    for i in 0..streams {
        let stream = 2 * i + 1;
        out.extend(frame(0x1, 0x4, stream, &headers)); // HEADERS, END_HEADERS
        out.extend(frame(0x0, 0x1, stream, &message)); // DATA, END_STREAM
    }
    out
}

/// Waits until the resident memory of `pid` has not grown for a second (or 10 s have passed); answers it.
async fn settled_kib(pid: u32) -> u64 {
    let mut last = resident_kib(pid);
    let mut still = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = resident_kib(pid);
        still = if now > last { 0 } else { still + 1 };
        last = last.max(now);
        if still >= 5 {
            break;
        }
    }
    last
}

#[tokio::test]
async fn never_read_watch_streams_on_one_connection_pin_bounded_memory() {
    let server = ServerProcess::start(
        "127.0.0.1:0",
        &["--in-memory", "--history", &HISTORY_EVENTS.to_string()],
    )
    .await;
    let client = server.client();
    let value = "v".repeat(VALUE_BYTES);
    for i in 0..HISTORY_EVENTS {
        within(
            "put",
            client.put(PutRequest {
                key: format!("key/{i:05}"),
                value: value.clone(),
                prev_kv: false,
            }),
        )
        .await
        .unwrap();
    }
    let before = settled_kib(server.pid()).await;

    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    within("send the preface", socket.write_all(&preface()))
        .await
        .unwrap();
    // A well-behaved client opens no more streams than the server allows (h2 and hyper queue the rest
    // until one ends, and none of these ever ends).
    let allowed = within("the server's settings", server_max_streams(&mut socket)).await;
    let streams = STREAMS.min(allowed);
    let bytes = flood(&server.addr.to_string(), streams);
    within("send the streams", socket.write_all(&bytes))
        .await
        .unwrap();
    let after = settled_kib(server.pid()).await;
    let growth = after.saturating_sub(before);
    eprintln!(
        "resident memory: {before} KiB before, {after} KiB with {streams} never-read watch streams \
         (the server allows {allowed}; growth {growth} KiB, bound {BOUND_KIB} KiB)"
    );
    assert!(
        growth <= BOUND_KIB,
        "the server grew by {growth} KiB (bound {BOUND_KIB} KiB)"
    );

    // Others are still served while the flood's connection is open.
    let range = within(
        "range",
        client.range(RangeRequest {
            key: "key/00000".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .into_message();
    assert_eq!(range.revision, HISTORY_EVENTS as i64);
    drop(socket);
}
