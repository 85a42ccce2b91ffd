//! The client under test: turns one `ClientCompatRequest` into an RPC made with the Trident client
//! against the reference server, and describes what happened in a `ClientCompatResponse`.
//!
//! Servers with TLS are called over `https://`, trusting the certificate the runner hands over (and
//! presenting its client certificate for mutual TLS). Configurations the client cannot serve yet (HTTP/3)
//! answer with a `ClientErrorResult` that says so.

mod calls;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prost_types::Any;
use trident::{Client, HttpVersion, Metadata, ProtocolKind};

use crate::convert::append_headers;
use crate::proto::client_compat_request::cancel::CancelTiming;
use crate::proto::{self, ClientCompatRequest, ClientCompatResponse, client_compat_response};

pub use calls::Outcome;

/// The only service the conformance runner asks clients to call.
pub const SERVICE_NAME: &str = "connectrpc.conformance.v1.ConformanceService";

/// When (if at all) the client cancels the call, from the request's `cancel` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelAt {
    /// Run the call to its end.
    Never,
    /// Cancel instead of closing the send side, once every request is sent (client and bidi streams).
    BeforeCloseSend,
    /// Cancel this long after closing the send side (for unary and server streams: after invoking).
    AfterCloseSend(Duration),
    /// Cancel right after receiving this many responses (server and bidi streams).
    AfterResponses(usize),
}

impl CancelAt {
    fn from_request(cancel: Option<&proto::client_compat_request::Cancel>) -> Self {
        match cancel.map(|c| c.cancel_timing.as_ref()) {
            None => Self::Never,
            // A cancel without timing means "right after close send".
            Some(None) => Self::AfterCloseSend(Duration::ZERO),
            Some(Some(CancelTiming::BeforeCloseSend(_))) => Self::BeforeCloseSend,
            Some(Some(CancelTiming::AfterCloseSendMs(ms))) => {
                Self::AfterCloseSend(Duration::from_millis(u64::from(*ms)))
            }
            Some(Some(CancelTiming::AfterNumResponses(n))) => Self::AfterResponses(*n as usize),
        }
    }
}

/// How to make one call: what to send, with which metadata and timing.
#[derive(Debug)]
pub struct Plan {
    /// Request headers.
    pub headers: Metadata,
    /// Per-call timeout.
    pub timeout: Option<Duration>,
    /// The request messages, still packed.
    pub messages: Vec<Any>,
    /// Delay before each request message of a client or bidi stream.
    pub request_delay: Duration,
    /// When to cancel.
    pub cancel: CancelAt,
}

impl Plan {
    fn from_request(request: &ClientCompatRequest) -> Result<Self, String> {
        let mut headers = Metadata::new();
        append_headers(&mut headers, &request.request_headers)
            .map_err(|e| format!("invalid request header: {e}"))?;
        Ok(Self {
            headers,
            timeout: request
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
            messages: request.request_messages.clone(),
            request_delay: Duration::from_millis(u64::from(request.request_delay_ms)),
            cancel: CancelAt::from_request(request.cancel.as_ref()),
        })
    }
}

/// The client settings a request asks for; calls with equal settings share one [`Client`] (and so
/// its connections).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    protocol: ProtocolKind,
    host: String,
    port: u32,
    http_version: HttpVersionKey,
    json: bool,
    compression: Option<&'static str>,
    receive_limit: u32,
    use_get: bool,
    tls: Option<TlsKey>,
}

