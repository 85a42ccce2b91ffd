//! REST: the store at resource URLs (`/v1/keys/{key=**}` and `/v1/watch/{key=**}`, from the
//! `google.api.http` annotations of `watch.proto`), as `curl` uses it: put, read and delete keys, and
//! follow a watch as newline-delimited JSON, line by line as changes happen.

use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::common::*;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn keys_are_put_read_and_deleted_at_their_urls() {
    let server = Server::start().await;
    let addr = server.addr;
    let (status, _, body) = within(
        "put",
        raw_http1(addr, "PUT", "/v1/keys/app/color", &[], r#"{"value":"red"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let revision = parse(&body)["revision"].clone();
    assert_eq!(revision, json!("1"), "int64 travels as a JSON string");

    let (status, _, body) = within(
        "put",
        raw_http1(addr, "PUT", "/v1/keys/app/size", &[], r#"{"value":"L"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, _, body) =
        within("get", raw_http1(addr, "GET", "/v1/keys/app/color", &[], "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse(&body)["kvs"][0]["value"], "red");

    let (_, _, body) = within(
        "get prefix",
        raw_http1(
            addr,
            "GET",
            "/v1/keys/app/?prefix=true&keysOnly=true",
            &[],
            "",
        ),
    )
    .await;
    let listed = parse(&body);
    let keys: Vec<&str> = listed["kvs"]
        .as_array()
        .expect("kvs")
        .iter()
        .map(|kv| kv["key"].as_str().expect("a key"))
        .collect();
    assert_eq!(keys, ["app/color", "app/size"]);

    let (status, _, body) = within(
        "delete",
        raw_http1(addr, "DELETE", "/v1/keys/app/color", &[], ""),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse(&body)["deleted"], "1");

    let (status, headers, body) = within(
        "bad put",
        raw_http1(addr, "PUT", "/v1/keys/", &[], r#"{"value":"x"}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(parse(&body)["code"], 3);
}

#[tokio::test]
async fn a_watch_is_followed_as_json_lines() {
    let server = Server::start().await;
    server.put("app/a", "1");
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let url = format!(
        "http://{}/v1/watch/app/?prefix=true&startRevision=1",
        server.addr
    );
    let response = within("watch", client.get(url.parse().expect("a URL")))
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut body = response.into_body();
    let mut pending = String::new();
    let mut lines = Vec::new();
    let mut next_line = async || -> Value {
        loop {
            if let Some((line, rest)) = pending.split_once('\n') {
                let line = parse(line);
                pending = rest.to_string();
                return line;
            }
            let frame = body.frame().await.expect("more lines").expect("a frame");
            if let Ok(data) = frame.into_data() {
                pending.push_str(std::str::from_utf8(&data).expect("UTF-8"));
            }
        }
    };
    lines.push(within("created", next_line()).await);
    lines.push(within("history", next_line()).await);
    server.put("app/b", "2");
    lines.push(within("live change", next_line()).await);
    assert_eq!(lines[0]["result"]["created"], true);
    assert_eq!(lines[1]["result"]["events"][0]["kv"]["key"], "app/a");
    assert_eq!(lines[2]["result"]["events"][0]["kv"]["key"], "app/b");
    assert_eq!(lines[2]["result"]["events"][0]["type"], "EVENT_TYPE_PUT");
}
