//! Server push over a plain GET: server-streaming methods as server-sent events and as
//! newline-delimited JSON, over HTTP/1.1 and HTTP/2, read as `EventSource` and `curl -N` read them:
//! messages, errors before and after the first message, empty and long streams, gzip, deadlines,
//! heartbeats, event ids and `Last-Event-ID` resumption, cancellation by closing the connection,
//! interceptors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use trident::{
    Code, Error, ProtocolKind, Request, RequestInterceptor, Response, ResponseStream, Router,
    ServiceRoutes,
};
use trident_tests::proto::ECHO_SERVICE_NAME;
use trident_tests::{
    EchoRequest, EchoResponse, Http, REPEAT, RawResponse, TestServer, gunzip, percent_encode, raw,
    send_on_new_connection, send_raw, serve_router, within,
};

const BOTH: [Http; 2] = [Http::H1, Http::H2];
const EVENTS: &str = "text/event-stream";
const LINES: &str = "application/x-ndjson";

/// The query that carries `message` as JSON.
fn query(message: &Value) -> String {
    format!(
        "?message={}",
        percent_encode(message.to_string().as_bytes())
    )
}

/// A GET of `path` accepting `accept`, with extra headers.
async fn get(
    addr: std::net::SocketAddr,
    http: Http,
    path: &str,
    accept: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    let mut request = raw(http::Method::GET, addr, path, http).header("accept", accept);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_raw(addr, http, request.body(Bytes::new()).expect("a request")).await
}

fn repeat_path(message: Value) -> String {
    format!("/{ECHO_SERVICE_NAME}/Repeat{}", query(&message))
}

/// One server-sent event: its fields as written.
#[derive(Debug, Default, PartialEq)]
struct Event {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// The events of an SSE body (comments, such as heartbeats, are skipped).
fn parse_events(body: &[u8]) -> Vec<Event> {
    let text = std::str::from_utf8(body).expect("UTF-8 events");
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .filter_map(|block| {
            let mut event = Event::default();
            let mut any = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    continue;
                }
                any = true;
                let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                match field {
                    "id" => event.id = Some(value.to_string()),
                    "event" => event.event = Some(value.to_string()),
                    "data" => event.data.push_str(value),
                    other => panic!("unexpected field {other:?} in {block:?}"),
                }
            }
            any.then_some(event)
        })
        .collect()
}

/// The JSON lines of an NDJSON body.
fn lines(body: &[u8]) -> Vec<Value> {
    std::str::from_utf8(body)
        .expect("UTF-8 lines")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

fn data(event: &Event) -> Value {
    serde_json::from_str(&event.data).expect("event data is JSON")
}

#[tokio::test]
async fn each_message_is_an_event_and_the_stream_ends_with_an_end_event() {
    let server = TestServer::start().await;
    for http in BOTH {
        let message =
            json!({"text": "hi", "repeat": 3, "responseTrailers": [{"name": "t", "value": "v"}]});
        let response = get(server.addr, http, &repeat_path(message), EVENTS, &[]).await;
        assert_eq!(response.status, 200, "{http:?}");
        assert_eq!(response.header("content-type"), Some(EVENTS));
        assert_eq!(response.header("cache-control"), Some("no-cache"));
        assert_eq!(response.header("x-accel-buffering"), Some("no"));
        let events = parse_events(&response.body);
        assert_eq!(events.len(), 4, "{:?}", response.body);
        for (index, event) in events[..3].iter().enumerate() {
            assert_eq!(event.event, None);
            // proto3 JSON leaves out zeros: the first index is absent.
            let expected = match index {
                0 => json!({"text": "hi"}),
                _ => json!({"text": "hi", "index": index}),
            };
            assert_eq!(data(event), expected);
        }
        assert_eq!(events[3].event.as_deref(), Some("end"));
        assert_eq!(data(&events[3]), json!({"metadata": {"t": ["v"]}}));
    }
}

#[tokio::test]
async fn each_message_is_a_result_line_and_a_failure_an_error_line() {
    let server = TestServer::start().await;
    for http in BOTH {
        let message = json!({"text": "a", "repeat": 5, "error": {"code": 5, "message": "gone", "afterMessages": 2}});
        let response = get(server.addr, http, &repeat_path(message), LINES, &[]).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some(LINES));
        assert_eq!(
            lines(&response.body),
            [
                json!({"result": {"text": "a"}}),
                json!({"result": {"text": "a", "index": 1}}),
                json!({"error": {"code": "not_found", "message": "gone"}}),
            ]
        );

        // A stream that succeeds ends after its last line.
        let response = get(
            server.addr,
            http,
            &repeat_path(json!({"repeat": 2})),
            LINES,
            &[],
        )
        .await;
        assert_eq!(
            lines(&response.body),
            [json!({"result": {}}), json!({"result": {"index": 1}})]
        );
    }
}

