//! The client half: configuration, the typed call entry points, and the duplex call they share.

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
mod intercepted;
mod origin_slots;
mod receive;
mod replay;
mod resolver;
mod retry;
#[cfg(feature = "tls")]
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use balancer::BalancePolicy;
pub use builder::{ClientBuilder, DEFAULT_CONNECT_TIMEOUT};
pub use calls::{BidiStreamCall, ClientStreamCall, ServerStreamCall};
pub use dns_resolver::{DEFAULT_DNS_INTERVAL, DnsResolver};
pub use health_check::{EndpointHealth, HealthCheck};
pub use replay::REPLAY_LIMIT;
pub use resolver::{ResolveNow, Resolver, StaticResolver};
pub use retry::{MAX_RETRY_ATTEMPTS, RetryBudget, RetryPolicy};
pub use transport::{HttpVersion, Transport, boxed_transport};

use crate::body::Body;
use crate::codec::Message;
use crate::method::MethodSpec;
use crate::protocol::client::GetMessage;
use crate::{Error, Request, Response};
use config::ClientConfig;
use duplex::DuplexCall;

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
    headers: &'a crate::Metadata,
    extensions: http::Extensions,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
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

    /// Calls a unary method.
    pub async fn unary<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<Req>,
    ) -> Result<Response<Res>, Error> {
        match &self.config.chain {
            None => self.direct_unary(spec, request).await,
            Some(chain) => self.intercepted_unary(chain, spec, request).await,
        }
    }

    /// A unary call as it goes out (after any interceptors): encoded once, then sent, and sent again
    /// as long as the client's retry rules allow (`retry.rs`).
    async fn direct_unary<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<Req>,
    ) -> Result<Response<Res>, Error> {
        let config = &self.config;
        let extensions = std::mem::take(request.extensions_mut());
        let (timeout, deadline) = self.call_deadline(request.timeout());
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
                headers: request.headers(),
                extensions: extensions.clone(),
                timeout,
                deadline,
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
            headers,
            extensions,
            timeout,
            deadline,
        } = attempt;
        let (payload, compression) = match payload {
            UnaryPayload::Framed(framed) => {
                let head = config.request_head(
                    spec,
                    headers,
                    extensions,
                    timeout,
                    config.send_compression_name(),
                );
                let mut call = DuplexCall::new(config.clone(), spec, head, deadline);
                call.start_with_body(Body::full(framed.clone()));
                let mut receiver = receive::StreamReceiver::default();
                return calls::single_response(config, &mut call, &mut receiver).await;
            }
            UnaryPayload::Unframed {
                payload,
                compression,
            } => (payload, *compression),
        };
        let mut get = false;
        let head = config
            .request_head(spec, headers, extensions, timeout, compression)
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
        match &self.config.chain {
            None => self.direct_server_stream(spec, request).await,
            Some(chain) => self.intercepted_server_stream(chain, spec, request).await,
        }
    }

    /// A server-streaming call as it goes out (after any interceptors): sent again, as the client's
    /// retry rules allow, until the response head arrives.
    async fn direct_server_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<Req>,
    ) -> Result<ServerStreamCall<Res>, Error> {
        let config = &self.config;
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let framed = config.writer().envelope(request.message(), 0)?;
        let extensions = std::mem::take(request.extensions_mut());
        let mut attempts = retry::Attempts::new(config.retries.as_ref(), spec, deadline);
        loop {
            let head = config.request_head(
                spec,
                request.headers(),
                extensions.clone(),
                timeout,
                config.send_compression_name(),
            );
            let mut call = DuplexCall::new(config.clone(), spec, head, deadline);
            call.start_with_body(Body::full(framed.clone()));
            match ServerStreamCall::start(config.clone(), config.writer(), call).await {
                // A head that ended the call (gRPC's trailers-only error) came before any message:
                // the call may go again. If not, the stream is handed over, its error in it.
                Ok(mut stream) => match stream.failed_at_head().await {
                    None => return Ok(stream),
                    Some(error) => match attempts.retry_after(&error) {
                        None => return Ok(stream),
                        Some(pause) => attempts.pause(pause).await?,
                    },
                },
                Err(error) => attempts.again(error).await?,
            }
        }
    }

    /// Opens a client-streaming call. `request` carries the call's headers and timeout (its message is
    /// `()`: the messages are sent on the call). Nothing is sent until the first `send` or the close.
    pub fn client_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<()>,
    ) -> ClientStreamCall<Req, Res> {
        match &self.config.chain {
            None => {
                let (call, replay) = self.duplex_call(spec, request, true);
                ClientStreamCall::new(self.config.clone(), self.config.writer(), call, replay)
            }
            Some(chain) => ClientStreamCall::intercepted(
                self.intercepted_stream::<Req, Res>(chain, spec, request),
            ),
        }
    }

    /// Opens a bidi-streaming call (HTTP/2 only). `request` carries the call's headers and timeout (its
    /// message is `()`: the messages are sent on the call). Nothing is sent until the first `send`, close
    /// or receive.
    pub fn bidi_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<()>,
    ) -> BidiStreamCall<Req, Res> {
        match &self.config.chain {
            None => {
                let (call, replay) = self.duplex_call(spec, request, true);
                BidiStreamCall::new(self.config.clone(), self.config.writer(), call, replay)
            }
            Some(chain) => BidiStreamCall::intercepted(
                self.intercepted_stream::<Req, Res>(chain, spec, request),
            ),
        }
    }

    /// The duplex call a client- or bidi-streaming `request` goes out on, and, if `retryable` and a
    /// retry policy applies to it, what it keeps to be sent again (`replay.rs`). (Calls through
    /// interceptors are not: their messages stream through the interceptors' own code.)
    fn duplex_call(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<()>,
        retryable: bool,
    ) -> (DuplexCall, Option<Box<replay::Replay>>) {
        let config = &self.config;
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let extensions = std::mem::take(request.extensions_mut());
        let replay = match &config.retries {
            Some(_) if retryable => replay::Replay::new(
                config,
                spec,
                request.headers(),
                &extensions,
                timeout,
                deadline,
            ),
            _ => None,
        };
        let head = config.request_head(
            spec,
            request.headers(),
            extensions,
            timeout,
            config.send_compression_name(),
        );
        (
            DuplexCall::new(config.clone(), spec, head, deadline),
            replay,
        )
    }
}
