//! HTTP/3 over real loopback QUIC: every stream type × protocol (Connect, gRPC, gRPC-Web) × codec,
//! Connect GET, compression, limits, deadlines, cancellation, graceful shutdown, a client that
//! reconnects after its server restarts, Alt-Svc on the TCP side, oversized headers, connection
//! loss, and configuration errors.
//!
//! The conformance suite covers Connect and gRPC-Web over HTTP/3 but never gRPC (it requires HTTP/2
//! there); gRPC over HTTP/3 is covered here only.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use trident::{
    Client, Code, HttpVersion, ProtocolKind, Request, Router, Server, client::ClientBuilder,
    tls::TlsConfig,
};
use trident_tests::{
    Codec, EchoRequest, EchoServiceClient, TestService, build_client, configure_builder, router,
    scenarios, sized_request, text, within,
};

/// A self-signed certificate for `localhost` and `127.0.0.1`, PEM: the server presents it and the
/// client trusts it.
struct Certificate {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
}

impl Certificate {
    fn new() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("self-signed certificate");
        Self {
            cert_pem: certified.cert.pem(),
            cert_der: certified.cert.der().to_vec(),
            key_pem: certified.signing_key.serialize_pem(),
        }
    }

    fn server_tls(&self) -> TlsConfig {
        TlsConfig::from_pem(&self.cert_pem, &self.key_pem).expect("server TLS config")
    }
}

/// A server speaking HTTP/1.1 and HTTP/2 over TCP and HTTP/3 over UDP on one port; stopped (at once)
/// when dropped, or gracefully with [`stop`](Self::stop).
struct H3Server {
    addr: SocketAddr,
    task: Option<JoinHandle<std::io::Result<()>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl H3Server {
    /// Serves `router` with `server` (TLS and HTTP/3 added) on a fresh port, or on `port`.
    async fn start(server: Server, router: Router, tls: TlsConfig, port: u16) -> Self {
        // The UDP port must be free too; an ephemeral TCP port's number may be taken over UDP, and a
        // restarted server's port may still be held for a moment by the old endpoint.
        let mut attempts = 0;
        let listener = loop {
            let bound = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => std::net::UdpSocket::bind(listener.local_addr().expect("address"))
                    .map(|_| listener),
                Err(e) => Err(e),
            };
            match bound {
                Ok(listener) => break listener,
                Err(e) if attempts == 100 => panic!("no free port: {e}"),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = server
            .tls(tls)
            .http3(true)
            .serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(serve.into_future());
        Self {
            addr,
            task: Some(task),
            stop: Some(stop),
        }
    }

    async fn with_router(router: Router, tls: TlsConfig) -> Self {
        Self::start(Server::new(), router, tls, 0).await
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Shuts down gracefully and waits for the serve future.
    async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().expect("running").send(());
        within("graceful shutdown", self.task.take().expect("running"))
            .await
            .expect("serve task")
    }
}

impl Drop for H3Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A client builder for `url` over HTTP/3, trusting `certificate`.
fn builder(
    url: &str,
    certificate: &Certificate,
    protocol: ProtocolKind,
    codec: Codec,
) -> ClientBuilder {
    configure_builder(
        Client::builder(url).tls_root_certificates_pem(&certificate.cert_pem),
        codec,
        trident_tests::Http::H2,
    )
    .http_version(HttpVersion::Http3)
    .protocol(protocol)
}

fn client(url: &str, certificate: &Certificate, protocol: ProtocolKind) -> EchoServiceClient {
    build_client(builder(url, certificate, protocol, Codec::Proto))
}

fn hang() -> EchoRequest {
    EchoRequest {
        hang: true,
        ..text("hang")
    }
}

/// Every stream type, over each protocol and codec, on HTTP/3: handlers see HTTP/3, and bidi is
/// full duplex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_type_protocol_and_codec() {
    let certificate = Certificate::new();
    let server = H3Server::with_router(router(TestService::new()), certificate.server_tls()).await;
    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ] {
        for codec in [Codec::Proto, Codec::Json] {
            let client = build_client(builder(&server.url(), &certificate, protocol, codec));
            scenarios::unary(&client, http::Version::HTTP_3).await;
            scenarios::server_stream(&client, http::Version::HTTP_3).await;
            scenarios::client_stream(&client, http::Version::HTTP_3).await;
            scenarios::client_stream_empty(&client).await;
            scenarios::bidi(&client, http::Version::HTTP_3).await;
        }
    }
}

