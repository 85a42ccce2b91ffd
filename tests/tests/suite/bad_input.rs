//! Bad input sent with a raw HTTP client to a loopback server: each gets the right code or status, never
//! a panic or a hang, and the server keeps serving afterwards.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt as _;
use trident_tests::{
    Codec, EchoRequest, Http, RawResponse, TestServer, envelope, raw, raw_unary, send_raw, text,
    within,
};

const ECHO: &str = "/trident.test.v1.EchoService/Echo";
const ECHO_POST: &str = "/trident.test.v1.EchoService/EchoPost";
const REPEAT: &str = "/trident.test.v1.EchoService/Repeat";
const COLLECT: &str = "/trident.test.v1.EchoService/Collect";

const BOTH: [Http; 2] = [Http::H1, Http::H2];

/// A content encoding no Trident build supports.
const UNKNOWN_ENCODING: &str = "x-bogus-encoding";

/// The server still answers a well-formed call on both HTTP versions.
async fn still_serves(server: &TestServer) {
    for http in BOTH {
        let client = server.client(Codec::Proto, http);
        let echo = within("follow-up call", client.echo(text("still here")))
            .await
            .expect("the server still serves");
        assert_eq!(echo.message().text, "still here");
    }
}

async fn stream_post(
    server: &TestServer,
    http: Http,
    path: &str,
    extra: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> RawResponse {
    raw_unary(
        server.addr,
        http,
        path,
        "application/connect+proto",
        extra,
        body,
    )
    .await
}

fn assert_end_stream(response: &RawResponse, code: &str, context: &str) {
    assert_eq!(
        response.status,
        http::StatusCode::OK,
        "{context}: {response:?}"
    );
    assert_eq!(response.end_stream_code(), code, "{context}: {response:?}");
}

fn assert_unary_error(response: &RawResponse, status: u16, code: &str, context: &str) {
    assert_eq!(response.status.as_u16(), status, "{context}: {response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{context}"
    );
    assert_eq!(response.error_code(), code, "{context}: {response:?}");
}

/// Malformed envelopes: truncated payloads and headers, garbage payloads, a length far over the limit,
/// and the wrong number of messages for a server stream (`unimplemented`, as Connect specifies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_envelopes() {
    let server = TestServer::start().await;
    let good = Codec::Proto.encode(&text("x"));
    let mut truncated = envelope(0, &[7; 100]);
    truncated.truncate(15);
    let mut two = envelope(0, &good);
    two.extend(envelope(0, &good));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated payload", truncated, "invalid_argument"),
        ("truncated header", vec![0, 0, 0], "invalid_argument"),
        (
            "garbage protobuf",
            envelope(0, &[0xff, 0xff, 0xff]),
            "invalid_argument",
        ),
        (
            "length over the limit",
            vec![0, 0xff, 0xff, 0xff, 0xff],
            "resource_exhausted",
        ),
    ];
    for http in BOTH {
        for path in [COLLECT, REPEAT] {
            for (what, body, code) in &cases {
                let response = stream_post(&server, http, path, &[], body.clone()).await;
                assert_end_stream(&response, code, &format!("{what} to {path} over {http:?}"));
            }
        }
        // A server stream takes exactly one message; Connect calls other counts `unimplemented`.
        let response = stream_post(&server, http, REPEAT, &[], two.clone()).await;
        assert_end_stream(
            &response,
            "unimplemented",
            "two messages to a server stream",
        );
        let response = stream_post(&server, http, REPEAT, &[], Bytes::new()).await;
        assert_end_stream(&response, "unimplemented", "no message to a server stream");
    }
    still_serves(&server).await;
}

/// The compressed flag on a message when no encoding was negotiated: `internal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_flag_with_identity_encoding() {
    let server = TestServer::start().await;
    let body = envelope(1, &Codec::Proto.encode(&text("x")));
    for http in BOTH {
        for path in [COLLECT, REPEAT] {
            let response = stream_post(&server, http, path, &[], body.clone()).await;
            assert_end_stream(&response, "internal", path);
            let response = stream_post(
                &server,
                http,
                path,
                &[("connect-content-encoding", "identity")],
                body.clone(),
            )
            .await;
            assert_end_stream(&response, "internal", path);
        }
    }
    still_serves(&server).await;
}

