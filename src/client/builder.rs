//! Configuring a client: [`ClientBuilder`], its options and their defaults, and the checks `build` makes
//! before the client's transport exists.

use std::sync::Arc;
use std::time::Duration;

use crate::ConfigError;
use crate::body::Body;
use crate::client::Client;
use crate::client::balancer::{BalancePolicy, Balancer, EndpointClients};
use crate::client::config::ClientConfig;
use crate::client::default_transport;
use crate::client::health_check::HealthCheck;
use crate::client::resolver::{Resolver, StaticResolver};
use crate::client::retry::{RetryBudget, RetryPolicy, RetrySettings};
use crate::client::transport::{Dispatch, HttpVersion, Transport, boxed_transport};
use crate::codec::{Codec, JsonCodec, ProtoCodec};
use crate::compression::CompressionRegistry;
use crate::http2::{Http2Settings, Side};
use crate::interceptor::{Chain, Interceptor};
use crate::protocol::ProtocolKind;
use crate::protocol::client::ClientProtocol;

impl Client {
    /// Starts configuring a client for `base_url` (such as `http://127.0.0.1:8080`, optionally with a path
    /// prefix).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url.into())
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
    tls: default_transport::TlsSettings,
    http2: Http2Settings,
    connect_timeout: Option<Duration>,
    interceptors: Vec<Arc<dyn Interceptor>>,
    layers: Vec<TransportLayer>,
    /// Headers every call sends unless its own headers name them, as a protocol's client options
    /// set them; checked when the client is built.
    default_headers: Vec<(http::HeaderName, String)>,
    retry: RetrySettings,
    resolver: Option<Box<dyn Resolver>>,
    balance: BalancePolicy,
    health_check: Option<Arc<dyn HealthCheck>>,
}

impl ClientBuilder {
    /// The largest received message a client accepts unless told otherwise
    /// ([`read_max_bytes`](Self::read_max_bytes)), counted after decompression: 4 MiB.
    pub const DEFAULT_READ_MAX_BYTES: usize = crate::limits::DEFAULT_READ_MAX_BYTES;

    /// The size below which a client sends messages uncompressed unless told otherwise
    /// ([`compress_min_bytes`](Self::compress_min_bytes)): 1 KiB.
    pub const DEFAULT_COMPRESS_MIN_BYTES: usize = crate::limits::DEFAULT_COMPRESS_MIN_BYTES;

    /// How long the built-in transport waits for a TCP connection when not told otherwise (see
    /// [`ClientBuilder::connect_timeout`]): 20 s, the minimum connect timeout of gRPC's connection backoff
    /// specification.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
}

/// Makes the clients a health check watches each endpoint through: the balanced client's protocol,
/// HTTP version and codec, sending to that endpoint alone.
fn endpoint_clients(
    base: &str,
    protocol: &'static dyn ClientProtocol,
    http_version: HttpVersion,
    codec: Arc<dyn Codec>,
    compression: CompressionRegistry,
) -> EndpointClients {
    let base = base.to_string();
    Box::new(move |transport| Client {
        config: Arc::new(ClientConfig {
            base: base.clone(),
            origin: None,
            transport: Dispatch::Direct(transport),
            protocol,
            http_version,
            codec: codec.clone(),
            send_compression: None,
            compression: compression.clone(),
            compress_min_bytes: crate::limits::DEFAULT_COMPRESS_MIN_BYTES,
            read_max_bytes: crate::limits::DEFAULT_READ_MAX_BYTES,
            send_max_bytes: 0,
            use_get: false,
            timeout: None,
            chain: Chain::default(),
            default_headers: Vec::new(),
            retries: None,
        }),
    })
}

/// A tower layer around the client's transport, boxed.
type TransportLayer = Box<dyn FnOnce(Transport) -> Transport + Send>;

