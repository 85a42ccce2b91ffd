//! Trident behind nginx: deploy/nginx/trident.conf, instantiated with loopback ports, in front of three
//! replicas, with every protocol and call type sent through it by Trident's client, and server
//! streams followed as server-sent events and JSON lines the way a browser and `curl -N` follow them.
//!
//! Needs an nginx binary (Debian's nginx 1.22: `apt-get install -y nginx`), found on PATH or at
//! /usr/sbin/nginx and run as the current user. Without one the test says so and passes, unless
//! `TRIDENT_REQUIRE_NGINX` is set (scripts/test sets it after installing nginx), then it fails.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use trident::{Client, ProtocolKind};
use trident_tests::{
    Codec, EchoRequest, EchoServiceClient, Http, TestServer, build_client, configure_builder,
    envelope, raw, scenarios, send_on_new_connection, text, within,
};

/// The nginx binary, or `None` (after saying why) when the test is to be skipped.
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    let found = on_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        sbin.is_file().then_some(sbin)
    });
    if found.is_none() {
        assert!(
            std::env::var_os("TRIDENT_REQUIRE_NGINX").is_none(),
            "nginx is not installed (not on PATH, nor at /usr/sbin/nginx) but TRIDENT_REQUIRE_NGINX \
             is set: install it (`apt-get install -y nginx`)"
        );
        eprintln!(
            "nginx test SKIPPED: no nginx binary on PATH or at /usr/sbin/nginx; install Debian's nginx \
             (`apt-get install -y nginx`) to run it, or set TRIDENT_REQUIRE_NGINX=1 to make this a failure"
        );
    }
    found
}

/// A free loopback port (bound, then released for nginx to take).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address")
}

/// A running nginx (its master process), stopped when dropped.
struct Nginx {
    child: Child,
    prefix: PathBuf,
}

