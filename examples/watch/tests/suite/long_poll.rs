//! `LongPoll`: held until a change under the prefixes or the timeout (or the call's deadline), answered
//! with what changed; plain JSON over HTTP/1.1 as `curl` sends it; the watcher freed when the caller
//! leaves.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use tokio::time::Instant;
use trident::{Code, HttpVersion, ProtocolKind, Request};
use trident_watch::proto::*;

fn poll(prefixes: &[&str], after_revision: i64, timeout_ms: u32) -> LongPollRequest {
    LongPollRequest {
        prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        after_revision,
        timeout_ms,
        prev_kv: false,
        store_id: String::new(),
    }
}

#[tokio::test]
async fn a_long_poll_is_held_until_something_under_its_prefixes_changes() {
    for (protocol, http) in [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::GRPC, HttpVersion::Http2),
        (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
    ] {
        let server = Server::start().await;
        let revision = server.put("config/a", "1");
        let client = server.client_with(protocol, http);
        let started = Instant::now();
        let pending = tokio::spawn({
            let client = client.clone();
            async move {
                let mut request = poll(&["config/", "flags/"], revision, 20_000);
                request.prev_kv = true;
                client.long_poll(request).await
            }
        });
        server
            .wait_for_stats("the poll is parked", |s| s.watchers == 1)
            .await;
        server.put("unrelated", "x");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!pending.is_finished(), "woken by an unrelated key");

        server.put("config/a", "2");
        let answer = within("the answer", pending)
            .await
            .unwrap()
            .unwrap()
            .into_message();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!answer.timed_out);
        assert_eq!(answer.revision, 3);
        assert_eq!(answer.changed_prefixes, ["config/"]);
        assert_eq!(revisions_and_keys(&answer.events), [(3, "config/a".into())]);
        assert_eq!(answer.events[0].prev_kv.as_ref().unwrap().value, "1");
        assert!(!answer.more);
        server
            .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
            .await;
    }
}

#[tokio::test]
async fn a_long_poll_behind_the_store_answers_at_once_with_everything_since() {
    let server = Server::start().await;
    server.put("config/a", "1");
    server.put("flags/b", "on");
    server.put("other", "x");
    server.put("config/c", "3");
    let answer = within(
        "poll",
        server
            .client()
            .long_poll(poll(&["flags/", "config/"], 1, 20_000)),
    )
    .await
    .unwrap()
    .into_message();
    assert_eq!(
        revisions_and_keys(&answer.events),
        [(2, "flags/b".into()), (4, "config/c".into())]
    );
    assert_eq!(answer.changed_prefixes, ["flags/", "config/"]);
    assert_eq!(answer.revision, 4);
    assert!(answer.events.iter().all(|e| e.prev_kv.is_none()));
}

