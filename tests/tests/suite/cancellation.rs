//! Cancellation both ways: a client that drops or cancels a call makes the server handler's
//! `CallContext::cancelled()` fire; a server that ends a call early makes the client see its error.

use std::time::Duration;

use trident::{Code, Request};
use trident_tests::{
    Codec, EchoRequest, EchoServiceClient, ErrorSpec, Http, State, TestServer, TestService,
    build_client, in_memory_builder, router, text, within,
};

fn hang() -> EchoRequest {
    EchoRequest {
        hang: true,
        ..text("hang")
    }
}

/// Where a client reaches the test service.
enum Target {
    Loopback(TestServer),
    InMemory(TestService),
}

impl Target {
    async fn loopback() -> Self {
        Target::Loopback(TestServer::start().await)
    }

    fn in_memory() -> Self {
        Target::InMemory(TestService::new())
    }

    fn client(&self, http: Http) -> EchoServiceClient {
        match self {
            Target::Loopback(server) => server.client(Codec::Proto, http),
            Target::InMemory(service) => {
                build_client(in_memory_builder(router(service.clone()), Codec::Proto))
            }
        }
    }

    fn state(&self) -> &State {
        match self {
            Target::Loopback(server) => server.state(),
            Target::InMemory(service) => service.state(),
        }
    }
}

