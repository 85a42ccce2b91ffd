//! gRPC-Web's text mode (`application/grpc-web-text`), as grpc-web's JavaScript client sends it by default:
//! base64 request bodies (also in separately padded chunks), base64 responses whose every body frame
//! decodes on its own, statuses in the trailer frame, the JSON codec, and a clear error for bad base64.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use prost::Message as _;
use tower::ServiceExt as _;
use trident::Body;
use trident_tests::{
    EchoRequest, EchoResponse, ErrorSpec, Http, RawResponse, TestServer, TestService, envelope,
    parse_envelopes, raw, router, send_raw,
};

const ECHO_PATH: &str = "/trident.test.v1.EchoService/Echo";
const REPEAT_PATH: &str = "/trident.test.v1.EchoService/Repeat";
const TEXT: &str = "application/grpc-web-text";

/// Decodes a text body: padded base64 chunks run together.
fn decode_text(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let end = rest
            .chunks(4)
            .position(|group| group.contains(&b'='))
            .map_or(rest.len(), |i| (i + 1) * 4);
        out.extend(STANDARD.decode(&rest[..end]).expect("padded base64 chunks"));
        rest = &rest[end..];
    }
    out
}

/// The messages and the trailer block of a decoded gRPC-Web body.
fn split_web_body(body: Vec<u8>) -> (Vec<Bytes>, String) {
    let envelopes = parse_envelopes(Bytes::from(body));
    let (last, messages) = envelopes.split_last().expect("a trailer frame");
    assert_eq!(
        last.0, 0x80,
        "the body ends with an uncompressed trailer frame"
    );
    assert!(messages.iter().all(|(flags, _)| *flags == 0));
    let trailers = String::from_utf8(last.1.to_vec()).expect("trailers are text");
    (messages.iter().map(|(_, m)| m.clone()).collect(), trailers)
}

/// A field of a trailer block (`name: value` lines), trimmed.
fn trailer(trailers: &str, name: &str) -> String {
    trailers
        .split("\r\n")
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default()
}

/// The status and message of a gRPC-Web response: from its headers when it is trailers-only, else from
/// the trailer frame at the end of its decoded body.
fn web_status(response: &RawResponse) -> (String, String) {
    match response.header("grpc-status") {
        Some(status) => (
            status.to_string(),
            response.header("grpc-message").unwrap_or("").to_string(),
        ),
        None => {
            let (_, trailers) = split_web_body(decode_text(&response.body));
            (
                trailer(&trailers, "grpc-status"),
                trailer(&trailers, "grpc-message"),
            )
        }
    }
}

/// Posts `body` (already text) in text mode to `path`.
async fn post_text(
    server: &TestServer,
    http: Http,
    path: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> RawResponse {
    let request = raw(http::Method::POST, server.addr, path, http)
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .body(body.into())
        .expect("valid request");
    send_raw(server.addr, http, request).await
}

fn encoded_request(request: &EchoRequest) -> String {
    STANDARD.encode(envelope(0, &request.encode_to_vec()))
}

#[tokio::test]
async fn unary_round_trip_over_both_http_versions() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let request = EchoRequest {
            text: "hello from a text client".into(),
            ..Default::default()
        };
        let response = post_text(&server, http, ECHO_PATH, TEXT, encoded_request(&request)).await;
        assert_eq!(response.status, http::StatusCode::OK, "{http:?}");
        assert_eq!(response.header("content-type"), Some(TEXT), "{http:?}");
        assert!(
            response
                .body
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)),
            "{http:?}: the body is base64 text: {:?}",
            response.body
        );
        let (messages, trailers) = split_web_body(decode_text(&response.body));
        assert_eq!(messages.len(), 1);
        let message = EchoResponse::decode(messages[0].clone()).expect("a response message");
        assert_eq!(message.text, "hello from a text client");
        assert_eq!(
            trailer(&trailers, "grpc-status"),
            "0",
            "{http:?}: {trailers:?}"
        );
    }
}

