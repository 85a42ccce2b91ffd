//! REST transcoding (`google.api.http`): the library service's annotated methods called as plain HTTP
//! over HTTP/1.1 and HTTP/2 (HTTP/3 in `http3.rs`): path variables (nested, multi-segment, `**`,
//! custom verbs), query parameters of every kind, `body` and `response_body`, raw `HttpBody`
//! uploads and downloads, server streams as JSON lines and server-sent events, `google.rpc.Status`
//! errors, and bad input of every kind.

use bytes::Bytes;
use serde_json::{Value, json};
use trident::{Code, Error, Request, Response, Router};
use trident_tests::proto::library_service_routes;
use trident_tests::{Http, Library, RawResponse, gunzip, gzip, raw, send_raw, serve_router};

/// The library's router: the generated routes function registers every `google.api.http` binding of
/// `library.proto`.
pub(crate) fn library_router() -> Router {
    let router = Router::new().add(library_service_routes(Library));
    router.check().expect("the library's bindings are sound");
    router
}

async fn call(
    http: Http,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> RawResponse {
    let (addr, task) = serve_router(library_router()).await;
    let mut request = raw(method.parse().expect("a method"), addr, path, http);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = send_raw(addr, http, request.body(body.into()).expect("a request")).await;
    task.abort();
    response
}

const BOTH: [Http; 2] = [Http::H1, Http::H2];

#[tokio::test]
async fn path_variables_set_nested_and_multi_segment_fields() {
    for http in BOTH {
        let response = call(http, "GET", "/v1/shelves/7/books/12", &[], "").await;
        assert_eq!(response.status, 200, "{http:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.json(), json!({"name": "shelves/7/books/12"}));

        // `**` takes the rest of the path, slashes and all; %2F stays encoded in it.
        let response = call(http, "GET", "/v1/books/a/b%2Fc/d", &[], "").await;
        assert_eq!(response.json(), json!({"name": "a/b%2Fc/d"}));

        // A nested field path (`book.name`) with `body: "*"`.
        let body = r#"{"book": {"title": "Dune", "tags": ["x"]}, "updateMask": "title"}"#;
        let response = call(http, "PATCH", "/v1/shelves/1/books/2", &[], body).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        assert_eq!(
            response.json(),
            json!({"name": "shelves/1/books/2", "title": "Dune", "tags": ["title"]})
        );

        // A custom verb.
        let response = call(http, "POST", "/v1/shelves/1/books/2:publish", &[], "{}").await;
        assert_eq!(
            response.json(),
            json!({"name": "shelves/1/books/2", "title": "published"})
        );
    }
}

#[tokio::test]
async fn query_parameters_set_the_remaining_fields() {
    let path = "/v1/shelves/3/books?pageSize=10&filter.kind=KIND_NOVEL&filter.since=2024-05-01T10:00:00Z\
                &ids=1&ids=-2&filter.author=A%20B%2BC&unknown=ignored&parent=shelves/9";
    for http in BOTH {
        let response = call(http, "GET", path, &[], "").await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        assert_eq!(
            response.json()["request"],
            json!({
                // The path's value wins over the query's.
                "parent": "shelves/3",
                "pageSize": 10,
                "filter": {"kind": "KIND_NOVEL", "since": "2024-05-01T10:00:00Z", "author": "A B+C"},
                "ids": ["1", "-2"],
            })
        );
    }
    // Enums by number, proto field names, well-known types.
    let response = call(
        Http::H1,
        "GET",
        "/v1/shelves/3/books?page_size=2&filter.kind=2",
        &[],
        "",
    )
    .await;
    assert_eq!(
        response.json()["request"],
        json!({"parent": "shelves/3", "pageSize": 2, "filter": {"kind": "KIND_REFERENCE"}})
    );
    let response = call(
        Http::H1,
        "GET",
        "/v1/shelves/3/books/4?readMask=title,author.name",
        &[],
        "",
    )
    .await;
    assert_eq!(response.json()["title"], "title,author.name");
}

#[tokio::test]
async fn body_field_and_response_body() {
    for http in BOTH {
        let body = r#"{"title": "Dune", "pageCount": "412", "price": 9.5, "available": true, "readingTime": "3600s", "kind": "KIND_NOVEL", "author": {"name": "Herbert"}}"#;
        let response = call(
            http,
            "POST",
            "/v1/shelves/7/books?bookId=dune",
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        assert_eq!(
            response.json(),
            json!({
                "name": "shelves/7/books/dune", "title": "Dune", "pageCount": "412", "price": 9.5,
                "available": true, "readingTime": "3600s", "kind": "KIND_NOVEL",
                "author": {"name": "Herbert"}
            })
        );
        // `response_body: "name"`: the field alone is the body.
        let response = call(http, "DELETE", "/v1/shelves/7/books/dune", &[], "").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.json(), json!("shelves/7/books/dune"));
    }
}

#[tokio::test]
async fn http_body_uploads_and_downloads_are_raw() {
    for http in BOTH {
        let response = call(
            http,
            "PUT",
            "/v1/shelves/1/books/2/cover",
            &[("content-type", "image/jpeg")],
            vec![0u8, 1, 2, 3, 255],
        )
        .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        assert_eq!(response.header("content-type"), Some("text/plain"));
        assert_eq!(
            &response.body[..],
            b"shelves/1/books/2 got 5 bytes of image/jpeg"
        );
        let response = call(http, "GET", "/v1/shelves/1/books/2/cover", &[], "").await;
        assert_eq!(response.header("content-type"), Some("image/png"));
        assert_eq!(&response.body[..], [0x89, b'P', b'N', b'G', 0, 0xff]);
    }
}

#[tokio::test]
async fn gzip_both_ways() {
    let body = gzip(br#"{"title": "Dune"}"#);
    let response = call(
        Http::H2,
        "POST",
        "/v1/shelves/7/books?bookId=dune",
        &[("content-encoding", "gzip"), ("accept-encoding", "gzip")],
        body,
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.json()["title"], "Dune");
    // Small responses go out uncompressed (the router's `compress_min_bytes`).
    assert_eq!(response.header("content-encoding"), None);
    let (addr, task) = serve_router(library_router().compress_min_bytes(0)).await;
    let request = raw(http::Method::GET, addr, "/v1/shelves/7/books/1", Http::H1)
        .header("accept-encoding", "gzip")
        .body(Bytes::new())
        .expect("a request");
    let response = send_raw(addr, Http::H1, request).await;
    task.abort();
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    let json: Value = serde_json::from_slice(&gunzip(&response.body)).expect("JSON");
    assert_eq!(json, json!({"name": "shelves/7/books/1"}));
}

#[tokio::test]
async fn server_streams_as_json_lines_and_events() {
    for http in BOTH {
        let response = call(http, "GET", "/v1/shelves/5:watch?count=2", &[], "").await;
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("content-type"),
            Some("application/x-ndjson")
        );
        let text = std::str::from_utf8(&response.body).expect("text");
        assert_eq!(
            text,
            "{\"result\":{\"book\":{\"name\":\"shelves/5/books/0\"}}}\n\
             {\"result\":{\"index\":1,\"book\":{\"name\":\"shelves/5/books/1\"}}}\n"
        );
        let response = call(
            http,
            "GET",
            "/v1/shelves/5:watch?count=1&failCode=14",
            &[],
            "",
        )
        .await;
        let lines: Vec<Value> = std::str::from_utf8(&response.body)
            .expect("text")
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            json!({"error": {"code": 14, "message": "the shelf fell over", "details": []}})
        );

        let events = [("accept", "text/event-stream")];
        let response = call(
            http,
            "GET",
            "/v1/shelves/5:watch?count=1&failCode=9",
            &events,
            "",
        )
        .await;
        assert_eq!(response.header("content-type"), Some("text/event-stream"));
        assert_eq!(
            std::str::from_utf8(&response.body).expect("text"),
            "data: {\"book\":{\"name\":\"shelves/5/books/0\"}}\n\n\
             event: error\ndata: {\"code\":9,\"message\":\"the shelf fell over\",\"details\":[]}\n\n"
        );
    }
}

#[tokio::test]
async fn errors_are_google_rpc_status_with_grpc_gateways_statuses() {
    for http in BOTH {
        let response = call(http, "GET", "/v1/shelves/1/books/missing", &[], "").await;
        assert_eq!(response.status, 404);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(
            response.json(),
            json!({
                "code": 5,
                "message": "no book shelves/1/books/missing",
                "details": [{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s"}]
            })
        );
    }
}

/// Asserts `response` is a `google.rpc.Status` with `code` and HTTP `status`, whose message
/// contains `says`.
fn assert_status(response: &RawResponse, status: u16, code: Code, says: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    let json = response.json();
    assert_eq!(json["code"], code.as_u32(), "{json}");
    let message = json["message"].as_str().expect("a message");
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

#[tokio::test]
async fn bad_input_answers_the_right_status() {
    for http in BOTH {
        let unknown = call(http, "GET", "/v2/nothing/here", &[], "").await;
        assert_status(&unknown, 404, Code::NotFound, "/v2/nothing/here");

        let wrong_verb = call(http, "PUT", "/v1/shelves/1/books", &[], "").await;
        assert_status(&wrong_verb, 405, Code::Unimplemented, "PUT");
        assert_eq!(wrong_verb.header("allow"), Some("GET, POST"));

        let bad_number = call(http, "GET", "/v1/shelves/1/books?pageSize=many", &[], "").await;
        assert_status(&bad_number, 400, Code::InvalidArgument, "pageSize");

        let bad_enum = call(http, "GET", "/v1/shelves/1/books?filter.kind=POEM", &[], "").await;
        assert_status(&bad_enum, 400, Code::InvalidArgument, "POEM");

        let bad_escape = call(
            http,
            "GET",
            "/v1/shelves/1/books?filter.author=%zz",
            &[],
            "",
        )
        .await;
        assert_status(&bad_escape, 400, Code::InvalidArgument, "percent");

        let bad_path = call(http, "GET", "/v1/shelves/%ff/books/1", &[], "").await;
        assert_status(&bad_path, 400, Code::InvalidArgument, "");

        let bad_body = call(http, "POST", "/v1/shelves/1/books", &[], "{\"title\": ").await;
        assert_status(&bad_body, 400, Code::InvalidArgument, "JSON");

        let smuggled = call(
            http,
            "POST",
            "/v1/shelves/1/books",
            &[],
            "{}, \"bookId\": \"x\"",
        )
        .await;
        assert_status(&smuggled, 400, Code::InvalidArgument, "JSON");

        let unwanted_body = call(http, "GET", "/v1/shelves/1/books/2", &[], "{}").await;
        assert_status(
            &unwanted_body,
            400,
            Code::InvalidArgument,
            "takes no request body",
        );

        let client_stream = call(http, "POST", "/v1/shelves/1/books:import", &[], "{}").await;
        assert_status(&client_stream, 501, Code::Unimplemented, "ClientStream");

        let bad_timeout = call(
            http,
            "GET",
            "/v1/shelves/1/books/2",
            &[("grpc-timeout", "soon")],
            "",
        )
        .await;
        assert_status(&bad_timeout, 400, Code::InvalidArgument, "grpc-timeout");
    }
}

/// A path variable whose text is no value of its field's type answers `invalid_argument`, naming it.
#[tokio::test]
async fn path_variables_that_do_not_parse_are_refused() {
    use trident::rest::{HttpRule, RestRoutes};
    use trident_tests::proto::library_service;
    let routes = library_service_routes(Library).http(
        &library_service::LIST_BOOKS,
        HttpRule::get("/v2/pages/{page_size}/books/{filter.kind}"),
    );
    let (addr, task) = serve_router(Router::new().add(routes)).await;
    for http in BOTH {
        let get = |path: &str| {
            raw(http::Method::GET, addr, path, http)
                .body(Bytes::new())
                .expect("a request")
        };
        let response = send_raw(addr, http, get("/v2/pages/ten/books/KIND_NOVEL")).await;
        assert_status(
            &response,
            400,
            Code::InvalidArgument,
            "path variable page_size=\"ten\"",
        );
        let response = send_raw(addr, http, get("/v2/pages/10/books/POEM")).await;
        assert_status(&response, 400, Code::InvalidArgument, "POEM");
        let response = send_raw(addr, http, get("/v2/pages/99999999999/books/1")).await;
        assert_status(&response, 400, Code::InvalidArgument, "page_size");
        let response = send_raw(addr, http, get("/v2/pages/10/books/1")).await;
        assert_eq!(response.status, 200);
        assert_eq!(
            response.json()["request"],
            json!({"pageSize": 10, "filter": {"kind": "KIND_NOVEL"}})
        );
    }
    task.abort();
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let (addr, task) = serve_router(library_router().read_max_bytes(1024)).await;
    for http in BOTH {
        let title = "x".repeat(4096);
        let body = format!("{{\"title\": \"{title}\"}}");
        let request = raw(http::Method::POST, addr, "/v1/shelves/1/books", http)
            .body(Bytes::from(body))
            .expect("a request");
        let response = send_raw(addr, http, request).await;
        assert_status(&response, 429, Code::ResourceExhausted, "");
        // A compression bomb: small on the wire, large once inflated.
        let bomb = gzip(format!("{{\"title\": \"{}\"}}", "y".repeat(1 << 20)).as_bytes());
        let request = raw(http::Method::POST, addr, "/v1/shelves/1/books", http)
            .header("content-encoding", "gzip")
            .body(Bytes::from(bomb))
            .expect("a request");
        let response = send_raw(addr, http, request).await;
        assert_status(&response, 429, Code::ResourceExhausted, "");
    }
    task.abort();
}

#[test]
fn misconfigured_bindings_are_reported_naming_both_routes() {
    use trident::rest::{HttpRule, RestRoutes};
    use trident_tests::proto::library_service;
    // (The generated routes bind GetBook to this template too; adding it again is no conflict.)
    let routes = library_service_routes(Library)
        .http(
            &library_service::GET_BOOK,
            HttpRule::get("/v1/{name=shelves/*/books/*}"),
        )
        .http(
            &library_service::PUBLISH_BOOK,
            HttpRule::get("/v1/{name=shelves/*/books/*}"),
        )
        .http(&library_service::GET_BOOK, HttpRule::get("/v1/{nope}"))
        .http(&library_service::GET_BOOK, HttpRule::get("/v1/{name"))
        .http(
            &library_service::CREATE_BOOK,
            HttpRule::post("/v1/x").body("nope"),
        );
    let error = Router::new()
        .add(routes)
        .check()
        .expect_err("misconfigured");
    let message = error.message();
    for says in [
        "GET /v1/{name=shelves/*/books/*} (/trident.test.v1.LibraryService/GetBook) and GET \
         /v1/{name=shelves/*/books/*} (/trident.test.v1.LibraryService/PublishBook) take the same \
         requests",
        "has no field nope",
        "/v1/{name",
        "POST /v1/x",
    ] {
        assert!(message.contains(says), "{message}\nshould say {says:?}");
    }
    // A binding taking a method's own RPC path.
    let routes = library_service_routes(Library).http(
        &library_service::GET_BOOK,
        HttpRule::post("/{name=**}").body("*"),
    );
    let error = Router::new()
        .add(routes)
        .check()
        .expect_err("takes RPC paths");
    assert!(
        error
            .message()
            .contains("takes the requests of the method /trident.test.v1.LibraryService/"),
        "{error}"
    );
}

/// Records the protocol and method of every call it sees, unary and streaming, and passes it on.
#[derive(Clone, Default)]
struct Seen(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Seen {
    fn note(&self, context: &trident::CallContext) {
        let method = context.method().expect("a server call");
        let protocol = context.protocol().expect("a protocol");
        self.0
            .lock()
            .expect("not poisoned")
            .push(format!("{protocol} {}", method.method));
    }
}

impl trident::Interceptor for Seen {
    fn unary(
        &self,
        request: Request<trident::interceptor::AnyMessage>,
        next: trident::interceptor::UnaryNext,
    ) -> trident::interceptor::BoxFuture<Result<Response<trident::interceptor::AnyMessage>, Error>>
    {
        self.note(request.context());
        next.run(request)
    }

    fn streaming_handler(
        &self,
        request: Request<trident::interceptor::MessageStream>,
        next: trident::interceptor::StreamingNext,
    ) -> trident::interceptor::BoxFuture<Result<Response<trident::interceptor::MessageStream>, Error>>
    {
        self.note(request.context());
        next.run(request)
    }
}

/// REST calls go through the router's interceptors like any other call, naming their protocol.
#[tokio::test]
async fn calls_go_through_interceptors() {
    let seen = Seen::default();
    let (addr, task) = serve_router(library_router().intercept(seen.clone())).await;
    for (method, path) in [
        ("GET", "/v1/shelves/1/books/2"),
        ("GET", "/v1/shelves/1:watch?count=1"),
    ] {
        let request = raw(method.parse().expect("a method"), addr, path, Http::H2)
            .body(Bytes::new())
            .expect("a request");
        let response = send_raw(addr, Http::H2, request).await;
        assert_eq!(response.status, 200);
    }
    task.abort();
    assert_eq!(
        *seen.0.lock().expect("not poisoned"),
        ["rest GetBook", "rest WatchShelf"]
    );
}
