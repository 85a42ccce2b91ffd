//! The ceiling: raw hyper HTTP/2 (h2c) with no RPC layer, answering the echo service's paths with the bytes
//! a gRPC server would send, built as cheaply as possible. `hyper-echo [ADDR]`.
//!
//! - `Echo`: the request body (one envelope holding an `EchoRequest`) comes back as it is: an
//!   `EchoResponse` has the same bytes. Connect unary requests (`application/proto`) are echoed the same
//!   way, without trailers.
//! - `Stream`: the `StreamRequest` is decoded by hand and `count` copies of one pre-encoded envelope go
//!   out (reference-counted, never copied); with `hold` the stream then stays open.
//! - `Bidi`: request body frames are forwarded to the response body as they arrive.
//!
//! gRPC responses end with the trailer `grpc-status: 0`. The HTTP/2 settings are the suite's, unless
//! `BENCH_DEFAULTS=1` leaves them at hyper's defaults (the driver's "library defaults" rows); TCP_NODELAY
//! stays. No HTTP/1.1, no compression, no JSON: it is no RPC server.

use std::convert::Infallible;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use trident_benches::{settings, wire};

type Frames = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;
type Body = StreamBody<Frames>;

fn ok_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers
}

fn grpc_response(frames: impl Stream<Item = Frame<Bytes>> + Send + 'static) -> Response<Body> {
    let frames = frames
        .chain(futures_util::stream::once(async {
            Frame::trailers(ok_trailers())
        }))
        .map(Ok);
    Response::builder()
        .header("content-type", "application/grpc")
        .body(StreamBody::new(Box::pin(frames) as Frames))
        .expect("a valid response")
}

/// Reads a varint at the start of `bytes`, returning it and the rest.
fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// `StreamRequest` fields (`count`, `size`, `hold`) from one envelope.
fn stream_request(envelope: &[u8]) -> (u32, u32, bool) {
    let (mut count, mut size, mut hold) = (0, 0, false);
    let mut rest = envelope.get(5..).unwrap_or_default();
    while let Some((key, after)) = varint(rest) {
        let Some((value, after)) = varint(after) else {
            break;
        };
        match key {
            0x08 => count = value as u32,
            0x10 => size = value as u32,
            0x18 => hold = value != 0,
            _ => break,
        }
        rest = after;
    }
    (count, size, hold)
}

async fn handle(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let grpc = request
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let path = request.uri().path().rsplit('/').next().unwrap_or_default();
    match (grpc, path) {
        (true, "Bidi") => {
            let body = request.into_body();
            let frames = futures_util::stream::unfold(body, |mut body| async move {
                loop {
                    match body.frame().await? {
                        Ok(frame) => match frame.into_data() {
                            Ok(data) => return Some((Frame::data(data), body)),
                            Err(_) => continue, // request trailers
                        },
                        Err(_) => return None,
                    }
                }
            });
            Ok(grpc_response(frames))
        }
        (true, "Stream") => {
            let body = request.into_body().collect().await;
            let (count, size, hold) =
                stream_request(&body.map(|b| b.to_bytes()).unwrap_or_default());
            let envelope = Bytes::from(wire::envelope(&wire::echo_message(&wire::payload(
                size as usize,
            ))));
            let frames = futures_util::stream::repeat_with(move || Frame::data(envelope.clone()))
                .take(count as usize);
            if hold {
                Ok(grpc_response(frames.chain(futures_util::stream::pending())))
            } else {
                Ok(grpc_response(frames))
            }
        }
        (true, _) => {
            let body = request.into_body().collect().await;
            let data = body.map(|b| b.to_bytes()).unwrap_or_default();
            Ok(grpc_response(futures_util::stream::once(async move {
                Frame::data(data)
            })))
        }
        (false, _) => {
            let content_type = request.headers().get("content-type").cloned();
            let body = request.into_body().collect().await;
            let data = body.map(|b| b.to_bytes()).unwrap_or_default();
            let frames = futures_util::stream::once(async move { Ok(Frame::data(data)) });
            let mut response = Response::new(StreamBody::new(Box::pin(frames) as Frames));
            if let Some(content_type) = content_type {
                response.headers_mut().insert("content-type", content_type);
            }
            Ok(response)
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = trident_benches::listen_addr();
    trident_benches::runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        if !settings::library_defaults() {
            builder
                .initial_stream_window_size(settings::STREAM_WINDOW)
                .initial_connection_window_size(settings::CONNECTION_WINDOW)
                .max_concurrent_streams(settings::MAX_CONCURRENT_STREAMS)
                .max_frame_size(settings::MAX_FRAME_SIZE);
        }
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let connection =
                builder.serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle));
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    })
}