/// An encoding the server does not support: `unimplemented` (HTTP 501 for unary), before any handler
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_content_encoding() {
    let server = TestServer::start().await;
    let message = Codec::Proto.encode(&text("x"));
    for http in BOTH {
        let response = raw_unary(
            server.addr,
            http,
            ECHO_POST,
            "application/proto",
            &[("content-encoding", UNKNOWN_ENCODING)],
            message.clone(),
        )
        .await;
        assert_unary_error(&response, 501, "unimplemented", "unary unknown encoding");
        let response = stream_post(
            &server,
            http,
            COLLECT,
            &[("connect-content-encoding", UNKNOWN_ENCODING)],
            envelope(0, &message),
        )
        .await;
        assert_end_stream(&response, "unimplemented", "stream unknown encoding");
    }
    assert_eq!(server.state().calls.get(), 0, "no handler may run");
    still_serves(&server).await;
}

/// Refusing an unknown encoding, the server advertises the ones it supports (`accept-encoding` for
/// unary, `connect-accept-encoding` for streams), as the Connect protocol asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_content_encoding_advertises_supported_ones() {
    let server = TestServer::start().await;
    let message = Codec::Proto.encode(&text("x"));
    for http in BOTH {
        let response = stream_post(
            &server,
            http,
            COLLECT,
            &[("connect-content-encoding", UNKNOWN_ENCODING)],
            envelope(0, &message),
        )
        .await;
        assert!(
            response
                .header("connect-accept-encoding")
                .is_some_and(|v| v.contains("gzip")),
            "stream over {http:?}: {response:?}"
        );
        let response = raw_unary(
            server.addr,
            http,
            ECHO_POST,
            "application/proto",
            &[("content-encoding", UNKNOWN_ENCODING)],
            message.clone(),
        )
        .await;
        assert!(
            response
                .header("accept-encoding")
                .is_some_and(|v| v.contains("gzip")),
            "unary over {http:?}: {response:?}"
        );
    }
}

/// Bodies that claim gzip but are not: `invalid_argument`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_gzip() {
    let server = TestServer::start().await;
    for http in BOTH {
        let response = raw_unary(
            server.addr,
            http,
            ECHO_POST,
            "application/proto",
            &[("content-encoding", "gzip")],
            Bytes::from_static(b"definitely not gzip"),
        )
        .await;
        assert_unary_error(&response, 400, "invalid_argument", "unary");
        let response = stream_post(
            &server,
            http,
            REPEAT,
            &[("connect-content-encoding", "gzip")],
            envelope(1, b"definitely not gzip"),
        )
        .await;
        assert_end_stream(&response, "invalid_argument", "stream");
    }
    still_serves(&server).await;
}

/// Invalid `connect-timeout-ms` values: `invalid_argument` (HTTP 400 for unary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_timeouts() {
    let server = TestServer::start().await;
    let message = Codec::Proto.encode(&text("x"));
    for http in BOTH {
        for value in ["abc", "-5", "1.5", "12345678901", "", "+10"] {
            let response = raw_unary(
                server.addr,
                http,
                ECHO_POST,
                "application/proto",
                &[("connect-timeout-ms", value)],
                message.clone(),
            )
            .await;
            assert_unary_error(&response, 400, "invalid_argument", value);
            let response = stream_post(
                &server,
                http,
                REPEAT,
                &[("connect-timeout-ms", value)],
                envelope(0, &message),
            )
            .await;
            assert_end_stream(&response, "invalid_argument", value);
        }
    }
    assert_eq!(server.state().calls.get(), 0, "no handler may run");
    still_serves(&server).await;
}

