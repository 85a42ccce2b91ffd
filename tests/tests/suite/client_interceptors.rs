//! Client interceptors over real loopback connections: a header added to every call type in each
//! protocol; messages, headers, trailers and errors seen and changed on the way; calls answered or
//! refused without reaching the server; request streams failed by an interceptor; deadlines that
//! bound the interceptors too; values handed to the transport through the request's extensions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream;
use tokio::net::TcpListener;
use trident::{
    Client, Code, Error, HttpVersion, Interceptor, ProtocolKind, Request, RequestInterceptor,
    Response, ResponseStream, Router, Server, ServiceRoutes, Streaming, interceptor::AnyMessage,
    interceptor::BoxFuture, interceptor::ConnFuture, interceptor::StreamingClientConn,
    interceptor::StreamingClientWrapper, interceptor::UnaryNext,
};
use trident_tests::{CHAT, COLLECT, ECHO, EchoRequest, EchoResponse, REPEAT, text, within};

fn reply(text: String) -> EchoResponse {
    EchoResponse {
        text,
        ..Default::default()
    }
}

fn header_of<T>(request: &Request<T>) -> String {
    request
        .headers()
        .get("x-client")
        .unwrap_or("none")
        .to_string()
}

/// Echo, Repeat, Collect and Chat, answering with the `x-client` request header and the texts they
/// received; each stream's trailers say how many messages it sent. `echo_calls` counts the `Echo`
/// calls (only those: a stream an interceptor failed may still reach the server a moment after its
/// call returned, and must not be counted against the next case).
fn routes(echo_calls: Arc<AtomicUsize>) -> ServiceRoutes {
    ServiceRoutes::new("trident.test.v1.EchoService")
        .unary(&ECHO, move |request: Request<EchoRequest>| {
            echo_calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let header = header_of(&request);
                let text = request.into_message().text;
                Ok::<_, Error>(Response::new(reply(format!("{header}: {text}"))))
            }
        })
        .server_stream(&REPEAT, move |request: Request<EchoRequest>| async move {
            let header = header_of(&request);
            let text = request.into_message().text;
            let messages: ResponseStream<EchoResponse> = Box::pin(stream::iter(
                ["one", "two"].map(|n| Ok(reply(format!("{header}: {text} {n}")))),
            ));
            let mut response = Response::new(messages);
            response.trailers_mut().insert("x-sent", "2")?;
            Ok::<_, Error>(response)
        })
        .client_stream(
            &COLLECT,
            move |request: Request<Streaming<EchoRequest>>| async move {
                let header = header_of(&request);
                let mut texts = Vec::new();
                let mut messages = request.into_message();
                while let Some(message) = messages.message().await? {
                    texts.push(message.text);
                }
                let mut response = Response::new(reply(format!("{header}: {}", texts.join(" "))));
                response.trailers_mut().insert("x-sent", "1")?;
                Ok::<_, Error>(response)
            },
        )
        .bidi_stream(
            &CHAT,
            move |request: Request<Streaming<EchoRequest>>| async move {
                use futures_util::StreamExt as _;
                let header = header_of(&request);
                let messages = request.into_message().map(move |message| {
                    message.map(|message| reply(format!("{header}: {}", message.text)))
                });
                let messages: ResponseStream<EchoResponse> = Box::pin(messages);
                Ok::<_, Error>(Response::new(messages))
            },
        )
}

