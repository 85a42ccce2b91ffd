//! The demo `server` binary as a process manager runs it: with no options it survives a flood of idle
//! sockets at a low file-descriptor limit (idle connections make room for real clients), and SIGTERM
//! shuts it down gracefully, health reporting NOT_SERVING first.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use trident::{Client, Request};
use trident_examples::greet::{GreetRequest, GreetServiceClient};
use trident_health::{HealthCheckRequest, HealthClient, ServingStatus};

const LIMIT: Duration = Duration::from_secs(20);

/// The demo server, started through `sh` so that `ulimit -n` can lower its file-descriptor limit.
struct DemoServer {
    child: Child,
    url: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl DemoServer {
    fn start(fd_limit: u32) -> Self {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {fd_limit} && exec \"$0\" 127.0.0.1:0"))
            .arg(env!("CARGO_BIN_EXE_server"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the demo server");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let url = line
            .split_whitespace()
            .last()
            .filter(|url| url.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Self { child, url, stdout }
    }

    fn greeter(&self) -> GreetServiceClient {
        GreetServiceClient::new(Client::builder(&self.url).build().expect("client"))
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn greet(server: &DemoServer) -> String {
    let request = Request::new(GreetRequest { name: "fd".into() }).with_timeout(LIMIT);
    tokio::time::timeout(LIMIT, server.greeter().greet(request))
        .await
        .expect("in time")
        .expect("greeted")
        .into_message()
        .greeting
}

/// At `ulimit -n 128` the default connection limit is 96: 150 idle sockets would hold every slot (and,
/// without a limit, exhaust the descriptors), but the idle ones are closed to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_do_not_lock_clients_out_at_a_low_fd_limit() {
    let server = DemoServer::start(128);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect (the kernel's backlog takes what the server does not)"),
        );
    }
    let started = std::time::Instant::now();
    let greeting = greet(&server).await;
    assert!(greeting.contains("fd"), "{greeting}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// SIGTERM: health watchers see NOT_SERVING, then their streams end (the server is draining), and the
/// server exits cleanly without waiting out its grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_reports_not_serving_then_exits_cleanly() {
    let mut server = DemoServer::start(1024);
    assert!(greet(&server).await.contains("fd"));
    let health = HealthClient::new(Client::builder(&server.url).build().expect("client"));
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch");
    let first = watch.message().await.expect("status").expect("one");
    assert_eq!(first.status(), ServingStatus::Serving);

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let stopping = std::time::Instant::now();
    let next = tokio::time::timeout(LIMIT, watch.message())
        .await
        .expect("in time")
        .expect("a status")
        .expect("NOT_SERVING before the stream ends");
    assert_eq!(next.status(), ServingStatus::NotServing);
    let end = tokio::time::timeout(LIMIT, watch.message())
        .await
        .expect("in time");
    assert!(matches!(end, Ok(None)), "the watch ends cleanly: {end:?}");
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().expect("wait");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut server.stdout, &mut rest);
        (status, rest)
    });
    let (status, rest) = tokio::time::timeout(LIMIT, exited)
        .await
        .expect("the server exits in time")
        .expect("joined");
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("shutting down"), "{rest:?}");
    // The open watch did not hold the server for its 10-second grace period.
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
}