#[tokio::test]
async fn request_in_separately_padded_chunks() {
    let server = TestServer::start().await;
    let framed = envelope(
        0,
        &EchoRequest {
            text: "split".into(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    // Cut where the first chunk needs padding, as a client that flushes twice would send it.
    let (first, second) = framed.split_at(4);
    let body = format!("{}{}", STANDARD.encode(first), STANDARD.encode(second));
    assert!(
        body[..body.len() - 1].contains('='),
        "padding mid-body: {body}"
    );
    let response = post_text(&server, Http::H1, ECHO_PATH, TEXT, body).await;
    let (messages, trailers) = split_web_body(decode_text(&response.body));
    assert_eq!(trailer(&trailers, "grpc-status"), "0", "{trailers:?}");
    let message = EchoResponse::decode(messages[0].clone()).expect("a response message");
    assert_eq!(message.text, "split");
}

/// A stream's body frames each decode on their own, so a client can read each message as it arrives.
#[tokio::test]
async fn every_stream_frame_decodes_on_its_own() {
    let request = EchoRequest {
        text: "tick".into(),
        repeat: 3,
        delay_ms: 20,
        ..Default::default()
    };
    let request = http::Request::post(REPEAT_PATH)
        .header("content-type", "application/grpc-web-text+proto")
        .body(Full::new(Bytes::from(encoded_request(&request))))
        .expect("request");
    let response = router(TestService::new())
        .oneshot(request)
        .await
        .expect("the router is infallible");
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web-text+proto"
    );
    let mut body: Body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the stream goes on")
    {
        let data = frame.expect("a body frame").into_data().expect("only data");
        frames.push(
            STANDARD
                .decode(&data)
                .expect("each frame is one padded chunk"),
        );
    }
    assert!(
        frames.len() >= 3,
        "messages 20 ms apart: {} frames",
        frames.len()
    );
    let (messages, trailers) = split_web_body(frames.concat());
    let texts: Vec<(u32, String)> = messages
        .into_iter()
        .map(|m| {
            let m = EchoResponse::decode(m).expect("a response message");
            (m.index, m.text)
        })
        .collect();
    assert_eq!(
        texts,
        [(0, "tick".into()), (1, "tick".into()), (2, "tick".into())]
    );
    assert_eq!(trailer(&trailers, "grpc-status"), "0", "{trailers:?}");
}

#[tokio::test]
async fn errors_arrive_as_statuses() {
    let server = TestServer::start().await;
    let request = EchoRequest {
        error: Some(ErrorSpec {
            code: 5,
            message: "no such key".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = post_text(
        &server,
        Http::H1,
        ECHO_PATH,
        TEXT,
        encoded_request(&request),
    )
    .await;
    assert_eq!(response.status, http::StatusCode::OK);
    // Trailers-only (status in the headers) or a trailer frame in the body: both are gRPC-Web.
    let status = web_status(&response);
    assert_eq!(status, ("5".to_string(), "no such key".to_string()));
}

#[tokio::test]
async fn json_codec_in_text_mode() {
    let server = TestServer::start().await;
    let body = STANDARD.encode(envelope(0, br#"{"text":"as json"}"#));
    let response = post_text(
        &server,
        Http::H2,
        ECHO_PATH,
        "application/grpc-web-text+json",
        body,
    )
    .await;
    assert_eq!(
        response.header("content-type"),
        Some("application/grpc-web-text+json")
    );
    let (messages, trailers) = split_web_body(decode_text(&response.body));
    let json: serde_json::Value = serde_json::from_slice(&messages[0]).expect("a JSON message");
    assert_eq!(json["text"], "as json");
    assert_eq!(trailer(&trailers, "grpc-status"), "0", "{trailers:?}");
}

#[tokio::test]
async fn bad_base64_is_invalid_argument() {
    let server = TestServer::start().await;
    for body in ["AAAA*AAA", "AAAAAA=A", "A"] {
        let response = post_text(&server, Http::H1, ECHO_PATH, TEXT, body).await;
        assert_eq!(response.status, http::StatusCode::OK, "{body}");
        let (status, message) = web_status(&response);
        assert_eq!(status, "3", "{body}: status {status:?}");
        assert!(message.contains("base64"), "{body}: message {message:?}");
    }
}