/// Content types the method cannot take: 415.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_content_types() {
    let server = TestServer::start().await;
    let message = Codec::Proto.encode(&text("x"));
    let cases = [
        (ECHO_POST, Some("text/plain")),
        (ECHO_POST, Some("application/xml")),
        (ECHO_POST, Some("application/connect+proto")),
        (ECHO_POST, None),
        (REPEAT, Some("application/proto")),
        (REPEAT, Some("application/connect+xml")),
        (COLLECT, Some("application/json")),
    ];
    for http in BOTH {
        for (path, content_type) in cases {
            let mut builder = raw(http::Method::POST, server.addr, path, http);
            if let Some(ct) = content_type {
                builder = builder.header("content-type", ct);
            }
            let request = builder.body(Bytes::from(message.clone())).expect("valid");
            let response = send_raw(server.addr, http, request).await;
            assert_eq!(
                response.status,
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {content_type:?} over {http:?}"
            );
        }
    }
    assert_eq!(server.state().calls.get(), 0, "no handler may run");
    still_serves(&server).await;
}

/// HTTP methods other than POST (and GET where allowed): 405 with `Allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_http_methods() {
    let server = TestServer::start().await;
    let cases = [
        (http::Method::PUT, ECHO, "GET, POST"),
        (http::Method::DELETE, ECHO, "GET, POST"),
        (http::Method::PATCH, ECHO_POST, "POST"),
        // Server streams are also served to GETs that accept server-sent events or JSON lines.
        (http::Method::PUT, REPEAT, "GET, POST"),
        (http::Method::GET, COLLECT, "POST"),
    ];
    for http in BOTH {
        for (method, path, allow) in &cases {
            let request = raw(method.clone(), server.addr, path, http)
                .header("content-type", "application/proto")
                .body(Bytes::new())
                .expect("valid");
            let response = send_raw(server.addr, http, request).await;
            assert_eq!(
                response.status,
                http::StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(response.header("allow"), Some(*allow), "{method} {path}");
        }
    }
    still_serves(&server).await;
}

/// Paths no route serves: 404. (A method name differing only in the case of its first letter is
/// served, as dubbo-go serves it: see `triple.rs`; other case differences are not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths() {
    let server = TestServer::start().await;
    let message = Codec::Proto.encode(&text("x"));
    for http in BOTH {
        for path in [
            "/trident.test.v1.EchoService/Nope",
            "/trident.test.v1.Nope/Echo",
            "/trident.test.v1.EchoService/ECHO",
            "/trident.test.v1.EchoService/eCHO",
            "/trident.test.v1.EchoService/Echo/extra",
            "/",
            "/nope",
        ] {
            let response = raw_unary(
                server.addr,
                http,
                path,
                "application/proto",
                &[],
                message.clone(),
            )
            .await;
            assert_eq!(response.status, http::StatusCode::NOT_FOUND, "{path}");
        }
    }
    still_serves(&server).await;
}

/// Bodies that do not decode: garbage JSON, JSON of the wrong shape, garbage protobuf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages() {
    let server = TestServer::start().await;
    for http in BOTH {
        for body in [
            &b"{not json"[..],
            b"{\"text\": 5}",
            b"[1, 2]",
            b"{\"text\": \"a\"} trailing",
            b"",
        ] {
            let response =
                raw_unary(server.addr, http, ECHO_POST, "application/json", &[], body).await;
            let what = String::from_utf8_lossy(body);
            if body.is_empty() {
                // An empty body is not valid JSON either.
                assert_unary_error(&response, 400, "invalid_argument", "empty JSON");
                continue;
            }
            assert_unary_error(&response, 400, "invalid_argument", &what);
            let response = raw_unary(
                server.addr,
                http,
                COLLECT,
                "application/connect+json",
                &[],
                envelope(0, body),
            )
            .await;
            assert_end_stream(&response, "invalid_argument", &what);
        }
        let response = raw_unary(
            server.addr,
            http,
            ECHO_POST,
            "application/proto",
            &[],
            Bytes::from_static(&[0xff, 0xff, 0xff]),
        )
        .await;
        assert_unary_error(&response, 400, "invalid_argument", "garbage protobuf");
        // JSON with unknown fields is accepted (they are ignored).
        let response = raw_unary(
            server.addr,
            http,
            ECHO_POST,
            "application/json",
            &[],
            Bytes::from_static(b"{\"text\": \"ok\", \"futureField\": 1}"),
        )
        .await;
        assert_eq!(response.status, http::StatusCode::OK);
    }
    still_serves(&server).await;
}

