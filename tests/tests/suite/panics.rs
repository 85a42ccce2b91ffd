//! Panic recovery over real loopback connections: a handler that panics, before answering or while
//! streaming, fails its own call with `internal`, the router's hook sees it, and the same connection
//! keeps serving, for every protocol over HTTP/1.1 and HTTP/2.

use std::sync::{Arc, Mutex};

use futures_util::stream;
use tokio::net::TcpListener;
use trident::{
    Client, Code, Error, HttpVersion, ProtocolKind, Request, Response, ResponseStream, Router,
    Server, ServiceRoutes,
};
use trident_tests::{ECHO, EchoRequest, EchoResponse, REPEAT, text, within};

/// Echoes, or panics when asked to; `Repeat` sends one message, then panics.
fn panicking_routes() -> ServiceRoutes {
    ServiceRoutes::new("trident.test.v1.EchoService")
        .unary(&ECHO, |request: Request<EchoRequest>| async move {
            let text = request.into_message().text;
            if text == "panic" {
                panic!("the handler was asked to panic");
            }
            Ok::<_, Error>(Response::new(EchoResponse {
                text,
                ..Default::default()
            }))
        })
        .server_stream(&REPEAT, |_request: Request<EchoRequest>| async move {
            let mut sent = false;
            let messages = stream::poll_fn(move |_cx| {
                if sent {
                    panic!("the stream panics after its first message");
                }
                sent = true;
                std::task::Poll::Ready(Some(Ok(EchoResponse {
                    text: "first".into(),
                    ..Default::default()
                })))
            });
            let messages: ResponseStream<EchoResponse> = Box::pin(messages);
            Ok::<_, Error>(Response::new(messages))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_its_call_only() {
    let seen = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let router = Router::new().add(panicking_routes()).on_panic({
        let seen = seen.clone();
        move |panic| {
            let report = (panic.method().path.to_string(), panic.message().to_string());
            seen.lock().expect("not poisoned").push(report);
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(Server::new().serve(listener, router).into_future());

    let cases = [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::CONNECT, HttpVersion::Http2),
        (ProtocolKind::GRPC, HttpVersion::Http2),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
    ];
    for (protocol, http) in cases {
        let case = format!("{protocol} over {http:?}");
        let client = Client::builder(format!("http://{addr}"))
            .protocol(protocol)
            .http_version(http)
            .build()
            .expect("client");

        let failed = within(
            &case,
            client.unary::<_, EchoResponse>(&ECHO, Request::new(text("panic"))),
        )
        .await
        .expect_err("the panicking call fails");
        assert_eq!(failed.code(), Code::Internal, "{case}: {failed}");
        assert!(
            !failed.message().contains("asked to panic"),
            "{case}: the panic's message stays on the server: {failed}"
        );

        // The same client (and connection) goes on.
        let reply = within(
            &case,
            client.unary::<_, EchoResponse>(&ECHO, Request::new(text("fine"))),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: the next call fails: {e}"));
        assert_eq!(reply.message().text, "fine", "{case}");

        let mut messages = within(
            &case,
            client.server_stream::<_, EchoResponse>(&REPEAT, Request::new(text("x"))),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: the stream does not open: {e}"));
        let first = within(&case, messages.message()).await;
        assert_eq!(
            first.expect("the first message").expect("a message").text,
            "first",
            "{case}"
        );
        let end = within(&case, messages.message())
            .await
            .expect_err("the stream ends with the panic");
        assert_eq!(end.code(), Code::Internal, "{case}: {end}");
    }

    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(
        seen.len(),
        2 * cases.len(),
        "one report per panic: {seen:?}"
    );
    assert!(seen.contains(&(
        ECHO.path.to_string(),
        "the handler was asked to panic".to_string()
    )));
    assert!(seen.contains(&(
        REPEAT.path.to_string(),
        "the stream panics after its first message".to_string()
    )));
    server.abort();
}

/// A handler panic while another call is in flight on the same HTTP/2 connection: the panicking call
/// fails with `internal`, and the other one, still running, finishes normally on that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_leaves_a_parallel_call_on_the_same_connection_alone() {
    let ports = Arc::new(Mutex::new(Vec::<u16>::new()));
    let (arrived_tx, mut arrived_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let routes = ServiceRoutes::new("trident.test.v1.EchoService").unary(&ECHO, {
        let (ports, release) = (ports.clone(), release.clone());
        move |request: Request<EchoRequest>| {
            let (ports, release, arrived_tx) = (ports.clone(), release.clone(), arrived_tx.clone());
            async move {
                let port = request.context().peer_addr().expect("a peer").port();
                ports.lock().expect("not poisoned").push(port);
                let text = request.into_message().text;
                match text.as_str() {
                    "panic" => panic!("the handler was asked to panic"),
                    "wait" => {
                        let _ = arrived_tx.send(());
                        release.notified().await;
                    }
                    _ => {}
                }
                Ok::<_, Error>(Response::new(EchoResponse {
                    text,
                    ..Default::default()
                }))
            }
        }
    });
    let router = Router::new().add(routes);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(Server::new().serve(listener, router).into_future());

    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ] {
        let client = Client::builder(format!("http://{addr}"))
            .protocol(protocol)
            .http_version(HttpVersion::Http2)
            .build()
            .expect("client");
        let waiting = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .unary::<_, EchoResponse>(&ECHO, Request::new(text("wait")))
                    .await
            }
        });
        within("the waiting call arrives", arrived_rx.recv())
            .await
            .expect("arrived");
        let failed = within(
            "the panicking call",
            client.unary::<_, EchoResponse>(&ECHO, Request::new(text("panic"))),
        )
        .await
        .expect_err("it panicked");
        assert_eq!(failed.code(), Code::Internal, "{protocol}: {failed}");
        release.notify_one();
        let waited = within("the waiting call", waiting)
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{protocol}: the parallel call fails: {e}"));
        assert_eq!(waited.message().text, "wait", "{protocol}");

        let ports = std::mem::take(&mut *ports.lock().expect("not poisoned"));
        assert_eq!(ports.len(), 2, "{protocol}: {ports:?}");
        assert_eq!(
            ports[0], ports[1],
            "{protocol}: one connection carried both calls"
        );
    }
    server.abort();
}
