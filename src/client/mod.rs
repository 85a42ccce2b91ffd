//! The client half: configuration, the typed call entry points, and the duplex call they share.

mod builder;
mod calls;
mod default_transport;
mod duplex;
mod h2_channel;
mod receive;
#[cfg(feature = "tls")]
mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, USER_AGENT};
use tokio::time::Instant;

pub use builder::ClientBuilder;
pub use calls::{BidiStreamCall, ClientStreamCall, ServerStreamCall};
pub use transport::{HttpVersion, Transport, boxed_transport};

use crate::body::Body;
use crate::codec::{Codec, Message};
use crate::compression::{Compression, CompressionRegistry};
use crate::method::{Idempotency, MethodSpec};
use crate::protocol::client::{ClientProtocol, GetMessage, RequestHeaders};
use crate::wire::{MessageReader, MessageWriter};
use crate::{Code, Error, Metadata, Request, Response};
use duplex::DuplexCall;

/// Everything a client was configured with; shared by its calls.
pub(crate) struct ClientConfig {
    base: String,
    pub transport: Transport,
    /// Everything that depends on the protocol.
    pub protocol: &'static dyn ClientProtocol,
    pub http_version: HttpVersion,
    pub codec: Arc<dyn Codec>,
    pub send_compression: Option<Arc<dyn Compression>>,
    pub compression: CompressionRegistry,
    pub compress_min_bytes: usize,
    pub read_max_bytes: usize,
    pub send_max_bytes: usize,
    pub use_get: bool,
    pub timeout: Option<Duration>,
}

impl ClientConfig {
    fn writer(&self) -> MessageWriter {
        MessageWriter {
            codec: self.codec.clone(),
            compression: self.send_compression.clone(),
            compress_min_bytes: self.compress_min_bytes,
            send_max_bytes: self.send_max_bytes,
        }
    }

    pub(crate) fn reader(&self, compression: Option<Arc<dyn Compression>>) -> MessageReader {
        MessageReader {
            codec: self.codec.clone(),
            compression,
            read_max_bytes: self.read_max_bytes,
        }
    }

    /// The name of the request compression, if any.
    fn send_compression_name(&self) -> Option<&str> {
        self.send_compression.as_ref().map(|c| c.name())
    }

    /// The request head for a POST to `spec` (GET heads are derived from it); `send_compression` names
    /// the encoding of the request's messages, if any.
    fn request_head(
        &self,
        spec: &MethodSpec,
        headers: &Metadata,
        timeout: Option<Duration>,
        send_compression: Option<&str>,
    ) -> Result<http::request::Parts, Error> {
        let uri: http::Uri = format!("{}{}", self.base, spec.path)
            .parse()
            .map_err(|e| Error::with_source(Code::InvalidArgument, "invalid request URI", e))?;
        let mut request = http::Request::post(uri).body(()).map_err(|e| {
            Error::with_source(Code::InvalidArgument, "cannot build the request", e)
        })?;
        if self.http_version == HttpVersion::Http2 {
            *request.version_mut() = http::Version::HTTP_2;
        }
        let map = request.headers_mut();
        for (name, value) in headers.as_header_map() {
            map.append(name.clone(), value.clone());
        }
        let accept = self.compression.accept_value();
        let protocol_headers = RequestHeaders {
            stream_type: spec.stream_type,
            codec: self.codec.name(),
            accept_encoding: &accept,
            send_compression,
        };
        self.protocol.write_request_headers(&protocol_headers, map);
        if let Some(timeout) = timeout {
            self.protocol.write_timeout(timeout, map);
        }
        if !map.contains_key(USER_AGENT) {
            map.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("trident/", env!("CARGO_PKG_VERSION"))),
            );
        }
        Ok(request.into_parts().0)
    }
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
    /// Starts configuring a client for `base_url` (such as `http://127.0.0.1:8080`, optionally with a path
    /// prefix).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url.into())
    }

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
        let config = &self.config;
        let (timeout, deadline) = self.call_deadline(request.timeout());
        if !config.protocol.is_unframed(spec.stream_type) {
            // Framed like a stream: one enveloped message each way, then the protocol's ending.
            let head = config.request_head(
                spec,
                request.headers(),
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
            .request_head(spec, request.headers(), timeout, compression)
            .and_then(|mut head| {
                if config.use_get && spec.idempotency == Idempotency::NoSideEffects {
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
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let framed = self.config.writer().envelope(request.message(), 0);
        let head = self.config.request_head(
            spec,
            request.headers(),
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
        let call = self.duplex(spec, &request);
        ClientStreamCall::new(self.config.clone(), self.config.writer(), call)
    }

    /// Opens a bidi-streaming call (HTTP/2 only). `request` carries the call's headers and timeout (its
    /// message is `()`: the messages are sent on the call). Nothing is sent until the first `send`, close
    /// or receive.
    pub fn bidi_stream<Req: Message, Res: Message>(
        &self,
        spec: &'static MethodSpec,
        request: Request<()>,
    ) -> BidiStreamCall<Req, Res> {
        let call = self.duplex(spec, &request);
        BidiStreamCall::new(self.config.clone(), self.config.writer(), call)
    }

    fn duplex(&self, spec: &'static MethodSpec, request: &Request<()>) -> DuplexCall {
        let (timeout, deadline) = self.call_deadline(request.timeout());
        let head = self.config.request_head(
            spec,
            request.headers(),
            timeout,
            self.config.send_compression_name(),
        );
        DuplexCall::new(self.config.clone(), spec, head, deadline)
    }
}
