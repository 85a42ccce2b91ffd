//! The client half: configuration, the typed call entry points, and the duplex call they share.

mod builder;
mod calls;
mod config;
mod default_transport;
mod duplex;
mod h2_body;
mod h2_channel;
mod h2_connection;
#[cfg(feature = "http3")]
mod h3_channel;
mod intercepted;
mod origin_slots;
mod receive;
#[cfg(feature = "tls")]
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use builder::{ClientBuilder, DEFAULT_CONNECT_TIMEOUT};
pub use calls::{BidiStreamCall, ClientStreamCall, ServerStreamCall};
pub use transport::{HttpVersion, Transport, boxed_transport};

use crate::body::Body;
use crate::codec::Message;
use crate::method::MethodSpec;
use crate::protocol::client::GetMessage;
use crate::{Error, Request, Response};
use config::ClientConfig;
use duplex::DuplexCall;

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

    /// A unary call as it goes out (after any interceptors).
    async fn direct_unary<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<Req>,
    ) -> Result<Response<Res>, Error> {
        let config = &self.config;
        let extensions = std::mem::take(request.extensions_mut());
        let (timeout, deadline) = self.call_deadline(request.timeout());
        if !config.protocol.is_unframed(spec.stream_type) {
            // Framed like a stream: one enveloped message each way, then the protocol's ending.
            let head = config.request_head(
                spec,
                request.headers(),
                extensions,
                timeout,
                config.send_compression_name(),
            );
            let mut call = DuplexCall::new(config.clone(), spec, head, deadline);
            match config.writer().envelope(request.message(), 0) {
                Ok(framed) => call.start_with_body(Body::full(framed)),
                Err(e) => return Err(call.fail(e)),
            }
            let mut receiver = receive::StreamReceiver::default();
            return calls::single_response(config, &mut call, &mut receiver).await;
        }
        let writer = config.writer();
        let encoded = writer.encode(request.message())?;
        let (payload, compressed) = writer.compress(encoded)?;
        let compression = config.send_compression_name().filter(|_| compressed);
        let mut get = false;
        let head = config
            .request_head(spec, request.headers(), extensions, timeout, compression)
            .and_then(|mut head| {
                if config.uses_get(spec) {
                    let message = GetMessage {
                        payload: &payload,
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
            Body::full(payload)
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

    /// A server-streaming call as it goes out (after any interceptors).
    async fn direct_server_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        mut request: Request<Req>,
    ) -> Result<ServerStreamCall<Res>, Error> {
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let framed = self.config.writer().envelope(request.message(), 0);
        let extensions = std::mem::take(request.extensions_mut());
        let head = self.config.request_head(
            spec,
            request.headers(),
            extensions,
            timeout,
            self.config.send_compression_name(),
        );
        let mut call = DuplexCall::new(self.config.clone(), spec, head, deadline);
        match framed {
            Ok(framed) => call.start_with_body(Body::full(framed)),
            Err(e) => return Err(call.fail(e)),
        }
        ServerStreamCall::start(self.config.clone(), self.config.writer(), call).await
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
                let call = self.duplex(spec, request);
                ClientStreamCall::new(self.config.clone(), self.config.writer(), call)
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
                let call = self.duplex(spec, request);
                BidiStreamCall::new(self.config.clone(), self.config.writer(), call)
            }
            Some(chain) => BidiStreamCall::intercepted(
                self.intercepted_stream::<Req, Res>(chain, spec, request),
            ),
        }
    }

    /// The duplex call a client- or bidi-streaming `request` goes out on.
    fn duplex(&self, spec: &'static MethodSpec, mut request: Request<()>) -> DuplexCall {
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let extensions = std::mem::take(request.extensions_mut());
        let head = self.config.request_head(
            spec,
            request.headers(),
            extensions,
            timeout,
            self.config.send_compression_name(),
        );
        DuplexCall::new(self.config.clone(), spec, head, deadline)
    }
}