/// Connect GET, compressed requests and responses, and the receive limit, over HTTP/3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_compression_and_limits() {
    let certificate = Certificate::new();
    let server = H3Server::with_router(
        router(TestService::new()).read_max_bytes(64 * 1024),
        certificate.server_tls(),
    )
    .await;
    let url = server.url();

    let get = build_client(
        builder(&url, &certificate, ProtocolKind::CONNECT, Codec::Proto).use_get(true),
    );
    let echo = within(
        "GET",
        get.echo(EchoRequest {
            echo_context: true,
            ..text("by GET")
        }),
    )
    .await
    .expect("GET over HTTP/3")
    .into_message();
    assert_eq!(
        (echo.text.as_str(), echo.http_method.as_str()),
        ("by GET", "GET")
    );

    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ] {
        let gzip = build_client(
            builder(&url, &certificate, protocol, Codec::Proto)
                .send_compression("gzip")
                .compress_min_bytes(0),
        );
        let big = sized_request(Codec::Proto, 32 * 1024);
        let echoed = within("compressed call", gzip.echo(big.clone()))
            .await
            .expect("gzip over HTTP/3")
            .into_message();
        assert_eq!(echoed.text, big.text, "{protocol:?}");

        let too_big = sized_request(Codec::Proto, 100 * 1024);
        let error = within(
            "oversized call",
            client(&url, &certificate, protocol).echo(too_big),
        )
        .await
        .expect_err("over the receive limit");
        assert_eq!(
            error.code(),
            Code::ResourceExhausted,
            "{protocol:?}: {error}"
        );
    }
}

/// A client deadline ends the call with `deadline_exceeded` and cancels the handler; dropping a bidi
/// call, or a client stream whose request is still open, reaches the handler at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_and_cancellation_reach_the_handler() {
    let certificate = Certificate::new();
    let service = TestService::new();
    let server = H3Server::with_router(router(service.clone()), certificate.server_tls()).await;
    let state = service.state();
    for (round, protocol) in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
    ]
    .into_iter()
    .enumerate()
    {
        let round = round as u64 * 2;
        let client = client(&server.url(), &certificate, protocol);
        let error = within(
            "wait",
            client.wait(Request::new(text("w")).with_timeout(Duration::from_millis(300))),
        )
        .await
        .expect_err("times out");
        assert_eq!(error.code(), Code::DeadlineExceeded, "{protocol:?}");
        state
            .cancelled
            .wait_for(round + 1, "cancelled() at the deadline")
            .await;

        let mut call = client.chat(());
        within("send", call.send(hang())).await.expect("send");
        state
            .hang_started
            .wait_for(round + 2, "bidi handler waits")
            .await;
        drop(call);
        state
            .cancelled
            .wait_for(round + 2, "cancelled() after the bidi call was dropped")
            .await;
    }
}

/// Graceful shutdown over HTTP/3: a call in flight finishes, the serve future resolves, and a
/// client whose server restarted on the same port reconnects; also after a hard stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_and_reconnect_after_restart() {
    let certificate = Certificate::new();
    let server = H3Server::with_router(router(TestService::new()), certificate.server_tls()).await;
    let port = server.addr.port();
    let url = server.url();
    let client = client(&url, &certificate, ProtocolKind::CONNECT);
    within("first call", client.echo(text("one")))
        .await
        .expect("served");

    // A slow call is in flight when the shutdown starts: it still gets its answer.
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .echo(EchoRequest {
                    delay_ms: 300,
                    ..text("slow")
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await.expect("serve returns Ok");
    let slow = within("slow call", slow)
        .await
        .expect("task")
        .expect("finished during the drain");
    assert_eq!(slow.message().text, "slow");

    // Restarted on the same port: the client's next call reaches the new server.
    let server = H3Server::start(
        Server::new(),
        router(TestService::new()),
        certificate.server_tls(),
        port,
    )
    .await;
    within("call after a graceful restart", client.echo(text("two")))
        .await
        .expect("reconnected");

    // Stopped hard (the serve future dropped): connections close at once; again the client reconnects.
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _server = H3Server::start(
        Server::new(),
        router(TestService::new()),
        certificate.server_tls(),
        port,
    )
    .await;
    within("call after a hard restart", client.echo(text("three")))
        .await
        .expect("reconnected");
}

/// A server that goes away mid-stream fails the call with `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_loss_is_unavailable() {
    let certificate = Certificate::new();
    let service = TestService::new();
    let server = H3Server::with_router(router(service.clone()), certificate.server_tls()).await;
    let client = client(&server.url(), &certificate, ProtocolKind::GRPC);
    let mut call = client.chat(());
    within("send", call.send(hang())).await.expect("send");
    service
        .state()
        .hang_started
        .wait_for(1, "handler waits")
        .await;
    drop(server);
    let error = within("receive", call.message())
        .await
        .expect_err("the connection is gone");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
}