/// An HTTP/1.1 client that sends half a streaming request and vanishes: the server keeps serving
/// other calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_disconnect_mid_stream_http1() {
    let server = TestServer::start().await;
    for close_after_half_message in [false, true] {
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let head = format!(
            "POST {COLLECT} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/connect+proto\r\n\
             transfer-encoding: chunked\r\n\r\n",
            server.addr
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let first = envelope(0, &Codec::Proto.encode(&text("first")));
        let mut chunk = format!("{:x}\r\n", first.len()).into_bytes();
        chunk.extend(&first);
        chunk.extend(b"\r\n");
        if close_after_half_message {
            chunk.extend(b"20\r\n\0\0\0\0\x40abc");
        }
        stream.write_all(&chunk).await.expect("write");
        server
            .state()
            .calls
            .wait_for(1, "the handler started")
            .await;
        drop(stream);
        still_serves(&server).await;
    }
}

/// The same over HTTP/2: the connection goes away mid-stream, the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_disconnect_mid_stream_h2c() {
    let server = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("handshake");
    let connection = tokio::spawn(connection);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = StreamBody::new(Box::pin(futures_util::stream::unfold(
        rx,
        |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
        },
    )));
    let request = raw(http::Method::POST, server.addr, COLLECT, Http::H2)
        .header("content-type", "application/connect+proto")
        .body(body)
        .expect("valid");
    let pending = tokio::spawn(async move { sender.send_request(request).await });
    tx.send(Bytes::from(envelope(
        0,
        &Codec::Proto.encode(&text("first")),
    )))
    .await
    .expect("send");
    tx.send(Bytes::from_static(b"\0\0\0\0\x40abc"))
        .await
        .expect("send");
    server
        .state()
        .calls
        .wait_for(1, "the handler started")
        .await;
    connection.abort();
    pending.abort();
    drop(tx);
    still_serves(&server).await;
}

/// A client that disconnects while the handler waits for more of its stream: the handler's
/// `cancelled()` fires, over HTTP/1.1 and HTTP/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cancels_waiting_handler_http1() {
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {COLLECT} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/connect+proto\r\n\
         transfer-encoding: chunked\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let hang = envelope(
        0,
        &Codec::Proto.encode(&EchoRequest {
            hang: true,
            ..text("hang")
        }),
    );
    let mut chunk = format!("{:x}\r\n", hang.len()).into_bytes();
    chunk.extend(&hang);
    chunk.extend(b"\r\n");
    stream.write_all(&chunk).await.expect("write");
    server
        .state()
        .hang_started
        .wait_for(1, "the handler waits")
        .await;
    drop(stream);
    server
        .state()
        .cancelled
        .wait_for(1, "cancelled() fired after the client vanished")
        .await;
    still_serves(&server).await;
}

/// Bytes that are not HTTP at all, and an HTTP/2 preface followed by garbage: the server drops those
/// connections and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_connections() {
    let server = TestServer::start().await;
    let garbage: [&[u8]; 4] = [
        b"\x00\x01\x02\x03 not http at all\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"POST /x HTTP/1.1\r\ncontent-length: nope\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ];
    for bytes in garbage {
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let _ = stream.write_all(bytes).await;
        let mut sink = Vec::new();
        // The server answers with an error or closes; either way the read ends.
        let _ = within("server closes a garbage connection", async {
            use tokio::io::AsyncReadExt as _;
            stream.read_to_end(&mut sink).await
        })
        .await;
    }
    still_serves(&server).await;
}
