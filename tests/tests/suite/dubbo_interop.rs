//! Interop with Apache Dubbo's Go implementation (dubbo-go v3.3.2), both ways, through the program in
//! `interop/dubbo-go` (built here once per run with the Go toolchain):
//! - dubbo-go's clients call a Trident server: its high-level client (which sends every call as gRPC)
//!   and its low-level Triple client (unary calls in Triple's form, over h2c and HTTP/1.1), with the
//!   proto and JSON codecs, through every call type, errors, deadlines, metadata, service group and
//!   version routing, and business errors.
//! - Trident's client calls dubbo-go's servers (its high-level stub server and its low-level one)
//!   with `ProtocolKind::TRIPLE` and `ProtocolKind::GRPC`: the same ground from the other side.
//!
//! The Go toolchain is required, as for the conformance suite; `TRIDENT_SKIP_DUBBO_INTEROP=1` skips
//! these tests on a machine without it, saying so.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use trident::triple::TripleClientOptions as _;
use trident::{Client, Code, HttpVersion, ProtocolKind, Request};
use trident_tests::{
    EchoRequest, EchoServiceClient, ErrorSpec, FailureInfo, Header, TestServer, g1_echo_routes,
    text, within,
};

/// The built `dubbo-interop` program, or why there is none (skipped).
fn program() -> Option<&'static Path> {
    static PROGRAM: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            if std::env::var_os("TRIDENT_SKIP_DUBBO_INTEROP").is_some() {
                eprintln!("dubbo interop: skipped (TRIDENT_SKIP_DUBBO_INTEROP is set)");
                return None;
            }
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/dubbo-go");
            let output = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dubbo-interop");
            let started = std::time::Instant::now();
            let status = Command::new("go")
                .args(["build", "-mod=readonly", "-o"])
                .arg(&output)
                .arg(".")
                .current_dir(&source)
                .status()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run `go build` for interop/dubbo-go ({e}): install Go 1.25 or \
                         later, or set TRIDENT_SKIP_DUBBO_INTEROP=1"
                    )
                });
            assert!(status.success(), "go build of interop/dubbo-go failed");
            eprintln!("dubbo interop: built in {:?}", started.elapsed());
            Some(output)
        })
        .as_deref()
}

/// A Trident server for dubbo-go's clients: the test service, plus `g1_echo_routes` (an `Echo` for
/// service group `g1`, version `1.0.0`, prefixing its answers with the group and version its handler
/// sees).
async fn trident_server() -> TestServer {
    TestServer::start_with(|router| router.add(g1_echo_routes())).await
}

/// Runs `dubbo-interop call` against `addr` with `args`; fails the test with every scenario's line if
/// any failed.
async fn dubbo_go_calls(program: &Path, addr: std::net::SocketAddr, args: &[&str]) {
    let mut command = Command::new(program);
    command
        .args(["call", "--addr", &addr.to_string()])
        .args(args);
    // The Trident server runs on this test's runtime; the Go client is waited for off it.
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("dubbo-interop call finishes within 2 minutes")
    .expect("the waiting task")
    .expect("dubbo-interop runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let failed: Vec<&serde_json::Value> = lines.iter().filter(|l| l["ok"] != true).collect();
    assert!(
        output.status.success() && failed.is_empty() && !lines.is_empty(),
        "dubbo-go client {args:?}: {} scenarios, failed: {failed:#?}\nstderr: {}",
        lines.len(),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("dubbo-go client {args:?}: {} scenarios passed", lines.len());
}

/// dubbo-go's high-level client (gRPC on the wire) calls Trident, with both codecs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_go_high_level_client_calls_trident() {
    let Some(program) = program() else { return };
    let server = trident_server().await;
    for codec in ["proto", "json"] {
        dubbo_go_calls(
            program,
            server.addr,
            &[
                "--mode",
                "hl",
                "--codec",
                codec,
                "--scenario",
                "all,business",
            ],
        )
        .await;
    }
}

/// dubbo-go's low-level Triple client (Triple's unary form, streams as gRPC) calls Trident, with both
/// codecs, over h2c and (unary calls) HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_go_triple_client_calls_trident() {
    let Some(program) = program() else { return };
    let server = trident_server().await;
    for (codec, http) in [("proto", "2"), ("json", "2"), ("proto", "1")] {
        dubbo_go_calls(
            program,
            server.addr,
            &[
                "--mode",
                "triple",
                "--codec",
                codec,
                "--http",
                http,
                "--scenario",
                "all,business",
            ],
        )
        .await;
    }
    server
        .state()
        .cancelled
        .wait_for(3, "the deadline scenario's handlers saw their calls end")
        .await;
}

