//! Fuzz harnesses: arbitrary requests into a Trident router, and arbitrary responses into a Trident
//! client, each required to end (with an answer or an error) and never to panic or hang.
//!
//! The bytes of an input are read as a structured request or response (with `arbitrary`): mostly
//! well-formed pieces (known content types and headers, envelopes holding real or mangled messages,
//! compression, base64 text) mixed with arbitrary ones, so that the fuzzer spends its time past the
//! first check. `fuzz/` runs them under cargo-fuzz; `tests/suite/fuzz_inputs.rs` runs them on seeded
//! inputs. Time is paused in the runtime, so handler delays and deadlines cost nothing, and a call that
//! does not end within [`VIRTUAL_LIMIT`] of virtual time is reported as a hang.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use prost::Message as _;
use tower::ServiceExt as _;
use trident::client::boxed_transport;
use trident::{Body, Client, HttpVersion, ProtocolKind};

use crate::{EchoRequest, EchoResponse, EchoServiceClient, ErrorSpec, TestService, gzip, router};

/// How long (in paused, virtual time) a call may take before it counts as a hang.
pub const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

const PATHS: &[&str] = &[
    "/trident.test.v1.EchoService/Echo",
    "/trident.test.v1.EchoService/EchoPost",
    "/trident.test.v1.EchoService/Repeat",
    "/trident.test.v1.EchoService/Collect",
    "/trident.test.v1.EchoService/Chat",
    "/trident.test.v1.EchoService/Missing",
    "/",
    // REST bindings of the library service.
    "/v1/shelves/1/books/2",
    "/v1/shelves/1/books",
    "/v1/books/a/b%2Fc",
    "/v1/shelves/1/books/2:publish",
    "/v1/shelves/1/books/2/cover",
    "/v1/shelves/1:watch",
    "/v1/shelves/%ff/books/2",
];

const CONTENT_TYPES: &[&str] = &[
    "application/proto",
    "application/json",
    "application/json; charset=utf-8",
    "application/connect+proto",
    "application/connect+json",
    "application/grpc",
    "application/grpc+proto",
    "application/grpc+json",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web+json",
    "application/grpc-web-text",
    "application/grpc-web-text+json",
    "application/grpc+unknown",
    "text/plain",
];

const HEADER_NAMES: &[&str] = &[
    "connect-protocol-version",
    "connect-timeout-ms",
    "grpc-timeout",
    "content-encoding",
    "connect-content-encoding",
    "grpc-encoding",
    "accept-encoding",
    "connect-accept-encoding",
    "grpc-accept-encoding",
    "te",
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    "if-none-match",
    "x-custom-bin",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "content-length",
];

const HEADER_VALUES: &[&str] = &[
    "1",
    "0",
    "gzip",
    "br",
    "zstd",
    "deflate",
    "snappy",
    "identity",
    "gzip, br",
    "trailers",
    "100",
    "9999999999",
    "5S",
    "1m",
    "100000000H",
    "-1",
    "",
    "=",
    "AAAA",
    "3",
    "https://a.example",
];

/// One piece of text: one of `known`, or arbitrary.
fn pick(u: &mut Unstructured<'_>, known: &[&str]) -> arbitrary::Result<String> {
    if u.ratio(7, 8)? {
        Ok(u.choose(known)?.to_string())
    } else {
        String::arbitrary(u)
    }
}

/// A request message: a real `EchoRequest` (with small repeat counts and delays), or arbitrary bytes.
fn request_message(u: &mut Unstructured<'_>, json: bool) -> arbitrary::Result<Vec<u8>> {
    if u.ratio(1, 4)? {
        return Vec::arbitrary(u);
    }
    let error = if u.ratio(1, 4)? {
        Some(ErrorSpec {
            code: u.int_in_range(0..=20)?,
            message: String::arbitrary(u)?,
            with_failure_info: bool::arbitrary(u)?,
            after_messages: u.int_in_range(0..=3)?,
            ..Default::default()
        })
    } else {
        None
    };
    let request = EchoRequest {
        text: String::arbitrary(u)?,
        repeat: u.int_in_range(0..=4)?,
        delay_ms: u.int_in_range(0..=50)?,
        error,
        ..Default::default()
    };
    Ok(if json {
        serde_json::json!({ "text": request.text, "repeat": request.repeat })
            .to_string()
            .into_bytes()
    } else {
        request.encode_to_vec()
    })
}

