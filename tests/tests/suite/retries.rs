//! Retries against a real loopback server: idempotent methods are sent again after retryable
//! failures, methods with side effects never once a handler saw them (the handler invocations are
//! counted), server streams until their response head, pushback and the deadline bound it all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use trident::{Client, Code, ProtocolKind, client::RetryPolicy};
use trident_tests::{
    Codec, EchoRequest, EchoServiceClient, ErrorSpec, Header, Http, TestServer, build_client,
    configure_builder, within,
};

/// A request whose handler fails with `code`.
fn failing(code: Code) -> EchoRequest {
    EchoRequest {
        text: "fail".into(),
        error: Some(ErrorSpec {
            code: code as u32,
            message: "asked to fail".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A client of `server` retrying with up to four attempts, 1 ms apart.
fn retrying_client(server: &TestServer, protocol: ProtocolKind, http: Http) -> EchoServiceClient {
    let builder = configure_builder(Client::builder(server.url()), Codec::Proto, http)
        .protocol(protocol)
        .retry(
            RetryPolicy::new()
                .max_attempts(4)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5)),
        );
    build_client(builder)
}

/// Every protocol: an idempotent method (`Echo`, `NO_SIDE_EFFECTS`) failing with `unavailable` runs
/// four times; one with side effects (`EchoPost`) runs once; a code not named runs once.
#[tokio::test]
async fn only_idempotent_methods_are_sent_again_after_reaching_a_handler() {
    for (protocol, http) in [
        (ProtocolKind::CONNECT, Http::H1),
        (ProtocolKind::GRPC, Http::H2),
        (ProtocolKind::GRPC_WEB, Http::H2),
        (ProtocolKind::TRIPLE, Http::H2),
    ] {
        let server = TestServer::start().await;
        let client = retrying_client(&server, protocol, http);
        let calls = || server.state().calls.get();

        let error = within("echo", client.echo(failing(Code::Unavailable)))
            .await
            .expect_err("fails every time");
        assert_eq!(error.code(), Code::Unavailable, "{protocol:?}");
        assert_eq!(
            calls(),
            4,
            "{protocol:?}: Echo is idempotent: four attempts"
        );

        let error = within("echo_post", client.echo_post(failing(Code::Unavailable)))
            .await
            .expect_err("fails");
        assert_eq!(error.code(), Code::Unavailable);
        assert_eq!(
            calls(),
            5,
            "{protocol:?}: EchoPost reached its handler once, and only once"
        );

        within("echo", client.echo(failing(Code::Internal)))
            .await
            .expect_err("fails");
        assert_eq!(calls(), 6, "{protocol:?}: internal is not a retryable code");

        // A call that works is sent once.
        within("echo", client.echo(EchoRequest::default()))
            .await
            .expect("works");
        assert_eq!(calls(), 7);
    }
}

/// A method named idempotent on the client is retried like one the proto marks; a policy for one
/// method replaces the client's.
#[tokio::test]
async fn methods_are_marked_idempotent_and_given_policies_per_client() {
    let server = TestServer::start().await;
    let builder = server
        .builder(Codec::Proto, Http::H2)
        .retry(RetryPolicy::new().initial_backoff(Duration::from_millis(1)))
        .idempotent_method("/trident.test.v1.EchoService/EchoPost")
        .retry_method(
            "/trident.test.v1.EchoService/Echo",
            RetryPolicy::new().max_attempts(1),
        );
    let client = build_client(builder);
    within("echo_post", client.echo_post(failing(Code::Unavailable)))
        .await
        .expect_err("fails");
    assert_eq!(
        server.state().calls.get(),
        3,
        "the default policy's three attempts"
    );
    within("echo", client.echo(failing(Code::Unavailable)))
        .await
        .expect_err("fails");
    assert_eq!(
        server.state().calls.get(),
        4,
        "Echo's own policy: one attempt"
    );
}

/// A `google.rpc.RetryInfo` in the error's details sets the wait before each retry, over Connect
/// and gRPC.
#[tokio::test]
async fn a_retry_info_delay_is_waited() {
    for (protocol, http) in [
        (ProtocolKind::CONNECT, Http::H1),
        (ProtocolKind::GRPC, Http::H2),
    ] {
        let server = TestServer::start().await;
        let client = retrying_client(&server, protocol, http);
        let mut request = failing(Code::Unavailable);
        if let Some(spec) = request.error.as_mut() {
            spec.retry_info_delay = Some(prost_types::Duration {
                seconds: 0,
                nanos: 150_000_000,
            });
        }
        let started = std::time::Instant::now();
        let error = within("echo", client.echo(request))
            .await
            .expect_err("fails every time");
        let took = started.elapsed();
        assert_eq!(error.code(), Code::Unavailable, "{protocol:?}");
        assert_eq!(server.state().calls.get(), 4, "{protocol:?}");
        // Three waits of 150 ms, where the policy's own backoff is at most 5 ms each.
        assert!(took >= Duration::from_millis(450), "{protocol:?}: {took:?}");
    }
}

/// The server's pushback trailer: a negative value stops the retries.
#[tokio::test]
async fn a_negative_pushback_stops_retries() {
    let server = TestServer::start().await;
    let client = retrying_client(&server, ProtocolKind::GRPC, Http::H2);
    let mut request = failing(Code::Unavailable);
    if let Some(spec) = request.error.as_mut() {
        spec.trailers.push(Header {
            name: "grpc-retry-pushback-ms".into(),
            value: "-1".into(),
        });
    }
    within("echo", client.echo(request))
        .await
        .expect_err("fails");
    assert_eq!(server.state().calls.get(), 1);
}

/// The deadline bounds every attempt and every wait together: a wait (here the server's pushback)
/// that would outlast it ends the call with `deadline_exceeded` when the deadline comes.
#[tokio::test]
async fn the_deadline_bounds_the_whole_call() {
    let server = TestServer::start().await;
    let builder = server
        .builder(Codec::Proto, Http::H2)
        .retry(RetryPolicy::new().max_attempts(5));
    let client = build_client(builder);
    let mut failing = failing(Code::Unavailable);
    if let Some(spec) = failing.error.as_mut() {
        spec.trailers.push(Header {
            name: "grpc-retry-pushback-ms".into(),
            value: "1000".into(),
        });
    }
    let request = trident::Request::new(failing).with_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let error = within("echo", client.echo(request))
        .await
        .expect_err("fails");
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(900),
        "{took:?}"
    );
    assert_eq!(
        server.state().calls.get(),
        1,
        "the wait outlasted the deadline"
    );
}

/// A server stream whose handler fails before any response (gRPC answers trailers-only) is retried;
/// one that failed after its first message was handed over is not.
#[tokio::test]
async fn server_streams_are_retried_before_their_response_head() {
    let server = TestServer::start().await;
    let client = retrying_client(&server, ProtocolKind::GRPC, Http::H2);
    let mut request = failing(Code::Unavailable);
    request.repeat = 3;
    // `Repeat` has no idempotency option: mark it on a client of its own.
    let builder = server
        .builder(Codec::Proto, Http::H2)
        .protocol(ProtocolKind::GRPC)
        .retry(RetryPolicy::new().initial_backoff(Duration::from_millis(1)))
        .idempotent_method("/trident.test.v1.EchoService/Repeat");
    let marked = build_client(builder);
    // The last attempt's error (in its trailers-only head) is the call's: opening the stream fails.
    async fn first_error(
        call: impl std::future::Future<
            Output = Result<
                trident::client::ServerStreamCall<trident_tests::EchoResponse>,
                trident::Error,
            >,
        >,
    ) -> trident::Error {
        within("repeat", call)
            .await
            .err()
            .expect("opening the stream fails")
    }
    let error = first_error(marked.repeat(request.clone())).await;
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(server.state().calls.get(), 3, "three attempts");

    // Not marked idempotent: sent once.
    first_error(client.repeat(request.clone())).await;
    assert_eq!(server.state().calls.get(), 4);

    // Failing after a message: the stream was handed over, and its failure is the caller's to see.
    if let Some(spec) = request.error.as_mut() {
        spec.after_messages = 1;
    }
    let mut stream = within("repeat", marked.repeat(request))
        .await
        .expect("the head arrives");
    within("first", stream.message()).await.expect("a message");
    let error = within("end", stream.message())
        .await
        .expect_err("then the error");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(server.state().calls.get(), 5);
}

/// Unprocessed calls are sent again whatever the method: a server that is not there yet on the first
/// attempt, and there on the next, is reached by a call with side effects.
#[tokio::test]
async fn a_call_that_could_not_connect_is_sent_again() {
    // A port with nothing listening, for a moment.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let builder = Client::builder(format!("http://{addr}"))
        .http_version(trident::HttpVersion::Http2)
        .retry(
            RetryPolicy::new()
                .max_attempts(5)
                .initial_backoff(Duration::from_millis(200))
                .max_backoff(Duration::from_millis(200)),
        );
    let client = build_client(builder);
    let call = tokio::spawn(async move { client.echo_post(EchoRequest::default()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let router = trident_tests::router(trident_tests::TestService::new());
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let server = tokio::spawn(async move {
        let _ = trident::Server::new().serve(listener, router).await;
    });
    let response = within("echo_post", call).await.expect("joins");
    assert!(response.is_ok(), "{:?}", response.err());
    server.abort();
}

/// A server whose `Collect` and `Chat` fail with `unavailable` on their first call and work after,
/// answering with every message they received; with the count of their calls.
async fn flaky_streams() -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (collect_calls, chat_calls) = (calls.clone(), calls.clone());
    let routes = trident::ServiceRoutes::new("trident.test.v1.EchoService")
        .client_stream(
            &trident_tests::COLLECT,
            move |request: trident::Request<trident::Streaming<EchoRequest>>| {
                let calls = collect_calls.clone();
                async move {
                    let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
                    let mut messages = request.into_parts().1;
                    let mut texts = Vec::new();
                    while let Some(message) = messages.message().await? {
                        texts.push(message.text);
                    }
                    if first {
                        return Err(trident::Error::new(Code::Unavailable, "not yet"));
                    }
                    Ok(trident::Response::new(trident_tests::EchoResponse {
                        text: texts.join(","),
                        ..Default::default()
                    }))
                }
            },
        )
        .bidi_stream(
            &trident_tests::CHAT,
            move |request: trident::Request<trident::Streaming<EchoRequest>>| {
                let calls = chat_calls.clone();
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(trident::Error::new(Code::Unavailable, "not yet"));
                    }
                    let messages = request.into_parts().1;
                    let echoes =
                        futures_util::stream::unfold(messages, |mut messages| async move {
                            match messages.message().await {
                                Ok(Some(message)) => Some((
                                    Ok(trident_tests::EchoResponse {
                                        text: message.text,
                                        ..Default::default()
                                    }),
                                    messages,
                                )),
                                Ok(None) => None,
                                Err(error) => Some((Err(error), messages)),
                            }
                        });
                    let echoes: trident::ResponseStream<trident_tests::EchoResponse> =
                        Box::pin(echoes);
                    Ok(trident::Response::new(echoes))
                }
            },
        );
    let router = trident::Router::new().add(routes);
    let (addr, task) = trident_tests::serve_router(router).await;
    (addr, calls, task)
}

/// Client- and bidi-streaming calls of methods marked idempotent are opened again after a retryable
/// failure that came before any response message, and every message sent so far is sent again.
#[tokio::test]
async fn client_and_bidi_streams_resend_their_messages_on_retry() {
    let (addr, calls, server) = flaky_streams().await;
    let client = idempotent_streams_client(addr, ProtocolKind::GRPC, None);
    collect_abc_retried(&client, "grpc").await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    calls.store(0, Ordering::SeqCst);
    chat_xy_retried(&client, "grpc").await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Not marked idempotent: one attempt.
    calls.store(0, Ordering::SeqCst);
    let plain = build_client(
        Client::builder(format!("http://{addr}"))
            .http_version(trident::HttpVersion::Http2)
            .retry(RetryPolicy::new().initial_backoff(Duration::from_millis(1))),
    );
    let mut collect = plain.collect(());
    within("send", collect.send(trident_tests::text("a")))
        .await
        .expect("sent");
    let error = within("close", collect.close_and_receive())
        .await
        .expect_err("not retried");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    server.abort();
}

/// A client of `flaky_streams` at `addr` that retries `Collect` and `Chat` (marked idempotent), with
/// `interceptor` if any.
fn idempotent_streams_client(
    addr: std::net::SocketAddr,
    protocol: ProtocolKind,
    interceptor: Option<CountCalls>,
) -> EchoServiceClient {
    let mut builder = Client::builder(format!("http://{addr}"))
        .http_version(trident::HttpVersion::Http2)
        .protocol(protocol);
    if let Some(interceptor) = interceptor {
        builder = builder.intercept(interceptor);
    }
    let builder = builder
        .retry(RetryPolicy::new().initial_backoff(Duration::from_millis(1)))
        .idempotent_method("/trident.test.v1.EchoService/Collect")
        .idempotent_method("/trident.test.v1.EchoService/Chat");
    build_client(builder)
}

/// Sends a, b and c on `Collect`, whose first attempt fails: the retry answers with all three.
async fn collect_abc_retried(client: &EchoServiceClient, case: &str) {
    let mut collect = client.collect(());
    for text in ["a", "b", "c"] {
        within("send", collect.send(trident_tests::text(text)))
            .await
            .expect("sent");
    }
    let response = within("close", collect.close_and_receive())
        .await
        .unwrap_or_else(|e| panic!("{case}: the retry works: {e}"));
    assert_eq!(response.message().text, "a,b,c", "{case}");
}

/// Chats x then y on `Chat`, whose first attempt fails at its head: reading the first message
/// retries it, and both come back.
async fn chat_xy_retried(client: &EchoServiceClient, case: &str) {
    let mut chat = client.chat(());
    within("send", chat.send(trident_tests::text("x")))
        .await
        .expect("sent");
    let first = within("message", chat.message())
        .await
        .unwrap_or_else(|e| panic!("{case}: retried: {e}"));
    assert_eq!(first.map(|m| m.text), Some("x".to_string()), "{case}");
    within("send", chat.send(trident_tests::text("y")))
        .await
        .expect("sent");
    chat.close_send().expect("closed");
    let second = within("message", chat.message()).await.expect("a message");
    assert_eq!(second.map(|m| m.text), Some("y".to_string()), "{case}");
    assert_eq!(within("end", chat.message()).await.expect("the end"), None);
}

/// What a client interceptor saw of the streaming calls it wrapped.
#[derive(Default)]
struct Seen {
    /// Calls the interceptor wrapped (opened by the caller).
    opened: AtomicUsize,
    /// Messages sent, and response messages received, through it.
    sent: AtomicUsize,
    received: AtomicUsize,
    /// Calls that ended successfully, and that failed, as it saw them.
    ended: AtomicUsize,
    failed: AtomicUsize,
    /// Unary calls it ran around.
    unary: AtomicUsize,
}

/// Counts what goes through each streaming call, on the client.
struct CountCalls(Arc<Seen>);

impl trident::Interceptor for CountCalls {
    fn unary(
        &self,
        request: trident::Request<trident::interceptor::AnyMessage>,
        next: trident::interceptor::UnaryNext,
    ) -> trident::interceptor::BoxFuture<
        Result<trident::Response<trident::interceptor::AnyMessage>, trident::Error>,
    > {
        self.0.unary.fetch_add(1, Ordering::SeqCst);
        next.run(request)
    }

    fn streaming_client(
        &self,
        call: Box<dyn trident::interceptor::StreamingClientConn>,
    ) -> Box<dyn trident::interceptor::StreamingClientConn> {
        self.0.opened.fetch_add(1, Ordering::SeqCst);
        Box::new(Counted {
            inner: call,
            seen: self.0.clone(),
        })
    }
}

struct Counted {
    inner: Box<dyn trident::interceptor::StreamingClientConn>,
    seen: Arc<Seen>,
}

impl trident::interceptor::StreamingClientWrapper for Counted {
    fn inner(&self) -> &dyn trident::interceptor::StreamingClientConn {
        &*self.inner
    }
    fn inner_mut(&mut self) -> &mut dyn trident::interceptor::StreamingClientConn {
        &mut *self.inner
    }

    fn send(
        &mut self,
        message: trident::interceptor::AnyMessage,
    ) -> trident::interceptor::ConnFuture<'_, Result<(), trident::Error>> {
        Box::pin(async move {
            self.inner.send(message).await?;
            self.seen.sent.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn receive(
        &mut self,
    ) -> trident::interceptor::ConnFuture<
        '_,
        Result<Option<trident::interceptor::AnyMessage>, trident::Error>,
    > {
        Box::pin(async move {
            let received = self.inner.receive().await;
            let count = match &received {
                Ok(Some(_)) => &self.seen.received,
                Ok(None) => &self.seen.ended,
                Err(_) => &self.seen.failed,
            };
            count.fetch_add(1, Ordering::SeqCst);
            received
        })
    }
}

/// Retries run below the client's interceptors for client and bidi streams too, in every protocol:
/// the handler runs twice (the first attempt fails), while the interceptor sees one call, each
/// message sent once, and the answers of the attempt that worked.
#[tokio::test]
async fn intercepted_client_and_bidi_streams_are_retried_as_one_call() {
    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
        ProtocolKind::TRIPLE,
    ] {
        let (addr, calls, server) = flaky_streams().await;
        let seen = Arc::new(Seen::default());
        let client = idempotent_streams_client(addr, protocol, Some(CountCalls(seen.clone())));
        let count = |n: &AtomicUsize| n.load(Ordering::SeqCst);
        let case = protocol.to_string();

        collect_abc_retried(&client, &case).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{protocol}: two attempts");
        let seen_collect = [&seen.opened, &seen.sent, &seen.received, &seen.ended].map(count);
        assert_eq!(seen_collect, [1, 3, 1, 1], "{protocol}: one call seen");

        calls.store(0, Ordering::SeqCst);
        chat_xy_retried(&client, &case).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{protocol}: two attempts");
        let seen_both = [
            &seen.opened,
            &seen.sent,
            &seen.received,
            &seen.ended,
            &seen.failed,
        ]
        .map(count);
        assert_eq!(seen_both, [2, 5, 3, 2, 0], "{protocol}: one call seen");
        server.abort();
    }
}

/// A unary call is retried below the interceptors too: its handler runs once per attempt, the
/// interceptor once.
#[tokio::test]
async fn an_intercepted_unary_call_is_retried_as_one_call() {
    let server = TestServer::start().await;
    let seen = Arc::new(Seen::default());
    let builder = configure_builder(Client::builder(server.url()), Codec::Proto, Http::H2)
        .intercept(CountCalls(seen.clone()))
        .retry(
            RetryPolicy::new()
                .max_attempts(4)
                .initial_backoff(Duration::from_millis(1)),
        );
    let client = build_client(builder);
    let error = within("echo", client.echo(failing(Code::Unavailable)))
        .await
        .expect_err("fails every time");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(
        server.state().calls.get(),
        4,
        "four attempts reached the handler"
    );
    assert_eq!(
        seen.unary.load(Ordering::SeqCst),
        1,
        "the interceptor saw one call"
    );
}
