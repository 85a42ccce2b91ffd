//! The echo service on tonic 0.14 (gRPC only), with the suite's HTTP/2 settings. `tonic-echo [ADDR]`.
//!
//! gzip is accepted and sent (`accept_compressed`/`send_compressed`): tonic compresses a response only
//! when the request's `grpc-accept-encoding` names gzip, so uncompressed scenarios are unchanged.
//!
//! `BENCH_DEFAULTS=1` leaves the HTTP/2 windows, frame size and max concurrent streams at tonic's
//! defaults (the driver's "library defaults" rows); TCP_NODELAY and the message limits stay.

use std::pin::Pin;

use futures_util::{Stream, StreamExt as _};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status, Streaming};
use trident_benches::settings;
use trident_benches::tonic_gen::echo_service_server::{EchoService, EchoServiceServer};
use trident_benches::tonic_gen::{EchoRequest, EchoResponse, StreamRequest};

type Replies = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send>>;

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
        }))
    }

    type StreamStream = Replies;

    async fn stream(&self, request: Request<StreamRequest>) -> Result<Response<Replies>, Status> {
        let StreamRequest { count, size, hold } = request.into_inner();
        let message = EchoResponse {
            payload: trident_benches::wire::payload(size as usize),
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

    type BidiStream = Replies;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Replies>, Status> {
        let replies = request
            .into_inner()
            .map(|message| message.map(|m| EchoResponse { payload: m.payload }));
        Ok(Response::new(Box::pin(replies)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = trident_benches::listen_addr();
    trident_benches::runtime().block_on(async {
        let service = EchoServiceServer::new(Echo)
            .max_decoding_message_size(settings::MAX_MESSAGE)
            .max_encoding_message_size(settings::MAX_MESSAGE)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);
        let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
        if !settings::library_defaults() {
            builder = builder
                .initial_stream_window_size(settings::STREAM_WINDOW)
                .initial_connection_window_size(settings::CONNECTION_WINDOW)
                .max_concurrent_streams(settings::MAX_CONCURRENT_STREAMS)
                .max_frame_size(settings::MAX_FRAME_SIZE);
        }
        builder.add_service(service).serve(addr).await?;
        Ok(())
    })
}
