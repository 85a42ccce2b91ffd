//! The client half: configuration, the typed call entry points, and the duplex call they share.

mod calls;
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

pub use calls::{BidiStreamCall, ClientStreamCall, ServerStreamCall};
pub use transport::{HttpVersion, Transport, boxed_transport};

/// HTTP/2 flow-control settings, shared with the server's `Router`.
pub(crate) use h2_channel::Http2Settings;

use crate::body::Body;
use crate::codec::{Codec, JsonCodec, Message, ProtoCodec};
use crate::compression::{Compression, CompressionRegistry};
use crate::method::{Idempotency, MethodSpec};
use crate::protocol::ProtocolKind;
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
                request.metadata(),
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
            .request_head(spec, request.metadata(), timeout, compression)
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
            request.metadata(),
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
            request.metadata(),
            timeout,
            self.config.send_compression_name(),
        );
        DuplexCall::new(self.config.clone(), spec, head, deadline)
    }
}

/// Configures a [`Client`].
pub struct ClientBuilder {
    base: String,
    transport: Option<Transport>,
    protocol: ProtocolKind,
    http_version: HttpVersion,
    codec: Arc<dyn Codec>,
    send_compression: Option<String>,
    compression: CompressionRegistry,
    compress_min_bytes: usize,
    read_max_bytes: usize,
    send_max_bytes: usize,
    use_get: bool,
    timeout: Option<Duration>,
    tls: transport::TlsSettings,
    http2: Http2Settings,
}

