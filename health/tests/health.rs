//! The health service over real loopback servers, with a Trident client in every protocol: `Check`,
//! `List`, `Watch` following status changes, unknown services, and shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use trident::{Client, Code, HttpVersion, ProtocolKind, Router, client::ServerStreamCall};
use trident_health::{
    HealthCheckRequest, HealthCheckResponse, HealthClient, HealthListRequest, HealthReporter,
    ServingStatus,
};

const PROTOCOLS: [(ProtocolKind, HttpVersion); 5] = [
    (ProtocolKind::CONNECT, HttpVersion::Http1),
    (ProtocolKind::CONNECT, HttpVersion::Http2),
    (ProtocolKind::GRPC, HttpVersion::Http2),
    (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
    (ProtocolKind::GRPC_WEB, HttpVersion::Http2),
];

const STEP: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {STEP:?}"))
}

/// A server with the health service on a loopback port; stops when dropped.
struct TestServer {
    addr: SocketAddr,
    reporter: HealthReporter,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start() -> Self {
        let (reporter, routes) = trident_health::service();
        let router = Router::new().add(routes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            trident::Server::new()
                .serve(listener, router)
                .await
                .expect("serve");
        });
        Self {
            addr,
            reporter,
            task,
        }
    }

    fn client(&self, protocol: ProtocolKind, http: HttpVersion) -> HealthClient {
        let client = Client::builder(format!("http://{}", self.addr))
            .protocol(protocol)
            .http_version(http)
            .build()
            .expect("client");
        HealthClient::new(client)
    }
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

async fn check(client: &HealthClient, service: &str) -> Result<ServingStatus, trident::Error> {
    let response = within("check", client.check(request(service))).await?;
    Ok(response.message().status())
}

async fn next_status(call: &mut ServerStreamCall<HealthCheckResponse>) -> ServingStatus {
    within("watch message", call.message())
        .await
        .expect("watch goes on")
        .expect("watch not ended")
        .status()
}

#[tokio::test]
async fn check_answers_statuses_and_not_found_in_every_protocol() {
    let server = TestServer::start().await;
    server.reporter.set_serving("acme.v1.Up");
    server.reporter.set_not_serving("acme.v1.Down");
    for (protocol, http) in PROTOCOLS {
        let client = server.client(protocol, http);
        let case = format!("{protocol:?} over {http:?}");
        assert_eq!(
            check(&client, "").await.expect(&case),
            ServingStatus::Serving
        );
        assert_eq!(
            check(&client, "acme.v1.Up").await.expect(&case),
            ServingStatus::Serving
        );
        assert_eq!(
            check(&client, "acme.v1.Down").await.expect(&case),
            ServingStatus::NotServing
        );
        let error = check(&client, "acme.v1.Missing").await.expect_err(&case);
        assert_eq!(error.code(), Code::NotFound, "{case}");
        assert!(
            error.message().contains("acme.v1.Missing"),
            "{case}: {error}"
        );
    }
}

#[tokio::test]
async fn list_answers_every_known_service() {
    let server = TestServer::start().await;
    server.reporter.set_serving("acme.v1.Up");
    server.reporter.set_not_serving("acme.v1.Down");
    for (protocol, http) in PROTOCOLS {
        let client = server.client(protocol, http);
        let listed = within("list", client.list(HealthListRequest {}))
            .await
            .expect("list")
            .into_message()
            .statuses;
        let mut statuses: Vec<(String, ServingStatus)> = listed
            .into_iter()
            .map(|(name, response)| (name, response.status()))
            .collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [
                (String::new(), ServingStatus::Serving),
                ("acme.v1.Down".into(), ServingStatus::NotServing),
                ("acme.v1.Up".into(), ServingStatus::Serving),
            ],
            "{protocol:?} over {http:?}"
        );
    }
}

#[tokio::test]
async fn watch_sends_the_status_then_each_change_in_every_protocol() {
    for (protocol, http) in PROTOCOLS {
        let server = TestServer::start().await;
        let reporter = &server.reporter;
        reporter.set_serving("acme.v1.Svc");
        let client = server.client(protocol, http);
        let mut call = within("watch", client.watch(request("acme.v1.Svc")))
            .await
            .expect("watch starts");
        assert_eq!(next_status(&mut call).await, ServingStatus::Serving);

        reporter.set_not_serving("acme.v1.Svc");
        assert_eq!(next_status(&mut call).await, ServingStatus::NotServing);
        // Setting the same status again is no change: the next message is the one after.
        reporter.set_not_serving("acme.v1.Svc");
        reporter.set_serving("acme.v1.Svc");
        assert_eq!(next_status(&mut call).await, ServingStatus::Serving);
        // Forgetting the service is a change watchers see.
        reporter.clear("acme.v1.Svc");
        assert_eq!(next_status(&mut call).await, ServingStatus::ServiceUnknown);
    }
}

