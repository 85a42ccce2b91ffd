//! The echo service on Trident, served the way users serve it (`trident::Server`: HTTP/1.1 and h2c on
//! one port, Connect, gRPC and gRPC-Web). `trident-echo [ADDR]`.

use futures_util::StreamExt as _;
use trident::{Error, Request, Response, ResponseStream, Router, Server, Streaming};
use trident_benches::settings;
use trident_benches::trident_gen::{
    EchoRequest, EchoResponse, EchoService, StreamRequest, echo_service_routes,
};

struct Echo;

impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Error> {
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

fn main() -> std::io::Result<()> {
    let addr = trident_benches::listen_addr();
    trident_benches::runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let router = Router::new()
            .add(echo_service_routes(Echo))
            .expect("one service")
            .read_max_bytes(settings::MAX_MESSAGE)
            .send_max_bytes(settings::MAX_MESSAGE);
        // The HTTP/2 windows, frame size and stream limit are set explicitly, as on the tonic and
        // raw-hyper peers, so that a change of hyper's defaults cannot skew the comparison; TCP_NODELAY
        // is set per connection by the server.
        Server::new()
            .http2_max_concurrent_streams(settings::MAX_CONCURRENT_STREAMS)
            .http2_initial_stream_window_size(settings::STREAM_WINDOW)
            .http2_initial_connection_window_size(settings::CONNECTION_WINDOW)
            .http2_max_frame_size(settings::MAX_FRAME_SIZE)
            .serve(listener, router)
            .await
    })
}
