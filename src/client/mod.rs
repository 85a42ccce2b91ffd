//! The client half: configuration, the typed call entry points, and the duplex call they share.
//!
//! [`Client`] and [`HttpVersion`] are also at the crate root; this module adds the builder, the typed
//! streaming calls, retries, balancing and discovery, and custom transports.
//!
//! Every call takes one path: the typed entry point, the client's interceptor chain (of length zero
//! when it has none), then the call as the client makes it, with its retries under the chain: a unary
//! call's `send_unary` here, a streaming call's `StreamConn` (`stream_conn.rs`).

mod balancer;
mod builder;
mod calls;
mod config;
mod default_transport;
mod dns_resolver;
mod duplex;
mod h2_body;
mod h2_channel;
mod h2_connection;
#[cfg(feature = "http3")]
mod h3_channel;
mod health_check;
mod origin_slots;
mod receive;
mod replay;
mod resolver;
mod retry;
mod stream_conn;
#[cfg(feature = "tls")]
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use balancer::BalancePolicy;
pub use builder::ClientBuilder;
pub use calls::{BidiStreamCall, ClientStreamCall, ServerStreamCall};
pub use dns_resolver::DnsResolver;
pub use health_check::{EndpointHealth, HealthCheck};
pub use resolver::{ResolveNow, Resolver, StaticResolver};
pub use retry::{RetryBudget, RetryPolicy};
pub use transport::{HttpVersion, Transport, boxed_transport};

use crate::any_message::AnyMessage;
use crate::body::Body;
use crate::codec::Message;
use crate::deadline;
use crate::interceptor::{StreamingClientConn, UnaryEndpoint};
use crate::method::MethodSpec;
use crate::protocol::client::GetMessage;
use crate::{CallContext, Error, Request, Response};
use config::ClientConfig;
use duplex::DuplexCall;
use stream_conn::StreamConn;

/// A unary request's message, encoded once for all its attempts.
enum UnaryPayload<'a> {
    /// Enveloped, as gRPC and gRPC-Web send unary messages.
    Framed(bytes::Bytes),
    /// The bare message (Connect, Triple), with the name of its compression, if compressed.
    Unframed {
        payload: bytes::Bytes,
        compression: Option<&'a str>,
    },
}

/// What one attempt of a unary call is sent with, besides its payload.
struct UnaryAttempt<'a> {
    spec: &'static MethodSpec,
    context: &'a CallContext,
    headers: &'a crate::Metadata,
    extensions: http::Extensions,
    timeout: Option<Duration>,
}

/// An RPC client bound to one base URL. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.config.base)
            .field("protocol", &self.config.protocol.kind())
            .field("http_version", &self.config.http_version)
            .field("codec", &self.config.codec.name())
            .finish()
    }
}

impl Client {
    fn call_deadline(&self, timeout: Option<Duration>) -> (Option<Duration>, Option<Instant>) {
        let timeout = timeout.or(self.config.timeout);
        (timeout, timeout.map(|t| Instant::now() + t))
    }

    /// The context a call's interceptors see.
    fn call_context(&self, spec: &'static MethodSpec, deadline: Option<Instant>) -> CallContext {
        let config = &self.config;
        let http_method = if config.uses_get(spec) {
            http::Method::GET
        } else {
            http::Method::POST
        };
        // An unusable URI fails the call itself, once the chain lets it go out.
        let uri = config.uri(spec).unwrap_or_default();
        CallContext::client(
            spec,
            config.protocol.kind(),
            deadline,
            http_method,
            uri,
            config.http_version.as_http(),
        )
    }

