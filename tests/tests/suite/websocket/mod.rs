//! Calls over WebSocket (`ProtocolKind::WEBSOCKET`): every call type on HTTP/1.1 (RFC 6455's upgrade,
//! with tokio-tungstenite's client) and HTTP/2 (RFC 8441's extended CONNECT, from hyper's client,
//! with tungstenite's framing over the stream); errors, deadlines, cancellation, close codes, origin
//! checks, liveness, and the memory a peer that stops reading can make the server hold.

// Shutdown, compression and the server's limits: `websocket/server.rs`.
mod server;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::{Message, Role};
use trident::websocket::WebSocketOptions;
use trident::{Error, ProtocolKind, Request, RequestInterceptor, Response, ResponseStream};
use trident_tests::{
    Codec, EchoRequest, EchoResponse, ErrorSpec, Http, REPEAT, TestServer, envelope, within,
};

/// The byte stream under a client's socket, whichever HTTP version opened it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = WebSocketStream<Pin<Box<dyn Io>>>;

const ECHO: &str = "/trident.test.v1.EchoService/Echo";
const REPEAT_PATH: &str = "/trident.test.v1.EchoService/Repeat";
const COLLECT: &str = "/trident.test.v1.EchoService/Collect";
const CHAT: &str = "/trident.test.v1.EchoService/Chat";
const WAIT: &str = "/trident.test.v1.EchoService/Wait";

fn subprotocol(codec: Codec) -> &'static str {
    match codec {
        Codec::Proto => "trident.connect.proto",
        Codec::Json => "trident.connect.json",
    }
}