/// TLS settings: the server certificate to trust and, for mutual TLS, the client's own (all PEM).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TlsKey {
    server_cert: Vec<u8>,
    client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsKey {
    fn from_request(request: &ClientCompatRequest) -> Result<Option<Self>, String> {
        let creds = request.client_tls_creds.as_ref();
        if request.server_tls_cert.is_empty() {
            return match creds {
                Some(_) => Err("TLS client credentials were given for a server without TLS".into()),
                None => Ok(None),
            };
        }
        Ok(Some(Self {
            server_cert: request.server_tls_cert.clone(),
            client_cert: creds.map(|c| (c.cert.clone(), c.key.clone())),
        }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum HttpVersionKey {
    Http1,
    Http2,
    Http3,
}

impl ClientKey {
    /// Checks that the request's configuration is one this client supports.
    fn from_request(request: &ClientCompatRequest) -> Result<Self, String> {
        let tls = TlsKey::from_request(request)?;
        let protocol = match proto::Protocol::try_from(request.protocol) {
            Ok(proto::Protocol::Connect) => ProtocolKind::CONNECT,
            Ok(proto::Protocol::Grpc) => ProtocolKind::GRPC,
            Ok(proto::Protocol::GrpcWeb) => ProtocolKind::GRPC_WEB,
            _ => return Err(format!("unknown protocol {}", request.protocol)),
        };
        let http_version = match proto::HttpVersion::try_from(request.http_version) {
            Ok(proto::HttpVersion::HttpVersion1) => HttpVersionKey::Http1,
            Ok(proto::HttpVersion::HttpVersion2) => HttpVersionKey::Http2,
            Ok(proto::HttpVersion::HttpVersion3) if tls.is_some() => HttpVersionKey::Http3,
            _ => {
                return Err(format!(
                    "HTTP version {} is not supported (HTTP/1.1, HTTP/2, and HTTP/3 over TLS)",
                    request.http_version
                ));
            }
        };
        let json = match proto::Codec::try_from(request.codec) {
            Ok(proto::Codec::Proto) => false,
            Ok(proto::Codec::Json) => true,
            _ => return Err(format!("codec {} is not supported", request.codec)),
        };
        let compression = match proto::Compression::try_from(request.compression) {
            Ok(proto::Compression::Unspecified | proto::Compression::Identity) => None,
            Ok(proto::Compression::Gzip) => Some("gzip"),
            Ok(proto::Compression::Br) => Some("br"),
            Ok(proto::Compression::Zstd) => Some("zstd"),
            Ok(proto::Compression::Deflate) => Some("deflate"),
            Ok(proto::Compression::Snappy) => Some("snappy"),
            Err(_) => return Err(format!("unknown compression {}", request.compression)),
        };
        Ok(Self {
            protocol,
            host: request.host.clone(),
            port: request.port,
            http_version,
            json,
            compression,
            receive_limit: request.message_receive_limit,
            use_get: request.use_get_http_method,
            tls,
        })
    }

    fn base_uri(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    fn build(&self) -> Result<Client, String> {
        let mut builder = Client::builder(self.base_uri())
            .protocol(self.protocol)
            .http_version(match self.http_version {
                HttpVersionKey::Http1 => HttpVersion::Http1,
                HttpVersionKey::Http2 => HttpVersion::Http2,
                HttpVersionKey::Http3 => HttpVersion::Http3,
            });
        if self.json {
            builder = builder.json();
        }
        if crate::intercept::enabled() {
            builder = builder.intercept(crate::intercept::PassThrough);
        }
        if let Some(name) = self.compression {
            // The suite expects every request compressed when compression is asked for, however small.
            builder = builder.send_compression(name).compress_min_bytes(0);
        }
        if self.receive_limit > 0 {
            builder = builder.read_max_bytes(self.receive_limit as usize);
        }
        if self.use_get {
            builder = builder.use_get(true);
        }
        if let Some(tls) = &self.tls {
            builder = builder.tls_root_certificates_pem(&tls.server_cert);
            if let Some((cert, key)) = &tls.client_cert {
                builder = builder.tls_client_identity_pem(cert, key);
            }
        }
        builder
            .build()
            .map_err(|e| format!("cannot build the Trident client: {e}"))
    }
}

/// Clients shared between calls with the same settings.
#[derive(Debug, Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl ClientCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, key: &ClientKey) -> Result<Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(key) {
            return Ok(client.clone());
        }
        let client = key.build()?;
        clients.insert(key.clone(), client.clone());
        Ok(client)
    }
}

/// Runs the call `request` describes and reports its outcome.
pub async fn run(request: ClientCompatRequest, cache: &ClientCache) -> ClientCompatResponse {
    let result = match execute(&request, cache).await {
        Ok(outcome) => client_compat_response::Result::Response(outcome.into_result()),
        Err(message) => client_compat_response::Result::Error(failure(message)),
    };
    ClientCompatResponse {
        test_name: request.test_name,
        result: Some(result),
    }
}

/// The answer for a request the client could not even attempt.
pub fn failure(message: impl Into<String>) -> proto::ClientErrorResult {
    proto::ClientErrorResult {
        message: message.into(),
    }
}

async fn execute(request: &ClientCompatRequest, cache: &ClientCache) -> Result<Outcome, String> {
    let service = request.service.as_deref().unwrap_or(SERVICE_NAME);
    if service != SERVICE_NAME {
        return Err(format!("unknown service {service}"));
    }
    let stream_type = proto::StreamType::try_from(request.stream_type)
        .map_err(|_| format!("unknown stream type {}", request.stream_type))?;
    let method = match request.method.as_deref() {
        Some(method) => method,
        None => match stream_type {
            proto::StreamType::Unary => "Unary",
            proto::StreamType::ClientStream => "ClientStream",
            proto::StreamType::ServerStream => "ServerStream",
            proto::StreamType::HalfDuplexBidiStream | proto::StreamType::FullDuplexBidiStream => {
                "BidiStream"
            }
            proto::StreamType::Unspecified => return Err("stream type is unspecified".into()),
        },
    };
    let key = ClientKey::from_request(request)?;
    let plan = Plan::from_request(request)?;
    let client = cache.get(&key)?;

    use proto::conformance_service as spec;
    match method {
        "Unary" => {
            calls::unary::<proto::UnaryRequest, proto::UnaryResponse>(&client, &spec::UNARY, plan)
                .await
        }
        "IdempotentUnary" => {
            calls::unary::<proto::IdempotentUnaryRequest, proto::IdempotentUnaryResponse>(
                &client,
                &spec::IDEMPOTENT_UNARY,
                plan,
            )
            .await
        }
        "Unimplemented" => {
            calls::unary::<proto::UnimplementedRequest, proto::UnimplementedResponse>(
                &client,
                &spec::UNIMPLEMENTED,
                plan,
            )
            .await
        }
        "ClientStream" => calls::client_stream(&client, &spec::CLIENT_STREAM, plan).await,
        "ServerStream" => calls::server_stream(&client, &spec::SERVER_STREAM, plan).await,
        "BidiStream" if stream_type == proto::StreamType::FullDuplexBidiStream => {
            calls::full_duplex(&client, &spec::BIDI_STREAM, plan).await
        }
        "BidiStream" => calls::half_duplex(&client, &spec::BIDI_STREAM, plan).await,
        other => Err(format!("unknown method {service}/{other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ClientCompatRequest {
        ClientCompatRequest {
            test_name: "t".into(),
            http_version: proto::HttpVersion::HttpVersion2 as i32,
            protocol: proto::Protocol::Connect as i32,
            codec: proto::Codec::Json as i32,
            compression: proto::Compression::Gzip as i32,
            host: "127.0.0.1".into(),
            port: 8080,
            ..Default::default()
        }
    }

    #[test]
    fn supported_settings_make_a_key() {
        let key = ClientKey::from_request(&request()).unwrap();
        assert!(key.json && key.compression == Some("gzip"));
        assert_eq!(key.http_version, HttpVersionKey::Http2);
        assert_eq!(key.base_uri(), "http://127.0.0.1:8080");
    }

    #[test]
    fn tls_settings_make_an_https_key() {
        let mut tls = request();
        tls.server_tls_cert = b"cert".to_vec();
        tls.client_tls_creds = Some(proto::TlsCreds {
            cert: b"client cert".to_vec(),
            key: b"client key".to_vec(),
        });
        let key = ClientKey::from_request(&tls).unwrap();
        assert_eq!(key.base_uri(), "https://127.0.0.1:8080");
        let tls_key = key.tls.expect("TLS settings");
        assert_eq!(tls_key.server_cert, b"cert");
        assert_eq!(
            tls_key.client_cert,
            Some((b"client cert".to_vec(), b"client key".to_vec()))
        );
    }

    #[test]
    fn unsupported_settings_are_refused() {
        let mut creds_without_tls = request();
        creds_without_tls.client_tls_creds = Some(proto::TlsCreds::default());
        assert!(
            ClientKey::from_request(&creds_without_tls)
                .unwrap_err()
                .contains("TLS")
        );
        let mut h3 = request();
        h3.http_version = proto::HttpVersion::HttpVersion3 as i32;
        assert!(
            ClientKey::from_request(&h3)
                .unwrap_err()
                .contains("HTTP/3 over TLS"),
            "HTTP/3 needs TLS"
        );
    }

    #[test]
    fn cancel_timings() {
        use proto::client_compat_request::Cancel;
        assert_eq!(CancelAt::from_request(None), CancelAt::Never);
        let none = Cancel {
            cancel_timing: None,
        };
        assert_eq!(
            CancelAt::from_request(Some(&none)),
            CancelAt::AfterCloseSend(Duration::ZERO)
        );
        let after = Cancel {
            cancel_timing: Some(CancelTiming::AfterNumResponses(2)),
        };
        assert_eq!(
            CancelAt::from_request(Some(&after)),
            CancelAt::AfterResponses(2)
        );
    }
}