    /// Calls a unary method.
    pub async fn unary<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<Req>,
    ) -> Result<Response<Res>, Error> {
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let request = request
            .with_context(self.call_context(spec, deadline))
            .map(AnyMessage::new);
        let client = self.clone();
        let end: UnaryEndpoint = Arc::new(move |request: Request<AnyMessage>| {
            let client = client.clone();
            Box::pin(async move {
                let request = request.map(AnyMessage::into_typed::<Req>);
                let response = client
                    .send_unary::<Req, Res>(spec, request.transpose_message()?, timeout)
                    .await?;
                Ok(response.map(AnyMessage::new))
            })
        });
        let response = deadline::within(deadline, self.config.chain.unary(request, end)).await?;
        response
            .map(AnyMessage::into_typed::<Res>)
            .transpose_message()
    }

    /// A unary call as it goes out, below the interceptors: encoded once, then sent, and sent again
    /// as long as the client's retry rules allow (`retry.rs`). Its deadline is its context's.
    async fn send_unary<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<Req>,
        timeout: Option<Duration>,
    ) -> Result<Response<Res>, Error> {
        let config = &self.config;
        let extensions = std::mem::take(request.extensions_mut());
        let deadline = request.context().deadline();
        let writer = config.writer();
        let payload = if config.protocol.is_unframed(spec.stream_type) {
            let (payload, compressed) = writer.compress(writer.encode(request.message())?)?;
            UnaryPayload::Unframed {
                payload,
                compression: config.send_compression_name().filter(|_| compressed),
            }
        } else {
            // Framed like a stream: one enveloped message each way, then the protocol's ending.
            UnaryPayload::Framed(writer.envelope(request.message(), 0)?)
        };
        let mut attempts = retry::Attempts::new(config.retries.as_ref(), spec, deadline);
        loop {
            let attempt = UnaryAttempt {
                spec,
                context: request.context(),
                headers: request.headers(),
                extensions: extensions.clone(),
                timeout,
            };
            match self.unary_attempt(attempt, &payload).await {
                Ok(response) => return Ok(response),
                Err(error) => attempts.again(error).await?,
            }
        }
    }

    /// Sends a unary call's `payload` once and reads the response.
    async fn unary_attempt<Res: Message>(
        &self,
        attempt: UnaryAttempt<'_>,
        payload: &UnaryPayload<'_>,
    ) -> Result<Response<Res>, Error> {
        let config = &self.config;
        let UnaryAttempt {
            spec,
            context,
            headers,
            extensions,
            timeout,
        } = attempt;
        let deadline = context.deadline();
        let (payload, compression) = match payload {
            UnaryPayload::Framed(framed) => {
                let head = config.request_head(
                    spec,
                    context,
                    headers,
                    extensions,
                    timeout,
                    config.send_compression_name(),
                );
                let mut call = DuplexCall::new(config.clone(), spec, head, deadline);
                call.start_with_body(Body::full(framed.clone()));
                return receive::read_single_response(config, &mut call).await;
            }
            UnaryPayload::Unframed {
                payload,
                compression,
            } => (payload, *compression),
        };
        let mut get = false;
        let head = config
            .request_head(spec, context, headers, extensions, timeout, compression)
            .and_then(|mut head| {
                if config.uses_get(spec) {
                    let message = GetMessage {
                        payload,
                        codec: config.codec.name(),
                        text: config.codec.is_text(),
                        compression,
                    };
                    if let Some(rewritten) = config.protocol.get_request(&mut head, &message) {
                        rewritten?;
                        get = true;
                    }
                }
                Ok(head)
            });
        let mut call = DuplexCall::new(config.clone(), spec, head, deadline);
        call.start_with_body(if get {
            Body::empty()
        } else {
            Body::full(payload.clone())
        });
        receive::read_unframed_response(config, &mut call).await
    }

    /// Calls a server-streaming method; returns once the response headers arrived.
    pub async fn server_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<Req>,
    ) -> Result<ServerStreamCall<Res>, Error> {
        let (head, message) = request.split_message();
        let mut conn = self.open::<Req, Res>(spec, head);
        conn.send(AnyMessage::new(message)).await?;
        conn.close_send()?;
        conn.receive_headers().await?;
        Ok(ServerStreamCall::new(conn))
    }

    /// Opens a client-streaming call. `request` carries the call's headers and timeout (its message is
    /// `()`: the messages are sent on the call). Nothing is sent until the first `send` or the close.
    pub fn client_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<()>,
    ) -> ClientStreamCall<Req, Res> {
        ClientStreamCall::new(self.open::<Req, Res>(spec, request))
    }

    /// Opens a bidi-streaming call (HTTP/2 only). `request` carries the call's headers and timeout (its
    /// message is `()`: the messages are sent on the call). Nothing is sent until the first `send`, close
    /// or receive.
    pub fn bidi_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<()>,
    ) -> BidiStreamCall<Req, Res> {
        BidiStreamCall::new(self.open::<Req, Res>(spec, request))
    }

    /// A streaming call to `spec` with `request`'s headers, extensions and timeout: the client's own
    /// call, wrapped by its interceptors. Nothing is sent yet.
    fn open<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<()>,
    ) -> Box<dyn StreamingClientConn> {
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let conn = StreamConn::<Req, Res>::new(
            self.config.clone(),
            spec,
            self.call_context(spec, deadline),
            std::mem::take(request.headers_mut()),
            std::mem::take(request.extensions_mut()),
            timeout,
        );
        self.config.chain.streaming_client(Box::new(conn))
    }
}
