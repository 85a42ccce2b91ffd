//! Server interceptors over real loopback connections: an auth interceptor rejecting calls of every
//! type with `unauthenticated`, read correctly by Connect, gRPC and gRPC-Web clients (Trident's and
//! tonic's), and passing the caller to handlers; chains in their documented order; interceptors that
//! see and change messages, headers and trailers, answer calls themselves, or break the message types.

use std::sync::{Arc, Mutex};

use futures_util::{StreamExt as _, stream};
use tokio::net::TcpListener;
use trident::{
    Client, Code, Error, HttpVersion, Interceptor, ProtocolKind, Request, RequestInterceptor,
    Response, ResponseStream, Router, Server, ServiceRoutes, Streaming, interceptor::AnyMessage,
    interceptor::BoxFuture, interceptor::MessageStream, interceptor::StreamingNext,
    interceptor::UnaryNext,
};
use trident_tests::{CHAT, COLLECT, ECHO, EchoRequest, EchoResponse, REPEAT, text, within};

/// Who the auth interceptor let in.
#[derive(Clone, Debug)]
struct User(String);

/// Lets in calls with `authorization: Bearer <name>` (any name but "mallory"), handing the handler
/// the `User`.
fn auth() -> impl Interceptor {
    RequestInterceptor::new(|mut request: Request<()>| async move {
        let user = match request.headers().get("authorization") {
            Some(value) => value
                .strip_prefix("Bearer ")
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        if user.is_empty() || user == "mallory" {
            return Err(Error::new(
                Code::Unauthenticated,
                "a valid bearer token is required",
            ));
        }
        request.extensions_mut().insert(User(user));
        Ok(request)
    })
}

fn user_of<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<User>()
        .map_or("nobody".to_string(), |user| user.0.clone())
}

fn reply(text: String) -> EchoResponse {
    EchoResponse {
        text,
        ..Default::default()
    }
}

/// Echo, Repeat, Collect and Chat, each answering with the caller's name (from the interceptor) and
/// the texts it received.
fn greeting_routes() -> ServiceRoutes {
    ServiceRoutes::new("trident.test.v1.EchoService")
        .unary(&ECHO, |request: Request<EchoRequest>| async move {
            let user = user_of(&request);
            let text = request.into_message().text;
            Ok::<_, Error>(Response::new(reply(format!("{user}: {text}"))))
        })
        .server_stream(&REPEAT, |request: Request<EchoRequest>| async move {
            let user = user_of(&request);
            let text = request.into_message().text;
            let messages: ResponseStream<EchoResponse> = Box::pin(stream::iter(
                ["one", "two"].map(|n| Ok(reply(format!("{user}: {text} {n}")))),
            ));
            Ok::<_, Error>(Response::new(messages))
        })
        .client_stream(
            &COLLECT,
            |request: Request<Streaming<EchoRequest>>| async move {
                let user = user_of(&request);
                let mut texts = Vec::new();
                let mut messages = request.into_message();
                while let Some(message) = messages.message().await? {
                    texts.push(message.text);
                }
                Ok::<_, Error>(Response::new(reply(format!("{user}: {}", texts.join(" ")))))
            },
        )
        .bidi_stream(
            &CHAT,
            |request: Request<Streaming<EchoRequest>>| async move {
                let user = user_of(&request);
                let messages = request.into_message().map(move |message| {
                    message.map(|message| reply(format!("{user}: {}", message.text)))
                });
                let messages: ResponseStream<EchoResponse> = Box::pin(messages);
                Ok::<_, Error>(Response::new(messages))
            },
        )
}

async fn serve(router: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        Server::new()
            .serve(listener, router)
            .await
            .expect("serving");
    });
    (format!("http://{addr}"), server)
}

fn as_user(user: &str) -> Request<()> {
    let mut request = Request::new(());
    if !user.is_empty() {
        request
            .headers_mut()
            .insert("authorization", &format!("Bearer {user}"))
            .expect("a valid header");
    }
    request
}

fn with_head<T>(head: &Request<()>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    *request.headers_mut() = head.headers().clone();
    request
}