/// With `http3_alt_svc`, TCP responses advertise HTTP/3 on the same port; HTTP/3 responses do not.
/// Header sections over the server's limit are refused over HTTP/3 too: by the client, which knows
/// the limit from the server's SETTINGS, or by the server with 431.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_and_header_limit() {
    let certificate = Certificate::new();
    let server = H3Server::start(
        Server::new()
            .http3_alt_svc(Duration::from_secs(3600))
            .max_header_list_size(4 * 1024),
        router(TestService::new()),
        certificate.server_tls(),
        0,
    )
    .await;
    let url = server.url();
    let over_tcp = build_client(configure_builder(
        Client::builder(&url).tls_root_certificates_pem(&certificate.cert_pem),
        Codec::Proto,
        trident_tests::Http::H2,
    ));
    let response = within("TCP call", over_tcp.echo(text("tcp")))
        .await
        .expect("served");
    let expected = format!("h3=\":{}\"; ma=3600", server.addr.port());
    assert_eq!(response.headers().get("alt-svc"), Some(expected.as_str()));

    let over_quic = client(&url, &certificate, ProtocolKind::CONNECT);
    let response = within("HTTP/3 call", over_quic.echo(text("quic")))
        .await
        .expect("served");
    assert_eq!(response.headers().get("alt-svc"), None);

    let mut request = Request::new(text("big headers"));
    request
        .headers_mut()
        .append("x-big", &"x".repeat(8 * 1024))
        .expect("valid header");
    let error = within("oversized headers", over_quic.echo(request))
        .await
        .expect_err("over the header limit");
    // Once the client has the server's SETTINGS it knows the limit and sends nothing; before, the
    // server answers 431 (which Connect reads as `unknown`).
    let refused_by_client = error.code() == Code::ResourceExhausted;
    let refused_by_server = error.code() == Code::Unknown && error.message().contains("431");
    assert!(refused_by_client || refused_by_server, "{error}");
    within("a later call", over_quic.echo(text("after")))
        .await
        .expect("the connection still serves");
}

/// HTTP/3 needs an https:// URL on the client, and TLS on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors() {
    let error = Client::builder("http://127.0.0.1:1")
        .http_version(HttpVersion::Http3)
        .build()
        .expect_err("HTTP/3 over cleartext");
    assert!(error.to_string().contains("https://"), "{error}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let error = within(
        "serve without TLS",
        Server::new()
            .http3(true)
            .serve(listener, Router::new())
            .into_future(),
    )
    .await
    .expect_err("HTTP/3 without TLS");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// A server that dies without closing its connections (its runtime is torn down: nothing more is
/// sent) and comes back on the same port with the same key: the client's old connection is reset at
/// its next packet (the new server's stateless reset, keyed by the private key, is believed), so the
/// client learns at once rather than after QUIC's idle timeout, and its next call reconnects.
#[test]
fn a_crashed_server_is_noticed_at_once_after_its_restart() {
    let certificate = Certificate::new();
    let runtime = tokio::runtime::Runtime::new().expect("client runtime");
    let crashed = tokio::runtime::Runtime::new().expect("server runtime");
    let server = crashed.block_on(H3Server::with_router(
        router(TestService::new()),
        certificate.server_tls(),
    ));
    let (port, url) = (server.addr.port(), server.url());
    std::mem::forget(server);
    let client = client(&url, &certificate, ProtocolKind::CONNECT);
    runtime.block_on(async {
        within("first call", client.echo(text("one")))
            .await
            .expect("served");
    });
    // The crash: every task of the server's runtime is dropped where it stands, its socket closed.
    crashed.shutdown_background();
    runtime.block_on(async {
        let _server = H3Server::start(
            Server::new(),
            router(TestService::new()),
            certificate.server_tls(),
            port,
        )
        .await;
        let started = std::time::Instant::now();
        // The call on the dead connection fails (or, had the client already noticed, succeeds).
        match tokio::time::timeout(Duration::from_secs(10), client.echo(text("two"))).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => assert_eq!(error.code(), Code::Unavailable, "{error}"),
            Err(_) => panic!("the dead connection went unnoticed for 10 s"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "noticed after {:?}",
            started.elapsed()
        );
        within("call after the restart", client.echo(text("three")))
            .await
            .expect("reconnected");
    });
}

