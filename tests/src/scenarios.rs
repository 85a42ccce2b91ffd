//! One happy-path exercise per stream type, shared by the loopback and in-memory matrices.

use trident::{Code, Request};

use crate::{EchoRequest, EchoServiceClient, State, header, within};

/// The message the runtime gives a bidi call over HTTP/1.1.
pub const BIDI_NEEDS_HTTP2: &str = "bidi streams require HTTP/2, but this call uses HTTP/1.1";

/// The `http_version` the handler reports, as `format!("{:?}", http::Version)`.
pub fn version_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "unexpected",
    }
}

fn rich_request(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.to_string(),
        payload: vec![0, 1, 2, 0xfe, 0xff],
        echo_headers: vec!["x-test".into()],
        echo_context: true,
        response_headers: vec![header("x-resp", "h1"), header("x-resp", "h2")],
        response_trailers: vec![header("x-trail", "t1")],
        ..Default::default()
    }
}

fn call_options() -> Request<()> {
    Request::new(())
        .with_header("x-test", "a")
        .and_then(|o| o.with_header("x-test", "b"))
        .expect("valid headers")
}

fn assert_echoed_headers(headers: &[crate::Header]) {
    let values: Vec<(&str, &str)> = headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(values, vec![("x-test", "a"), ("x-test", "b")]);
}

/// Unary `Echo` and `EchoPost`: message, payload bytes, request headers (in order), HTTP version,
/// response headers and trailers.
pub async fn unary(client: &EchoServiceClient, version: http::Version) {
    for post in [false, true] {
        let mut request = Request::new(rich_request("héllo, wörld"));
        request.headers_mut().append("x-test", "a").expect("valid");
        request.headers_mut().append("x-test", "b").expect("valid");
        let response = within("unary call", async {
            if post {
                client.echo_post(request).await
            } else {
                client.echo(request).await
            }
        })
        .await
        .expect("unary call succeeds");
        assert_eq!(response.headers().get_all("x-resp"), vec!["h1", "h2"]);
        assert_eq!(response.trailers().get_all("x-trail"), vec!["t1"]);
        let message = response.into_message();
        assert_eq!(message.text, "héllo, wörld");
        assert_eq!(message.payload, vec![0, 1, 2, 0xfe, 0xff]);
        assert_eq!(message.http_version, version_name(version));
        assert_eq!(message.remaining_ms, None, "no deadline was set");
        assert_echoed_headers(&message.headers);
    }
}

/// Server-streaming `Repeat`: three messages in order, headers, then trailers after the end.
pub async fn server_stream(client: &EchoServiceClient, version: http::Version) {
    let mut request = Request::new(EchoRequest {
        repeat: 3,
        ..rich_request("again")
    });
    request.headers_mut().append("x-test", "a").expect("valid");
    request.headers_mut().append("x-test", "b").expect("valid");
    within("server stream", async {
        let mut call = client.repeat(request).await.expect("stream starts");
        assert_eq!(call.headers().get_all("x-resp"), vec!["h1", "h2"]);
        assert!(call.trailers().is_none(), "no trailers before the end");
        for index in 0..3 {
            let message = call
                .message()
                .await
                .expect("message arrives")
                .expect("stream not over yet");
            assert_eq!(message.index, index);
            assert_eq!(message.text, "again");
            assert_eq!(message.payload, vec![0, 1, 2, 0xfe, 0xff]);
            assert_eq!(message.http_version, version_name(version));
            assert_echoed_headers(&message.headers);
        }
        assert!(call.message().await.expect("clean end").is_none());
        assert!(call.message().await.expect("still over").is_none());
        let trailers = call.trailers().expect("trailers after the end");
        assert_eq!(trailers.get_all("x-trail"), vec!["t1"]);
    })
    .await;
}

/// Client-streaming `Collect`: three messages in, one joined answer out.
pub async fn client_stream(client: &EchoServiceClient, version: http::Version) {
    within("client stream", async {
        let mut call = client.collect(call_options());
        call.send(rich_request("a")).await.expect("send a");
        call.send(crate::text("b")).await.expect("send b");
        call.send(crate::text("c")).await.expect("send c");
        let response = call.close_and_receive().await.expect("response");
        assert_eq!(response.headers().get_all("x-resp"), vec!["h1", "h2"]);
        assert_eq!(response.trailers().get_all("x-trail"), vec!["t1"]);
        let message = response.into_message();
        assert_eq!(message.text, "a,b,c");
        assert_eq!(message.received, 3);
        assert_eq!(message.http_version, version_name(version));
        assert_echoed_headers(&message.headers);
    })
    .await;
}

/// Client stream with no messages at all: the handler sees an empty stream.
pub async fn client_stream_empty(client: &EchoServiceClient) {
    within("empty client stream", async {
        let call = client.collect(());
        let response = call.close_and_receive().await.expect("response");
        assert_eq!(response.message().received, 0);
        assert_eq!(response.message().text, "");
    })
    .await;
}

/// Bidi `Chat` over HTTP/2: each message answered before the next is sent, then a clean end.
pub async fn bidi(client: &EchoServiceClient, version: http::Version) {
    within("bidi stream", async {
        let mut call = client.chat(call_options());
        call.send(rich_request("one")).await.expect("send one");
        let headers = call.headers().await.expect("headers");
        assert_eq!(headers.get_all("x-resp"), vec!["h1", "h2"]);
        let first = call.message().await.expect("first").expect("not over");
        assert_eq!((first.text.as_str(), first.index), ("one", 0));
        assert_eq!(first.http_version, version_name(version));
        assert_echoed_headers(&first.headers);
        // The second answer can only come after the second send: true full duplex.
        call.send(crate::text("two")).await.expect("send two");
        let second = call.message().await.expect("second").expect("not over");
        assert_eq!((second.text.as_str(), second.index), ("two", 1));
        assert_eq!(second.received, 2);
        call.close_send().expect("close send");
        assert!(call.message().await.expect("clean end").is_none());
        let trailers = call.trailers().expect("trailers after the end");
        assert_eq!(trailers.get_all("x-trail"), vec!["t1"]);
    })
    .await;
}

/// Bidi over HTTP/1.1: fails at once with `unimplemented`, before anything reaches the server.
pub async fn bidi_over_http1(client: &EchoServiceClient, state: &State) {
    let calls_before = state.calls.get();
    within("bidi over HTTP/1.1", async {
        let mut call = client.chat(());
        let error = call
            .send(crate::text("one"))
            .await
            .expect_err("bidi over HTTP/1.1 must fail");
        assert_eq!(error.code(), Code::Unimplemented);
        assert_eq!(error.message(), BIDI_NEEDS_HTTP2);
        let error = call.headers().await.expect_err("still failed");
        assert_eq!(error.code(), Code::Unimplemented);
        assert_eq!(error.message(), BIDI_NEEDS_HTTP2);
        let error = call.message().await.expect_err("still failed");
        assert_eq!(error.code(), Code::Unimplemented);
        assert_eq!(error.message(), BIDI_NEEDS_HTTP2);
        // A fresh call that only receives fails the same way.
        let mut call = client.chat(());
        let error = call.message().await.expect_err("must fail");
        assert_eq!(error.message(), BIDI_NEEDS_HTTP2);
    })
    .await;
    assert_eq!(
        state.calls.get(),
        calls_before,
        "nothing may reach the server"
    );
}
