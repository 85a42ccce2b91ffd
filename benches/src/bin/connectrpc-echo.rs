//! The echo service on connect-rust (crate `connectrpc` 0.9, buffa messages; Connect, gRPC and gRPC-Web),
//! with the suite's HTTP/2 settings. `connectrpc-echo [ADDR]`. It serves HTTP/1.1 too (its `Server`
//! detects the version), and the JSON codec (crate feature `json`).
//!
//! gzip (crate feature `gzip`) is registered at level 6, zlib's default and what every other peer
//! compresses with, instead of connect-rust's own default of 1; compressed requests, and calls that
//! accept gzip, are answered with compressed messages of 1 KiB and more (connect-rust's default
//! threshold). `BENCH_DEFAULTS=1` leaves the HTTP/2 windows (adaptive, connect-rust's default) and max
//! concurrent streams at their defaults: the driver's "library defaults" rows. The message limits stay.

use connectrpc::{
    CompressionRegistry, ConnectRpcService, GzipProvider, InboundStream, Limits, RequestContext,
    Response, ServiceRequest, ServiceResult, ServiceStream,
};
use futures_util::StreamExt as _;
use trident_benches::connect_gen::{EchoRequest, EchoResponse, EchoServiceServer, StreamRequest};
use trident_benches::settings;

struct Echo;

// Concrete return types (as in connect-rust's own examples) refine the trait's `impl Encodable`.
#[allow(refining_impl_trait)]
impl trident_benches::connect_gen::EchoService for Echo {
    async fn echo(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, EchoRequest>,
    ) -> ServiceResult<EchoResponse> {
        Response::ok(EchoResponse {
            payload: request.payload.to_vec(),
            ..Default::default()
        })
    }

    async fn stream(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, StreamRequest>,
    ) -> ServiceResult<ServiceStream<EchoResponse>> {
        let (count, size, hold) = (request.count, request.size, request.hold);
        let message = EchoResponse {
            payload: trident_benches::wire::payload(size as usize),
            ..Default::default()
        };
        let messages =
            futures_util::stream::repeat_with(move || Ok(message.clone())).take(count as usize);
        if hold {
            Response::ok(Box::pin(messages.chain(futures_util::stream::pending())) as _)
        } else {
            Response::ok(Box::pin(messages) as _)
        }
    }

    async fn bidi(
        &self,
        _ctx: RequestContext,
        requests: InboundStream<EchoRequest>,
    ) -> ServiceResult<ServiceStream<EchoResponse>> {
        let replies = requests.map(|message| {
            message.map(|m| EchoResponse {
                payload: m.view().payload.to_vec(),
                ..Default::default()
            })
        });
        Response::ok(Box::pin(replies) as _)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = trident_benches::listen_addr();
    trident_benches::runtime().block_on(async {
        let service = ConnectRpcService::new(EchoServiceServer::new(Echo))
            .with_limits(
                Limits::default()
                    .with_max_request_body_size(settings::MAX_MESSAGE)
                    .with_max_message_size(settings::MAX_MESSAGE),
            )
            .with_compression(CompressionRegistry::new().register(GzipProvider::with_level(6)));
        // Explicit windows also switch off connect-rust's default adaptive window; TCP_NODELAY is set per
        // connection by the server itself.
        let server = connectrpc::server::Server::bind(addr).await?;
        let server = if settings::library_defaults() {
            server
        } else {
            server
                .with_http2_initial_stream_window_size(settings::STREAM_WINDOW)
                .with_http2_initial_connection_window_size(settings::CONNECTION_WINDOW)
                .with_max_concurrent_streams(settings::MAX_CONCURRENT_STREAMS)
        };
        server.serve_with_service(service).await
    })
}
