//! Plain HTTP: `Range` fetched with Connect GET (cacheable), unary calls as `curl` makes them, and the
//! static files `watch-server --static DIR` serves beside the service, without path traversal.

use std::path::PathBuf;

use crate::common::*;
use serde_json::Value;
use trident::Client;
use trident_watch::proto::*;

/// `s`, percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `watch-server --cors` answers a browser's preflight from any origin and marks its answers for
/// that origin; without it, a preflight is no call the router serves.
#[tokio::test]
async fn cors_lets_pages_of_other_origins_call_when_asked() {
    let path = "/trident.watch.v1.KvService/Put";
    let origin = "http://localhost:5173";
    let preflight = [
        ("origin", origin),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "content-type,connect-protocol-version",
        ),
    ];
    let server = Server::with_cors().await;
    let (status, headers, _) = within(
        "preflight",
        raw_http1(server.addr, "OPTIONS", path, &preflight, ""),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(origin)
    );
    let put = [("origin", origin), ("content-type", "application/json")];
    let (status, headers, body) = within(
        "put",
        raw_http1(
            server.addr,
            "POST",
            path,
            &put,
            r#"{"key":"k","value":"dg=="}"#,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(origin)
    );

    let plain = Server::start().await;
    let (status, headers, _) = within(
        "preflight",
        raw_http1(plain.addr, "OPTIONS", path, &preflight, ""),
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn range_is_fetched_with_connect_get_and_may_be_cached() {
    let server = Server::start().await;
    server.put("app/a", "1");
    server.put("app/b", "2");
    server.put("other", "3");
    let message = encode(r#"{"key":"app/","prefix":true}"#);
    let path =
        format!("/trident.watch.v1.KvService/Range?connect=v1&encoding=json&message={message}");
    let (status, headers, body) =
        within("GET", raw_http1(server.addr, "GET", &path, &[], "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "cache-control"), Some("public, max-age=1"));
    let etag = format!("\"{}-3\"", server.store.id());
    assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
    assert_eq!(header(&headers, "watch-store-id"), Some(server.store.id()));
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["revision"], "3");
    assert_eq!(json["storeId"], server.store.id());
    assert_eq!(json["count"], "2");
    assert_eq!(json["kvs"][0]["key"], "app/a");
    assert_eq!(json["kvs"][1]["value"], "2");

    // The Trident client uses GET for it too when asked; other methods stay POST.
    let client = KvServiceClient::new(Client::builder(server.url()).use_get(true).build().unwrap());
    let response = within(
        "client GET",
        client.range(RangeRequest {
            key: "app/".into(),
            prefix: true,
            limit: 1,
            keys_only: true,
        }),
    )
    .await
    .unwrap();
    assert_eq!(response.headers().get("etag"), Some(etag.as_str()));
    let range = response.into_message();
    assert_eq!((range.count, range.more, range.kvs.len()), (2, true, 1));
    assert_eq!(range.kvs[0].value, "", "keys only");

    // POSTed Range answers are not marked cacheable.
    let (status, headers, _) = within(
        "POST",
        raw_http1(
            server.addr,
            "POST",
            "/trident.watch.v1.KvService/Range",
            &[("Content-Type", "application/json")],
            r#"{"key":"other"}"#,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), None);
}

#[tokio::test]
async fn put_and_delete_with_curl_style_json() {
    let server = Server::start().await;
    let addr = server.addr;
    let post = |method: &str, body: &'static str| {
        let path = format!("/trident.watch.v1.KvService/{method}");
        async move {
            let headers = [("Content-Type", "application/json")];
            raw_http1(addr, "POST", &path, &headers, body).await
        }
    };
    let (status, _, body) = within("put", post("Put", r#"{"key":"a","value":"1"}"#)).await;
    let expected = format!(r#"{{"revision":"1","storeId":"{}"}}"#, server.store.id());
    assert_eq!((status, body.as_str()), (200, expected.as_str()));
    let (_, _, body) = within(
        "put",
        post("Put", r#"{"key":"a","value":"2","prevKv":true}"#),
    )
    .await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["prevKv"]["value"], "1");
    let (status, headers, body) = within("bad put", post("Put", r#"{"key":"","value":"1"}"#)).await;
    assert_eq!(status, 400);
    // Errors carry the store's id too.
    assert_eq!(header(&headers, "watch-store-id"), Some(server.store.id()));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "invalid_argument"
    );
    let (_, _, body) = within("delete", post("Delete", r#"{"key":"a"}"#)).await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (json["revision"].as_str(), json["deleted"].as_str()),
        (Some("3"), Some("1"))
    );
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn static_files_are_served_beside_the_service_without_path_traversal() {
    let base = std::env::temp_dir().join(format!("trident-watch-static-{}", std::process::id()));
    let _cleanup = TempDir(base.clone());
    let root = base.join("site");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>watch</h1>").unwrap();
    std::fs::write(root.join("assets/app.js"), "console.log(1)").unwrap();
    std::fs::write(base.join("secret.txt"), "do not serve").unwrap();
    let server = Server::with_static(&root).await;
    let get = |path: &'static str| raw_http1(server.addr, "GET", path, &[], "");

    let (status, headers, body) = within("index", get("/")).await;
    assert_eq!((status, body.as_str()), (200, "<h1>watch</h1>"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let (status, headers, body) = within("asset", get("/assets/app.js")).await;
    assert_eq!((status, body.as_str()), (200, "console.log(1)"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let (status, headers, body) = within(
        "HEAD",
        raw_http1(server.addr, "HEAD", "/index.html", &[], ""),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(header(&headers, "content-length"), Some("14"));

    for path in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2E%2E/%2E%2E/secret.txt",
        "/assets%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/missing.html",
        "/assets",
    ] {
        let (status, _, body) = within(path, get(path)).await;
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        assert!(!body.contains("do not serve"), "{path}");
    }

    // The service is still there: POSTs, and Connect GETs under its path.
    let (status, _, _) = within(
        "put",
        raw_http1(
            server.addr,
            "POST",
            "/trident.watch.v1.KvService/Put",
            &[("Content-Type", "application/json")],
            r#"{"key":"k","value":"v"}"#,
        ),
    )
    .await;
    assert_eq!(status, 200);
    let path = format!(
        "/trident.watch.v1.KvService/Range?connect=v1&encoding=json&message={}",
        encode(r#"{"key":"k"}"#)
    );
    let (status, _, body) =
        within("GET range", raw_http1(server.addr, "GET", &path, &[], "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["kvs"][0]["value"],
        "v"
    );
}