/// Sends `request` (its path and method, its headers, `body`) over a fresh HTTP/3 connection to
/// `addr`, trusting `certificate`; returns the status, headers and whole body.
async fn send_h3(
    addr: SocketAddr,
    certificate: &Certificate,
    request: http::Request<()>,
    body: &[u8],
) -> (http::StatusCode, http::HeaderMap, Vec<u8>) {
    use bytes::Buf as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            certificate.cert_der.clone(),
        ))
        .expect("trust the test certificate");
    // The provider the server uses (rustls deprecates ring's for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(quic)));
    within("raw HTTP/3 exchange", async {
        let connection = endpoint
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("QUIC handshake");
        let (mut driver, mut sender) = h3::client::new(h3_quinn::Connection::new(connection))
            .await
            .expect("h3");
        let drive = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        let (mut parts, ()) = request.into_parts();
        parts.uri = format!("https://localhost:{}{}", addr.port(), parts.uri)
            .parse()
            .expect("a URI");
        let mut stream = sender
            .send_request(http::Request::from_parts(parts, ()))
            .await
            .expect("send the head");
        if !body.is_empty() {
            stream
                .send_data(bytes::Bytes::copy_from_slice(body))
                .await
                .expect("send the body");
        }
        stream.finish().await.expect("finish the request");
        let response = stream.recv_response().await.expect("a response");
        let mut received = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await.expect("the body") {
            while chunk.has_remaining() {
                let part = chunk.chunk();
                received.extend_from_slice(part);
                let len = part.len();
                chunk.advance(len);
            }
        }
        drop(sender);
        drive.abort();
        let (parts, ()) = response.into_parts();
        (parts.status, parts.headers, received)
    })
    .await
}

/// REST over HTTP/3: a GET with a path variable and a query, a POST with a body field (and gzipped),
/// a stream of JSON lines and one of server-sent events ending in an error, a raw upload, a
/// `response_body`, and an error as `google.rpc.Status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_over_http3() {
    let certificate = Certificate::new();
    let server =
        H3Server::with_router(crate::rest::library_router(), certificate.server_tls()).await;
    let get = http::Request::get("/v1/shelves/3/books?pageSize=4")
        .body(())
        .expect("GET");
    let (status, headers, body) = send_h3(server.addr, &certificate, get, b"").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        json["request"],
        serde_json::json!({"parent": "shelves/3", "pageSize": 4})
    );

    let post = http::Request::post("/v1/shelves/3/books?bookId=b")
        .header("content-type", "application/json")
        .body(())
        .expect("POST");
    let (status, _, body) = send_h3(server.addr, &certificate, post, br#"{"title":"T"}"#).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"name": "shelves/3/books/b", "title": "T"})
    );

    let watch = http::Request::get("/v1/shelves/3:watch?count=2")
        .body(())
        .expect("GET");
    let (status, headers, body) = send_h3(server.addr, &certificate, watch, b"").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(String::from_utf8(body).expect("text").lines().count(), 2);

    let events = http::Request::get("/v1/shelves/3:watch?count=1&failCode=14")
        .header("accept", "text/event-stream")
        .body(())
        .expect("GET");
    let (_, headers, body) = send_h3(server.addr, &certificate, events, b"").await;
    assert_eq!(headers["content-type"], "text/event-stream");
    let body = String::from_utf8(body).expect("text");
    let error =
        "event: error\ndata: {\"code\":14,\"message\":\"the shelf fell over\",\"details\":[]}\n\n";
    assert!(body.ends_with(error), "{body}");

    let upload = http::Request::put("/v1/shelves/3/books/4/cover")
        .header("content-type", "image/jpeg")
        .body(())
        .expect("PUT");
    let (status, headers, body) = send_h3(server.addr, &certificate, upload, &[1, 2, 3]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(body, b"shelves/3/books/4 got 3 bytes of image/jpeg");

    let delete = http::Request::delete("/v1/shelves/3/books/4")
        .body(())
        .expect("DELETE");
    let (_, _, body) = send_h3(server.addr, &certificate, delete, b"").await;
    assert_eq!(body, b"\"shelves/3/books/4\"");

    let gzipped = http::Request::post("/v1/shelves/3/books?bookId=z")
        .header("content-encoding", "gzip")
        .body(())
        .expect("POST");
    let compressed = trident_tests::gzip(br#"{"title":"Zipped"}"#);
    let (status, _, body) = send_h3(server.addr, &certificate, gzipped, &compressed).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["title"], "Zipped");

    let missing = http::Request::get("/v1/shelves/3/books/missing")
        .body(())
        .expect("GET");
    let (status, _, body) = send_h3(server.addr, &certificate, missing, b"").await;
    assert_eq!(status, 404);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["code"], 5);
}