/// Runs all four call types as `user`; returns each one's texts, or its error.
async fn all_call_types(
    client: &Client,
    user: &str,
    bidi: bool,
) -> Vec<Result<Vec<String>, Error>> {
    let head = as_user(user);
    let mut results = Vec::new();

    let unary = client
        .unary::<_, EchoResponse>(&ECHO, with_head(&head, text("hi")))
        .await;
    results.push(unary.map(|response| vec![response.into_message().text]));

    let server_stream = async {
        let mut call = client
            .server_stream::<_, EchoResponse>(&REPEAT, with_head(&head, text("hi")))
            .await?;
        let mut texts = Vec::new();
        while let Some(message) = call.message().await? {
            texts.push(message.text);
        }
        Ok(texts)
    };
    results.push(server_stream.await);

    let client_stream = async {
        let mut call = client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, as_user(user));
        for word in ["a", "b"] {
            // A rejected call may fail sends too; what it answers is read below.
            if call.send(text(word)).await.is_err() {
                break;
            }
        }
        Ok(vec![call.close_and_receive().await?.into_message().text])
    };
    results.push(client_stream.await);

    if bidi {
        let bidi = async {
            let mut call = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, as_user(user));
            let mut texts = Vec::new();
            for word in ["x", "y"] {
                if call.send(text(word)).await.is_err() {
                    break;
                }
            }
            let _ = call.close_send();
            while let Some(message) = call.message().await? {
                texts.push(message.text);
            }
            Ok(texts)
        };
        results.push(bidi.await);
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_interceptor_rejects_every_call_type_in_each_protocol() {
    let router = Router::new().intercept(auth()).add(greeting_routes());
    let (url, server) = serve(router).await;
    let cases = [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::CONNECT, HttpVersion::Http2),
        (ProtocolKind::GRPC, HttpVersion::Http2),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http2),
    ];
    for (protocol, http) in cases {
        let case = format!("{protocol} over {http:?}");
        let client = Client::builder(&url)
            .protocol(protocol)
            .http_version(http)
            .build()
            .expect("client");
        let bidi = http == HttpVersion::Http2;

        for user in ["", "mallory"] {
            let results = within(&case, all_call_types(&client, user, bidi)).await;
            for (i, result) in results.into_iter().enumerate() {
                let error = result.expect_err("rejected");
                assert_eq!(
                    error.code(),
                    Code::Unauthenticated,
                    "{case}, call type {i}, user {user:?}: {error}"
                );
                assert_eq!(
                    error.message(),
                    "a valid bearer token is required",
                    "{case}"
                );
            }
        }

        let results = within(&case, all_call_types(&client, "alice", bidi)).await;
        let texts: Vec<Vec<String>> = results
            .into_iter()
            .map(|result| result.unwrap_or_else(|e| panic!("{case}: {e}")))
            .collect();
        let mut expected = vec![
            vec!["alice: hi".to_string()],
            vec!["alice: hi one".to_string(), "alice: hi two".to_string()],
            vec!["alice: a b".to_string()],
        ];
        if bidi {
            expected.push(vec!["alice: x".to_string(), "alice: y".to_string()]);
        }
        assert_eq!(texts, expected, "{case}");
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_client_reads_the_interceptors_rejection() {
    use crate::tonic_common::stubs::echo_service_client::EchoServiceClient as TonicClient;

    let router = Router::new().intercept(auth()).add(greeting_routes());
    let (url, server) = serve(router).await;
    let channel = within(
        "tonic connects",
        tonic::transport::Endpoint::from_shared(url)
            .expect("endpoint")
            .connect(),
    )
    .await
    .expect("connected");
    let mut client = TonicClient::new(channel);

    let status = within("tonic unary", client.echo(text("hi")))
        .await
        .expect_err("rejected");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "a valid bearer token is required");

    let status = within("tonic stream", client.repeat(text("hi")))
        .await
        .expect_err("rejected");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let mut request = tonic::Request::new(text("hi"));
    request
        .metadata_mut()
        .insert("authorization", "Bearer bob".parse().expect("ascii"));
    let reply = within("tonic unary, signed in", client.echo(request))
        .await
        .expect("let in");
    assert_eq!(reply.into_inner().text, "bob: hi");
    server.abort();
}

