//! `Watch` (server streaming): replay from a revision, compaction errors with details, progress
//! notifications, the slow-watcher cutoff, and freeing the watcher when the client goes away.

use std::time::Duration;

use crate::common::*;
use trident::{Code, Error, HttpVersion, ProtocolKind, Request};
use trident_watch::proto::*;
use trident_watch::store::StoreConfig;

const PROTOCOLS: [(ProtocolKind, HttpVersion); 4] = [
    (ProtocolKind::CONNECT, HttpVersion::Http1),
    (ProtocolKind::CONNECT, HttpVersion::Http2),
    (ProtocolKind::GRPC, HttpVersion::Http2),
    (ProtocolKind::GRPC_WEB, HttpVersion::Http1),
];

fn watch_prefix(prefix: &str, start_revision: i64) -> WatchRequest {
    WatchRequest {
        key: prefix.into(),
        prefix: true,
        start_revision,
        ..Default::default()
    }
}

/// The error a watch ends with, whether the call fails at once or its stream does.
async fn watch_error(client: &KvServiceClient, request: WatchRequest) -> Error {
    match within("start watch", client.watch(request)).await {
        Err(error) => error,
        Ok(mut call) => loop {
            match within("watch message", call.message()).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the watch ended without an error"),
                Err(error) => break error,
            }
        },
    }
}