/// A running `dubbo-interop serve`; killed when dropped.
struct DubboServer {
    child: Child,
    port: u16,
}

impl DubboServer {
    fn start(program: &Path, mode: &str) -> Self {
        let mut child = Command::new(program)
            .args(["serve", "--mode", mode])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dubbo-interop serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("dubbo-interop serve --mode {mode} did not report a port"));
        Self { child, port }
    }

    fn client(&self, protocol: ProtocolKind, json: bool) -> trident::client::ClientBuilder {
        let builder = Client::builder(format!("http://127.0.0.1:{}", self.port))
            .protocol(protocol)
            .http_version(HttpVersion::Http2);
        if json { builder.json() } else { builder }
    }
}

impl Drop for DubboServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every call type and the error, deadline, metadata, group and business scenarios, by Trident's
/// client against a dubbo-go server. `details`: whether the server keeps error details (dubbo-go's
/// high-level server drops them for every error but a business error).
async fn trident_calls(server: &DubboServer, protocol: ProtocolKind, json: bool, details: bool) {
    let what = format!("{protocol:?} json={json}");
    let client = EchoServiceClient::new(server.client(protocol, json).build().expect("client"));

    // Unary, with metadata both ways.
    let mut request = Request::new(EchoRequest {
        text: "héllo".into(),
        payload: vec![0, 1, 0xff],
        echo_headers: vec!["x-attach".into()],
        response_headers: vec![Header {
            name: "x-resp".into(),
            value: "h".into(),
        }],
        response_trailers: vec![Header {
            name: "x-trail".into(),
            value: "t".into(),
        }],
        ..Default::default()
    });
    request
        .headers_mut()
        .append("x-attach", "v1")
        .expect("valid header");
    let response = within("unary", client.echo(request)).await.expect(&what);
    assert_eq!(response.headers().get("x-resp"), Some("h"), "{what}");
    assert_eq!(response.trailers().get("x-trail"), Some("t"), "{what}");
    let message = response.into_message();
    assert_eq!(message.text, "héllo", "{what}");
    assert_eq!(message.payload, vec![0, 1, 0xff], "{what}");
    assert_eq!(
        message.headers,
        vec![Header {
            name: "x-attach".into(),
            value: "v1".into()
        }],
        "{what}"
    );

    // Server stream.
    let mut stream = within(
        "server stream",
        client.repeat(EchoRequest {
            repeat: 3,
            ..text("again")
        }),
    )
    .await
    .expect(&what);
    for index in 0..3 {
        let message = within("stream message", stream.message())
            .await
            .expect(&what)
            .expect("not over");
        assert_eq!(
            (message.index, message.text.as_str()),
            (index, "again"),
            "{what}"
        );
    }
    assert!(
        within("end", stream.message())
            .await
            .expect(&what)
            .is_none()
    );

    // Client stream.
    let mut collect = client.collect(());
    for part in ["a", "b", "c"] {
        within("send", collect.send(text(part))).await.expect(&what);
    }
    let collected = within("close", collect.close_and_receive())
        .await
        .expect(&what)
        .into_message();
    assert_eq!(
        (collected.text.as_str(), collected.received),
        ("a,b,c", 3),
        "{what}"
    );

    // Bidi, full duplex.
    let mut chat = client.chat(());
    within("send one", chat.send(text("one")))
        .await
        .expect(&what);
    let first = within("first", chat.message())
        .await
        .expect(&what)
        .expect("an answer");
    assert_eq!((first.text.as_str(), first.index), ("one", 0), "{what}");
    within("send two", chat.send(text("two")))
        .await
        .expect(&what);
    let second = within("second", chat.message())
        .await
        .expect(&what)
        .expect("an answer");
    assert_eq!((second.text.as_str(), second.index), ("two", 1), "{what}");
    chat.close_send().expect("close");
    assert!(within("end", chat.message()).await.expect(&what).is_none());

    // An error with a detail.
    let error = within(
        "error",
        client.echo(EchoRequest {
            error: Some(ErrorSpec {
                code: Code::NotFound as u32,
                message: "no such thing".into(),
                with_failure_info: true,
                ..Default::default()
            }),
            ..text("fail")
        }),
    )
    .await
    .expect_err("fails");
    assert_eq!(error.code(), Code::NotFound, "{what}: {error}");
    assert!(error.message().contains("no such thing"), "{what}: {error}");
    if details {
        let info: FailureInfo = error
            .details()
            .iter()
            .find_map(|d| d.decode().ok())
            .unwrap_or_else(|| panic!("{what}: a FailureInfo detail in {error:?}"));
        assert_eq!(info.reason, "no such thing");
    }

    // A deadline: the call fails with deadline_exceeded, and dubbo-go's handler sees its context
    // end (its deadline, or the cancel when the client gave up first).
    let ended_before = handler_deadlines(&client).await;
    let started = std::time::Instant::now();
    let error = within(
        "deadline",
        client.wait(Request::new(text("w")).with_timeout(Duration::from_millis(300))),
    )
    .await
    .expect_err("times out");
    assert_eq!(error.code(), Code::DeadlineExceeded, "{what}: {error}");
    assert!(started.elapsed() < Duration::from_secs(3), "{what}");
    within("the handler sees the deadline", async {
        while handler_deadlines(&client).await <= ended_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // Service group and version.
    let grouped = EchoServiceClient::new(
        server
            .client(protocol, json)
            .service_group("g1")
            .service_version("1.0.0")
            .build()
            .expect("client"),
    );
    let echoed = within("g1/1.0.0", grouped.echo(text("x")))
        .await
        .expect(&what);
    assert_eq!(echoed.message().text, "g1/1.0.0:x", "{what}");
    let unknown = EchoServiceClient::new(
        server
            .client(protocol, json)
            .service_group("nope")
            .service_version("9")
            .build()
            .expect("client"),
    );
    let error = within("unknown pair", unknown.echo(text("x")))
        .await
        .expect_err("no such implementation");
    assert_eq!(error.code(), Code::Unimplemented, "{what}: {error}");

    // Dubbo's business error.
    let error = within(
        "business",
        client.echo(EchoRequest {
            error: Some(ErrorSpec {
                code: 17,
                message: "out of stock".into(),
                ..Default::default()
            }),
            ..text("order")
        }),
    )
    .await
    .expect_err("fails");
    assert!(error.is_business(), "{what}: {error:?}");
}

/// How many of the dubbo-go server's handlers saw their call's deadline pass or their call cancelled
/// (its `__stats__` call).
async fn handler_deadlines(client: &EchoServiceClient) -> u64 {
    let stats = within("stats", client.echo_post(text("__stats__")))
        .await
        .expect("stats")
        .into_message()
        .text;
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("stats as JSON");
    stats["saw_deadline"].as_u64().unwrap_or(0) + stats["saw_cancel"].as_u64().unwrap_or(0)
}

/// Trident's Triple and gRPC clients call dubbo-go's low-level server, which keeps error details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_calls_dubbo_go_low_level_server() {
    let Some(program) = program() else { return };
    let server = DubboServer::start(program, "raw");
    for (protocol, json) in [
        (ProtocolKind::TRIPLE, false),
        (ProtocolKind::TRIPLE, true),
        (ProtocolKind::GRPC, false),
    ] {
        trident_calls(&server, protocol, json, true).await;
    }
}

/// Trident's Triple and gRPC clients call dubbo-go's high-level (stub) server, which keeps only the
/// code and message of errors other than business errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trident_calls_dubbo_go_high_level_server() {
    let Some(program) = program() else { return };
    let server = DubboServer::start(program, "hl");
    for (protocol, json) in [
        (ProtocolKind::TRIPLE, false),
        (ProtocolKind::TRIPLE, true),
        (ProtocolKind::GRPC, false),
    ] {
        trident_calls(&server, protocol, json, false).await;
    }
}