struct TestServer {
    url: String,
    /// `Echo` calls that reached the server.
    echo_calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve() -> TestServer {
    let echo_calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new().add(routes(echo_calls.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        Server::new()
            .serve(listener, router)
            .await
            .expect("serving");
    });
    TestServer {
        url: format!("http://{addr}"),
        echo_calls,
        task,
    }
}

/// Adds `x-client: <name>` to every call.
fn add_header(name: &'static str) -> impl Interceptor {
    RequestInterceptor::new(move |mut request: Request<()>| async move {
        request.headers_mut().insert("x-client", name)?;
        Ok(request)
    })
}

/// Runs all four call types (bidi with `bidi`); returns each one's texts and trailers, or its error.
async fn all_call_types(
    client: &Client,
    bidi: bool,
) -> Vec<Result<(Vec<String>, Option<String>), Error>> {
    let mut results = Vec::new();
    let unary = client
        .unary::<_, EchoResponse>(&ECHO, Request::new(text("hi")))
        .await;
    results.push(unary.map(|response| (vec![response.into_message().text], None)));

    let server_stream = async {
        let mut call = client
            .server_stream::<_, EchoResponse>(&REPEAT, Request::new(text("hi")))
            .await?;
        let mut texts = Vec::new();
        while let Some(message) = call.message().await? {
            texts.push(message.text);
        }
        let sent = call
            .trailers()
            .and_then(|t| t.get("x-sent"))
            .map(str::to_string);
        Ok((texts, sent))
    };
    results.push(server_stream.await);

    let client_stream = async {
        let mut call =
            client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
        for word in ["a", "b"] {
            call.send(text(word)).await?;
        }
        let response = call.close_and_receive().await?;
        let sent = response.trailers().get("x-sent").map(str::to_string);
        Ok((vec![response.into_message().text], sent))
    };
    results.push(client_stream.await);

    if bidi {
        let bidi = async {
            let mut call = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, Request::new(()));
            let mut texts = Vec::new();
            for word in ["x", "y"] {
                call.send(text(word)).await?;
                texts.push(call.message().await?.expect("an answer").text);
            }
            call.close_send()?;
            assert!(call.message().await?.is_none());
            Ok((texts, None))
        };
        results.push(bidi.await);
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_interceptor_adds_a_header_to_every_call_type() {
    let server = serve().await;
    let cases = [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::CONNECT, HttpVersion::Http2),
        (ProtocolKind::GRPC, HttpVersion::Http2),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http2),
    ];
    for (protocol, http) in cases {
        let case = format!("{protocol} over {http:?}");
        let client = Client::builder(&server.url)
            .protocol(protocol)
            .http_version(http)
            .intercept(add_header("trident"))
            .build()
            .expect("client");
        let bidi = http == HttpVersion::Http2;
        let results = within(&case, all_call_types(&client, bidi)).await;
        let results: Vec<_> = results
            .into_iter()
            .map(|result| result.unwrap_or_else(|e| panic!("{case}: {e}")))
            .collect();
        let mut expected = vec![
            (vec!["trident: hi".to_string()], None),
            (
                vec!["trident: hi one".to_string(), "trident: hi two".to_string()],
                Some("2".to_string()),
            ),
            (vec!["trident: a b".to_string()], Some("1".to_string())),
        ];
        if bidi {
            expected.push((
                vec!["trident: x".to_string(), "trident: y".to_string()],
                None,
            ));
        }
        assert_eq!(results, expected, "{case}");
    }
}

/// Notes every event of a call under its name; upper-cases outgoing texts and marks incoming ones.
struct Watch {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Watch {
    fn note(log: &Mutex<Vec<String>>, entry: String) {
        log.lock().expect("not poisoned").push(entry);
    }
}

fn text_of(message: &AnyMessage) -> String {
    if let Some(request) = message.downcast_ref::<EchoRequest>() {
        return request.text.clone();
    }
    message
        .downcast_ref::<EchoResponse>()
        .map(|response| response.text.clone())
        .unwrap_or_default()
}

impl Interceptor for Watch {
    fn unary(
        &self,
        mut request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        let (name, log) = (self.name, self.log.clone());
        let method = request.context().method().expect("a client call").method;
        Watch::note(
            &log,
            format!("{name} {method} sends {}", text_of(request.message())),
        );
        if let Some(message) = request.message_mut().downcast_mut::<EchoRequest>() {
            message.text = message.text.to_uppercase();
        }
        Box::pin(async move {
            let response = next.run(request).await;
            match &response {
                Ok(response) => Watch::note(
                    &log,
                    format!("{name} {method} got {}", text_of(response.message())),
                ),
                Err(error) => Watch::note(&log, format!("{name} {method} failed {}", error.code())),
            }
            response
        })
    }

    fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
        let context = call.context().clone();
        assert!(context.protocol().is_some());
        Box::new(WatchedCall {
            inner: call,
            name: self.name,
            method: context.method().expect("a client call").method,
            log: self.log.clone(),
        })
    }
}