/// Records when it sees a call go in and come out, under its name.
struct Trace {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Trace {
    fn record(&self, event: &str) {
        let entry = format!("{} {event}", self.name);
        self.log.lock().expect("not poisoned").push(entry);
    }
}

impl Interceptor for Trace {
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        self.record("in");
        let log = self.log.clone();
        let name = self.name;
        Box::pin(async move {
            let response = next.run(request).await;
            log.lock()
                .expect("not poisoned")
                .push(format!("{name} out"));
            response
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_run_router_first_then_service_in_the_order_attached() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let trace = |name| Trace {
        name,
        log: log.clone(),
    };
    let routes = greeting_routes()
        .intercept(trace("service 1"))
        .intercept(trace("service 2"));
    // A router interceptor attached after the service was added still runs, and outside it.
    let router = Router::new()
        .intercept(trace("router 1"))
        .add(routes)
        .intercept(trace("router 2"));
    let (url, server) = serve(router).await;
    let client = Client::builder(&url).build().expect("client");
    let response = within(
        "unary",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("hi"))),
    )
    .await
    .expect("no auth here");
    assert_eq!(response.message().text, "nobody: hi");
    assert_eq!(
        *log.lock().expect("not poisoned"),
        [
            "router 1 in",
            "router 2 in",
            "service 1 in",
            "service 2 in",
            "service 2 out",
            "service 1 out",
            "router 2 out",
            "router 1 out",
        ]
    );
    server.abort();
}

/// Changes what flows through streaming calls: upper-cases each request text, numbers each response,
/// fails the response stream at a text "stop", adds a response header and trailer, and records how
/// each response stream ended.
struct Shout {
    ends: Arc<Mutex<Vec<Result<(), Code>>>>,
}

fn texts_of(message: &mut AnyMessage) -> Result<&mut String, Error> {
    if message.downcast_ref::<EchoRequest>().is_some() {
        let request = message.downcast_mut::<EchoRequest>().expect("a request");
        return Ok(&mut request.text);
    }
    match message.downcast_mut::<EchoResponse>() {
        Some(response) => Ok(&mut response.text),
        None => Err(Error::new(Code::Internal, "not an echo message")),
    }
}

impl Interceptor for Shout {
    fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        let ends = self.ends.clone();
        Box::pin(async move {
            let request = request.map(|messages| {
                messages.map(|mut message| {
                    let text = texts_of(&mut message)?;
                    *text = text.to_uppercase();
                    Ok(message)
                })
            });
            let mut response = next.run(request).await?;
            response.headers_mut().insert("x-shout", "on")?;
            response.trailers_mut().insert("x-shout-trailer", "done")?;
            let mut count = 0;
            Ok(response.map(|messages| {
                messages
                    .map(move |mut message| {
                        count += 1;
                        let text = texts_of(&mut message)?;
                        if text.ends_with("STOP") {
                            return Err(Error::new(Code::Aborted, "stopped by the interceptor"));
                        }
                        text.push_str(&format!(" #{count}"));
                        Ok(message)
                    })
                    .on_end(move |end| {
                        ends.lock()
                            .expect("not poisoned")
                            .push(end.map(|_| ()).map_err(Error::code))
                    })
            }))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_interceptor_sees_and_changes_messages_headers_and_trailers() {
    let ends = Arc::new(Mutex::new(Vec::new()));
    let routes = greeting_routes().intercept(Shout { ends: ends.clone() });
    let router = Router::new().add(routes);
    let (url, server) = serve(router).await;

    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ] {
        let client = Client::builder(&url)
            .protocol(protocol)
            .http_version(HttpVersion::Http2)
            .build()
            .expect("client");

        // Server streaming: the one request message and each response go through it.
        let mut call = within(
            "repeat",
            client.server_stream::<_, EchoResponse>(&REPEAT, Request::new(text("hi"))),
        )
        .await
        .expect("opened");
        assert_eq!(call.headers().get("x-shout"), Some("on"), "{protocol}");
        let mut texts = Vec::new();
        while let Some(message) = within("repeat", call.message()).await.expect("a message") {
            texts.push(message.text);
        }
        assert_eq!(
            texts,
            ["nobody: HI one #1", "nobody: HI two #2"],
            "{protocol}"
        );
        assert_eq!(
            call.trailers().and_then(|t| t.get("x-shout-trailer")),
            Some("done"),
            "{protocol}"
        );

        // Client streaming: each request message goes through it, and the one response.
        let mut call =
            client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
        for word in ["a", "b"] {
            within("collect", call.send(text(word)))
                .await
                .expect("sent");
        }
        let response = within("collect", call.close_and_receive())
            .await
            .expect("collected");
        assert_eq!(response.message().text, "nobody: A B #1", "{protocol}");
        assert_eq!(response.headers().get("x-shout"), Some("on"));

        // Bidi: the interceptor fails the response stream at "stop".
        let mut call = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, Request::new(()));
        within("chat", call.send(text("x"))).await.expect("sent");
        let first = within("chat", call.message()).await.expect("a message");
        assert_eq!(first.expect("one").text, "nobody: X #1", "{protocol}");
        within("chat", call.send(text("stop"))).await.expect("sent");
        let error = within("chat", call.message()).await.expect_err("stopped");
        assert_eq!(error.code(), Code::Aborted, "{protocol}: {error}");
        assert_eq!(error.message(), "stopped by the interceptor");
    }
    let ends = ends.lock().expect("not poisoned").clone();
    assert_eq!(
        ends,
        [Ok(()), Ok(()), Err(Code::Aborted)].repeat(3),
        "how each response stream ended"
    );
    server.abort();
}

/// Answers `Echo` calls for the text "cached" itself; swaps other requests for a message of the wrong
/// type when asked to.
struct Cache;

impl Interceptor for Cache {
    fn unary(
        &self,
        mut request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        let text = request
            .message()
            .downcast_ref::<EchoRequest>()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        Box::pin(async move {
            match text.as_str() {
                "cached" => {
                    let mut response =
                        Response::new(AnyMessage::new(reply("from the cache".into())));
                    response.headers_mut().insert("x-cache", "hit")?;
                    Ok(response)
                }
                "swap" => {
                    *request.message_mut() =
                        AnyMessage::new(reply("a response, not a request".into()));
                    next.run(request).await
                }
                _ => next.run(request).await,
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interceptor_can_answer_itself_and_a_wrong_message_type_fails_internal() {
    let router = Router::new().intercept(Cache).add(greeting_routes());
    let (url, server) = serve(router).await;
    let client = Client::builder(&url).build().expect("client");

    let cached = within(
        "cached",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("cached"))),
    )
    .await
    .expect("answered by the interceptor");
    assert_eq!(cached.message().text, "from the cache");
    assert_eq!(cached.headers().get("x-cache"), Some("hit"));

    let passed = within(
        "passed",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("fresh"))),
    )
    .await
    .expect("answered by the handler");
    assert_eq!(passed.message().text, "nobody: fresh");

    let error = within(
        "swapped",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("swap"))),
    )
    .await
    .expect_err("the handler cannot take it");
    assert_eq!(error.code(), Code::Internal);
    assert!(
        error.message().contains("trident.test.v1.EchoResponse"),
        "{error}"
    );
    server.abort();
}

/// Interceptors leave the handler's own view intact: the message stream a client-streaming handler
/// reads through them ends when the client's does, and errors from the handler pass back out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_pass_back_through_the_chain() {
    let routes = ServiceRoutes::new("trident.test.v1.EchoService").client_stream(
        &COLLECT,
        |request: Request<Streaming<EchoRequest>>| async move {
            let count = request.into_message().count().await;
            Err::<Response<EchoResponse>, _>(Error::new(
                Code::FailedPrecondition,
                format!("refused {count} messages"),
            ))
        },
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_chain = seen.clone();
    let router = Router::new().add(routes.intercept(Observe {
        seen: seen_in_chain,
    }));
    let (url, server) = serve(router).await;
    let client = Client::builder(&url)
        .protocol(ProtocolKind::GRPC)
        .http_version(HttpVersion::Http2)
        .build()
        .expect("client");
    let mut call = client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
    for word in ["a", "b", "c"] {
        within("send", call.send(text(word))).await.expect("sent");
    }
    let error = within("collect", call.close_and_receive())
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(error.message(), "refused 3 messages");
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        ["trident.test.v1.EchoService/Collect", "failed_precondition"]
    );
    server.abort();
}

/// Notes the method a streaming call is for and the code it fails with.
struct Observe {
    seen: Arc<Mutex<Vec<String>>>,
}

impl Interceptor for Observe {
    fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        let seen = self.seen.clone();
        let method = request.context().method().expect("a server call");
        seen.lock()
            .expect("not poisoned")
            .push(format!("{}/{}", method.service, method.method));
        Box::pin(async move {
            let result = next.run(request).await;
            if let Err(error) = &result {
                seen.lock()
                    .expect("not poisoned")
                    .push(error.code().to_string());
            }
            result
        })
    }
}
