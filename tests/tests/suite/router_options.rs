//! Router options beyond RPC: a fallback for paths that are no method (and may take over an HTTP/1.1
//! connection with an upgrade).

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use trident::Body;
use trident_tests::{Codec, Http, TestServer, raw, send_raw, text, within};

/// Paths that are no method reach the fallback; methods still reach their handlers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_answers_unknown_paths() {
    let server = TestServer::start_with(|router| {
        router.fallback(|request: http::Request<Body>| async move {
            let mut response = http::Response::new(Body::full(format!(
                "fallback saw {} {}",
                request.method(),
                request.uri().path()
            )));
            *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
            response
        })
    })
    .await;
    for http in [Http::H1, Http::H2] {
        let request = raw(http::Method::GET, server.addr, "/index.html", http)
            .body(Bytes::new())
            .expect("request");
        let response = send_raw(server.addr, http, request).await;
        assert_eq!(response.status, http::StatusCode::IM_A_TEAPOT);
        assert_eq!(&response.body[..], b"fallback saw GET /index.html");
        let client = server.client(Codec::Json, http);
        let echo = within("echo", client.echo(text("still routed")))
            .await
            .expect("methods still work");
        assert_eq!(echo.message().text, "still routed");
    }
}

/// A fallback may upgrade an HTTP/1.1 connection (as a WebSocket server would) and then talk over it
/// from a task of its own: what that task writes leaves at once, though the server gathers the writes
/// of the connection's own task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_can_upgrade_a_connection() {
    let server = TestServer::start_with(|router| {
        router.fallback(|mut request: http::Request<Body>| async move {
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let mut io = TokioIo::new(upgrade.await.expect("connection upgraded"));
                let mut buf = [0u8; 64];
                loop {
                    let n = io.read(&mut buf).await.expect("read upgraded");
                    if n == 0 {
                        break;
                    }
                    io.write_all(&buf[..n]).await.expect("write upgraded");
                    io.flush().await.expect("flush upgraded");
                }
            });
            http::Response::builder()
                .status(http::StatusCode::SWITCHING_PROTOCOLS)
                .header(http::header::CONNECTION, "upgrade")
                .header(http::header::UPGRADE, "echo")
                .body(Body::empty())
                .expect("101 response")
        })
    })
    .await;

    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(
            b"GET /echo HTTP/1.1\r\nhost: test\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
        )
        .await
        .expect("send upgrade request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within("101 response", stream.read_exact(&mut byte))
            .await
            .expect("read response head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    for word in [&b"ping"[..], b"pong", b"and once more"] {
        stream.write_all(word).await.expect("send over upgrade");
        let mut echoed = vec![0u8; word.len()];
        within(
            "echo over the upgraded connection",
            stream.read_exact(&mut echoed),
        )
        .await
        .expect("read echo");
        assert_eq!(echoed, word);
    }
}

/// Without a fallback, unknown paths are 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_without_fallback() {
    let server = TestServer::start().await;
    let request = raw(http::Method::GET, server.addr, "/nope", Http::H1)
        .body(Bytes::new())
        .expect("request");
    assert_eq!(
        send_raw(server.addr, Http::H1, request).await.status,
        http::StatusCode::NOT_FOUND
    );
}