/// A body: envelopes (flags, optionally gzipped payloads, sometimes a lying length) or raw bytes.
fn body_bytes(u: &mut Unstructured<'_>, json: bool) -> arbitrary::Result<Vec<u8>> {
    if u.ratio(1, 6)? {
        return Vec::arbitrary(u);
    }
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let mut payload = request_message(u, json)?;
        let mut flags = *u.choose(&[0u8, 0, 0, 1, 2, 0x80, 0xff])?;
        if u.ratio(1, 5)? {
            payload = gzip(&payload);
            flags |= 1;
        }
        let mut len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        if u.ratio(1, 10)? {
            len = u32::arbitrary(u)?;
        }
        out.push(flags);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&payload);
    }
    if u.ratio(1, 10)? {
        out.truncate(u.int_in_range(0..=out.len())?);
    }
    Ok(out)
}

/// `bytes` cut at arbitrary points into body frames.
fn chunks(u: &mut Unstructured<'_>, bytes: Vec<u8>) -> arbitrary::Result<Vec<Bytes>> {
    let bytes = Bytes::from(bytes);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() && out.len() < 8 {
        let take = u.int_in_range(1..=rest.len())?;
        out.push(rest.split_to(take));
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    Ok(out)
}

fn body_of(frames: Vec<Bytes>, trailers: Option<http::HeaderMap>) -> Body {
    let mut items: Vec<Result<http_body::Frame<Bytes>, trident::Error>> = frames
        .into_iter()
        .map(|f| Ok(http_body::Frame::data(f)))
        .collect();
    if let Some(trailers) = trailers {
        items.push(Ok(http_body::Frame::trailers(trailers)));
    }
    Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
        items,
    )))
}

fn headers(u: &mut Unstructured<'_>) -> arbitrary::Result<http::HeaderMap> {
    let mut map = http::HeaderMap::new();
    for _ in 0..u.int_in_range(0..=5)? {
        let name = pick(u, HEADER_NAMES)?;
        let value = pick(u, HEADER_VALUES)?;
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            map.append(name, value);
        }
    }
    Ok(map)
}

/// A paused current-thread runtime for one input.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// Reads a whole body, frame by frame (every frame is checked to arrive, errors included).
async fn drain(mut body: Body) {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
}

/// Sends one arbitrary request to a router serving [`TestService`] and reads the whole answer.
pub fn server_request(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(request) = build_request(&mut u) else {
        return;
    };
    runtime().block_on(async {
        let call = async {
            let response = router(TestService::bounded())
                .add(crate::proto::library_service_routes(crate::Library))
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let grpc = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            assert!(
                !grpc || response.status() == http::StatusCode::OK,
                "gRPC answers carry HTTP 200: {response:?}"
            );
            drain(response.into_body()).await;
        };
        if tokio::time::timeout(VIRTUAL_LIMIT, call).await.is_err() {
            panic!("the server did not finish answering within {VIRTUAL_LIMIT:?} of virtual time");
        }
    });
}