/// Opens a socket to `path` over `http`, offering `codec`'s subprotocol, with `headers` on the
/// handshake. `Err`: the HTTP status that refused it.
async fn open_with(
    addr: std::net::SocketAddr,
    http: Http,
    path: &str,
    protocols: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, u16> {
    match http {
        Http::H1 => {
            let mut request = format!("ws://{addr}{path}")
                .into_client_request()
                .expect("a request");
            request
                .headers_mut()
                .insert("sec-websocket-protocol", protocols.parse().unwrap());
            for (name, value) in headers {
                request.headers_mut().insert(
                    http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                    value.parse().expect("a header value"),
                );
            }
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects");
            let io: Pin<Box<dyn Io>> = Box::pin(tcp);
            match tokio_tungstenite::client_async(request, io).await {
                Ok((socket, response)) => {
                    assert_eq!(response.status(), 101);
                    Ok(socket)
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    Err(response.status().as_u16())
                }
                Err(error) => panic!("handshake failed: {error}"),
            }
        }
        Http::H2 => {
            let mut sender = h2_connection(addr).await;
            open_on_h2(&mut sender, addr, path, protocols, headers).await
        }
    }
}

type H2Sender = hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>;

/// A new HTTP/2 connection to `addr`, with the server's SETTINGS in.
async fn h2_connection(addr: std::net::SocketAddr) -> H2Sender {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    // A first request, so that the server's SETTINGS (with ENABLE_CONNECT_PROTOCOL) are in.
    probe(&mut sender, addr).await.expect("a probe");
    sender
}

/// A plain request on `sender`'s connection (404).
async fn probe(sender: &mut H2Sender, addr: std::net::SocketAddr) -> hyper::Result<()> {
    let probe = http::Request::get(format!("http://{addr}/"))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(probe).await.map(drop)
}

/// Opens a socket as an extended CONNECT stream on `sender`'s connection.
async fn open_on_h2(
    sender: &mut H2Sender,
    addr: std::net::SocketAddr,
    path: &str,
    protocols: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, u16> {
    let mut builder = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", protocols);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut response = sender.send_request(request).await.expect("an answer");
    if response.status() != 200 {
        return Err(response.status().as_u16());
    }
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        protocols.split(',').next().unwrap().trim()
    );
    let upgraded = hyper::upgrade::on(&mut response).await.expect("upgraded");
    let io: Pin<Box<dyn Io>> = Box::pin(TokioIo::new(upgraded));
    Ok(WebSocketStream::from_raw_socket(io, Role::Client, None).await)
}

async fn open(server: &TestServer, http: Http, path: &str, codec: Codec) -> Socket {
    open_with(server.addr, http, path, subprotocol(codec), &[])
        .await
        .expect("the handshake is accepted")
}

/// Sends the head message with `headers`.
async fn send_head(socket: &mut Socket, headers: serde_json::Value) {
    let head = serde_json::json!({ "headers": headers }).to_string();
    socket.send(Message::text(head)).await.expect("head sent");
}

/// Sends one request message.
async fn send(socket: &mut Socket, codec: Codec, message: &EchoRequest) {
    let framed = envelope(0, &codec.encode(message));
    socket
        .send(Message::binary(framed))
        .await
        .expect("message sent");
}

/// Ends the request stream.
async fn end_requests(socket: &mut Socket) {
    socket
        .send(Message::binary(envelope(2, b"")))
        .await
        .expect("end sent");
}

/// Reads the server's head message's headers.
async fn read_head(socket: &mut Socket) -> serde_json::Value {
    match within("the head", socket.next()).await {
        Some(Ok(Message::Text(text))) => {
            let head: serde_json::Value = serde_json::from_str(&text).expect("JSON head");
            head["headers"].clone()
        }
        other => panic!("expected the head, got {other:?}"),
    }
}

/// What follows the head: a response message, or the end-stream's JSON.
enum Next {
    Message(EchoResponse),
    End(serde_json::Value),
}

async fn read_next(socket: &mut Socket, codec: Codec) -> Next {
    loop {
        match within("a message", socket.next()).await {
            Some(Ok(Message::Binary(data))) => {
                let length = u32::from_be_bytes(data[1..5].try_into().unwrap()) as usize;
                assert_eq!(data.len(), 5 + length, "one envelope per message");
                if data[0] & 2 != 0 {
                    return Next::End(serde_json::from_slice(&data[5..]).expect("end-stream JSON"));
                }
                return Next::Message(codec.decode(&data[5..]));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

/// Reads messages up to the end-stream, then the close (which must be 1000).
async fn read_to_end(socket: &mut Socket, codec: Codec) -> (Vec<EchoResponse>, serde_json::Value) {
    let mut messages = Vec::new();
    loop {
        match read_next(socket, codec).await {
            Next::Message(message) => messages.push(message),
            Next::End(end) => {
                assert_eq!(read_close(socket).await, Some(1000));
                return (messages, end);
            }
        }
    }
}

/// Reads until the server closes, and answers the close; the close code.
async fn read_close(socket: &mut Socket) -> Option<u16> {
    loop {
        match within("the close", socket.next()).await {
            Some(Ok(Message::Close(frame))) => {
                // Reading on sends tungstenite's answer to the close, as a well-behaved peer does.
                while let Some(Ok(_)) = within("the close's end", socket.next()).await {}
                return frame.map(|f| u16::from(f.code));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

fn request(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.into(),
        ..Default::default()
    }
}

const BOTH: [Http; 2] = [Http::H1, Http::H2];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_carry_head_headers_and_upgrade_headers_to_the_handler() {
    let server = TestServer::start().await;
    for http in BOTH {
        for codec in [Codec::Proto, Codec::Json] {
            let mut socket = open_with(
                server.addr,
                http,
                ECHO,
                subprotocol(codec),
                &[("x-from-upgrade", "u")],
            )
            .await
            .expect("accepted");
            send_head(&mut socket, serde_json::json!({"x-from-head": ["a", "b"]})).await;
            let message = EchoRequest {
                echo_headers: vec![
                    "x-from-head".into(),
                    "x-from-upgrade".into(),
                    "sec-websocket-key".into(),
                ],
                echo_context: true,
                response_headers: vec![trident_tests::header("x-answer", "42")],
                response_trailers: vec![trident_tests::header("x-trailer", "t")],
                ..request("hello")
            };
            send(&mut socket, codec, &message).await;
            end_requests(&mut socket).await;
            let head = read_head(&mut socket).await;
            assert_eq!(
                head["x-answer"],
                serde_json::json!(["42"]),
                "{http:?} {codec:?}"
            );
            let (messages, end) = read_to_end(&mut socket, codec).await;
            assert_eq!(messages.len(), 1);
            let reply = &messages[0];
            assert_eq!(reply.text, "hello");
            let seen: Vec<_> = reply
                .headers
                .iter()
                .map(|h| format!("{}={}", h.name, h.value))
                .collect();
            assert_eq!(seen, ["x-from-head=a", "x-from-head=b", "x-from-upgrade=u"]);
            let version = if http == Http::H1 {
                "HTTP/1.1"
            } else {
                "HTTP/2.0"
            };
            assert_eq!(reply.http_version, version);
            assert!(end.get("error").is_none(), "{end}");
            assert_eq!(end["metadata"]["x-trailer"], serde_json::json!(["t"]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_client_streams() {
    let server = TestServer::start().await;
    for http in BOTH {
        let codec = Codec::Json;
        let mut socket = open(&server, http, REPEAT_PATH, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        let message = EchoRequest {
            repeat: 3,
            ..request("r")
        };
        send(&mut socket, codec, &message).await;
        end_requests(&mut socket).await;
        read_head(&mut socket).await;
        let (messages, end) = read_to_end(&mut socket, codec).await;
        let indexes: Vec<_> = messages.iter().map(|m| m.index).collect();
        assert_eq!(indexes, [0, 1, 2], "{http:?}");
        assert!(end.get("error").is_none());

        let codec = Codec::Proto;
        let mut socket = open(&server, http, COLLECT, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        for text in ["a", "b", "c"] {
            send(&mut socket, codec, &request(text)).await;
        }
        end_requests(&mut socket).await;
        read_head(&mut socket).await;
        let (messages, _) = read_to_end(&mut socket, codec).await;
        assert_eq!(messages[0].text, "a,b,c");
        assert_eq!(messages[0].received, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_answers_arrive_before_the_client_ends_its_stream() {
    let server = TestServer::start().await;
    for http in BOTH {
        for codec in [Codec::Proto, Codec::Json] {
            let mut socket = open(&server, http, CHAT, codec).await;
            send_head(&mut socket, serde_json::json!({})).await;
            send(&mut socket, codec, &request("one")).await;
            read_head(&mut socket).await;
            for (index, text) in ["one", "two", "three"].into_iter().enumerate() {
                if index > 0 {
                    send(&mut socket, codec, &request(text)).await;
                }
                match read_next(&mut socket, codec).await {
                    Next::Message(reply) => {
                        assert_eq!(reply.text, text);
                        assert_eq!(reply.received as usize, index + 1);
                    }
                    Next::End(end) => panic!("ended early: {end}"),
                }
            }
            end_requests(&mut socket).await;
            let (messages, end) = read_to_end(&mut socket, codec).await;
            assert!(messages.is_empty());
            assert!(end.get("error").is_none(), "{end}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_travels_in_the_end_stream() {
    let server = TestServer::start().await;
    for http in BOTH {
        let codec = Codec::Proto;
        let mut socket = open(&server, http, ECHO, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        let message = EchoRequest {
            error: Some(ErrorSpec {
                code: 5,
                message: "no such thing".into(),
                headers: vec![trident_tests::header("x-error-header", "h")],
                ..Default::default()
            }),
            ..request("x")
        };
        send(&mut socket, codec, &message).await;
        end_requests(&mut socket).await;
        let head = read_head(&mut socket).await;
        assert_eq!(head["x-error-header"], serde_json::json!(["h"]));
        let (messages, end) = read_to_end(&mut socket, codec).await;
        assert!(messages.is_empty());
        assert_eq!(end["error"]["code"], "not_found", "{http:?}");
        assert_eq!(end["error"]["message"], "no such thing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heads_timeout_is_the_calls_deadline() {
    let server = TestServer::start().await;
    for http in BOTH {
        let codec = Codec::Json;
        let mut socket = open(&server, http, WAIT, codec).await;
        send_head(
            &mut socket,
            serde_json::json!({"connect-timeout-ms": "100"}),
        )
        .await;
        send(&mut socket, codec, &request("w")).await;
        end_requests(&mut socket).await;
        read_head(&mut socket).await;
        let (_, end) = read_to_end(&mut socket, codec).await;
        assert_eq!(end["error"]["code"], "deadline_exceeded", "{http:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_mid_stream_cancels_the_handler() {
    let server = TestServer::start().await;
    let state = server.state();
    for (round, http) in BOTH.into_iter().enumerate() {
        let codec = Codec::Proto;
        let mut socket = open(&server, http, CHAT, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        send(&mut socket, codec, &request("first")).await;
        read_head(&mut socket).await;
        assert!(matches!(
            read_next(&mut socket, codec).await,
            Next::Message(_)
        ));
        let hang = EchoRequest {
            hang: true,
            ..request("hang")
        };
        send(&mut socket, codec, &hang).await;
        let n = round as u64 + 1;
        state.hang_started.wait_for(n, "the handler hangs").await;
        socket.close(None).await.expect("closed");
        state
            .cancelled
            .wait_for(n, "the handler is cancelled")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_violations_close_with_1002_or_1007() {
    let server = TestServer::start().await;
    for http in BOTH {
        let codec = Codec::Proto;
        // A head that is not JSON.
        let mut socket = open(&server, http, ECHO, codec).await;
        socket.send(Message::text("headers please")).await.unwrap();
        assert_eq!(read_close(&mut socket).await, Some(1007), "{http:?}");
        // No head at all.
        let mut socket = open(&server, http, ECHO, codec).await;
        send(&mut socket, codec, &request("x")).await;
        assert_eq!(read_close(&mut socket).await, Some(1002));
        // A binary message that is not one envelope.
        let mut socket = open(&server, http, CHAT, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        let mut two = envelope(0, &codec.encode(&request("a")));
        two.extend(envelope(0, &codec.encode(&request("b"))));
        socket.send(Message::binary(two)).await.unwrap();
        assert_eq!(read_close(&mut socket).await, Some(1002));
        // Text after the head.
        let mut socket = open(&server, http, CHAT, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        socket.send(Message::text("{}")).await.unwrap();
        assert_eq!(read_close(&mut socket).await, Some(1002));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_fails_the_call_and_closes_with_1009() {
    let server = TestServer::start_with(|router| router.read_max_bytes(1024)).await;
    for http in BOTH {
        let codec = Codec::Proto;
        let mut socket = open(&server, http, CHAT, codec).await;
        send_head(&mut socket, serde_json::json!({})).await;
        // At the limit: served.
        let at_limit = EchoRequest {
            payload: vec![7; 1024 - 3],
            ..Default::default()
        };
        assert_eq!(codec.encode(&at_limit).len(), 1024);
        send(&mut socket, codec, &at_limit).await;
        read_head(&mut socket).await;
        assert!(matches!(
            read_next(&mut socket, codec).await,
            Next::Message(_)
        ));
        let over = EchoRequest {
            payload: vec![7; 1024 - 2],
            ..Default::default()
        };
        send(&mut socket, codec, &over).await;
        match read_next(&mut socket, codec).await {
            Next::End(end) => assert_eq!(end["error"]["code"], "resource_exhausted", "{http:?}"),
            Next::Message(_) => panic!("the oversized message was served"),
        }
        assert_eq!(read_close(&mut socket).await, Some(1009));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_checked_before_the_upgrade() {
    let server = TestServer::start_with(|router| {
        router.websocket(WebSocketOptions::new().allow_origin("https://app.example.com"))
    })
    .await;
    let own = format!("http://{}", server.addr);
    for http in BOTH {
        let status = |result: Result<Socket, u16>| result.err().unwrap_or(101);
        let proto = subprotocol(Codec::Proto);
        let evil = [("origin", "https://evil.example")];
        let refused = open_with(server.addr, http, ECHO, proto, &evil).await;
        assert_eq!(status(refused), 403, "{http:?}");
        for origin in [own.as_str(), "https://app.example.com"] {
            let allowed = open_with(server.addr, http, ECHO, proto, &[("origin", origin)]).await;
            assert!(allowed.is_ok(), "{http:?} {origin}");
        }
        let unknown = open_with(server.addr, http, ECHO, "graphql-ws", &[]).await;
        assert_eq!(status(unknown), 400);
        let nowhere = open_with(server.addr, http, "/no.Such/Method", proto, &[]).await;
        assert_eq!(status(nowhere), 404);
        // The client's preference among ours wins.
        let both = "trident.connect.json, trident.connect.proto";
        let mut socket = open_with(server.addr, http, ECHO, both, &[])
            .await
            .expect("accepted");
        send_head(&mut socket, serde_json::json!({})).await;
        send(&mut socket, Codec::Json, &request("json")).await;
        end_requests(&mut socket).await;
        read_head(&mut socket).await;
        let (messages, _) = read_to_end(&mut socket, Codec::Json).await;
        assert_eq!(messages[0].text, "json");
    }
    let disabled =
        TestServer::start_with(|router| router.websocket(WebSocketOptions::disabled())).await;
    let refused = open_with(disabled.addr, Http::H1, CHAT, "trident.connect.proto", &[]).await;
    // A GET to a method that is not served by GET.
    assert_eq!(refused.err(), Some(405));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_stops_the_handlers_stream() {
    const SIZE: usize = 256 * 1024;
    for http in BOTH {
        let produced = Arc::new(AtomicUsize::new(0));
        let counter = produced.clone();
        let routes = trident::ServiceRoutes::new("trident.test.v1.EchoService").server_stream(
            &REPEAT,
            move |_: Request<EchoRequest>| {
                let counter = counter.clone();
                async move {
                    let stream = futures_util::stream::repeat_with(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(EchoResponse {
                            payload: vec![1; SIZE],
                            ..Default::default()
                        })
                    });
                    let stream: ResponseStream<EchoResponse> = Box::pin(stream);
                    Ok(Response::new(stream))
                }
            },
        );
        let (addr, task) = trident_tests::serve_router(trident::Router::new().add(routes)).await;
        let codec = Codec::Proto;
        let mut socket = open_with(addr, http, REPEAT_PATH, subprotocol(codec), &[])
            .await
            .expect("accepted");
        send_head(&mut socket, serde_json::json!({})).await;
        send(&mut socket, codec, &request("flood")).await;
        end_requests(&mut socket).await;
        read_head(&mut socket).await;
        // Now the client reads nothing: the handler's stream must stop being polled once the
        // socket's buffers are full.
        let mut last = 0;
        let mut stable_for = 0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = produced.load(Ordering::SeqCst);
            stable_for = if now == last { stable_for + 1 } else { 0 };
            last = now;
            if stable_for >= 6 {
                break;
            }
        }
        assert!(
            stable_for >= 6,
            "{http:?}: the stream never stopped ({last} messages)"
        );
        // What the kernel's socket buffers take (a few MiB on loopback: 13 to 16 messages seen),
        // plus a few batches.
        assert!(
            last < 64,
            "{http:?}: {last} messages of {SIZE} bytes were produced"
        );
        drop(socket);
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_no_ping_is_closed_and_its_call_cancelled() {
    let options = WebSocketOptions::new()
        .ping_interval(Duration::from_millis(100))
        .ping_timeout(Duration::from_millis(100));
    let server = TestServer::start_with(|router| router.websocket(options)).await;
    let state = server.state();
    let codec = Codec::Proto;
    // A reading peer answers the pings (tungstenite pongs as it reads) and lives on.
    let mut socket = open(&server, Http::H1, REPEAT_PATH, codec).await;
    send_head(&mut socket, serde_json::json!({})).await;
    let slow = EchoRequest {
        repeat: 4,
        delay_ms: 150,
        ..request("slow")
    };
    send(&mut socket, codec, &slow).await;
    end_requests(&mut socket).await;
    read_head(&mut socket).await;
    let (messages, end) = read_to_end(&mut socket, codec).await;
    assert_eq!(messages.len(), 4);
    assert!(end.get("error").is_none(), "{end}");
    // A peer that goes quiet (reads nothing, so answers nothing) is dropped.
    let mut socket = open(&server, Http::H1, CHAT, codec).await;
    send_head(&mut socket, serde_json::json!({})).await;
    let hang = EchoRequest {
        hang: true,
        ..request("hang")
    };
    send(&mut socket, codec, &hang).await;
    state.hang_started.wait_for(1, "the handler hangs").await;
    state.cancelled.wait_for(1, "the call is cancelled").await;
    assert_eq!(read_close(&mut socket).await, Some(1001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_see_websocket_calls() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = TestServer::start_with(move |router| {
        router.intercept(RequestInterceptor::new(move |request: Request<()>| {
            let log = log.clone();
            async move {
                let protocol = request.context().protocol();
                let token = request.headers().get("authorization").map(str::to_string);
                log.lock().unwrap().push((protocol, token));
                Ok(request)
            }
        }))
    })
    .await;
    let codec = Codec::Json;
    let mut socket = open(&server, Http::H2, ECHO, codec).await;
    send_head(
        &mut socket,
        serde_json::json!({"authorization": "Bearer alice"}),
    )
    .await;
    send(&mut socket, codec, &request("hi")).await;
    end_requests(&mut socket).await;
    read_head(&mut socket).await;
    read_to_end(&mut socket, codec).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            Some(ProtocolKind::WEBSOCKET),
            Some("Bearer alice".to_string())
        )]
    );
}
