//! The stream-type matrix over the in-memory transport: the `Router` itself as the client's transport,
//! with HTTP/2 requests.

use trident::client::boxed_transport;
use trident_tests::{
    Codec, Http, TestService, build_client, configure_builder, in_memory_builder, router,
    scenarios, within,
};

const H2: http::Version = http::Version::HTTP_2;

macro_rules! codec_tests {
    ($($name:ident: $codec:ident;)*) => {$(
        /// Every stream type with one codec.
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unary() {
                let client = build_client(in_memory_builder(router(TestService::new()), Codec::$codec));
                scenarios::unary(&client, H2).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server_stream() {
                let client = build_client(in_memory_builder(router(TestService::new()), Codec::$codec));
                scenarios::server_stream(&client, H2).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client_stream() {
                let client = build_client(in_memory_builder(router(TestService::new()), Codec::$codec));
                scenarios::client_stream(&client, H2).await;
                scenarios::client_stream_empty(&client).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bidi() {
                let client = build_client(in_memory_builder(router(TestService::new()), Codec::$codec));
                scenarios::bidi(&client, H2).await;
            }
        }
    )*};
}

codec_tests! {
    proto: Proto;
    json: Json;
}

/// In memory with HTTP/1.1 requests: unary and server streams work, and the handler sees HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_requests_in_memory() {
    let service = TestService::new();
    let builder = trident::Client::builder("http://in-memory.test")
        .transport(boxed_transport(router(service.clone())));
    let client = build_client(configure_builder(builder, Codec::Proto, Http::H1));
    scenarios::unary(&client, http::Version::HTTP_11).await;
    scenarios::server_stream(&client, http::Version::HTTP_11).await;
    scenarios::client_stream(&client, http::Version::HTTP_11).await;
    scenarios::bidi_over_http1(&client, service.state()).await;
}

/// The in-memory server reports no peer address, but serves every call: many concurrent bidi calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bidi_in_memory() {
    let client = build_client(in_memory_builder(router(TestService::new()), Codec::Proto));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut call = client.chat(());
            for j in 0..5u32 {
                let text = format!("{i}-{j}");
                call.send(trident_tests::text(&text)).await.expect("send");
                let echo = call.message().await.expect("echo").expect("not over");
                assert_eq!(echo.text, text);
                assert_eq!(echo.index, j);
            }
            call.close_send().expect("close");
            assert!(call.message().await.expect("end").is_none());
        }));
    }
    for task in tasks {
        within("concurrent bidi", task)
            .await
            .expect("task succeeds");
    }
}

/// Errors with details and headers, and deadlines, behave in memory as over the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_deadlines_in_memory() {
    use trident::{Code, Request};
    use trident_tests::{EchoRequest, ErrorSpec, FailureInfo, header};

    let client = build_client(in_memory_builder(router(TestService::new()), Codec::Json));
    let failing = EchoRequest {
        error: Some(ErrorSpec {
            code: Code::PermissionDenied as u32,
            message: "nope".into(),
            with_failure_info: true,
            headers: vec![header("x-err-h", "h")],
            ..Default::default()
        }),
        ..trident_tests::text("x")
    };
    let error = within("unary", client.echo(failing.clone()))
        .await
        .expect_err("fails");
    assert_eq!(error.code(), Code::PermissionDenied);
    assert_eq!(error.message(), "nope");
    assert_eq!(error.headers().get("x-err-h"), Some("h"));
    let info: FailureInfo = error.details()[0].decode().expect("detail");
    assert_eq!(info.reason, "nope");

    let error = within("bidi", async {
        let mut call = client.chat(());
        call.send(failing.clone()).await?;
        call.message().await
    })
    .await
    .expect_err("fails");
    assert_eq!(error.code(), Code::PermissionDenied);
    assert_eq!(error.headers().get("x-err-h"), Some("h"));

    let slow = EchoRequest {
        delay_ms: 60_000,
        ..trident_tests::text("slow")
    };
    let error = within(
        "deadline",
        client.echo(Request::new(slow).with_timeout(std::time::Duration::from_millis(200))),
    )
    .await
    .expect_err("times out");
    assert_eq!(error.code(), Code::DeadlineExceeded);
}