impl ClientBuilder {
    fn new(base: String) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            transport: None,
            protocol: ProtocolKind::Connect,
            http_version: HttpVersion::Http1,
            codec: Arc::new(ProtoCodec),
            send_compression: None,
            compression: CompressionRegistry::new(),
            compress_min_bytes: crate::limits::DEFAULT_COMPRESS_MIN_BYTES,
            read_max_bytes: crate::limits::DEFAULT_READ_MAX_BYTES,
            send_max_bytes: 0,
            use_get: false,
            timeout: None,
            tls: transport::TlsSettings::default(),
            http2: Http2Settings::default(),
        }
    }

    /// The HTTP version for the default transport (HTTP/1.1 unless set). Bidi calls need HTTP/2.
    pub fn http_version(mut self, version: HttpVersion) -> Self {
        self.http_version = version;
        self
    }

    /// The protocol (Connect unless set).
    pub fn protocol(mut self, protocol: ProtocolKind) -> Self {
        self.protocol = protocol;
        self
    }

    /// Uses canonical proto3 JSON instead of binary protobuf.
    pub fn json(self) -> Self {
        self.codec(Arc::new(JsonCodec))
    }

    /// Uses the given codec.
    pub fn codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// Compresses requests with the named algorithm (which must be in the compression registry).
    pub fn send_compression(mut self, name: &str) -> Self {
        self.send_compression = Some(name.to_string());
        self
    }

    /// The algorithms this client accepts and can send (default: gzip).
    pub fn compression(mut self, registry: CompressionRegistry) -> Self {
        self.compression = registry;
        self
    }

    /// Messages smaller than this are sent uncompressed (default 1 KiB).
    pub fn compress_min_bytes(mut self, min: usize) -> Self {
        self.compress_min_bytes = min;
        self
    }

    /// Limits the uncompressed size of received messages (0: none). Default 4 MiB.
    pub fn read_max_bytes(mut self, max: usize) -> Self {
        self.read_max_bytes = max;
        self
    }

    /// Limits the uncompressed size of sent messages (0: none, the default).
    pub fn send_max_bytes(mut self, max: usize) -> Self {
        self.send_max_bytes = max;
        self
    }

    /// Sends unary calls to methods marked `NO_SIDE_EFFECTS` as HTTP GET (Connect only).
    pub fn use_get(mut self, enabled: bool) -> Self {
        self.use_get = enabled;
        self
    }

    /// A default timeout for every call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Uses a custom transport (an in-memory one in tests, a tower stack with middleware, ...).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    #[cfg(feature = "tls")]
    /// For `https://` base URLs: trusts the CA (or self-signed) certificates in `pem` instead of the
    /// default public web roots (Mozilla's list, built in). May be called more than once to trust more.
    /// Unusable PEM data fails [`build`](Self::build) with `invalid_argument`.
    pub fn tls_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        let pem = pem.as_ref();
        self.tls.roots_pem.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            self.tls.roots_pem.push(b'\n');
        }
        self
    }

    #[cfg(feature = "tls")]
    /// For `https://` base URLs: presents this PEM certificate chain (leaf first) and private key to
    /// servers that ask for a client certificate (mutual TLS). Unusable PEM data, or a key that does not
    /// match, fails [`build`](Self::build) with `invalid_argument`.
    pub fn tls_client_identity_pem(
        mut self,
        cert_chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.tls.identity = Some((cert_chain_pem.as_ref().to_vec(), key_pem.as_ref().to_vec()));
        self
    }

    #[cfg(feature = "tls")]
    /// For `https://` base URLs: uses a hand-made rustls configuration (custom verifiers, resolvers,
    /// protocol versions...) instead of [`tls_root_certificates_pem`](Self::tls_root_certificates_pem)
    /// and [`tls_client_identity_pem`](Self::tls_client_identity_pem). Its ALPN protocols are replaced
    /// to match the [`http_version`](Self::http_version).
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls.config = Some(config);
        self
    }

    /// HTTP/2 only: the initial flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE), how
    /// many bytes of one response the server may send before this client reads them. Default 2 MiB.
    /// Raise it for large messages over high-latency links; lower it to bound the memory that many
    /// concurrent streams may buffer. HTTP/2 allows 0 to 2^31-1: 0 (which would stall every response)
    /// is taken as 1 and larger values as 2^31-1.
    ///
    /// Like the other `http2_*` options, it applies to the built-in HTTP/2 transport
    /// ([`HttpVersion::Http2`]); HTTP/1.1 and a custom [`transport`](Self::transport) ignore it.
    pub fn http2_initial_stream_window_size(mut self, size: u32) -> Self {
        self.http2.set_stream_window(size);
        self
    }

    /// HTTP/2 only: the flow-control window of the whole connection, shared by all its streams.
    /// Default 5 MiB. Raise it with the stream window when many streams carry large messages at once.
    /// HTTP/2 allows 65,535 (where it starts; SETTINGS cannot lower it) to 2^31-1; values outside are
    /// taken as the nearest bound.
    pub fn http2_initial_connection_window_size(mut self, size: u32) -> Self {
        self.http2.set_connection_window(size);
        self
    }

    /// HTTP/2 only: the largest frame payload this client accepts (SETTINGS_MAX_FRAME_SIZE); what it
    /// sends is bounded by the server's own setting. Default 16 KiB, the protocol's minimum. Larger
    /// frames save a little per-frame work on large messages. HTTP/2 allows 16,384 to 16,777,215; values
    /// outside are taken as the nearest bound.
    pub fn http2_max_frame_size(mut self, size: u32) -> Self {
        self.http2.set_max_frame_size(size);
        self
    }

    /// HTTP/2 only: hyper's adaptive flow control, which starts both windows at 64 KiB and grows them
    /// with the measured bandwidth-delay product; when on, the window sizes set above are not used.
    /// Off by default: with hundreds of busy streams on one connection, the small starting window lets
    /// h2 mistake their unread DATA frames for a flood and close the connection. Worth trying for a few
    /// large transfers over links whose latency is unknown.
    pub fn http2_adaptive_window(mut self, enabled: bool) -> Self {
        self.http2.adaptive_window = Some(enabled);
        self
    }

    /// Builds the client. Fails if the base URL or the send compression is invalid, the protocol is not
    /// supported yet, or the TLS settings are unusable (or set for an `http://` URL or a custom transport).
    pub fn build(self) -> Result<Client, Error> {
        let uri: http::Uri = self.base.parse().map_err(|e| {
            Error::with_source(
                Code::InvalidArgument,
                format!("invalid base URL {:?}", self.base),
                e,
            )
        })?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(Error::new(
                Code::InvalidArgument,
                format!("base URL {:?} needs a scheme and a host", self.base),
            ));
        }
        let protocol = self.protocol.client();
        protocol.check_http_version(self.http_version)?;
        let send_compression = match &self.send_compression {
            None => None,
            Some(name) => self.compression.resolve(Some(name))?,
        };
        let transport = transport::client_transport(
            self.transport,
            uri.scheme_str(),
            self.http_version,
            self.tls,
            self.http2,
        )?;
        Ok(Client {
            config: Arc::new(ClientConfig {
                base: self.base,
                transport,
                protocol,
                http_version: self.http_version,
                codec: self.codec,
                send_compression,
                compression: self.compression,
                compress_min_bytes: self.compress_min_bytes,
                read_max_bytes: self.read_max_bytes,
                send_max_bytes: self.send_max_bytes,
                use_get: self.use_get,
                timeout: self.timeout,
            }),
        })
    }
}