/// A streaming call a [`Watch`] notes the events of.
struct WatchedCall {
    inner: Box<dyn StreamingClientConn>,
    name: &'static str,
    method: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl StreamingClientWrapper for WatchedCall {
    fn inner(&self) -> &dyn StreamingClientConn {
        &*self.inner
    }
    fn inner_mut(&mut self) -> &mut dyn StreamingClientConn {
        &mut *self.inner
    }

    fn send(&mut self, mut message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        let (name, method) = (self.name, self.method);
        Watch::note(
            &self.log,
            format!("{name} {method} sends {}", text_of(&message)),
        );
        if let Some(request) = message.downcast_mut::<EchoRequest>() {
            request.text = request.text.to_uppercase();
        }
        self.inner.send(message)
    }

    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        Box::pin(async move {
            let (name, method) = (self.name, self.method);
            let received = self.inner.receive().await;
            let entry = match &received {
                Ok(Some(message)) => format!("{name} {method} got {}", text_of(message)),
                Ok(None) => {
                    let trailers = self.inner.response_trailers();
                    let sent = trailers.and_then(|t| t.get("x-sent"));
                    format!("{name} {method} ended, x-sent={sent:?}")
                }
                Err(error) => format!("{name} {method} failed {}", error.code()),
            };
            Watch::note(&self.log, entry);
            received
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_interceptors_see_and_change_messages_and_see_trailers_in_order() {
    let server = serve().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(&server.url)
        .http_version(HttpVersion::Http2)
        .intercept(Watch {
            name: "outer",
            log: log.clone(),
        })
        .intercept(Watch {
            name: "inner",
            log: log.clone(),
        })
        .build()
        .expect("client");

    let response = within(
        "unary",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("hi"))),
    )
    .await
    .expect("answered");
    assert_eq!(response.message().text, "none: HI");
    let mut call = within(
        "repeat",
        client.server_stream::<_, EchoResponse>(&REPEAT, Request::new(text("hi"))),
    )
    .await
    .expect("opened");
    while within("repeat", call.message())
        .await
        .expect("a message")
        .is_some()
    {}
    assert_eq!(
        call.trailers().and_then(|t| t.get("x-sent")),
        Some("2"),
        "the caller still gets the trailers"
    );
    let mut call = client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
    within("collect", call.send(text("a"))).await.expect("sent");
    let response = within("collect", call.close_and_receive())
        .await
        .expect("collected");
    assert_eq!(response.message().text, "none: A");

    let log = log.lock().expect("not poisoned").clone();
    assert_eq!(
        log,
        [
            "outer Echo sends hi",
            "inner Echo sends HI",
            "inner Echo got none: HI",
            "outer Echo got none: HI",
            // Server streaming: the one request passes both, each response passes inner then outer.
            "outer Repeat sends hi",
            "inner Repeat sends HI",
            "inner Repeat got none: HI one",
            "outer Repeat got none: HI one",
            "inner Repeat got none: HI two",
            "outer Repeat got none: HI two",
            "inner Repeat ended, x-sent=Some(\"2\")",
            "outer Repeat ended, x-sent=Some(\"2\")",
            "outer Collect sends a",
            "inner Collect sends A",
            "inner Collect got none: A",
            "outer Collect got none: A",
            "inner Collect ended, x-sent=Some(\"1\")",
            "outer Collect ended, x-sent=Some(\"1\")",
        ]
    );
}

/// Answers `Echo` for "cached" itself, refuses "forbidden", and fails request streams at a text
/// "poison".
struct Gate;

impl Interceptor for Gate {
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        let text = text_of(request.message());
        Box::pin(async move {
            match text.as_str() {
                "cached" => Ok(Response::new(AnyMessage::new(reply(
                    "from the cache".into(),
                )))),
                "forbidden" => Err(Error::new(Code::PermissionDenied, "not from this client")),
                _ => next.run(request).await,
            }
        })
    }

    fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
        Box::new(GatedCall {
            inner: call,
            error: None,
        })
    }
}

/// A streaming call a [`Gate`] fails at a message "poison": the call is cancelled, and every later
/// operation reports the gate's error.
struct GatedCall {
    inner: Box<dyn StreamingClientConn>,
    error: Option<Error>,
}

