//! `WatchStream` (bidi over HTTP/2): many watches on one stream, created and cancelled by id; a watch that
//! cannot go on is cancelled alone; progress on request; everything freed when the stream goes away.

use crate::common::*;
use trident::{HttpVersion, ProtocolKind, client::BidiStreamCall};
use trident_watch::proto::watch_stream_request::Request as StreamRequest;
use trident_watch::proto::*;
use trident_watch::store::StoreConfig;

type Call = BidiStreamCall<WatchStreamRequest, WatchResponse>;

fn create(watch_id: i64, key: &str, prefix: bool, start_revision: i64) -> WatchStreamRequest {
    WatchStreamRequest {
        request: Some(StreamRequest::Create(WatchRequest {
            key: key.into(),
            prefix,
            start_revision,
            watch_id,
            ..Default::default()
        })),
    }
}

fn cancel(watch_id: i64) -> WatchStreamRequest {
    WatchStreamRequest {
        request: Some(StreamRequest::Cancel(WatchCancelRequest { watch_id })),
    }
}

async fn send(call: &mut Call, request: WatchStreamRequest) {
    within("send", call.send(request)).await.unwrap();
}

async fn next(call: &mut Call) -> WatchResponse {
    within("next response", call.message())
        .await
        .unwrap()
        .expect("the stream ended")
}

/// Reads responses until one matches `check`, skipping progress notifications.
async fn next_where(call: &mut Call, check: impl Fn(&WatchResponse) -> bool) -> WatchResponse {
    loop {
        let response = next(call).await;
        if check(&response) {
            return response;
        }
        assert!(
            response.progress,
            "unexpected response while waiting: {response:?}"
        );
    }
}

fn stream(server: &Server, protocol: ProtocolKind) -> Call {
    server
        .client_with(protocol, HttpVersion::Http2)
        .watch_stream(())
}

#[tokio::test]
async fn many_watches_share_one_stream_and_are_cancelled_by_id() {
    for protocol in [ProtocolKind::CONNECT, ProtocolKind::GRPC] {
        let server = Server::start().await;
        server.put("a/0", "before");
        let mut call = stream(&server, protocol);
        send(&mut call, create(1, "a/", true, 1)).await;
        send(&mut call, create(2, "b", false, 0)).await;
        send(&mut call, create(0, "c/", true, 0)).await; // the server picks the id

        // Three confirmations and watch 1's replay; the replay may overtake the later confirmations.
        let mut created = Vec::new();
        let mut replay = None;
        for _ in 0..4 {
            let response = next(&mut call).await;
            if response.created {
                created.push(response.watch_id);
            } else {
                assert_eq!(response.watch_id, 1);
                replay = Some(revisions_and_keys(&response.events));
            }
        }
        assert_eq!(replay.expect("replay"), [(1, "a/0".into())]);
        assert_eq!(created.len(), 3);
        assert_eq!(created[..2], [1, 2], "confirmed in order");
        let assigned = created[2];
        assert!(assigned > 2, "the server picks a free id: {assigned}");
        assert_eq!(server.store.stats().watchers, 3);

        server.put("c/1", "v");
        server.put("b", "v");
        server.put("a/1", "v");
        let mut seen = Vec::new();
        for _ in 0..3 {
            let response = next(&mut call).await;
            seen.push((response.watch_id, revisions_and_keys(&response.events)));
        }
        seen.sort();
        let mut expected = vec![
            (1, vec![(4, "a/1".to_string())]),
            (2, vec![(3, "b".to_string())]),
            (assigned, vec![(2, "c/1".to_string())]),
        ];
        expected.sort();
        assert_eq!(seen, expected, "{protocol:?}");

        send(&mut call, cancel(2)).await;
        let cancelled = next(&mut call).await;
        assert_eq!(cancelled.watch_id, 2);
        assert!(cancelled.canceled);
        assert_eq!(cancelled.cancel_reason(), CancelReason::Requested);
        server
            .wait_for_stats("the cancelled watcher is freed", |s| s.watchers == 2)
            .await;

        server.put("b", "unwatched now");
        server.put("a/2", "v");
        let response = next(&mut call).await;
        assert_eq!(response.watch_id, 1);
        assert_eq!(revisions_and_keys(&response.events), [(6, "a/2".into())]);

        // A cancel for an id that is not there says so, and changes nothing else.
        send(&mut call, cancel(99)).await;
        let response = next(&mut call).await;
        assert_eq!(
            (response.watch_id, response.cancel_reason()),
            (99, CancelReason::Invalid)
        );
        assert_eq!(server.store.stats().watchers, 2);
    }
}

