//! Tower layers around a client's transport (`ClientBuilder::layer`): they wrap the built-in HTTP/1.1
//! and HTTP/2 transports over real connections, in `tower::ServiceBuilder`'s order, after the
//! interceptors, and their failures reach the caller as errors with the right code.

use std::sync::{Arc, Mutex};

use trident::{Client, Code, Request, RequestInterceptor};
use trident_tests::{Codec, ECHO, EchoRequest, EchoResponse, Http, TestServer, within};

/// Records its name for each request it passes on, and the header the interceptor added.
fn recording(
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
) -> tower::util::MapRequestLayer<
    impl Fn(http::Request<trident::Body>) -> http::Request<trident::Body> + Clone,
> {
    tower::util::MapRequestLayer::new(move |request: http::Request<trident::Body>| {
        let from_interceptor = request
            .headers()
            .get("x-interceptor")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        log.lock()
            .expect("not poisoned")
            .push(format!("{name} {from_interceptor}"));
        request
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_wrap_the_built_in_transport_in_order_after_the_interceptors() {
    let server = TestServer::start().await;
    for http in [Http::H1, Http::H2] {
        let log = Arc::new(Mutex::new(Vec::new()));
        let client: Client = server
            .builder(Codec::Proto, http)
            .intercept(RequestInterceptor::new(
                |mut request: Request<()>| async move {
                    request.headers_mut().insert("x-interceptor", "yes")?;
                    Ok(request)
                },
            ))
            .layer(recording("outer", log.clone()))
            .layer(
                tower::ServiceBuilder::new()
                    .layer(recording("inner", log.clone()))
                    .map_request(|mut request: http::Request<trident::Body>| {
                        request
                            .headers_mut()
                            .insert("x-team", http::HeaderValue::from_static("payments"));
                        request
                    }),
            )
            .build()
            .expect("client");
        let request = EchoRequest {
            text: "hi".into(),
            echo_headers: vec!["x-team".into(), "x-interceptor".into()],
            ..Default::default()
        };
        let response = within(
            "unary",
            client.unary::<_, EchoResponse>(&ECHO, Request::new(request)),
        )
        .await
        .expect("answered");
        let seen: Vec<(String, String)> = response
            .message()
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                ("x-team".to_string(), "payments".to_string()),
                ("x-interceptor".to_string(), "yes".to_string()),
            ],
            "{http:?}"
        );
        assert_eq!(
            *log.lock().expect("not poisoned"),
            ["outer yes", "inner yes"],
            "{http:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_layer_fails_the_call() {
    let server = TestServer::start().await;
    let client = server
        .builder(Codec::Proto, Http::H2)
        .layer(tower::layer::layer_fn(
            |_inner: trident::client::Transport| {
                tower::service_fn(|_request: http::Request<trident::Body>| async {
                    Err::<http::Response<trident::Body>, _>(trident::Error::new(
                        Code::ResourceExhausted,
                        "the layer refuses",
                    ))
                })
            },
        ))
        .build()
        .expect("client");
    let error = within(
        "unary",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(EchoRequest::default())),
    )
    .await
    .expect_err("refused");
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert_eq!(error.message(), "the layer refuses");

    let client = server
        .builder(Codec::Proto, Http::H2)
        .layer(tower::layer::layer_fn(
            |_inner: trident::client::Transport| {
                tower::service_fn(|_request: http::Request<trident::Body>| async {
                    Err::<http::Response<trident::Body>, _>(std::io::Error::other("no route"))
                })
            },
        ))
        .build()
        .expect("client");
    let error = within(
        "unary",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(EchoRequest::default())),
    )
    .await
    .expect_err("refused");
    assert_eq!(error.code(), Code::Unavailable);
    assert!(error.message().contains("no route"), "{error}");
}