/// Dropping a unary call (its future) while the handler waits makes `cancelled()` fire.
async fn drop_unary(target: Target, http: Http) {
    let client = target.client(http);
    let call = tokio::spawn(async move { client.wait(text("w")).await });
    target
        .state()
        .hang_started
        .wait_for(1, "handler started")
        .await;
    call.abort();
    target
        .state()
        .cancelled
        .wait_for(1, "cancelled() fired after the client dropped the call")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_unary_call_cancels_handler_http1() {
    drop_unary(Target::loopback().await, Http::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_unary_call_cancels_handler_h2c() {
    drop_unary(Target::loopback().await, Http::H2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_unary_call_cancels_handler_in_memory() {
    drop_unary(Target::in_memory(), Http::H2).await;
}

/// `ServerStreamCall::cancel` after the first message makes `cancelled()` fire; later reads report
/// `canceled`.
async fn cancel_server_stream(target: Target, http: Http) {
    let client = target.client(http);
    within("server stream", async {
        let mut call = client.wait_stream(text("w")).await.expect("stream starts");
        let first = call.message().await.expect("first").expect("one message");
        assert_eq!(first.text, "w");
        call.cancel();
        let error = call.message().await.expect_err("cancelled");
        assert_eq!(error.code(), Code::Canceled);
    })
    .await;
    target
        .state()
        .cancelled
        .wait_for(1, "cancelled() fired after the client cancelled")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_server_stream_cancels_handler_http1() {
    cancel_server_stream(Target::loopback().await, Http::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_server_stream_cancels_handler_h2c() {
    cancel_server_stream(Target::loopback().await, Http::H2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_server_stream_cancels_handler_in_memory() {
    cancel_server_stream(Target::in_memory(), Http::H2).await;
}

/// Dropping a server stream (instead of cancelling it) does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_server_stream_cancels_handler() {
    for http in [Http::H1, Http::H2] {
        let target = Target::loopback().await;
        let client = target.client(http);
        within("server stream", async {
            let mut call = client.wait_stream(text("w")).await.expect("stream starts");
            call.message().await.expect("first").expect("one message");
            drop(call);
        })
        .await;
        target
            .state()
            .cancelled
            .wait_for(1, "cancelled() fired after the client dropped the stream")
            .await;
    }
}

/// `ClientStreamCall::cancel` while the handler waits makes `cancelled()` fire.
async fn cancel_client_stream(target: Target, http: Http) {
    let client = target.client(http);
    let mut call = client.collect(());
    within("send", call.send(hang())).await.expect("send");
    target
        .state()
        .hang_started
        .wait_for(1, "handler started")
        .await;
    call.cancel();
    let error = within("receive", call.close_and_receive())
        .await
        .expect_err("cancelled");
    assert_eq!(error.code(), Code::Canceled);
    target
        .state()
        .cancelled
        .wait_for(1, "cancelled() fired after the client cancelled")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_client_stream_cancels_handler_http1() {
    cancel_client_stream(Target::loopback().await, Http::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_client_stream_cancels_handler_h2c() {
    cancel_client_stream(Target::loopback().await, Http::H2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_client_stream_cancels_handler_in_memory() {
    cancel_client_stream(Target::in_memory(), Http::H2).await;
}

/// Dropping a bidi call while the handler waits makes `cancelled()` fire.
///
/// The call is dropped while a receive is pending: in memory, nothing else polls the response stream
/// (where the handler waits).
async fn drop_bidi(target: Target) {
    let client = target.client(Http::H2);
    let mut call = client.chat(());
    within("send", call.send(hang())).await.expect("send");
    let receiving = tokio::spawn(async move { call.message().await.map(|_| ()) });
    target
        .state()
        .hang_started
        .wait_for(1, "handler started")
        .await;
    receiving.abort();
    target
        .state()
        .cancelled
        .wait_for(1, "cancelled() fired after the client dropped the call")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_bidi_call_cancels_handler_h2c() {
    drop_bidi(Target::loopback().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_bidi_call_cancels_handler_in_memory() {
    drop_bidi(Target::in_memory()).await;
}

/// `BidiStreamCall::cancel` reports `canceled` to the caller and cancels the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_bidi_call_cancels_handler() {
    let target = Target::loopback().await;
    let client = target.client(Http::H2);
    let mut call = client.chat(());
    within("send", call.send(hang())).await.expect("send");
    target
        .state()
        .hang_started
        .wait_for(1, "handler started")
        .await;
    call.cancel();
    let error = within("receive", call.message())
        .await
        .expect_err("cancelled");
    assert_eq!(error.code(), Code::Canceled);
    let error = within("send", call.send(text("late")))
        .await
        .expect_err("cancelled");
    assert_eq!(error.code(), Code::Canceled);
    target
        .state()
        .cancelled
        .wait_for(1, "cancelled() fired")
        .await;
}

/// A client timeout ends a waiting handler too: the client sees `deadline_exceeded`, the server's
/// `cancelled()` fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_timeout_cancels_handler() {
    for http in [Http::H1, Http::H2] {
        let target = Target::loopback().await;
        let client = target.client(http);
        let error = within(
            "wait",
            client.wait(Request::new(text("w")).with_timeout(Duration::from_millis(300))),
        )
        .await
        .expect_err("times out");
        assert_eq!(error.code(), Code::DeadlineExceeded);
        target
            .state()
            .cancelled
            .wait_for(1, "cancelled() fired at the deadline")
            .await;
    }
}

fn fail_now(code: Code) -> EchoRequest {
    EchoRequest {
        error: Some(ErrorSpec {
            code: code as u32,
            message: "server gave up".into(),
            ..Default::default()
        }),
        ..text("fail")
    }
}

/// A client-stream handler that fails on the first message while the client keeps sending: the client
/// sees the handler's error (from `send` or, at the latest, from `close_and_receive`).
///
/// Repeated 50 times, because what can go wrong on HTTP/1.1 is a race: a server that closes the
/// connection with request bytes unread makes the kernel answer the client's next write with a reset,
/// and the client then reports `unavailable: ... Broken pipe` instead of the server's error (the server
/// must drain what the handler left unread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ending_client_stream_early() {
    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        for http in [Http::H1, Http::H2] {
            let mut wrong = Vec::new();
            for _ in 0..50 {
                let client = server.client(codec, http);
                let error = within("client stream", async {
                    let mut call = client.collect(());
                    call.send(fail_now(Code::Aborted))
                        .await
                        .expect("first send");
                    for _ in 0..200 {
                        if call.send(text("more")).await.is_err() {
                            break;
                        }
                    }
                    call.close_and_receive().await
                })
                .await
                .expect_err("the server failed the call");
                if error.code() != Code::Aborted || error.message() != "server gave up" {
                    wrong.push(error);
                }
            }
            assert!(
                wrong.is_empty(),
                "{codec:?} {http:?}: {} of 50 calls did not report the server's error, e.g. {:?}",
                wrong.len(),
                wrong[0]
            );
        }
    }
}

/// A bidi handler that fails on the second message: the client gets the first echo, then the error,
/// and the error sticks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ending_bidi_early() {
    let server = TestServer::start().await;
    for codec in [Codec::Proto, Codec::Json] {
        let client = server.client(codec, Http::H2);
        within("bidi", async {
            let mut call = client.chat(());
            call.send(text("one")).await.expect("send one");
            let first = call.message().await.expect("first").expect("not over");
            assert_eq!(first.text, "one");
            call.send(fail_now(Code::ResourceExhausted))
                .await
                .expect("send two");
            let error = call.message().await.expect_err("server failed");
            assert_eq!(error.code(), Code::ResourceExhausted);
            assert_eq!(error.message(), "server gave up");
            let again = call.message().await.expect_err("still failed");
            assert_eq!(again.code(), Code::ResourceExhausted);
        })
        .await;
    }
}

/// A server stream that fails after two messages: both arrive, then the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ending_server_stream_early() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let client = server.client(Codec::Proto, http);
        let mut request = fail_now(Code::Unavailable);
        request.error.as_mut().expect("set").after_messages = 2;
        request.repeat = 10;
        within("server stream", async {
            let mut call = client.repeat(request).await.expect("starts");
            for index in 0..2 {
                let m = call.message().await.expect("message").expect("not over");
                assert_eq!(m.index, index);
            }
            let error = call.message().await.expect_err("fails");
            assert_eq!(error.code(), Code::Unavailable);
        })
        .await;
    }
}