#[tokio::test]
async fn a_long_poll_times_out_with_the_revision_to_poll_from() {
    let server = Server::start().await;
    server.put("elsewhere", "x");
    let started = Instant::now();
    let answer = within(
        "poll",
        server.client().long_poll(poll(&["config/"], 0, 300)),
    )
    .await
    .unwrap()
    .into_message();
    let elapsed = started.elapsed();
    assert!(answer.timed_out && answer.events.is_empty());
    assert_eq!(answer.revision, 1);
    assert!(
        elapsed >= Duration::from_millis(280) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    server
        .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
        .await;
}

#[tokio::test]
async fn a_long_poll_answers_before_a_shorter_call_deadline() {
    let server = Server::start().await;
    let started = Instant::now();
    let request = Request::new(poll(&["config/"], 0, 60_000)).with_timeout(Duration::from_secs(2));
    let answer = within("poll", server.client().long_poll(request))
        .await
        .expect("an answer, not deadline_exceeded")
        .into_message();
    assert!(answer.timed_out);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1_500) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_long_poll_after_a_compacted_revision_fails_with_details() {
    let server = Server::start().await;
    for i in 0..4 {
        server.put(&format!("k{i}"), "v");
    }
    server.store.compact(4).unwrap();
    let error = within("poll", server.client().long_poll(poll(&["k"], 1, 1_000)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::OutOfRange);
    let detail: CompactedDetail = error.details()[0].decode().unwrap();
    assert_eq!((detail.compact_revision, detail.requested_revision), (4, 2));
    // Polling from the revision before the compact revision is fine: nothing is missing.
    let answer = within("poll", server.client().long_poll(poll(&["k"], 3, 1_000)))
        .await
        .unwrap()
        .into_message();
    assert_eq!(revisions_and_keys(&answer.events), [(4, "k3".into())]);
}

#[tokio::test]
async fn a_long_poll_answer_is_bounded_and_says_when_more_is_waiting() {
    let server = Server::start().await;
    for i in 0..1_500 {
        server.put(&format!("k/{i:04}"), "v");
    }
    let client = server.client();
    let first = within("poll", client.long_poll(poll(&["k/"], 0, 1_000)))
        .await
        .unwrap()
        .into_message();
    assert!(first.timed_out, "after 0 means: from now on");
    let first = within("poll", client.long_poll(poll(&["k/"], 100, 1_000)))
        .await
        .unwrap()
        .into_message();
    assert_eq!(first.events.len(), 1_000);
    assert!(first.more);
    assert_eq!(first.revision, 1_100);
    let second = within(
        "poll",
        client.long_poll(poll(&["k/"], first.revision, 1_000)),
    )
    .await
    .unwrap()
    .into_message();
    assert_eq!(second.events.len(), 400);
    assert!(!second.more);
    assert_eq!(second.revision, 1_500);
}

#[tokio::test]
async fn a_caller_leaving_frees_the_long_poll() {
    let server = Server::start().await;
    let client = server.client();
    let pending = tokio::spawn(async move { client.long_poll(poll(&["x/"], 0, 30_000)).await });
    server
        .wait_for_stats("the poll is parked", |s| s.watchers == 1)
        .await;
    pending.abort();
    server
        .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
        .await;
}

#[tokio::test]
async fn curl_style_long_poll_with_json_over_http1() {
    let server = Server::start().await;
    let revision = server.put("config/a", "1");
    let addr = server.addr;
    let body =
        format!(r#"{{"prefixes":["config/"],"afterRevision":"{revision}","timeoutMs":20000}}"#);
    let pending = tokio::spawn(async move {
        raw_http1(
            addr,
            "POST",
            "/trident.watch.v1.KvService/LongPoll",
            &[("Content-Type", "application/json")],
            &body,
        )
        .await
    });
    server
        .wait_for_stats("the poll is parked", |s| s.watchers == 1)
        .await;
    server.put("config/b", "2");
    let (status, headers, body) = within("the answer", pending).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["revision"], "2", "{body}");
    assert_eq!(json["changedPrefixes"][0], "config/");
    assert_eq!(json["events"][0]["type"], "EVENT_TYPE_PUT");
    assert_eq!(json["events"][0]["kv"]["key"], "config/b");
    assert_eq!(json["events"][0]["kv"]["value"], "2");

    // The timeout, numbers instead of strings for revisions, and a Connect deadline header all work.
    let (status, _, body) = within(
        "timeout",
        raw_http1(
            addr,
            "POST",
            "/trident.watch.v1.KvService/LongPoll",
            &[("Content-Type", "application/json")],
            r#"{"prefixes":["config/"],"afterRevision":2,"timeoutMs":200}"#,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["timedOut"], true, "{body}");
    assert_eq!(json["revision"], "2");

    let started = Instant::now();
    let (status, _, body) = within(
        "deadline",
        raw_http1(
            addr,
            "POST",
            "/trident.watch.v1.KvService/LongPoll",
            &[
                ("Content-Type", "application/json"),
                ("Connect-Timeout-Ms", "1000"),
            ],
            r#"{"prefixes":["config/"]}"#,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["timedOut"],
        true
    );

    // Errors are JSON too, with an HTTP status from the code and the typed detail.
    server.put("config/c", "3");
    server.store.compact(3).unwrap();
    let (status, _, body) = within(
        "compacted",
        raw_http1(
            addr,
            "POST",
            "/trident.watch.v1.KvService/LongPoll",
            &[("Content-Type", "application/json")],
            r#"{"afterRevision":"1","prefixes":["config/"],"timeoutMs":100}"#,
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], "out_of_range", "{body}");
    assert_eq!(
        json["details"][0]["type"],
        "trident.watch.v1.CompactedDetail"
    );
}
