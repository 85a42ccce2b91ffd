//! A watch followed the web's own ways, with no RPC library: as server-sent events (what a browser's
//! `EventSource` reads), resumed after a `kill -9` and restart from the `Last-Event-ID` a reconnecting
//! `EventSource` sends, with no gap and no duplicate; and as newline-delimited JSON for `curl -N`.

use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::common::process::{ServerProcess, TempDir};
use crate::common::*;

/// One server-sent event.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    name: Option<String>,
    data: Value,
}

/// A stream of text read as it arrives: events split on blank lines, or lines.
struct Follow {
    body: hyper::body::Incoming,
    pending: String,
}

impl Follow {
    /// GETs the watch of every key in the form `accept` names, sending `last_event_id` if any.
    async fn open(
        addr: std::net::SocketAddr,
        accept: &str,
        message: &Value,
        last_event_id: Option<&str>,
    ) -> Self {
        let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        let json = message.to_string();
        let query =
            percent_encoding::utf8_percent_encode(&json, percent_encoding::NON_ALPHANUMERIC);
        let mut request = http::Request::get(format!(
            "http://{addr}/trident.watch.v1.KvService/Watch?message={query}"
        ))
        .header("accept", accept);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let request = request.body(Empty::new()).expect("a request");
        let response = within("the watch to answer", client.request(request))
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], accept);
        Self {
            body: response.into_body(),
            pending: String::new(),
        }
    }

    /// The next piece of text up to `separator` (which is dropped).
    async fn next(&mut self, separator: &str) -> String {
        within("the next event", async {
            loop {
                if let Some((piece, rest)) = self.pending.split_once(separator) {
                    let piece = piece.to_string();
                    self.pending = rest.to_string();
                    return piece;
                }
                let frame = self.body.frame().await.expect("more").expect("a frame");
                if let Ok(data) = frame.into_data() {
                    self.pending
                        .push_str(std::str::from_utf8(&data).expect("UTF-8"));
                }
            }
        })
        .await
    }

    async fn event(&mut self) -> Event {
        loop {
            let block = self.next("\n\n").await;
            let mut event = Event {
                id: None,
                name: None,
                data: Value::Null,
            };
            let mut fields = 0;
            for line in block.lines().filter(|line| !line.starts_with(':')) {
                fields += 1;
                let (field, value) = line.split_once(": ").expect("a field");
                match field {
                    "id" => event.id = Some(value.to_string()),
                    "event" => event.name = Some(value.to_string()),
                    "data" => event.data = serde_json::from_str(value).expect("JSON data"),
                    other => panic!("unknown field {other}"),
                }
            }
            // A block of comments alone (a heartbeat) is no event.
            if fields > 0 {
                return event;
            }
        }
    }

    async fn line(&mut self) -> Value {
        serde_json::from_str(&self.next("\n").await).expect("a JSON line")
    }
}

/// The keys and revisions of a watch event's changes.
fn changes(event: &Event) -> Vec<(String, String)> {
    event.data["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    (
                        e["kv"]["key"].as_str().unwrap_or("").to_string(),
                        e["kv"]["modRevision"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_event_source_resumes_after_a_restart_with_no_gap_and_no_duplicate() {
    let data = TempDir::new("push-resume");
    let server = ServerProcess::durable("127.0.0.1:0", data.path()).await;
    let client = server.client();
    let put = |key: &str| trident_watch::proto::PutRequest {
        key: key.into(),
        value: "v".into(),
        prev_kv: false,
    };
    within("put", client.put(put("a"))).await.unwrap();

    let everything = json!({"prefix": true, "startRevision": "1"});
    let mut events = Follow::open(server.addr, "text/event-stream", &everything, None).await;
    let created = events.event().await;
    assert_eq!(created.data["created"], true);
    assert_eq!(
        created.id, None,
        "no resuming after `created`: its history is still to come"
    );
    let store_id = created.data["storeId"].as_str().unwrap().to_string();
    let history = events.event().await;
    assert_eq!(changes(&history), [("a".into(), "1".into())]);
    assert_eq!(
        history.id.as_deref(),
        Some(format!("{store_id}:1").as_str())
    );
    within("put", client.put(put("b"))).await.unwrap();
    let live = events.event().await;
    assert_eq!(changes(&live), [("b".into(), "2".into())]);
    let last_id = live.id.expect("an id");

    // The server dies; changes happen while the browser waits to reconnect.
    server.kill().await;
    drop(events);
    let server = ServerProcess::durable("127.0.0.1:0", data.path()).await;
    let client = server.client();
    within("put", client.put(put("c"))).await.unwrap();
    within("put", client.put(put("d"))).await.unwrap();

    // The reconnecting `EventSource` sends the same URL and the last id it saw.
    let mut events = Follow::open(
        server.addr,
        "text/event-stream",
        &everything,
        Some(&last_id),
    )
    .await;
    assert_eq!(events.event().await.data["created"], true);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = events.event().await;
        assert_eq!(event.name, None, "{event:?}");
        seen.extend(changes(&event));
    }
    assert_eq!(seen, [("c".into(), "3".into()), ("d".into(), "4".into())]);

    // An id from another store is not resumed from: the watch fails as the store check says.
    let mut events = Follow::open(
        server.addr,
        "text/event-stream",
        &everything,
        Some("0123:2"),
    )
    .await;
    let failed = events.event().await;
    assert_eq!(failed.name.as_deref(), Some("error"));
    assert_eq!(failed.data["code"], "failed_precondition");
    let mut events = Follow::open(
        server.addr,
        "text/event-stream",
        &everything,
        Some("garbage"),
    )
    .await;
    assert_eq!(events.event().await.data["code"], "invalid_argument");
}

#[tokio::test]
async fn curl_follows_a_watch_as_json_lines() {
    let server = Server::start().await;
    server.put("app/a", "1");
    let message = json!({"key": "app/", "prefix": true, "startRevision": "1"});
    let mut lines = Follow::open(server.addr, "application/x-ndjson", &message, None).await;
    assert_eq!(lines.line().await["result"]["created"], true);
    let history = lines.line().await;
    assert_eq!(history["result"]["events"][0]["kv"]["key"], "app/a");
    server.put("elsewhere", "x");
    server.put("app/b", "2");
    let live = lines.line().await;
    assert_eq!(live["result"]["events"][0]["kv"]["key"], "app/b");
    assert_eq!(live["result"]["events"][0]["type"], "EVENT_TYPE_PUT");
}
