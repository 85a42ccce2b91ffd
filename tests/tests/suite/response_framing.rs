//! How streaming responses are cut into HTTP body frames: messages that are ready together travel in one
//! data frame (bounded in size), and each protocol's ending follows them. The router is called as a plain
//! tower service so that the body's frames are seen exactly as hyper would get them.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use prost::Message as _;
use tower::ServiceExt as _;
use trident::Body;
use trident_tests::{
    EchoRequest, EchoResponse, REPEAT, TestService, envelope, parse_envelopes, router,
};

/// One frame of a response body: data, or trailers.
#[derive(Debug)]
enum Part {
    Data(Bytes),
    Trailers(http::HeaderMap),
}

/// Calls `Repeat` in-process with `content_type`, asking for `count` messages of `text`; returns the
/// response body's frames in order.
async fn repeat_frames(content_type: &str, text: &str, count: u32) -> Vec<Part> {
    let request = EchoRequest {
        text: text.into(),
        repeat: count,
        ..Default::default()
    };
    let body = envelope(0, &request.encode_to_vec());
    let request = http::Request::post(REPEAT.path)
        .header("content-type", content_type)
        .header("te", "trailers")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = router(TestService::new())
        .oneshot(request)
        .await
        .expect("the router is infallible");
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut body: Body = response.into_body();
    let mut parts = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        match frame.into_data() {
            Ok(data) => parts.push(Part::Data(data)),
            Err(frame) => parts.push(Part::Trailers(
                frame.into_trailers().expect("data or trailers"),
            )),
        }
    }
    parts
}

fn data(part: &Part) -> Bytes {
    match part {
        Part::Data(data) => data.clone(),
        Part::Trailers(trailers) => panic!("expected data, got trailers {trailers:?}"),
    }
}

fn decode(payload: &Bytes) -> EchoResponse {
    EchoResponse::decode(payload.clone()).expect("a response message")
}

/// gRPC: fifty ready messages leave as one data frame, then the status trailers.
#[tokio::test]
async fn grpc_ready_messages_share_one_frame() {
    let parts = repeat_frames("application/grpc", "hi", 50).await;
    assert_eq!(parts.len(), 2, "{parts:?}");
    let messages = parse_envelopes(data(&parts[0]));
    assert_eq!(messages.len(), 50);
    for (index, (flags, payload)) in messages.iter().enumerate() {
        assert_eq!(*flags, 0);
        let message = decode(payload);
        assert_eq!((message.index, message.text.as_str()), (index as u32, "hi"));
    }
    match &parts[1] {
        Part::Trailers(trailers) => assert_eq!(trailers["grpc-status"], "0"),
        Part::Data(data) => panic!("expected trailers, got data {data:?}"),
    }
}

/// Connect and gRPC-Web: the ending (end-stream message, trailer frame) joins the messages' frame.
#[tokio::test]
async fn body_endings_join_the_last_frame() {
    for (content_type, end_flag) in [
        ("application/connect+proto", 0b10),
        ("application/grpc-web+proto", 0b1000_0000),
    ] {
        let parts = repeat_frames(content_type, "hi", 3).await;
        assert_eq!(parts.len(), 1, "{content_type}: {parts:?}");
        let envelopes = parse_envelopes(data(&parts[0]));
        assert_eq!(envelopes.len(), 4, "{content_type}");
        assert!(envelopes[..3].iter().all(|(flags, _)| *flags == 0));
        assert_eq!(envelopes[3].0, end_flag, "{content_type}");
    }
}

/// Large batches are cut: no frame grows far past 32 KiB, and every message arrives whole and in order.
#[tokio::test]
async fn batches_are_bounded() {
    let text = "x".repeat(1000);
    let parts = repeat_frames("application/grpc", &text, 200).await;
    let frames: Vec<Bytes> = parts
        .iter()
        .filter(|part| matches!(part, Part::Data(_)))
        .map(data)
        .collect();
    assert!(frames.len() >= 6, "200 KB in {} frames", frames.len());
    for frame in &frames {
        assert!(
            frame.len() < 32 * 1024 + 1100,
            "frame of {} bytes",
            frame.len()
        );
    }
    let mut index = 0;
    for frame in frames {
        for (_, payload) in parse_envelopes(frame) {
            let message = decode(&payload);
            assert_eq!((message.index, message.text.len()), (index, 1000));
            index += 1;
        }
    }
    assert_eq!(index, 200);
    assert!(matches!(parts.last(), Some(Part::Trailers(_))));
}