impl ClientBuilder {
    fn new(base: String) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            transport: None,
            protocol: ProtocolKind::CONNECT,
            http_version: HttpVersion::Http1,
            codec: Arc::new(ProtoCodec),
            send_compression: None,
            compression: CompressionRegistry::new(),
            compress_min_bytes: crate::limits::DEFAULT_COMPRESS_MIN_BYTES,
            read_max_bytes: crate::limits::DEFAULT_READ_MAX_BYTES,
            send_max_bytes: 0,
            use_get: false,
            timeout: None,
            tls: default_transport::TlsSettings::default(),
            http2: Http2Settings::default(),
            connect_timeout: Some(ClientBuilder::DEFAULT_CONNECT_TIMEOUT),
            interceptors: Vec::new(),
            layers: Vec::new(),
            default_headers: Vec::new(),
            retry: RetrySettings::default(),
            resolver: None,
            balance: BalancePolicy::default(),
            health_check: None,
        }
    }

    /// Balances calls over the endpoints `resolver` finds (a [`DnsResolver`](crate::client::DnsResolver), a
    /// [`StaticResolver`](crate::client::StaticResolver), or one of your own), instead of calling the base URL's
    /// host. Requests still name the base URL's authority (`:authority`, `Host`, and the TLS server
    /// name), and the built-in transport opens one connection per endpoint (HTTP/2: one multiplexed
    /// connection; HTTP/1.1: a pool). See [`balance`](Self::balance) for how endpoints are picked and
    /// stepped around, and [`health_check`](Self::health_check). Not with a custom
    /// [`transport`](Self::transport), nor (yet) over HTTP/3.
    ///
    /// ```
    /// let client = trident::Client::builder("http://payments.internal:8080")
    ///     .http_version(trident::HttpVersion::Http2)
    ///     .resolver(trident::client::DnsResolver::new("dns:///payments.internal:8080")?)
    ///     .balance(trident::client::BalancePolicy::PowerOfTwoChoices)
    ///     .build()?;
    /// # Ok::<_, trident::ConfigError>(())
    /// ```
    pub fn resolver(mut self, resolver: impl Resolver) -> Self {
        self.resolver = Some(Box::new(resolver));
        self
    }

    /// Balances calls over a fixed set of endpoint addresses: [`resolver`](Self::resolver) with a
    /// [`StaticResolver`](crate::client::StaticResolver).
    pub fn endpoints(self, addresses: impl IntoIterator<Item = std::net::SocketAddr>) -> Self {
        self.resolver(StaticResolver::new(addresses))
    }

    /// How a balanced client (see [`resolver`](Self::resolver)) picks the endpoint of each call
    /// (default round-robin). Either way, an endpoint whose connect fails is left out for a backoff
    /// (1 s, growing 1.6 times with each failure in a row, up to 30 s), and the call goes to another.
    pub fn balance(mut self, policy: BalancePolicy) -> Self {
        self.balance = policy;
        self
    }

    /// Watches each endpoint of a balanced client with `check` (such as `trident-health`'s
    /// `grpc.health.v1` `Watch` checker), and sends no calls to endpoints that report NOT_SERVING, as a
    /// draining server does. Without it, only failed connects take an endpoint out.
    pub fn health_check(mut self, check: impl HealthCheck) -> Self {
        self.health_check = Some(Arc::new(check));
        self
    }

    /// Retries failed calls to idempotent methods with `policy`: methods whose proto declares
    /// `idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`, and those named with
    /// [`idempotent_method`](Self::idempotent_method). Calls the server provably never processed
    /// ([`Error::is_unprocessed`](crate::Error::is_unprocessed)) are also retried under it, whatever
    /// the method. A call is retried until something of its response reached the caller (a unary
    /// call until it returns, a server stream until its head is handed over, a client or bidi stream
    /// until its first response message or its headers are read); see the guide's section on
    /// replicas. Without a policy, unary and server-streaming calls that the server provably never
    /// processed are sent again once, at once; nothing else is retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry.default = Some(policy);
        self
    }

    /// Retries calls to the method at `path` (`/package.Service/Method`) with `policy`, instead of the
    /// policy given to [`retry`](Self::retry); a policy of one attempt turns retries off for it. As
    /// with `retry`, only an idempotent method is retried after it may have been processed.
    pub fn retry_method(mut self, path: &str, policy: RetryPolicy) -> Self {
        self.retry.methods.push((path.to_string(), policy));
        self
    }

    /// Treats the method at `path` (`/package.Service/Method`) as idempotent, for a proto that does
    /// not declare it: its failed calls may then be retried after reaching the server. Only for
    /// methods whose repetition is harmless.
    pub fn idempotent_method(mut self, path: &str) -> Self {
        self.retry.idempotent.push(path.to_string());
        self
    }

    /// How many retries the client may add to its calls (default [`RetryBudget::default`]: a fifth
    /// more, and at least 10 a second), so that a failing server does not draw a storm of retries
    /// from every client. Shared by the client's clones.
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry.budget = budget;
        self
    }

    /// Sends header `name` with `value` on every call whose own headers do not name it, replacing
    /// an earlier default of that name. For protocols' client options (such as Triple's service
    /// group and version); the value is checked when the client is built.
    pub(crate) fn default_header(mut self, name: http::HeaderName, value: &str) -> Self {
        self.default_headers.retain(|(other, _)| *other != name);
        self.default_headers.push((name, value.to_string()));
        self
    }

    /// Wraps the client's transport (the built-in one, with its TLS and HTTP/2 settings, or the one
    /// given to [`transport`](Self::transport)) in a tower layer: `tower::ServiceBuilder` stacks,
    /// timeouts, concurrency limits, request tracing, or a layer of your own that sees each HTTP
    /// request and response. The first layer added is the outermost, as in `tower::ServiceBuilder`.
    ///
    /// The layered service takes `http::Request<trident::Body>` and may answer with any body of
    /// `bytes::Bytes`; its errors fail the call with `unavailable` unless they are a
    /// [`trident::Error`](crate::Error), which is kept as it is. Interceptors run before the transport:
    /// they see messages, the layers see HTTP.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = trident::Client::builder("http://127.0.0.1:8080")
    ///     .layer(
    ///         tower::ServiceBuilder::new()
    ///             .concurrency_limit(64)
    ///             .map_request(|mut request: http::Request<trident::Body>| {
    ///                 request.headers_mut().insert("x-team", http::HeaderValue::from_static("payments"));
    ///                 request
    ///             }),
    ///     )
    ///     .build()?;
    /// # Ok::<_, trident::ConfigError>(())
    /// ```
    pub fn layer<L, S, B>(mut self, layer: L) -> Self
    where
        L: tower::Layer<Transport, Service = S> + Send + 'static,
        S: tower::Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.layers
            .push(Box::new(move |inner| boxed_transport(layer.layer(inner))));
        self
    }

    /// Runs `interceptor` around every call the client makes, inside those added before it: the first
    /// added is the outermost, seeing each request first and each response last. See [`Interceptor`];
    /// on the client, the request's [`context`](crate::Request::context) tells the method, protocol,
    /// URI and deadline, and its extensions go on to the transport's HTTP request.
    pub fn intercept(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
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

    /// The deadline of calls that state no timeout of their own (`None`, the default: such calls
    /// have no deadline), as [`Server::default_timeout`](crate::Server::default_timeout) is for the
    /// calls a server receives. A call's own timeout ([`Request::with_timeout`](crate::Request::with_timeout))
    /// wins, longer or not.
    pub fn default_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
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
    /// Unusable PEM data fails [`build`](Self::build) with a [`ConfigError`].
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
    /// match, fails [`build`](Self::build) with a [`ConfigError`].
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

    /// The HTTP/2 settings of the built-in HTTP/2 transport ([`HttpVersion::Http2`]); HTTP/1.1, HTTP/3
    /// and a custom [`transport`](Self::transport) do not use them. What `settings` leaves unset keeps
    /// the client's default:
    /// - a 2 MiB stream window and a 5 MiB connection window, 16 KiB frames, 1 MiB of one request
    ///   buffered for sending;
    /// - no adaptive window: with hundreds of busy streams on one connection, its small starting
    ///   window lets h2 mistake their unread DATA frames for a flood and close the connection. Such a
    ///   client's connections go through hyper's HTTP/2 client (the `h2` crate the client otherwise
    ///   speaks to directly has no adaptive window), which spends a task or two more on each call;
    /// - no keepalive PINGs, as in grpc-go and tonic: gRPC servers refuse pings more often than every
    ///   5 minutes by default (grpc-go answers with a `too_many_pings` GOAWAY), so use an interval of
    ///   at least that against them, or what the server's own keepalive policy allows. With an
    ///   interval, PINGs go out while calls are open (and, with `keep_alive_while_idle`, also while
    ///   none is), and a connection whose PING goes unanswered for the timeout (20 s unless set) is
    ///   closed: its calls fail with `unavailable` instead of waiting for their deadlines, and the
    ///   next call opens a new connection.
    ///
    /// A value out of HTTP/2's range, or a server-only setting, fails [`build`](Self::build) with a
    /// [`ConfigError`] naming it.
    pub fn http2(mut self, settings: Http2Settings) -> Self {
        self.http2 = settings;
        self
    }

    /// How long the built-in transport waits for a TCP connection to be established before the call
    /// fails with `unavailable`. Default [`ClientBuilder::DEFAULT_CONNECT_TIMEOUT`](crate::client::ClientBuilder::DEFAULT_CONNECT_TIMEOUT)
    /// (20 s, gRPC's minimum connect timeout); a call's own deadline, when shorter, ends it sooner.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Builds the client. Fails with a [`ConfigError`] if the base URL is invalid, the send compression
    /// is not in the compression registry, the protocol cannot run over the HTTP version (gRPC over
    /// HTTP/1.1), or the TLS settings are unusable (or set for an `http://` URL or a custom transport).
    pub fn build(self) -> Result<Client, ConfigError> {
        ConfigError::check(self.http2.problems(Side::Client))?;
        let uri: http::Uri = self.base.parse().map_err(|e| {
            ConfigError::with_source(format!("invalid base URL {:?}", self.base), e)
        })?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(ConfigError::new(format!(
                "base URL {:?} needs a scheme and a host",
                self.base
            )));
        }
        let default_headers = self
            .default_headers
            .into_iter()
            .map(|(name, value)| match http::HeaderValue::from_str(&value) {
                Ok(checked) => Ok((name, checked)),
                Err(e) => Err(ConfigError::with_source(
                    format!("invalid {name} {value:?}"),
                    e,
                )),
            })
            .collect::<Result<_, _>>()?;
        let Some(protocol) = self.protocol.client() else {
            return Err(ConfigError::new(format!(
                "Trident's client does not speak the {} protocol: it serves it; call with Connect, \
                 gRPC, gRPC-Web or Triple",
                self.protocol
            )));
        };
        if protocol.requires_http2() && self.http_version == HttpVersion::Http1 {
            return Err(ConfigError::new(format!(
                "the {} protocol requires HTTP/2: use HttpVersion::Http2, or a protocol that runs over \
                 HTTP/1.1 (Connect, gRPC-Web)",
                protocol.kind()
            )));
        }
        let send_compression = match &self.send_compression {
            None => None,
            Some(name) => self.compression.resolve(Some(name)).map_err(|_| {
                // The optional encodings, and whether this build has them.
                let optional = [
                    ("br", cfg!(feature = "br")),
                    ("zstd", cfg!(feature = "zstd")),
                    ("snappy", cfg!(feature = "snappy")),
                ];
                let hint = if optional.contains(&(name.trim(), false)) {
                    format!(" (it needs trident's `{}` cargo feature)", name.trim())
                } else {
                    String::new()
                };
                ConfigError::new(format!(
                    "send compression {name:?} is not in the client's compression registry, which \
                     supports {}{hint}",
                    self.compression.accept_value()
                ))
            })?,
        };
        let mut transport = match self.resolver {
            None => default_transport::client_transport(
                self.transport,
                uri.scheme_str(),
                self.http_version,
                self.tls,
                self.http2,
                self.connect_timeout,
            )?,
            Some(_) if self.transport.is_some() => {
                return Err(ConfigError::new(
                    "a resolver balances over the built-in transport, not a custom one",
                ));
            }
            Some(resolver) => {
                let transports = default_transport::endpoint_transports(
                    uri.scheme_str(),
                    self.http_version,
                    self.tls,
                    self.http2,
                    self.connect_timeout,
                )?;
                let health = self.health_check.map(|check| {
                    let clients = endpoint_clients(
                        &self.base,
                        protocol,
                        self.http_version,
                        self.codec.clone(),
                        self.compression.clone(),
                    );
                    (check, clients)
                });
                Dispatch::Direct(Arc::new(Balancer::new(
                    resolver,
                    self.balance,
                    transports,
                    health,
                )))
            }
        };
        if !self.layers.is_empty() {
            // The first layer added is the outermost: wrap from the last one out.
            let mut layered = transport.into_transport();
            for layer in self.layers.into_iter().rev() {
                layered = layer(layered);
            }
            transport = Dispatch::Tower(layered);
        }
        let origin = match (uri.scheme(), uri.authority(), uri.path_and_query()) {
            (Some(scheme), Some(authority), path) if path.is_none_or(|p| p.as_str() == "/") => {
                Some((scheme.clone(), authority.clone()))
            }
            _ => None,
        };
        Ok(Client {
            config: Arc::new(ClientConfig {
                base: self.base,
                origin,
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
                chain: Chain::of(self.interceptors),
                default_headers,
                retries: self.retry.build()?,
            }),
        })
    }
}