#[tokio::test]
async fn replays_history_from_a_revision_then_follows_live_changes() {
    for (protocol, http) in PROTOCOLS {
        let server = Server::start().await;
        let client = server.client_with(protocol, http);
        for i in 1..=5 {
            server.put(&format!("app/k{i}"), &format!("v{i}"));
            server.put("elsewhere", "x");
        }
        // Revisions: app/k1=1, elsewhere=2, app/k2=3, ..., app/k5=9, elsewhere=10.
        let mut request = watch_prefix("app/", 5);
        request.prev_kv = true;
        let mut call = within("watch", client.watch(request)).await.unwrap();
        let created = within("created", call.message()).await.unwrap().unwrap();
        assert!(created.created, "{protocol:?}: first response is `created`");
        assert_eq!(created.revision, 10);

        let replayed = collect_events(&mut call, 3).await.unwrap();
        assert_eq!(
            revisions_and_keys(&replayed),
            [
                (5, "app/k3".into()),
                (7, "app/k4".into()),
                (9, "app/k5".into())
            ],
            "{protocol:?} {http:?}"
        );
        assert!(replayed.iter().all(|e| e.prev_kv.is_none()), "new keys");

        let revision = within(
            "put",
            client.put(PutRequest {
                key: "app/k1".into(),
                value: "changed".into(),
                prev_kv: false,
            }),
        )
        .await
        .unwrap()
        .into_message()
        .revision;
        assert_eq!(revision, 11);
        server.put("elsewhere", "y");
        let live = collect_events(&mut call, 1).await.unwrap();
        assert_eq!(revisions_and_keys(&live), [(11, "app/k1".into())]);
        assert_eq!(live[0].r#type(), EventType::Put);
        assert_eq!(live[0].kv.as_ref().unwrap().value, "changed");
        assert_eq!(live[0].kv.as_ref().unwrap().version, 2);
        let prev = live[0].prev_kv.as_ref().expect("prev_kv asked for");
        assert_eq!((prev.value.as_str(), prev.mod_revision), ("v1", 1));

        server.store.delete("app/", true).expect("delete");
        let deleted = collect_events(&mut call, 5).await.unwrap();
        assert!(deleted.iter().all(|e| e.r#type() == EventType::Delete));
        assert!(
            deleted
                .iter()
                .all(|e| e.kv.as_ref().unwrap().mod_revision == 13)
        );
    }
}

#[tokio::test]
async fn a_single_key_watch_without_start_revision_sees_only_new_changes() {
    let server = Server::start().await;
    server.put("k", "old");
    let mut call = within(
        "watch",
        server.client().watch(WatchRequest {
            key: "k".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let created = within("created", call.message()).await.unwrap().unwrap();
    assert_eq!((created.created, created.revision), (true, 1));
    server.put("k2", "not this key");
    server.put("k", "new");
    let events = collect_events(&mut call, 1).await.unwrap();
    assert_eq!(revisions_and_keys(&events), [(3, "k".into())]);
    assert!(events[0].prev_kv.is_none(), "prev_kv was not asked for");
}

#[tokio::test]
async fn a_compacted_start_revision_fails_with_the_compact_revision_in_the_details() {
    for (protocol, http) in PROTOCOLS {
        let server = Server::start().await;
        let client = server.client_with(protocol, http);
        for i in 0..5 {
            server.put(&format!("k{i}"), "v");
        }
        let compacted = within("compact", client.compact(CompactRequest { revision: 4 }))
            .await
            .unwrap()
            .into_message();
        assert_eq!((compacted.compact_revision, compacted.revision), (4, 5));

        let error = watch_error(&client, watch_prefix("", 2)).await;
        assert_eq!(error.code(), Code::OutOfRange, "{protocol:?}: {error}");
        assert!(error.message().contains("compacted"), "{}", error.message());
        let detail: CompactedDetail = error
            .details()
            .iter()
            .find_map(|d| d.decode().ok())
            .expect("a CompactedDetail");
        assert_eq!(
            (
                detail.compact_revision,
                detail.requested_revision,
                detail.current_revision
            ),
            (4, 2, 5),
            "{protocol:?} {http:?}"
        );

        // From the compact revision on, the history is still there.
        let mut call = within("watch", client.watch(watch_prefix("", 4)))
            .await
            .unwrap();
        within("created", call.message()).await.unwrap().unwrap();
        let events = collect_events(&mut call, 2).await.unwrap();
        assert_eq!(
            revisions_and_keys(&events),
            [(4, "k3".into()), (5, "k4".into())]
        );
    }
}

#[tokio::test]
async fn the_history_limit_compacts_as_changes_arrive() {
    let server = Server::with_config(StoreConfig {
        history_limit: 10,
        watcher_buffer: 64,
    })
    .await;
    for i in 0..25 {
        server.put(&format!("k{i}"), "v");
    }
    let error = watch_error(&server.client(), watch_prefix("", 15)).await;
    assert_eq!(error.code(), Code::OutOfRange);
    let detail: CompactedDetail = error.details()[0].decode().unwrap();
    assert_eq!(
        (detail.compact_revision, detail.requested_revision),
        (16, 15)
    );
}

#[tokio::test]
async fn progress_notifications_report_the_revision_while_nothing_matches() {
    let server = Server::start().await;
    server.put("watched", "v");
    let mut call = within(
        "watch",
        server.client().watch(WatchRequest {
            key: "watched".into(),
            progress_interval_ms: 100,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let created = within("created", call.message()).await.unwrap().unwrap();
    assert!(created.created);
    server.put("unrelated", "v");
    let started = tokio::time::Instant::now();
    let mut progress = Vec::new();
    while progress.len() < 2 {
        let response = within("progress", call.message()).await.unwrap().unwrap();
        assert!(
            response.progress && response.events.is_empty(),
            "{response:?}"
        );
        progress.push(response.revision);
    }
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(progress, [2, 2]);
    server.put("watched", "w");
    let events = collect_events(&mut call, 1).await.unwrap();
    assert_eq!(revisions_and_keys(&events), [(3, "watched".into())]);
    let response = within("progress", call.message()).await.unwrap().unwrap();
    assert!(response.progress);
    assert_eq!(response.revision, 3);
}

/// A client that stops reading: its watcher's buffer fills, the store cuts it off, the events buffered
/// before the cutoff still arrive, then `resource_exhausted` with where to resume.
async fn slow_watcher_is_cut_off(http: HttpVersion) {
    const BUFFER: usize = 8;
    let server = Server::with_config(StoreConfig {
        history_limit: 64,
        watcher_buffer: BUFFER,
    })
    .await;
    let client = server.client_with(ProtocolKind::CONNECT, http);
    let mut call = within("watch", client.watch(watch_prefix("big/", 0)))
        .await
        .unwrap();
    within("created", call.message()).await.unwrap().unwrap();

    // Big values fill the transport's windows and socket buffers quickly; then the watcher's own buffer.
    let value = "x".repeat(256 * 1024);
    let mut puts = 0;
    while server.store.stats().watchers_fell_behind == 0 {
        assert!(puts < 1_000, "the watcher was never cut off");
        server.put(&format!("big/{puts}"), &value);
        puts += 1;
    }
    let stats = server.store.stats();
    assert_eq!(stats.live_watchers, 0, "cut off at once");
    assert_eq!(
        stats.watchers, 1,
        "the handler still holds it until the client reads"
    );

    let mut last = 0;
    let error = loop {
        match within("read after cutoff", call.message()).await {
            Ok(Some(response)) => {
                for (revision, _) in revisions_and_keys(&response.events) {
                    assert_eq!(revision, last + 1, "no gaps before the cutoff");
                    last = revision;
                }
            }
            Ok(None) => panic!("the stream ended without an error"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), Code::ResourceExhausted, "{error}");
    assert!(
        error.message().contains("fell behind"),
        "{}",
        error.message()
    );
    let detail: FellBehindDetail = error.details()[0].decode().unwrap();
    assert_eq!(detail.buffer_capacity as usize, BUFFER);
    assert_eq!(
        detail.resume_revision,
        last + 1,
        "resume right after the last event seen"
    );
    assert!(last < puts, "some events were never buffered");
    server
        .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
        .await;

    // Resuming from there replays the rest from the history.
    let mut call = within(
        "resume",
        client.watch(watch_prefix("big/", detail.resume_revision)),
    )
    .await
    .unwrap();
    within("created", call.message()).await.unwrap().unwrap();
    let first = collect_events(&mut call, 1).await.unwrap();
    assert_eq!(revisions_and_keys(&first)[0].0, detail.resume_revision);
}

#[tokio::test]
async fn a_slow_watcher_is_cut_off_over_http1() {
    slow_watcher_is_cut_off(HttpVersion::Http1).await;
}

#[tokio::test]
async fn a_slow_watcher_is_cut_off_over_h2c() {
    slow_watcher_is_cut_off(HttpVersion::Http2).await;
}

#[tokio::test]
async fn a_client_going_away_frees_its_watcher() {
    for (protocol, http) in PROTOCOLS {
        let server = Server::start().await;
        let client = server.client_with(protocol, http);
        let mut call = within("watch", client.watch(watch_prefix("", 0)))
            .await
            .unwrap();
        within("created", call.message()).await.unwrap().unwrap();
        let mut second = within("watch", client.watch(watch_prefix("", 1)))
            .await
            .unwrap();
        within("created", second.message()).await.unwrap().unwrap();
        assert_eq!(server.store.stats().watchers, 2);

        call.cancel();
        server
            .wait_for_stats("cancel frees one watcher", |s| s.watchers == 1)
            .await;
        drop(second);
        server
            .wait_for_stats("drop frees the other", |s| s.watchers == 0)
            .await;
        assert_eq!(
            server.store.stats().live_watchers,
            0,
            "{protocol:?} {http:?}"
        );
    }
}

#[tokio::test]
async fn the_deadline_ends_the_watch_and_frees_the_watcher() {
    let server = Server::start().await;
    let request = Request::new(watch_prefix("", 0)).with_timeout(Duration::from_millis(300));
    let mut call = within("watch", server.client().watch(request))
        .await
        .unwrap();
    within("created", call.message()).await.unwrap().unwrap();
    let error = loop {
        match within("until the deadline", call.message()).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("ended without an error"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    server
        .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
        .await;
}

#[tokio::test]
async fn bad_watch_requests_are_invalid_arguments() {
    let server = Server::start().await;
    let client = server.client();
    let error = watch_error(&client, WatchRequest::default()).await;
    assert_eq!(error.code(), Code::InvalidArgument);
    let error = watch_error(&client, watch_prefix("", -1)).await;
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(server.store.stats().watchers, 0);
}
