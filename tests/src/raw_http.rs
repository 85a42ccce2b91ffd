//! A raw HTTP client for sending what a well-behaved Trident client never would, helpers for the bodies it
//! sends and reads (envelopes, gzip), and a transport that logs the HTTP methods reaching a router.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf as _, Bytes};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use trident::Router;
use trident::client::boxed_transport;

use crate::{Http, within};

/// A response to a raw request, with its body read to the end.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: http::StatusCode,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl RawResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON (a Connect unary error).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The Connect error code in a unary error body.
    pub fn error_code(&self) -> String {
        self.json()["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {:?}", self.body))
            .to_string()
    }

    /// The envelopes of a streaming body.
    pub fn envelopes(&self) -> Vec<(u8, Bytes)> {
        parse_envelopes(self.body.clone())
    }

    /// The end-stream message of a streaming body, as JSON.
    pub fn end_stream(&self) -> serde_json::Value {
        let envelopes = self.envelopes();
        let (flags, payload) = envelopes
            .last()
            .unwrap_or_else(|| panic!("no envelopes in {:?}", self.body));
        assert_eq!(flags & 0b10, 0b10, "last envelope is not end-stream");
        serde_json::from_slice(payload).expect("end-stream message is JSON")
    }

    /// The error code in a streaming body's end-stream message.
    pub fn end_stream_code(&self) -> String {
        self.end_stream()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("end-stream has no error: {:?}", self.end_stream()))
            .to_string()
    }
}

/// Frames `payload` in a five-byte envelope with `flags`.
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(flags);
    out.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a body into envelopes (panics on a truncated one).
pub fn parse_envelopes(mut body: Bytes) -> Vec<(u8, Bytes)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "truncated envelope header in response");
        let flags = body.get_u8();
        let len = body.get_u32() as usize;
        assert!(body.len() >= len, "truncated envelope in response");
        out.push((flags, body.split_to(len)));
    }
    out
}

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// gunzips `data`.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A raw request builder for `path` on `addr`, right for `http` (origin form and `Host` for HTTP/1.1,
/// absolute URI for HTTP/2).
pub fn raw(
    method: http::Method,
    addr: SocketAddr,
    path: &str,
    http: Http,
) -> http::request::Builder {
    match http {
        Http::H1 => http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, addr.to_string()),
        Http::H2 => http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .version(http::Version::HTTP_2),
    }
}

/// Sends one request on a fresh connection and reads the whole response.
pub async fn send_raw(addr: SocketAddr, http: Http, request: http::Request<Bytes>) -> RawResponse {
    within("raw request", async {
        let response = send_on_new_connection(addr, http, request.map(Full::new)).await;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read the body").to_bytes();
        RawResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
    .await
}

/// Sends one request with any body on a fresh connection; returns the response as it arrives (its
/// body unread).
pub async fn send_on_new_connection<B>(
    addr: SocketAddr,
    http: Http,
    request: http::Request<B>,
) -> http::Response<hyper::body::Incoming>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the test server");
    let io = TokioIo::new(stream);
    match http {
        Http::H1 => {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(connection);
            sender.send_request(request).await
        }
        Http::H2 => {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .expect("HTTP/2 handshake");
            tokio::spawn(connection);
            sender.send_request(request).await
        }
    }
    .expect("the server answers")
}

/// A raw Connect unary POST to `spec` with `codec`, plus any `extra` headers.
pub async fn raw_unary(
    addr: SocketAddr,
    http: Http,
    path: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> RawResponse {
    let mut builder = raw(http::Method::POST, addr, path, http)
        .header("content-type", content_type)
        .header("connect-protocol-version", "1");
    for (k, v) in extra {
        builder = builder.header(*k, *v);
    }
    send_raw(
        addr,
        http,
        builder.body(body.into()).expect("valid request"),
    )
    .await
}

/// Counts how many times each HTTP method reached a wrapped service.
#[derive(Clone, Debug, Default)]
pub struct MethodLog(Arc<std::sync::Mutex<Vec<http::Method>>>);

impl MethodLog {
    /// The methods seen, in order.
    pub fn methods(&self) -> Vec<http::Method> {
        self.0.lock().expect("not poisoned").clone()
    }

    /// Wraps `router` as a transport that records each request's HTTP method.
    pub fn transport(&self, router: Router) -> trident::client::Transport {
        let log = self.clone();
        boxed_transport(tower::ServiceExt::map_request(
            router,
            move |request: http::Request<trident::Body>| {
                log.0
                    .lock()
                    .expect("not poisoned")
                    .push(request.method().clone());
                request
            },
        ))
    }
}

/// `data` percent-encoded for a URL's query: every byte but RFC 3986's unreserved characters
/// escaped.
pub fn percent_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for &b in data {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
