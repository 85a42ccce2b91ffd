//! Store identity: every answer names the store, and a request resuming from a revision of another store
//! is refused (`failed_precondition` naming both ids, or a `WatchStream` cancellation) instead of being
//! answered from a different history.

use crate::common::*;
use trident::Code;
use trident_watch::proto::watch_stream_request::Request as StreamRequest;
use trident_watch::proto::*;

const OTHER: &str = "00000000000000000000000000000000";

#[tokio::test]
async fn a_watch_or_long_poll_from_another_store_is_refused_naming_both() {
    let server = Server::start().await;
    server.put("k", "v");
    let id = server.store.id().to_owned();
    let client = server.client();
    let request = WatchRequest {
        key: "k".into(),
        start_revision: 1,
        store_id: OTHER.into(),
        ..Default::default()
    };
    let error = within("watch", async {
        match client.watch(request).await {
            Err(error) => error,
            Ok(mut call) => call.message().await.expect_err("a refused watch"),
        }
    })
    .await;
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.message().contains(OTHER) && error.message().contains(&id),
        "{}",
        error.message()
    );
    assert_eq!(error.headers().get("watch-store-id"), Some(id.as_str()));

    let error = within(
        "long poll",
        client.long_poll(LongPollRequest {
            after_revision: 1,
            store_id: OTHER.into(),
            timeout_ms: 100,
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);

    // The right id (or none) is accepted, and the created response names the store.
    let mut call = within(
        "watch",
        client.watch(WatchRequest {
            key: "k".into(),
            start_revision: 1,
            store_id: id.clone(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let created = within("created", call.message()).await.unwrap().unwrap();
    assert_eq!(
        (created.created, created.store_id.as_str()),
        (true, id.as_str())
    );
    let events = collect_events(&mut call, 1).await.unwrap();
    assert_eq!(revisions_and_keys(&events), [(1, "k".to_owned())]);
}

#[tokio::test]
async fn a_multiplexed_watch_from_another_store_is_cancelled_and_the_others_go_on() {
    let server = Server::start().await;
    server.put("k", "v");
    let client = server.h2_client();
    let mut call = client.watch_stream(());
    for (watch_id, store_id) in [(1, OTHER.to_owned()), (2, server.store.id().to_owned())] {
        let create = WatchRequest {
            key: "k".into(),
            start_revision: 1,
            watch_id,
            store_id,
            ..Default::default()
        };
        within(
            "send",
            call.send(WatchStreamRequest {
                request: Some(StreamRequest::Create(create)),
            }),
        )
        .await
        .unwrap();
    }
    let mut refused = None;
    let mut events = Vec::new();
    while refused.is_none() || events.is_empty() {
        let response = within("response", call.message()).await.unwrap().unwrap();
        match response.watch_id {
            1 => refused = Some(response),
            2 => events.extend(response.events),
            other => panic!("a response for watch {other}"),
        }
    }
    let refused = refused.unwrap();
    assert!(refused.canceled);
    assert_eq!(refused.cancel_reason(), CancelReason::StoreMismatch);
    assert!(refused.cancel_message.contains(OTHER));
    assert_eq!(revisions_and_keys(&events), [(1, "k".to_owned())]);
}