impl GatedCall {
    fn check(&self) -> Result<(), Error> {
        self.error.clone().map_or(Ok(()), Err)
    }
}

impl StreamingClientWrapper for GatedCall {
    fn inner(&self) -> &dyn StreamingClientConn {
        &*self.inner
    }
    fn inner_mut(&mut self) -> &mut dyn StreamingClientConn {
        &mut *self.inner
    }

    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        if self.error.is_none() && text_of(&message) == "poison" {
            self.inner.cancel();
            self.error = Some(Error::new(Code::InvalidArgument, "poisoned message"));
        }
        Box::pin(async move {
            self.check()?;
            self.inner.send(message).await
        })
    }
    fn close_send(&mut self) -> Result<(), Error> {
        self.check()?;
        self.inner.close_send()
    }
    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.check()?;
            self.inner.receive_headers().await
        })
    }
    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        Box::pin(async move {
            self.check()?;
            self.inner.receive().await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_interceptors_answer_refuse_and_fail_request_streams() {
    let server = serve().await;
    for (protocol, http) in [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::GRPC, HttpVersion::Http2),
    ] {
        let case = format!("{protocol} over {http:?}");
        let client = Client::builder(&server.url)
            .protocol(protocol)
            .http_version(http)
            .intercept(Gate)
            .build()
            .expect("client");
        let before = server.echo_calls.load(Ordering::SeqCst);
        let cached = within(
            &case,
            client.unary::<_, EchoResponse>(&ECHO, Request::new(text("cached"))),
        )
        .await
        .expect("from the cache");
        assert_eq!(cached.message().text, "from the cache");
        let refused = within(
            &case,
            client.unary::<_, EchoResponse>(&ECHO, Request::new(text("forbidden"))),
        )
        .await
        .expect_err("refused");
        assert_eq!(refused.code(), Code::PermissionDenied, "{case}");
        assert_eq!(
            server.echo_calls.load(Ordering::SeqCst),
            before,
            "{case}: neither reached the server"
        );

        // A request stream the interceptor fails: the call fails with its error.
        let mut call =
            client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
        within(&case, call.send(text("fine"))).await.expect("sent");
        // The poisoned message may be refused at once or later: either way the call reports it.
        let _ = within(&case, call.send(text("poison"))).await;
        let error = within(&case, call.close_and_receive())
            .await
            .expect_err("poisoned");
        assert_eq!(error.code(), Code::InvalidArgument, "{case}: {error}");
        assert_eq!(error.message(), "poisoned message", "{case}");
    }

    // Bidi over HTTP/1.1 still fails at once, interceptors or not.
    let client = Client::builder(&server.url)
        .intercept(Gate)
        .build()
        .expect("client");
    let mut call = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, Request::new(()));
    let error = within("bidi over HTTP/1.1", call.message())
        .await
        .expect_err("needs HTTP/2");
    assert_eq!(error.code(), Code::Unimplemented);
    assert!(error.message().contains("HTTP/2"), "{error}");
}

/// Takes its time before passing each unary call on.
struct Slow;