#[tokio::test]
async fn a_watch_that_cannot_start_is_cancelled_alone() {
    let server = Server::start().await;
    for i in 0..6 {
        server.put(&format!("k{i}"), "v");
    }
    server.store.compact(5).unwrap();
    let mut call = stream(&server, ProtocolKind::CONNECT);
    send(&mut call, create(1, "k", true, 0)).await;
    assert!(next(&mut call).await.created);

    send(&mut call, create(1, "x", false, 0)).await;
    let duplicate = next(&mut call).await;
    assert!(duplicate.canceled && !duplicate.created);
    assert_eq!(duplicate.cancel_reason(), CancelReason::Invalid);
    assert!(
        duplicate.cancel_message.contains("already"),
        "{duplicate:?}"
    );

    send(&mut call, create(7, "k", true, 2)).await;
    let compacted = next(&mut call).await;
    assert_eq!(compacted.watch_id, 7);
    assert!(compacted.canceled);
    assert_eq!(compacted.cancel_reason(), CancelReason::Compacted);
    assert_eq!(compacted.compact_revision, 5);
    assert!(compacted.cancel_message.contains("compacted"));

    send(&mut call, create(8, "", false, 0)).await;
    let invalid = next(&mut call).await;
    assert_eq!(
        (invalid.watch_id, invalid.cancel_reason()),
        (8, CancelReason::Invalid)
    );

    // Watch 1 is unharmed.
    server.put("k9", "v");
    let response = next(&mut call).await;
    assert_eq!(response.watch_id, 1);
    assert_eq!(revisions_and_keys(&response.events), [(7, "k9".into())]);
    assert_eq!(server.store.stats().watchers, 1);
}

#[tokio::test]
async fn progress_is_reported_on_request_and_on_a_timer() {
    let server = Server::start().await;
    server.put("x", "v");
    let mut call = stream(&server, ProtocolKind::CONNECT);
    send(&mut call, create(1, "a", false, 0)).await;
    send(&mut call, create(2, "b", false, 0)).await;
    next(&mut call).await;
    next(&mut call).await;
    server.put("y", "v");
    send(
        &mut call,
        WatchStreamRequest {
            request: Some(StreamRequest::Progress(WatchProgressRequest {})),
        },
    )
    .await;
    let first = next(&mut call).await;
    let second = next(&mut call).await;
    assert!(first.progress && second.progress);
    assert_eq!(
        [
            (first.watch_id, first.revision),
            (second.watch_id, second.revision)
        ],
        [(1, 2), (2, 2)]
    );

    let mut timed = WatchRequest {
        key: "c".into(),
        watch_id: 3,
        progress_interval_ms: 100,
        ..Default::default()
    };
    timed.prefix = true;
    send(
        &mut call,
        WatchStreamRequest {
            request: Some(StreamRequest::Create(timed)),
        },
    )
    .await;
    assert!(next(&mut call).await.created);
    for _ in 0..2 {
        let response = next(&mut call).await;
        assert_eq!((response.watch_id, response.progress), (3, true));
        assert_eq!(response.revision, 2);
    }
}

#[tokio::test]
async fn a_watch_that_falls_behind_is_cancelled_with_where_to_resume() {
    const BUFFER: usize = 4;
    let server = Server::with_config(StoreConfig {
        history_limit: 64,
        watcher_buffer: BUFFER,
    })
    .await;
    let mut call = stream(&server, ProtocolKind::CONNECT);
    send(&mut call, create(1, "big/", true, 0)).await;
    assert!(next(&mut call).await.created);
    let value = "x".repeat(256 * 1024);
    let mut puts = 0;
    while server.store.stats().watchers_fell_behind == 0 {
        assert!(puts < 1_000, "the watcher was never cut off");
        server.put(&format!("big/{puts}"), &value);
        puts += 1;
    }
    let mut last = 0;
    let cancelled = loop {
        let response = next(&mut call).await;
        if response.canceled {
            break response;
        }
        for (revision, _) in revisions_and_keys(&response.events) {
            assert_eq!(revision, last + 1);
            last = revision;
        }
    };
    assert_eq!(cancelled.watch_id, 1);
    assert_eq!(cancelled.cancel_reason(), CancelReason::FellBehind);
    assert_eq!(cancelled.resume_revision, last + 1);
    assert!(cancelled.cancel_message.contains("fell behind"));
    server
        .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
        .await;

    // The stream goes on: resume on it from where the watch stopped.
    send(
        &mut call,
        create(2, "big/", true, cancelled.resume_revision),
    )
    .await;
    let created = next_where(&mut call, |r| r.created).await;
    assert_eq!(created.watch_id, 2);
    let resumed = next(&mut call).await;
    assert_eq!(
        revisions_and_keys(&resumed.events)[0].0,
        cancelled.resume_revision
    );
}

#[tokio::test]
async fn dropping_the_stream_frees_every_watcher() {
    let server = Server::start().await;
    let mut call = stream(&server, ProtocolKind::CONNECT);
    for id in 1..=5 {
        send(&mut call, create(id, &format!("k{id}"), false, 0)).await;
    }
    for _ in 1..=5 {
        assert!(next(&mut call).await.created);
    }
    assert_eq!(server.store.stats().watchers, 5);
    drop(call);
    server
        .wait_for_stats("every watcher is freed", |s| s.watchers == 0)
        .await;
}

#[tokio::test]
async fn closing_the_request_side_ends_the_stream() {
    let server = Server::start().await;
    let mut call = stream(&server, ProtocolKind::GRPC);
    send(&mut call, create(1, "k", false, 0)).await;
    assert!(next(&mut call).await.created);
    call.close_send().unwrap();
    assert!(
        within("end", call.message()).await.unwrap().is_none(),
        "ends cleanly"
    );
    server
        .wait_for_stats("the watcher is freed", |s| s.watchers == 0)
        .await;
}