fn build_request(u: &mut Unstructured<'_>) -> arbitrary::Result<http::Request<Body>> {
    let method = u.choose(&[
        http::Method::POST,
        http::Method::POST,
        http::Method::GET,
        http::Method::OPTIONS,
        http::Method::PUT,
        http::Method::PATCH,
        http::Method::DELETE,
    ])?;
    let content_type = pick(u, CONTENT_TYPES)?;
    let json = content_type.contains("json");
    let mut uri = pick(u, PATHS)?;
    if *method == http::Method::GET {
        let message = request_message(u, json)?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(message);
        let encoding = if json { "json" } else { "proto" };
        uri.push_str(&format!(
            "?connect=v1&encoding={encoding}&base64=1&message={encoded}"
        ));
        if u.ratio(1, 4)? {
            uri.push('&');
            uri.push_str(&String::arbitrary(u)?);
        }
    }
    let mut body = body_bytes(u, json)?;
    if content_type.starts_with("application/grpc-web-text") && u.ratio(3, 4)? {
        body = base64::engine::general_purpose::STANDARD
            .encode(body)
            .into_bytes();
    }
    let frames = chunks(u, body)?;
    let trailers = if u.ratio(1, 8)? {
        Some(headers(u)?)
    } else {
        None
    };
    let mut request = http::Request::builder()
        .method(method.clone())
        .uri(
            uri.parse::<http::Uri>()
                .unwrap_or_else(|_| http::Uri::from_static("/")),
        )
        .version(*u.choose(&[http::Version::HTTP_11, http::Version::HTTP_2])?)
        .body(body_of(frames, trailers))
        .map_err(|_| arbitrary::Error::IncorrectFormat)?;
    *request.headers_mut() = headers(u)?;
    if let Ok(value) = http::HeaderValue::from_str(&content_type) {
        request
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    Ok(request)
}

/// What the fake server answers: status, headers, body frames and trailers, all arbitrary.
#[derive(Clone, Debug)]
struct FakeResponse {
    status: u16,
    headers: http::HeaderMap,
    frames: Vec<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl FakeResponse {
    fn build(self) -> http::Response<Body> {
        let mut response = http::Response::new(body_of(self.frames, self.trailers));
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        *response.headers_mut() = self.headers;
        response
    }
}

/// Makes one call of an arbitrary type, protocol and codec through a client whose transport answers
/// with an arbitrary response; the call must end.
pub fn client_response(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((protocol, json, kind, response)) = build_response(&mut u) else {
        return;
    };
    runtime().block_on(async {
        let transport = boxed_transport(tower::service_fn(move |request: http::Request<Body>| {
            // Read what the client sends, as a server would, so that sends never wait on a peer
            // that does not read.
            tokio::spawn(drain(request.into_body()));
            let response = response.clone().build();
            async move { Ok::<_, std::convert::Infallible>(response) }
        }));
        let mut builder = Client::builder("http://fuzz.test")
            .transport(transport)
            .protocol(protocol)
            .http_version(HttpVersion::Http2);
        if json {
            builder = builder.json();
        }
        let client = EchoServiceClient::new(builder.build().expect("the client builds"));
        let request = EchoRequest {
            text: "fuzz".into(),
            ..Default::default()
        };
        let call = async {
            match kind {
                0 => {
                    let _ = client.echo(request).await;
                }
                1 => {
                    if let Ok(mut stream) = client.repeat(request).await {
                        while let Ok(Some(_)) = stream.message().await {}
                        let _ = stream.trailers();
                    }
                }
                2 => {
                    let mut call = client.collect(());
                    let _ = call.send(request).await;
                    let _: Result<trident::Response<EchoResponse>, _> =
                        call.close_and_receive().await;
                }
                _ => {
                    let mut call = client.chat(());
                    let _ = call.send(request).await;
                    let _ = call.close_send();
                    while let Ok(Some(_)) = call.message().await {}
                }
            }
        };
        if tokio::time::timeout(VIRTUAL_LIMIT, call).await.is_err() {
            panic!("the client call did not end within {VIRTUAL_LIMIT:?} of virtual time");
        }
    });
}

#[allow(clippy::type_complexity)]
fn build_response(
    u: &mut Unstructured<'_>,
) -> arbitrary::Result<(ProtocolKind, bool, u8, FakeResponse)> {
    let protocol = *u.choose(&[
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ])?;
    let json = bool::arbitrary(u)?;
    let kind = u.int_in_range(0..=3)?;
    let status = *u.choose(&[200u16, 200, 200, 400, 404, 415, 429, 500, 503, 101, 204])?;
    let mut headers = headers(u)?;
    let content_type = pick(u, CONTENT_TYPES)?;
    if let Ok(value) = http::HeaderValue::from_str(&content_type) {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    let body = if content_type.contains("json") && u.ratio(1, 3)? {
        // A Connect error body, well-formed or not.
        let code = pick(u, &["not_found", "internal", "unavailable", "bogus", ""])?;
        let detail = if bool::arbitrary(u)? {
            ",\"details\":[{\"type\":\"google.protobuf.Duration\",\"value\":\"AAAA\"}]"
        } else {
            ""
        };
        format!(
            "{{\"code\":{},\"message\":\"m\"{detail}}}",
            serde_json::json!(code)
        )
        .into_bytes()
    } else {
        body_bytes(u, json)?
    };
    let frames = chunks(u, body)?;
    let trailers = if u.ratio(1, 2)? {
        Some(headers_with_status(u)?)
    } else {
        None
    };
    Ok((
        protocol,
        json,
        kind,
        FakeResponse {
            status,
            headers,
            frames,
            trailers,
        },
    ))
}

/// Trailers that usually carry a gRPC status.
fn headers_with_status(u: &mut Unstructured<'_>) -> arbitrary::Result<http::HeaderMap> {
    let mut trailers = headers(u)?;
    if u.ratio(3, 4)? {
        let status = pick(u, &["0", "3", "5", "14", "99", "-1", "x"])?;
        if let Ok(value) = http::HeaderValue::from_str(&status) {
            trailers.insert("grpc-status", value);
        }
    }
    Ok(trailers)
}