impl Nginx {
    /// Writes the configuration with `replacements` applied into `prefix` and starts nginx on it in the
    /// foreground, as the current user; waits until `listeners` accept connections.
    fn start(
        binary: &Path,
        prefix: PathBuf,
        replacements: &[(&str, String)],
        listeners: &[SocketAddr],
    ) -> Self {
        let template = include_str!("../../../deploy/nginx/trident.conf");
        let mut config = template.replace("@PREFIX@", prefix.to_str().expect("UTF-8 path"));
        for (placeholder, value) in replacements {
            config = config.replace(placeholder, value);
        }
        for prefix in ["@PREFIX", "@LISTEN_", "@UPSTREAM_"] {
            assert!(!config.contains(prefix), "a placeholder was left: {config}");
        }
        let _ = std::fs::remove_dir_all(&prefix);
        std::fs::create_dir_all(&prefix).expect("create the nginx prefix");
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config_path)
            // Before it reads the configuration nginx logs to its built-in path (under /var/log):
            // point that at the prefix too.
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut nginx = Self { child, prefix };
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in listeners {
            while TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_err() {
                if let Some(status) = nginx.child.try_wait().expect("poll nginx") {
                    panic!("nginx exited ({status}) before listening:\n{}", nginx.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "nginx did not listen on {addr} within 10 s:\n{}",
                    nginx.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        nginx
    }

    /// nginx's error log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// Stops nginx with SIGTERM, which its master passes on to its workers before exiting: a SIGKILL to
    /// the master alone would leave the workers running, holding the ports and the test's output pipe.
    /// SIGKILL only if it has not exited after 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP version a handler reports.
fn version(http: Http) -> http::Version {
    match http {
        Http::H1 => http::Version::HTTP_11,
        Http::H2 => http::Version::HTTP_2,
    }
}

/// nginx passes stream messages on as they come, in both directions, instead of buffering whole bodies:
/// a client stream's first message reaches a handler while the request is still open, and a server
/// stream's first message reaches the client while the handler is still writing the rest.
async fn messages_are_not_buffered(
    client: &EchoServiceClient,
    replicas: &[TestServer],
    what: &str,
) {
    let hung = || -> u64 { replicas.iter().map(|r| r.state().hang_started.get()).sum() };
    let before = hung();
    let mut call = client.collect(());
    call.send(EchoRequest {
        hang: true,
        ..text("first")
    })
    .await
    .expect("send");
    within(
        &format!("{what}: client stream message reaches a replica"),
        async {
            while hung() == before {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    drop(call);

    // Two messages, each after 500 ms: the first must arrive well before the second is written.
    let started = Instant::now();
    let request = EchoRequest {
        repeat: 2,
        delay_ms: 500,
        ..text("slow")
    };
    within(&format!("{what}: server stream"), async {
        let mut call = client.repeat(request).await.expect("stream starts");
        call.message().await.expect("first").expect("not over");
        let first = started.elapsed();
        assert!(
            first < Duration::from_millis(950),
            "{what}: the first message took {first:?}: buffered by nginx?"
        );
        call.message().await.expect("second").expect("not over");
        assert!(call.message().await.expect("clean end").is_none());
    })
    .await;
}

/// A server stream followed as server-sent events or JSON lines (`accept`) through nginx: each event
/// reaches the client when the replica writes it (two, 500 ms apart: the first well before the
/// second), and the stream ends as the replica ends it.
async fn pushed_messages_are_not_buffered(listener: SocketAddr, http: Http, accept: &str) {
    let what = format!("{accept} over {http:?}");
    // {"text":"slow","repeat":2,"delayMs":500}
    let path = "/trident.test.v1.EchoService/Repeat?message=\
                %7B%22text%22%3A%22slow%22%2C%22repeat%22%3A2%2C%22delayMs%22%3A500%7D";
    let request = raw(http::Method::GET, listener, path, http)
        .header("accept", accept)
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("a request");
    let started = Instant::now();
    let response = send_on_new_connection(listener, http, request).await;
    assert_eq!(response.status(), 200, "{what}");
    assert_eq!(response.headers()["content-type"], accept, "{what}");
    let mut body = response.into_body();
    let mut received = Vec::new();
    within(&format!("{what}: the stream"), async {
        let mut first = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("a frame");
            if let Ok(data) = frame.into_data() {
                received.extend_from_slice(&data);
                if first.is_none() && received.windows(4).any(|w| w == b"slow") {
                    first = Some(started.elapsed());
                }
            }
        }
        let first = first.expect("a message");
        assert!(
            first < Duration::from_millis(950),
            "{what}: the first message took {first:?}: buffered by nginx?"
        );
    })
    .await;
    let text = String::from_utf8(received).expect("UTF-8");
    assert_eq!(text.matches("slow").count(), 2, "{what}: {text}");
    if accept == "text/event-stream" {
        assert!(text.ends_with("event: end\ndata: {}\n\n"), "{what}: {text}");
    }
}

/// A bidi call over WebSocket through nginx's HTTP/1.1 listener (the upgrade passed on): each answer
/// arrives before the client ends its stream, and the call ends with Connect's end-stream and a
/// close.
async fn websocket_bidi_through(listener: SocketAddr) {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let mut request = format!("ws://{listener}/trident.test.v1.EchoService/Chat")
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static("trident.connect.proto"),
    );
    let (mut socket, response) = within("the upgrade through nginx", async {
        tokio_tungstenite::connect_async(request)
            .await
            .expect("nginx passes the upgrade on")
    })
    .await;
    assert_eq!(response.status(), 101);
    socket
        .send(Message::text(r#"{"headers":{}}"#))
        .await
        .expect("send the head");
    for (index, line) in ["one", "two"].into_iter().enumerate() {
        let message = Codec::Proto.encode(&text(line));
        socket
            .send(Message::binary(envelope(0, &message)))
            .await
            .expect("send a message");
        if index == 0 {
            // The server's head comes once the handler answers (the echo handler, on the first line).
            let head = within("the head", socket.next()).await;
            assert!(
                matches!(head, Some(Ok(Message::Text(_)))),
                "a text head first: {head:?}"
            );
        }
        let answer = within("an answer before the stream ends", socket.next()).await;
        let Some(Ok(Message::Binary(data))) = answer else {
            panic!("a binary answer: {answer:?}");
        };
        assert_eq!(data[0], 0, "a message, not the end");
        let echoed: trident_tests::EchoResponse = Codec::Proto.decode(&data[5..]);
        assert_eq!(echoed.text, line);
    }
    socket
        .send(Message::binary(envelope(2, b"")))
        .await
        .expect("end the stream");
    let end = within("the end-stream", socket.next()).await;
    let Some(Ok(Message::Binary(data))) = end else {
        panic!("the end-stream: {end:?}");
    };
    assert_eq!(data[0], 2);
    assert_eq!(&data[5..], b"{}", "no error, no trailers");
}

/// Every protocol and call type through nginx, spread over three replicas: over the HTTP/2 listener
/// (`grpc_pass`, HTTP/2 to the replicas) gRPC, Connect and gRPC-Web with every call type including
/// full-duplex bidi; over the HTTP/1.1 listener (`proxy_pass`, HTTP/1.1 to the replicas) Connect and
/// gRPC-Web with unary, server and client streams (bidi needs HTTP/2 end to end: Trident's client
/// refuses it over HTTP/1.1 before sending anything). Both codecs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_and_call_type_through_nginx() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let started = Instant::now();
    let replicas = [
        TestServer::start().await,
        TestServer::start().await,
        TestServer::start().await,
    ];
    let (listen_h1, listen_h2) = (free_port(), free_port());
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nginx");
    let nginx = Nginx::start(
        &binary,
        prefix,
        &[
            ("@LISTEN_H1@", listen_h1.to_string()),
            ("@LISTEN_H2@", listen_h2.to_string()),
            ("@UPSTREAM_1@", replicas[0].addr.to_string()),
            ("@UPSTREAM_2@", replicas[1].addr.to_string()),
            ("@UPSTREAM_3@", replicas[2].addr.to_string()),
        ],
        &[listen_h1, listen_h2],
    );

    let combinations = [
        (ProtocolKind::GRPC, Http::H2, listen_h2),
        (ProtocolKind::CONNECT, Http::H2, listen_h2),
        (ProtocolKind::GRPC_WEB, Http::H2, listen_h2),
        (ProtocolKind::CONNECT, Http::H1, listen_h1),
        (ProtocolKind::GRPC_WEB, Http::H1, listen_h1),
    ];
    for (protocol, http, listener) in combinations {
        for codec in [Codec::Proto, Codec::Json] {
            let what = format!("{protocol:?} over {http:?}, {codec:?}");
            eprintln!("through nginx: {what}");
            let builder = Client::builder(format!("http://{listener}")).protocol(protocol);
            let client = build_client(configure_builder(builder, codec, http));
            // The replica sees the version of nginx's hop to it, the same as the client's here.
            let seen = version(http);
            let before: Vec<u64> = replicas.iter().map(|r| r.state().calls.get()).collect();
            // Twice over, so that round-robin sends some of each to every replica.
            for _ in 0..2 {
                scenarios::unary(&client, seen).await;
                scenarios::server_stream(&client, seen).await;
                scenarios::client_stream(&client, seen).await;
                scenarios::client_stream_empty(&client).await;
                match http {
                    Http::H2 => scenarios::bidi(&client, seen).await,
                    Http::H1 => scenarios::bidi_over_http1(&client, replicas[0].state()).await,
                }
            }
            if codec == Codec::Proto {
                messages_are_not_buffered(&client, &replicas, &what).await;
            }
            let after: Vec<u64> = replicas.iter().map(|r| r.state().calls.get()).collect();
            let spread: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
            assert!(
                spread.iter().all(|&n| n > 0),
                "{what}: every replica should have served some calls, got {spread:?}\n{}",
                nginx.log()
            );
        }
    }

    // Connect's GET form of side-effect-free unary calls, through both listeners (nginx's access log
    // shows that GET requests went through).
    for (http, listener) in [(Http::H2, listen_h2), (Http::H1, listen_h1)] {
        let builder = Client::builder(format!("http://{listener}"))
            .protocol(ProtocolKind::CONNECT)
            .use_get(true);
        let client = build_client(configure_builder(builder, Codec::Proto, http));
        scenarios::unary(&client, version(http)).await;
    }
    let access = std::fs::read_to_string(nginx.prefix.join("access.log")).unwrap_or_default();
    let gets = access
        .lines()
        .filter(|line| line.contains("\"GET /trident.test.v1.EchoService/Echo?"))
        .count();
    assert_eq!(gets, 2, "one Connect GET per listener:\n{access}");

    // WebSocket, through the HTTP/1.1 listener.
    websocket_bidi_through(listen_h1).await;

    // Server push, through both listeners.
    for (http, listener) in [(Http::H2, listen_h2), (Http::H1, listen_h1)] {
        for accept in ["text/event-stream", "application/x-ndjson"] {
            pushed_messages_are_not_buffered(listener, http, accept).await;
        }
    }

    drop(nginx);
    eprintln!("through nginx: all passed in {:?}", started.elapsed());
}