impl Interceptor for Slow {
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            next.run(request).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_bounds_the_interceptors_too() {
    let server = serve().await;
    let client = Client::builder(&server.url)
        .intercept(Slow)
        .build()
        .expect("client");
    let error = within(
        "slow",
        client.unary::<_, EchoResponse>(
            &ECHO,
            Request::new(text("hi")).with_timeout(Duration::from_millis(100)),
        ),
    )
    .await
    .expect_err("too slow");
    assert_eq!(error.code(), Code::DeadlineExceeded);
    let ok = within(
        "slow but in time",
        client.unary::<_, EchoResponse>(
            &ECHO,
            Request::new(text("hi")).with_timeout(Duration::from_secs(10)),
        ),
    )
    .await
    .expect("in time");
    assert_eq!(ok.message().text, "none: hi");
}

/// A value an interceptor hands to the transport.
#[derive(Clone, Debug, PartialEq)]
struct Tag(&'static str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_extensions_reach_the_transport() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tag = RequestInterceptor::new(|mut request: Request<()>| async move {
        request.extensions_mut().insert(Tag("from the interceptor"));
        Ok(request)
    });
    let client = Client::builder("http://in-memory")
        .http_version(HttpVersion::Http2)
        .transport(client_transport_of(&seen))
        .intercept(tag)
        .build()
        .expect("client");
    let response = within(
        "unary",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("hi"))),
    )
    .await
    .expect("answered");
    assert_eq!(response.message().text, "none: hi");
    let mut call = client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
    within("collect", call.send(text("a"))).await.expect("sent");
    within("collect", call.close_and_receive())
        .await
        .expect("collected");
    // Without an interceptor, a caller's own extensions go through as well.
    let plain = Client::builder("http://in-memory")
        .transport(client_transport_of(&seen))
        .build()
        .expect("client");
    let mut request = Request::new(text("hi"));
    request.extensions_mut().insert(Tag("from the caller"));
    within("plain", plain.unary::<_, EchoResponse>(&ECHO, request))
        .await
        .expect("answered");
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        [
            Some(Tag("from the interceptor")),
            Some(Tag("from the interceptor")),
            Some(Tag("from the caller")),
        ]
    );
}

/// A transport that records each request's `Tag` and answers from a fresh router.
fn client_transport_of(seen: &Arc<Mutex<Vec<Option<Tag>>>>) -> trident::client::Transport {
    let seen = seen.clone();
    let router = Router::new().add(routes(Arc::new(AtomicUsize::new(0))));
    trident::client::boxed_transport(tower::service_fn(
        move |request: http::Request<trident::Body>| {
            seen.lock()
                .expect("not poisoned")
                .push(request.extensions().get::<Tag>().cloned());
            let mut router = router.clone();
            async move { tower::Service::call(&mut router, request).await }
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_intercepted_stream_cancels_it_on_the_server() {
    let (cancelled_tx, mut cancelled_rx) = tokio::sync::mpsc::unbounded_channel();
    let routes = ServiceRoutes::new("trident.test.v1.EchoService").bidi_stream(
        &CHAT,
        move |request: Request<Streaming<EchoRequest>>| {
            let cancelled_tx = cancelled_tx.clone();
            async move {
                let context = request.context().clone();
                tokio::spawn(async move {
                    context.canceled().await;
                    let _ = cancelled_tx.send(());
                });
                let messages: ResponseStream<EchoResponse> = Box::pin(stream::pending());
                Ok::<_, Error>(Response::new(messages))
            }
        },
    );
    let router = Router::new().add(routes);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(Server::new().serve(listener, router).into_future());
    let client = Client::builder(format!("http://{addr}"))
        .http_version(HttpVersion::Http2)
        .intercept(add_header("trident"))
        .build()
        .expect("client");

    let mut call = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, Request::new(()));
    within("send", call.send(text("x"))).await.expect("sent");
    within("headers", call.headers()).await.expect("opened");
    drop(call);
    within("the server sees the cancellation", cancelled_rx.recv())
        .await
        .expect("cancelled");

    let mut call = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, Request::new(()));
    within("send", call.send(text("x"))).await.expect("sent");
    within("headers", call.headers()).await.expect("opened");
    call.cancel();
    let error = within("after cancel", call.message())
        .await
        .expect_err("cancelled");
    assert_eq!(error.code(), Code::Canceled);
    within("the server sees the cancellation", cancelled_rx.recv())
        .await
        .expect("cancelled");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_interceptor_refuses_every_call_type_before_it_goes_out() {
    let server = serve().await;
    let refuse = RequestInterceptor::new(|_request: Request<()>| async move {
        Err::<Request<()>, _>(Error::new(Code::Unauthenticated, "no token"))
    });
    let client = Client::builder(&server.url)
        .http_version(HttpVersion::Http2)
        .intercept(refuse)
        .build()
        .expect("client");
    let results = within("refused", all_call_types(&client, true)).await;
    assert_eq!(results.len(), 4);
    for result in results {
        let error = result.expect_err("refused");
        assert_eq!(error.code(), Code::Unauthenticated, "{error}");
        assert_eq!(error.message(), "no token");
    }
    assert_eq!(server.echo_calls.load(Ordering::SeqCst), 0);
}