#[tokio::test]
async fn a_failure_before_the_first_message_is_the_last_event_or_line_alone() {
    let server = TestServer::start().await;
    for http in BOTH {
        let failing = json!({"error": {"code": 7, "message": "no entry", "headers": [{"name": "why", "value": "policy"}]}});
        // SSE answers 200, the one status whose body an `EventSource` reads.
        let response = get(
            server.addr,
            http,
            &repeat_path(failing.clone()),
            EVENTS,
            &[],
        )
        .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some(EVENTS));
        assert_eq!(response.header("why"), Some("policy"));
        let events = parse_events(&response.body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.as_deref(), Some("error"));
        assert_eq!(
            data(&events[0]),
            json!({"code": "permission_denied", "message": "no entry"})
        );

        // NDJSON answers the code's HTTP status, with the error line as its body.
        let response = get(server.addr, http, &repeat_path(failing), LINES, &[]).await;
        assert_eq!(response.status, 403);
        assert_eq!(
            lines(&response.body),
            [json!({"error": {"code": "permission_denied", "message": "no entry"}})]
        );

        // A query that is no request at all fails the same way.
        let path = format!("/{ECHO_SERVICE_NAME}/Repeat?message=%zz");
        let response = get(server.addr, http, &path, LINES, &[]).await;
        assert_eq!(response.status, 400);
        assert_eq!(
            lines(&response.body)[0]["error"]["code"],
            "invalid_argument"
        );
        let path = format!("/{ECHO_SERVICE_NAME}/Repeat?message=%7Bnot-json");
        let response = get(server.addr, http, &path, EVENTS, &[]).await;
        assert_eq!(
            data(&parse_events(&response.body)[0])["code"],
            "invalid_argument"
        );
    }
}

#[tokio::test]
async fn an_empty_stream_and_a_request_with_no_query() {
    let server = TestServer::start().await;
    for http in BOTH {
        // No query at all: the empty message, which repeats nothing.
        let path = format!("/{ECHO_SERVICE_NAME}/Repeat");
        let response = get(server.addr, http, &path, EVENTS, &[]).await;
        assert_eq!(response.status, 200);
        let events = parse_events(&response.body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.as_deref(), Some("end"));
        assert_eq!(data(&events[0]), json!({}));

        let response = get(server.addr, http, &path, LINES, &[]).await;
        assert_eq!(response.status, 200);
        assert!(response.body.is_empty());
    }
}

#[tokio::test]
async fn the_message_may_come_in_any_codec_as_connect_get_writes_it() {
    use prost::Message as _;
    use trident_tests::EchoRequest;
    let server = TestServer::start().await;
    let message = EchoRequest {
        text: "proto".into(),
        repeat: 1,
        ..Default::default()
    };
    let encoded = base64_url(&message.encode_to_vec());
    let path =
        format!("/{ECHO_SERVICE_NAME}/Repeat?connect=v1&encoding=proto&base64=1&message={encoded}");
    let response = get(server.addr, Http::H1, &path, EVENTS, &[]).await;
    let events = parse_events(&response.body);
    assert_eq!(
        data(&events[0]),
        json!({"text": "proto"}),
        "answered in JSON"
    );
}