#[tokio::test]
async fn watching_an_unknown_service_waits_for_it() {
    let server = TestServer::start().await;
    let client = server.client(ProtocolKind::GRPC, HttpVersion::Http2);
    let mut call = within("watch", client.watch(request("acme.v1.Later")))
        .await
        .expect("watch starts");
    assert_eq!(next_status(&mut call).await, ServingStatus::ServiceUnknown);
    // Check still says not_found: watching a name does not make it known.
    let error = check(&client, "acme.v1.Later").await.expect_err("unknown");
    assert_eq!(error.code(), Code::NotFound);

    server.reporter.set_serving("acme.v1.Later");
    assert_eq!(next_status(&mut call).await, ServingStatus::Serving);
}

#[tokio::test]
async fn shutdown_tells_every_watcher_not_serving() {
    let server = TestServer::start().await;
    let reporter = &server.reporter;
    reporter.set_serving("acme.v1.A");
    reporter.set_serving("acme.v1.B");
    let mut calls = Vec::new();
    for (i, (protocol, http)) in PROTOCOLS.into_iter().enumerate() {
        let client = server.client(protocol, http);
        let service = ["", "acme.v1.A", "acme.v1.B"][i % 3];
        let mut call = within("watch", client.watch(request(service)))
            .await
            .expect("watch starts");
        assert_eq!(next_status(&mut call).await, ServingStatus::Serving);
        calls.push((client, call));
    }

    reporter.set_all_not_serving();
    for (client, call) in &mut calls {
        assert_eq!(next_status(call).await, ServingStatus::NotServing);
        assert_eq!(
            check(client, "").await.expect("check"),
            ServingStatus::NotServing
        );
    }
    // While shutting down, nothing turns back to SERVING.
    reporter.set_serving("acme.v1.A");
    assert_eq!(reporter.status("acme.v1.A"), ServingStatus::NotServing);
}

#[tokio::test]
async fn a_watch_ends_when_its_caller_goes_away() {
    let server = TestServer::start().await;
    let client = server.client(ProtocolKind::GRPC, HttpVersion::Http2);
    let mut call = within("watch", client.watch(request("acme.v1.Gone")))
        .await
        .expect("watch starts");
    assert_eq!(next_status(&mut call).await, ServingStatus::ServiceUnknown);
    assert_eq!(server.reporter.watcher_count("acme.v1.Gone"), 1);
    drop(call);
    // The server notices the reset stream and ends the watch, which lets go of the service's channel.
    within("watcher freed", async {
        while server.reporter.watcher_count("acme.v1.Gone") > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_graceful_shutdown_reports_not_serving_before_the_server_stops() {
    let (reporter, routes) = trident_health::service();
    reporter.set_serving("acme.v1.Svc");
    let router = Router::new().add(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown_reporter = reporter.clone();
    let server = tokio::spawn(async move {
        trident::Server::new()
            .grace_period(Duration::from_millis(300))
            .serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
                shutdown_reporter.set_all_not_serving();
            })
            .await
            .expect("serve");
    });

    let client = HealthClient::new(
        Client::builder(format!("http://{addr}"))
            .protocol(ProtocolKind::GRPC)
            .http_version(HttpVersion::Http2)
            .build()
            .expect("client"),
    );
    let mut server_watch = within("watch", client.watch(request("")))
        .await
        .expect("watch");
    let mut service_watch = within("watch", client.watch(request("acme.v1.Svc")))
        .await
        .expect("watch");
    assert_eq!(next_status(&mut server_watch).await, ServingStatus::Serving);
    assert_eq!(
        next_status(&mut service_watch).await,
        ServingStatus::Serving
    );

    stop.send(()).expect("server running");
    assert_eq!(
        next_status(&mut server_watch).await,
        ServingStatus::NotServing
    );
    assert_eq!(
        next_status(&mut service_watch).await,
        ServingStatus::NotServing
    );
    // The watches hold the server open only for its grace period; then they end and the server stops.
    within("server stops", server).await.expect("server task");
    for call in [&mut server_watch, &mut service_watch] {
        if let Ok(Some(message)) = within("watch end", call.message()).await {
            panic!("a status after NOT_SERVING: {message:?}");
        }
    }
}
