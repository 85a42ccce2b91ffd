//! Servers and clients: loopback [`TestServer`]s and [`SilentServer`]s, the in-memory transport, and client
//! builders for a [`Codec`] and an [`Http`] version.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::task::JoinHandle;
use trident::client::boxed_transport;
use trident::{Client, HttpVersion, Router, Server, client::ClientBuilder};

use crate::{EchoServiceClient, State, TestService, echo_service_routes};

/// The message codec a client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Binary protobuf (`application/proto`).
    Proto,
    /// Proto3 JSON (`application/json`).
    Json,
}

impl Codec {
    /// The codec's name in content types.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Proto => "proto",
            Codec::Json => "json",
        }
    }

    /// Encodes `message` as this codec would.
    pub fn encode<M: trident::Message>(self, message: &M) -> Vec<u8> {
        use trident::codec::Codec as _;
        let mut buf = bytes::BytesMut::new();
        match self {
            Codec::Proto => trident::codec::ProtoCodec.encode(message, &mut buf),
            Codec::Json => trident::codec::JsonCodec.encode(message, &mut buf),
        }
        .expect("test messages encode");
        buf.to_vec()
    }

    /// Decodes a message as this codec would.
    pub fn decode<M: trident::Message>(self, data: &[u8]) -> M {
        use trident::codec::Codec as _;
        let mut message = M::default();
        match self {
            Codec::Proto => {
                trident::codec::ProtoCodec.decode(Bytes::copy_from_slice(data), &mut message)
            }
            Codec::Json => {
                trident::codec::JsonCodec.decode(Bytes::copy_from_slice(data), &mut message)
            }
        }
        .expect("response decodes");
        message
    }
}

/// The HTTP version a client (or raw request) uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Http {
    /// HTTP/1.1.
    H1,
    /// Cleartext HTTP/2 with prior knowledge.
    H2,
}

impl Http {
    /// The client setting.
    pub fn version(self) -> HttpVersion {
        match self {
            Http::H1 => HttpVersion::Http1,
            Http::H2 => HttpVersion::Http2,
        }
    }
}

/// A router serving `service`.
pub fn router(service: TestService) -> Router {
    Router::new().add(echo_service_routes(service))
}

/// An implementation of `Echo` alone for Apache Dubbo's service group `g1`, version `1.0.0` (the Triple
/// tests' variant): its answers are prefixed with the group and version its handler sees in the
/// request headers, `g1/1.0.0:`.
pub fn g1_echo_routes() -> trident::ServiceRoutes {
    use trident::triple::TripleRoutes as _;
    trident::ServiceRoutes::new("trident.test.v1.EchoService")
        .unary(
            &crate::ECHO,
            |request: trident::Request<crate::EchoRequest>| async move {
                let group = request.headers().get("tri-service-group").unwrap_or("?");
                let version = request.headers().get("tri-service-version").unwrap_or("?");
                Ok(trident::Response::new(crate::EchoResponse {
                    text: format!("{group}/{version}:{}", request.message().text),
                    ..Default::default()
                }))
            },
        )
        .group("g1")
        .version("1.0.0")
}

/// A loopback server on `127.0.0.1:0`; stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The service it serves (for its counters).
    pub service: TestService,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves a fresh [`TestService`] with a default router.
    pub async fn start() -> Self {
        Self::start_with(|r| r).await
    }

    /// Serves a fresh [`TestService`] on the router `configure` returns (to set limits, compression...).
    pub async fn start_with(configure: impl FnOnce(Router) -> Router) -> Self {
        Self::start_on(Server::new(), configure).await
    }

    /// Serves a fresh [`TestService`] with `server` (to set connection-level options: HTTP/2 settings,
    /// limits...) on the router `configure` returns.
    pub async fn start_on(server: Server, configure: impl FnOnce(Router) -> Router) -> Self {
        let service = TestService::new();
        let router = configure(router(service.clone()));
        let (addr, task) = serve_router_on(server, router).await;
        Self {
            addr,
            service,
            task,
        }
    }

    /// Serves a fresh [`TestService`] on a default router inside the tower service `wrap` makes of
    /// it (a `CorsLayer` around it, say).
    pub async fn start_wrapped<S, B>(wrap: impl FnOnce(Router) -> S) -> Self
    where
        S: tower::Service<
                http::Request<trident::Body>,
                Response = http::Response<B>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let service = TestService::new();
        let wrapped = wrap(router(service.clone()));
        let (addr, task) = serve_on(Server::new(), wrapped).await;
        Self {
            addr,
            service,
            task,
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client builder for this server with the given codec and HTTP version.
    pub fn builder(&self, codec: Codec, http: Http) -> ClientBuilder {
        configure_builder(Client::builder(self.url()), codec, http)
    }

    /// A typed client with the given codec and HTTP version.
    pub fn client(&self, codec: Codec, http: Http) -> EchoServiceClient {
        build_client(self.builder(codec, http))
    }

    /// The counters of the served service.
    pub fn state(&self) -> &State {
        self.service.state()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on a fresh loopback port; returns the address and the serving task.
pub async fn serve_router(router: Router) -> (SocketAddr, JoinHandle<()>) {
    serve_router_on(Server::new(), router).await
}

/// Serves `router` with `server` on a fresh loopback port; returns the address and the serving task
/// (aborting it stops the server and closes its connections).
pub async fn serve_router_on(server: Server, router: Router) -> (SocketAddr, JoinHandle<()>) {
    serve_on(server, router).await
}

/// Serves `service` (a router, or a tower stack around one) with `server` on a fresh loopback port;
/// returns the address and the serving task.
async fn serve_on<S, B>(server: Server, service: S) -> (SocketAddr, JoinHandle<()>)
where
    S: tower::Service<
            http::Request<trident::Body>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let _ = server.serve(listener, service).await;
    });
    (addr, task)
}

/// Applies the codec and HTTP version to a builder.
pub fn configure_builder(builder: ClientBuilder, codec: Codec, http: Http) -> ClientBuilder {
    let builder = builder.http_version(http.version());
    match codec {
        Codec::Proto => builder,
        Codec::Json => builder.json(),
    }
}

/// Builds a typed client, failing the test on a configuration error.
pub fn build_client(builder: ClientBuilder) -> EchoServiceClient {
    EchoServiceClient::new(builder.build().expect("client builds"))
}

/// A client builder whose transport is `router` itself, in memory, sending HTTP/2 requests.
pub fn in_memory_builder(router: Router, codec: Codec) -> ClientBuilder {
    let builder = Client::builder("http://in-memory.test").transport(boxed_transport(router));
    configure_builder(builder, codec, Http::H2)
}

/// A listener that accepts connections and never answers (nor closes them); stopped when dropped.
#[derive(Debug)]
pub struct SilentServer {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SilentServer {
    /// Starts listening on a fresh loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Self { addr, task }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
