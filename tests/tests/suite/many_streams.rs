//! Many busy streams on one HTTP/2 connection: the client's connection must carry hundreds of server
//! streams whose small messages sit unread for a while without the client tearing it down.

use trident::Server;
use trident_tests::{Codec, Http, TestServer, text, within};

/// 300 server streams of 5 small messages each, all opened before any is read, on one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_unread_streams_share_one_connection() {
    let server = TestServer::start_on(
        Server::new().http2(trident::Http2Settings::new().max_concurrent_streams(1000)),
        |router| router,
    )
    .await;
    let client = server.client(Codec::Proto, Http::H2);
    let mut streams = Vec::new();
    for i in 0..300 {
        let mut request = text(&format!("stream {i}"));
        request.repeat = 5;
        streams.push(
            within("open a stream", client.repeat(request))
                .await
                .expect("opened"),
        );
    }
    // Let every server stream finish writing while nothing is read.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut count = 0;
        while let Some(message) = within("read a stream", stream.message())
            .await
            .expect("message")
        {
            assert_eq!(message.text, format!("stream {i}"));
            count += 1;
        }
        assert_eq!(count, 5, "stream {i}");
    }
}
