//! Durability and identity across restarts, black-box: a `watch-server` child process on a data
//! directory is killed with SIGKILL and started again; what it acknowledged is still there, revisions go
//! on, watches resume from old revisions, a `watch-cli watch` running meanwhile resumes by itself, and a
//! server whose store is another one is refused rather than silently followed. SIGTERM, by contrast,
//! ends open watches at once with `unavailable` (which clients resume from) and exits cleanly.

use crate::common::process::{CliProcess, ServerProcess, TempDir};
use crate::common::*;
use trident::Code;
use trident_watch::proto::*;
use trident_watch::store::{Store, StoreConfig};

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        prev_kv: false,
    }
}

fn everything_from(start_revision: i64, store_id: &str) -> WatchRequest {
    WatchRequest {
        key: String::new(),
        prefix: true,
        start_revision,
        store_id: store_id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_revisions_go_on() {
    let data = TempDir::new("restart-durable");
    let server = ServerProcess::durable("127.0.0.1:0", data.path()).await;
    let client = server.client();
    let first = within("put", client.put(put("a", "1")))
        .await
        .unwrap()
        .into_message();
    let store_id = first.store_id.clone();
    assert_eq!((first.revision, store_id.len()), (1, 32));
    within("put", client.put(put("b", "2"))).await.unwrap();
    let deleted = within(
        "delete",
        client.delete(DeleteRequest {
            key: "a".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .into_message();
    assert_eq!((deleted.revision, deleted.deleted), (3, 1));
    // Acknowledged, so on disk: SIGKILL gives the server no chance to write anything more.
    server.kill().await;

    let server = ServerProcess::durable("127.0.0.1:0", data.path()).await;
    let client = server.client();
    let range = within(
        "range",
        client.range(RangeRequest {
            key: String::new(),
            prefix: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        range.headers().get("watch-store-id"),
        Some(store_id.as_str())
    );
    let range = range.into_message();
    assert_eq!(
        (range.revision, range.store_id.as_str()),
        (3, store_id.as_str())
    );
    let kvs: Vec<(&str, &str)> = range
        .kvs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    assert_eq!(kvs, [("b", "2")]);
    let next = within("put", client.put(put("c", "3")))
        .await
        .unwrap()
        .into_message();
    assert_eq!(next.revision, 4, "revisions continue after the restart");

    // A watcher that had seen revision 1 before the crash resumes from 2 and gets everything since.
    let mut watch = within("watch", client.watch(everything_from(2, &store_id)))
        .await
        .unwrap();
    let created = within("created", watch.message()).await.unwrap().unwrap();
    assert!(created.created);
    assert_eq!(created.store_id, store_id);
    let events = collect_events(&mut watch, 3).await.unwrap();
    assert_eq!(
        revisions_and_keys(&events),
        [
            (2, "b".to_owned()),
            (3, "a".to_owned()),
            (4, "c".to_owned())
        ]
    );
    assert_eq!(events[1].r#type(), EventType::Delete);
}

#[tokio::test]
async fn the_history_and_its_compact_revision_survive_a_restart() {
    let data = TempDir::new("restart-history");
    let server = ServerProcess::start(
        "127.0.0.1:0",
        &["--data", data.path().to_str().unwrap(), "--history", "3"],
    )
    .await;
    let client = server.client();
    for i in 1..=5 {
        within("put", client.put(put(&format!("k{i}"), "v")))
            .await
            .unwrap();
    }
    server.kill().await;
    let server = ServerProcess::start(
        "127.0.0.1:0",
        &["--data", data.path().to_str().unwrap(), "--history", "3"],
    )
    .await;
    let client = server.client();
    let compacted = within("watch", async {
        match client.watch(everything_from(2, "")).await {
            Err(error) => error,
            Ok(mut call) => loop {
                match call.message().await {
                    Err(error) => break error,
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("the watch ended without an error"),
                }
            },
        }
    })
    .await;
    assert_eq!(compacted.code(), Code::OutOfRange);
    let detail: CompactedDetail = compacted.details()[0].decode().unwrap();
    assert_eq!((detail.compact_revision, detail.current_revision), (3, 5));
    let mut watch = within("watch", client.watch(everything_from(3, "")))
        .await
        .unwrap();
    within("created", watch.message()).await.unwrap().unwrap();
    let events = collect_events(&mut watch, 3).await.unwrap();
    let revisions: Vec<i64> = revisions_and_keys(&events).iter().map(|e| e.0).collect();
    assert_eq!(revisions, [3, 4, 5]);
}

#[tokio::test]
async fn watch_cli_resumes_across_a_restart_and_stops_at_another_store() {
    let data = TempDir::new("restart-cli");
    let server = ServerProcess::durable("127.0.0.1:0", data.path()).await;
    let addr = server.addr.to_string();
    let url = server.url();
    let mut cli = CliProcess::start(&["--url", &url, "watch", "", "--prefix"]);
    cli.wait_for("watching").await;
    within("put", server.client().put(put("k1", "before")))
        .await
        .unwrap();
    cli.wait_for("[1] PUT k1").await;

    // The server dies; while it is down, a change is made to its data directory directly (as another
    // instance would have served it). The restarted server has it in its history only.
    server.kill().await;
    {
        let store = Store::open(data.path(), StoreConfig::default()).unwrap();
        assert_eq!(store.put("k2", "while down").unwrap().revision, 2);
    }
    let server = ServerProcess::durable(&addr, data.path()).await;
    within("put", server.client().put(put("k3", "after")))
        .await
        .unwrap();
    let skipped = cli.wait_for("[2] PUT k2").await;
    assert!(
        !skipped.iter().any(|line| line.contains("PUT k1")),
        "nothing is seen twice: {skipped:?}"
    );
    cli.wait_for("[3] PUT k3").await;

    // Now the address is served by another store: the CLI must not follow it.
    server.kill().await;
    let other = TempDir::new("restart-cli-other");
    let server = ServerProcess::durable(&addr, other.path()).await;
    within("put", server.client().put(put("x", "elsewhere")))
        .await
        .unwrap();
    let (succeeded, stderr) = cli.exit().await;
    assert!(!succeeded, "watch-cli must fail; it said: {stderr}");
    assert!(stderr.contains("failed_precondition"), "{stderr}");
    let old_id = Store::open(data.path(), StoreConfig::default())
        .unwrap()
        .id()
        .to_owned();
    assert!(
        stderr.contains(&old_id),
        "names the store it followed: {stderr}"
    );
    drop(server);
}

#[tokio::test]
async fn sigterm_ends_open_watches_at_once_and_exits_cleanly() {
    let data = TempDir::new("restart-sigterm");
    let server = ServerProcess::durable("127.0.0.1:0", data.path()).await;
    let client = server.client();
    within("put", client.put(put("a", "1"))).await.expect("put");
    let mut watch = within("watch", client.watch(everything_from(1, "")))
        .await
        .expect("watch");
    let created = within("created", watch.message())
        .await
        .expect("created")
        .expect("a response");
    assert!(created.created);
    within("replay", watch.message())
        .await
        .expect("the replayed event")
        .expect("a response");

    let stopping = std::time::Instant::now();
    let exit = tokio::spawn(server.terminate());
    let error = loop {
        match within("the watch ends", watch.message()).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the watch ended without saying why"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(error.message().contains("shutting down"), "{error}");
    let status = within("exit", exit).await.expect("joined");
    assert!(status.success(), "{status:?}");
    // Well inside the 5-second grace period: the open watch did not hold the shutdown.
    assert!(
        stopping.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
}