fn base64_url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[tokio::test]
async fn only_gets_that_accept_a_push_form_are_served_so() {
    let server = TestServer::start().await;
    let path = repeat_path(json!({"repeat": 1}));
    // A GET that accepts neither form is no request a streaming method can serve.
    let response = get(server.addr, Http::H1, &path, "application/json", &[]).await;
    assert_eq!(response.status, 415);
    // A unary method is not pushed: a GET of one is Connect's, which answers JSON.
    let path = format!("/{ECHO_SERVICE_NAME}/Echo?encoding=json&message=%7B%7D");
    let response = get(server.addr, Http::H1, &path, EVENTS, &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    // POST is not a push request.
    let path = format!("/{ECHO_SERVICE_NAME}/Repeat");
    let request = raw(http::Method::POST, server.addr, &path, Http::H1)
        .header("accept", EVENTS)
        .body(Bytes::new())
        .unwrap();
    let response = send_raw(server.addr, Http::H1, request).await;
    assert_eq!(response.status, 415);
}

#[tokio::test]
async fn a_long_stream_arrives_whole_and_gzipped_when_the_client_accepts_it() {
    let server = TestServer::start().await;
    let text = "x".repeat(200);
    for http in BOTH {
        for accept in [EVENTS, LINES] {
            let path = repeat_path(json!({"text": text, "repeat": 2000}));
            let plain = get(server.addr, http, &path, accept, &[]).await;
            assert_eq!(plain.header("content-encoding"), None);
            let zipped = get(
                server.addr,
                http,
                &path,
                accept,
                &[("accept-encoding", "br, gzip")],
            )
            .await;
            assert_eq!(zipped.header("content-encoding"), Some("gzip"));
            assert!(
                zipped.body.len() * 10 < plain.body.len(),
                "{}",
                zipped.body.len()
            );
            let unzipped = gunzip(&zipped.body);
            assert_eq!(unzipped, plain.body.as_ref(), "{accept} {http:?}");
            let count = if accept == EVENTS {
                parse_events(&unzipped)
                    .iter()
                    .filter(|e| e.event.is_none())
                    .count()
            } else {
                lines(&unzipped).len()
            };
            assert_eq!(count, 2000, "{accept} {http:?}");
        }
    }
    // gzip refused with q=0 is not used.
    let path = repeat_path(json!({"repeat": 1}));
    let response = get(
        server.addr,
        Http::H1,
        &path,
        EVENTS,
        &[("accept-encoding", "gzip;q=0")],
    )
    .await;
    assert_eq!(response.header("content-encoding"), None);
}

#[tokio::test]
async fn the_deadline_ends_the_stream_with_an_error() {
    let server = TestServer::start().await;
    let path = format!(
        "/{ECHO_SERVICE_NAME}/WaitStream{}",
        query(&json!({"text": "w"}))
    );
    for http in BOTH {
        let response = within(
            "a stream past its deadline",
            get(
                server.addr,
                http,
                &path,
                EVENTS,
                &[("connect-timeout-ms", "200")],
            ),
        )
        .await;
        let events = parse_events(&response.body);
        assert_eq!(data(&events[0]), json!({"text": "w"}));
        let last = events.last().unwrap();
        assert_eq!(last.event.as_deref(), Some("error"));
        assert_eq!(data(last)["code"], "deadline_exceeded");

        let response = get(
            server.addr,
            http,
            &path,
            LINES,
            &[("connect-timeout-ms", "bad")],
        )
        .await;
        assert_eq!(response.status, 400);
    }
}

#[tokio::test]
async fn closing_the_connection_cancels_the_handler() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = TestServer::start().await;
    let path = format!(
        "/{ECHO_SERVICE_NAME}/WaitStream{}",
        query(&json!({"text": "w"}))
    );

    // HTTP/1.1, as `curl -N` would: the socket closes after the first event.
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\naccept: {EVENTS}\r\n\r\n",
        server.addr
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    within("the first event", async {
        while !received.windows(6).any(|w| w == b"data: ") {
            let mut chunk = [0u8; 1024];
            let n = socket.read(&mut chunk).await.unwrap();
            assert_ne!(n, 0, "the server closed first");
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    drop(socket);
    let state = server.state();
    state
        .cancelled
        .wait_for(1, "the handler to see the HTTP/1.1 call cancelled")
        .await;

    // HTTP/2: the stream is reset when the client drops the response.
    let request = raw(http::Method::GET, server.addr, &path, Http::H2)
        .header("accept", EVENTS)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = send_on_new_connection(server.addr, Http::H2, request).await;
    let mut body = response.into_body();
    let first = within("the first event", body.frame()).await;
    let first = first.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"data: "), "{first:?}");
    drop(body);
    state
        .cancelled
        .wait_for(2, "the handler to see the HTTP/2 call cancelled")
        .await;
}

/// A feed whose events are numbered from 1 to `count`, each named by its number, resuming after
/// the caller's `Last-Event-ID`.
fn numbered_feed(count: u32) -> Router {
    let routes = ServiceRoutes::new(ECHO_SERVICE_NAME).server_stream(
        &REPEAT,
        move |request: Request<EchoRequest>| async move {
            let after = match request.context().last_event_id() {
                None => 0,
                Some(id) => id
                    .parse::<u32>()
                    .map_err(|_| Error::new(Code::InvalidArgument, "a bad Last-Event-ID"))?,
            };
            let messages = (after + 1..=count).map(|index| {
                Ok(EchoResponse {
                    index,
                    ..Default::default()
                })
            });
            let stream: ResponseStream<EchoResponse> =
                Box::pin(futures_util::stream::iter(messages));
            Ok(Response::new(stream)
                .with_event_ids(|message: &EchoResponse| Some(message.index.to_string())))
        },
    );
    Router::new().add(routes)
}

#[tokio::test]
async fn event_ids_name_each_event_and_last_event_id_resumes_after_one() {
    let (addr, task) = serve_router(numbered_feed(5)).await;
    let path = format!("/{ECHO_SERVICE_NAME}/Repeat");
    for http in BOTH {
        let response = get(addr, http, &path, EVENTS, &[]).await;
        let events = parse_events(&response.body);
        let ids: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(
            ids,
            [Some("1"), Some("2"), Some("3"), Some("4"), Some("5"), None]
                .map(|i| i.map(String::from))
        );
        assert_eq!(data(&events[2]), json!({"index": 3}));

        // A reconnecting `EventSource` sends the last id it saw.
        let response = get(addr, http, &path, EVENTS, &[("last-event-id", "3")]).await;
        let events = parse_events(&response.body);
        let indexes: Vec<_> = events
            .iter()
            .filter(|e| e.event.is_none())
            .map(|e| data(e)["index"].clone())
            .collect();
        assert_eq!(indexes, [json!(4), json!(5)]);

        // Lines carry no ids.
        let response = get(addr, http, &path, LINES, &[]).await;
        assert_eq!(lines(&response.body)[0], json!({"result": {"index": 1}}));
    }
    task.abort();
}

#[tokio::test]
async fn an_event_id_that_cannot_be_written_fails_the_stream() {
    let routes = ServiceRoutes::new(ECHO_SERVICE_NAME).server_stream(
        &REPEAT,
        |_request: Request<EchoRequest>| async move {
            let stream: ResponseStream<EchoResponse> =
                Box::pin(futures_util::stream::iter([Ok(EchoResponse::default())]));
            Ok(Response::new(stream).with_event_ids(|_: &EchoResponse| Some("two\nlines".into())))
        },
    );
    let (addr, task) = serve_router(Router::new().add(routes)).await;
    let path = format!("/{ECHO_SERVICE_NAME}/Repeat");
    let response = get(addr, Http::H1, &path, EVENTS, &[]).await;
    let events = parse_events(&response.body);
    assert_eq!(events.len(), 1, "{:?}", response.body);
    assert_eq!(events[0].event.as_deref(), Some("error"));
    assert_eq!(data(&events[0])["code"], "internal");
    task.abort();
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeats() {
    let server =
        TestServer::start_with(|router| router.heartbeat_interval(Duration::from_millis(100)))
            .await;
    let path = format!(
        "/{ECHO_SERVICE_NAME}/WaitStream{}",
        query(&json!({"text": "w"}))
    );
    for http in BOTH {
        let request = raw(http::Method::GET, server.addr, &path, http)
            .header("accept", EVENTS)
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = send_on_new_connection(server.addr, http, request).await;
        let mut body = response.into_body();
        let mut received = Vec::new();
        let started = tokio::time::Instant::now();
        within("two heartbeats", async {
            while received
                .windows(13)
                .filter(|w| w == b": heartbeat\n\n")
                .count()
                < 2
            {
                let frame = body.frame().await.unwrap().unwrap();
                received.extend_from_slice(&frame.into_data().unwrap());
            }
        })
        .await;
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(received.starts_with(b"data: "), "the message came first");
    }
    // Lines have no heartbeat.
    let response = within(
        "a stream of lines past its deadline",
        get(
            server.addr,
            Http::H1,
            &path,
            LINES,
            &[("connect-timeout-ms", "350")],
        ),
    )
    .await;
    assert!(!String::from_utf8_lossy(&response.body).contains("heartbeat"));
}

#[tokio::test]
async fn interceptors_see_each_push_call_with_its_protocol() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = TestServer::start_with(move |router| {
        router.intercept(RequestInterceptor::new(move |request: Request<()>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(request.context().protocol());
                if request.headers().get("x-deny").is_some() {
                    return Err(Error::new(Code::Unauthenticated, "denied"));
                }
                Ok(request)
            }
        }))
    })
    .await;
    let path = repeat_path(json!({"repeat": 1}));
    get(server.addr, Http::H1, &path, EVENTS, &[]).await;
    get(server.addr, Http::H2, &path, LINES, &[]).await;
    let response = get(server.addr, Http::H1, &path, EVENTS, &[("x-deny", "1")]).await;
    assert_eq!(
        data(&parse_events(&response.body)[0])["code"],
        "unauthenticated"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Some(ProtocolKind::SSE),
            Some(ProtocolKind::NDJSON),
            Some(ProtocolKind::SSE)
        ]
    );
}
