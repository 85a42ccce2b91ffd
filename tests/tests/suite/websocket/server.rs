//! WebSocket calls under the server's own rules: graceful shutdown, compression negotiated in the
//! heads, the connection limit, the idle timeout, the limit of calls in flight, panics, and a router
//! that no hyper connection serves.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_waits_for_websocket_calls_then_closes_them_with_1001() {
    for http in BOTH {
        shutdown_round(http).await;
    }
}

async fn shutdown_round(http: Http) {
    use std::future::IntoFuture as _;
    const GRACE: Duration = Duration::from_millis(300);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let service = trident_tests::TestService::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(
        trident::Server::new()
            .grace_period(GRACE)
            .serve(listener, trident_tests::router(service.clone()))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let codec = Codec::Proto;
    // On HTTP/1.1 the call outlives its connection, which hyper handed over at the upgrade.
    let mut socket = open_with(addr, http, CHAT, subprotocol(codec), &[])
        .await
        .expect("accepted");
    send_head(&mut socket, serde_json::json!({})).await;
    let hang = EchoRequest {
        hang: true,
        ..request("hang")
    };
    send(&mut socket, codec, &hang).await;
    service
        .state()
        .hang_started
        .wait_for(1, "the handler hangs")
        .await;
    let started = tokio::time::Instant::now();
    stop.send(()).expect("the server runs");
    read_head(&mut socket).await;
    match read_next(&mut socket, codec).await {
        Next::End(end) => assert_eq!(end["error"]["code"], "unavailable", "{http:?}: {end}"),
        Next::Message(_) => panic!("a message instead of the end"),
    }
    assert_eq!(read_close(&mut socket).await, Some(1001), "{http:?}");
    assert!(
        started.elapsed() >= GRACE,
        "{http:?}: closed before the grace period ran out"
    );
    within("the serve future", serving)
        .await
        .expect("joined")
        .expect("served");
    service
        .state()
        .cancelled
        .wait_for(1, "the handler is cancelled")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_is_negotiated_in_the_heads() {
    let server = TestServer::start().await;
    for http in BOTH {
        let codec = Codec::Proto;
        let mut socket = open(&server, http, ECHO, codec).await;
        let head = serde_json::json!({
            "connect-content-encoding": "gzip",
            "connect-accept-encoding": "gzip",
        });
        send_head(&mut socket, head).await;
        let message = EchoRequest {
            payload: vec![b'z'; 4096],
            ..request("squeezed")
        };
        let compressed = trident_tests::gzip(&codec.encode(&message));
        socket
            .send(Message::binary(envelope(1, &compressed)))
            .await
            .expect("sent");
        end_requests(&mut socket).await;
        let head = read_head(&mut socket).await;
        assert_eq!(
            head["connect-content-encoding"],
            serde_json::json!(["gzip"])
        );
        match within("the reply", socket.next()).await {
            Some(Ok(Message::Binary(data))) => {
                assert_eq!(data[0], 1, "{http:?}: the reply is compressed");
                let reply: EchoResponse = codec.decode(&trident_tests::gunzip(&data[5..]));
                assert_eq!(reply.text, "squeezed");
                assert_eq!(reply.payload.len(), 4096);
            }
            other => panic!("expected the reply, got {other:?}"),
        }
        let (_, end) = read_to_end(&mut socket, codec).await;
        assert!(end.get("error").is_none(), "{end}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_websocket_keeps_its_connections_place_under_the_limit() {
    let server = TestServer::start_on(trident::Server::new().max_connections(1), |r| r).await;
    let codec = Codec::Proto;
    let mut socket = open(&server, Http::H1, CHAT, codec).await;
    send_head(&mut socket, serde_json::json!({})).await;
    send(&mut socket, codec, &request("hold")).await;
    read_head(&mut socket).await;
    assert!(matches!(
        read_next(&mut socket, codec).await,
        Next::Message(_)
    ));
    // The WebSocket still holds the one connection the server takes: another waits unanswered.
    let client = server.client(codec, Http::H1);
    let waiting =
        tokio::time::timeout(Duration::from_millis(300), client.echo(request("blocked"))).await;
    assert!(waiting.is_err(), "served beside the WebSocket: {waiting:?}");
    end_requests(&mut socket).await;
    let (_, end) = read_to_end(&mut socket, codec).await;
    assert!(end.get("error").is_none(), "{end}");
    drop(socket);
    let reply = within(
        "a call once the WebSocket is over",
        client.echo(request("free")),
    )
    .await
    .expect("served");
    assert_eq!(reply.into_message().text, "free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_websocket_keeps_its_connection_from_idling_out() {
    let idle = Duration::from_millis(150);
    let server = TestServer::start_on(trident::Server::new().idle_timeout(idle), |r| r).await;
    let codec = Codec::Proto;
    let mut sender = h2_connection(server.addr).await;
    let mut socket = open_on_h2(&mut sender, server.addr, CHAT, subprotocol(codec), &[])
        .await
        .expect("accepted");
    send_head(&mut socket, serde_json::json!({})).await;
    send(&mut socket, codec, &request("busy")).await;
    read_head(&mut socket).await;
    assert!(matches!(
        read_next(&mut socket, codec).await,
        Next::Message(_)
    ));
    tokio::time::sleep(idle * 3).await;
    // The connection was not told to finish (GOAWAY): it still takes new streams.
    probe(&mut sender, server.addr)
        .await
        .expect("the connection still takes streams");
    end_requests(&mut socket).await;
    let (_, end) = read_to_end(&mut socket, codec).await;
    assert!(end.get("error").is_none(), "{end}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_call_counts_under_the_limit_of_calls_in_flight() {
    let server = TestServer::start_on(trident::Server::new().max_calls_in_flight(1), |r| r).await;
    let codec = Codec::Proto;
    for http in BOTH {
        let mut socket = open(&server, http, CHAT, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        send(&mut socket, codec, &request("hold")).await;
        read_head(&mut socket).await;
        assert!(matches!(
            read_next(&mut socket, codec).await,
            Next::Message(_)
        ));
        let client = server.client(codec, Http::H2);
        let refused = within("a call at the limit", client.echo(request("refused"))).await;
        let error = refused.expect_err("no room beside the WebSocket");
        assert_eq!(
            error.code(),
            trident::Code::Unavailable,
            "{http:?}: {error}"
        );
        end_requests(&mut socket).await;
        read_to_end(&mut socket, codec).await;
        drop(socket);
        // The WebSocket's place is given back once it is over (its task ends after the close).
        let mut served = false;
        for _ in 0..50 {
            if client.echo(request("free")).await.is_ok() {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "{http:?}: the WebSocket's place was not given back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_ends_its_call_with_internal() {
    let routes = trident::ServiceRoutes::new("trident.test.v1.EchoService").server_stream(
        &REPEAT,
        |_: Request<EchoRequest>| async move {
            let stream = futures_util::stream::iter([0, 1]).map(|i| {
                assert!(i == 0, "the handler's stream panics");
                Ok::<_, Error>(EchoResponse::default())
            });
            let stream: ResponseStream<EchoResponse> = Box::pin(stream);
            Ok(Response::new(stream))
        },
    );
    let (addr, task) = trident_tests::serve_router(trident::Router::new().add(routes)).await;
    for http in BOTH {
        let codec = Codec::Proto;
        let mut socket = open_with(addr, http, REPEAT_PATH, subprotocol(codec), &[])
            .await
            .expect("accepted");
        send_head(&mut socket, serde_json::json!({})).await;
        send(&mut socket, codec, &request("boom")).await;
        end_requests(&mut socket).await;
        read_head(&mut socket).await;
        let (messages, end) = read_to_end(&mut socket, codec).await;
        assert_eq!(messages.len(), 1, "{http:?}");
        assert_eq!(end["error"]["code"], "internal", "{http:?}: {end}");
    }
    task.abort();
}

#[tokio::test]
async fn a_router_not_served_by_hyper_cannot_switch_to_websocket() {
    let router = trident_tests::router(trident_tests::TestService::new());
    let request = http::Request::get(CHAT)
        .header("host", "example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "trident.connect.proto")
        .body(trident::Body::empty())
        .expect("a request");
    let response = router.handle(request).await;
    assert_eq!(response.status(), 501);
}
