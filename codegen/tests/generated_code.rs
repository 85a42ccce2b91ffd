//! Compiles the plugin's golden output (`golden/plugin/golden.v1.rs`) against the real Trident runtime and
//! drives it end to end: a `trident::Router` serves a partial `GreetService` implementation and doubles as
//! the in-memory transport of the generated `GreetServiceClient`, which calls every method with both the
//! proto and the JSON codec. Its REST bindings (`google.api.http`, registered by the generated routes
//! function) are called as plain HTTP through the same router. Also checks the method specs and the
//! messages' descriptors.

use futures_util::StreamExt as _;
use prost_reflect::ReflectMessage as _;
use trident::{
    Client, Code, Error, HttpVersion, Request, Response, ResponseStream, Router, Streaming,
    codec::Codec as _, codec::JsonCodec,
};

/// The generated code under test.
#[allow(deprecated)]
mod golden {
    include!("golden/plugin/golden.v1.rs");
}

use golden::greet_request::{Address, Target};
use golden::{
    Card, Chunk, GreetRequest, GreetResponse, GreetService, GreetServiceClient, Mood,
    SendCardRequest, UploadSummary,
};

/// Implements every method but the deprecated `Type`, which keeps its default body.
struct Greeter;

impl GreetService for Greeter {
    async fn greet(
        &self,
        request: Request<GreetRequest>,
    ) -> Result<Response<GreetResponse>, Error> {
        Ok(Response::new(reply(request.message())))
    }

    async fn greet_many(
        &self,
        request: Request<GreetRequest>,
    ) -> Result<Response<ResponseStream<GreetResponse>>, Error> {
        let replies = std::iter::repeat_n(Ok(reply(request.message())), 3);
        Ok(Response::new(Box::pin(futures_util::stream::iter(replies))))
    }

    async fn upload(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<UploadSummary>, Error> {
        let mut chunks = request.into_message();
        let mut total_bytes = 0;
        while let Some(chunk) = chunks.message().await? {
            total_bytes += chunk.data.len() as u64;
        }
        Ok(Response::new(UploadSummary { total_bytes }))
    }

    async fn chat(
        &self,
        request: Request<Streaming<GreetRequest>>,
    ) -> Result<Response<ResponseStream<GreetResponse>>, Error> {
        let replies = request.into_message().map(|r| r.map(|r| reply(&r)));
        Ok(Response::new(Box::pin(replies)))
    }

    async fn send_card(
        &self,
        request: Request<SendCardRequest>,
    ) -> Result<Response<GreetResponse>, Error> {
        let request = request.into_message();
        let text = request.card.map(|card| card.text).unwrap_or_default();
        Ok(Response::new(GreetResponse {
            greeting: format!(
                "{} x{} to {}: {text}",
                request.tags.join("+"),
                request.copies,
                request.recipient
            ),
            mood: Mood::Grumpy.into(),
        }))
    }
}

/// Leaves every method to its default body.
struct Nobody;

impl GreetService for Nobody {}

/// Greets by name, telling when the request was sent, so that the timestamp must cross the wire intact.
fn reply(request: &GreetRequest) -> GreetResponse {
    let sent = request.sent_at.as_ref().map_or(0, |t| t.seconds);
    GreetResponse {
        greeting: format!("Hello, {}! (sent at {sent})", request.name),
        mood: Mood::Happy.into(),
    }
}

/// A request using every kind of field: a `Timestamp`, an optional, a oneof with a nested message, a map.
fn ada() -> GreetRequest {
    GreetRequest {
        name: "Ada".into(),
        sent_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        salutation: Some("Dear".into()),
        target: Some(Target::Address(Address {
            street: "1 Analytical Row".into(),
            city: "London".into(),
            kind: golden::greet_request::address::Kind::House.into(),
        })),
        labels: [("team".to_string(), "engines".to_string())].into(),
    }
}

/// A client whose transport is a router serving `service` (and the empty service), in memory.
fn client(service: impl GreetService, json: bool) -> GreetServiceClient {
    struct Empty;
    impl golden::EmptyService for Empty {}
    let router = Router::new()
        .add(golden::greet_service_routes(service))
        .add(golden::empty_service_routes(Empty));
    router.check().expect("distinct services");
    let builder = Client::builder("http://in-memory")
        .http_version(HttpVersion::Http2)
        .transport(trident::client::boxed_transport(router));
    let builder = if json { builder.json() } else { builder };
    let client = builder.build().expect("client builds");
    // The empty service's client has no methods to call; it must still build.
    let _ = golden::EmptyServiceClient::new(client.clone());
    GreetServiceClient::new(client)
}

#[tokio::test]
async fn every_method_round_trips_with_both_codecs() {
    for json in [false, true] {
        let client = client(Greeter, json);
        let expected = reply(&ada());
        assert_eq!(expected.greeting, "Hello, Ada! (sent at 1700000000)");

        let response = client.greet(ada()).await.unwrap();
        assert_eq!(*response.message(), expected, "json: {json}");
        let response = client.greet(Request::new(ada())).await.unwrap();
        assert_eq!(*response.message(), expected, "json: {json}");

        let mut stream = client.greet_many(ada()).await.unwrap();
        let mut received = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            received.push(message);
        }
        assert_eq!(received, vec![expected.clone(); 3], "json: {json}");

        let mut upload = client.upload(());
        for data in [vec![1, 2, 3], vec![], vec![4, 5]] {
            upload.send(Chunk { data }).await.unwrap();
        }
        let summary = upload.close_and_receive().await.unwrap().into_message();
        assert_eq!(summary.total_bytes, 5, "json: {json}");

        // Full duplex: each reply arrives before the next request is sent.
        let mut chat = client.chat(());
        for name in ["Ada", "Grace"] {
            let request = GreetRequest {
                name: name.into(),
                ..ada()
            };
            chat.send(request).await.unwrap();
            let reply = chat.message().await.unwrap().expect("a reply");
            assert_eq!(
                reply.greeting,
                format!("Hello, {name}! (sent at 1700000000)")
            );
        }
        chat.close_send().unwrap();
        assert_eq!(chat.message().await.unwrap(), None, "json: {json}");

        let card = SendCardRequest {
            recipient: "people/ada".into(),
            card: Some(Card {
                text: "Hi".into(),
                ..Card::default()
            }),
            copies: 2,
            tags: vec!["a".into(), "b".into()],
        };
        let response = client.send_card(card).await.unwrap();
        assert_eq!(response.message().greeting, "a+b x2 to people/ada: Hi");

        #[allow(deprecated)]
        let error = client.r#type(()).await.unwrap_err();
        assert_eq!(error.code(), Code::Unimplemented, "json: {json}");
        assert_eq!(
            error.message(),
            "golden.v1.GreetService.Type is not implemented"
        );
    }
}

#[tokio::test]
async fn default_methods_answer_unimplemented() {
    for json in [false, true] {
        let client = client(Nobody, json);
        let unary = client.greet(ada()).await.map(drop);
        let server_stream = match client.greet_many(ada()).await {
            Ok(mut stream) => stream.message().await.map(drop),
            Err(error) => Err(error),
        };
        let upload = client.upload(());
        let client_stream = upload.close_and_receive().await.map(drop);
        let send_card = client.send_card(SendCardRequest::default()).await.map(drop);
        let mut chat = client.chat(());
        chat.close_send().unwrap();
        let bidi_stream = chat.message().await.map(drop);
        let results = [
            ("Greet", unary),
            ("GreetMany", server_stream),
            ("Upload", client_stream),
            ("Chat", bidi_stream),
            ("SendCard", send_card),
        ];
        for (method, result) in results {
            let error = result.unwrap_err();
            assert_eq!(error.code(), Code::Unimplemented, "{method}, json: {json}");
            let message = format!("golden.v1.GreetService.{method} is not implemented");
            assert_eq!(error.message(), message, "json: {json}");
        }
    }
}

#[test]
fn method_specs_follow_the_proto() {
    use golden::greet_service::{CHAT, GREET, GREET_MANY, SEND_CARD, TYPE, UPLOAD};
    use trident::Idempotency::{Idempotent, NoSideEffects, Unknown};
    use trident::StreamType::{BidiStream, ClientStream, ServerStream, Unary};

    assert_eq!(golden::GREET_SERVICE_NAME, "golden.v1.GreetService");
    assert_eq!(golden::EMPTY_SERVICE_NAME, "golden.v1.EmptyService");
    let specs = [
        (GREET, "Greet", Unary, NoSideEffects),
        (GREET_MANY, "GreetMany", ServerStream, Unknown),
        (UPLOAD, "Upload", ClientStream, Idempotent),
        (CHAT, "Chat", BidiStream, Unknown),
        (SEND_CARD, "SendCard", Unary, Unknown),
        (TYPE, "Type", Unary, Unknown),
    ];
    for (spec, method, stream_type, idempotency) in specs {
        assert_eq!(spec.service, "golden.v1.GreetService");
        assert_eq!(spec.method, method);
        assert_eq!(spec.path, format!("/golden.v1.GreetService/{method}"));
        assert_eq!(spec.stream_type, stream_type, "{method}");
        assert_eq!(spec.idempotency, idempotency, "{method}");
    }
}

#[test]
fn messages_reflect_their_descriptors() {
    let descriptor = GreetRequest::default().descriptor();
    assert_eq!(descriptor.full_name(), "golden.v1.GreetRequest");
    let sent_at = descriptor.get_field_by_name("sent_at").unwrap();
    let timestamp = sent_at.kind().as_message().unwrap().full_name().to_string();
    assert_eq!(timestamp, "google.protobuf.Timestamp");
    assert_eq!(
        Address::default().descriptor().full_name(),
        "golden.v1.GreetRequest.Address"
    );
    // Every message of the set is in the global pool now, ready for `google.protobuf.Any`.
    let pool = prost_reflect::DescriptorPool::global();
    assert!(
        pool.get_message_by_name("golden.v1.UploadSummary")
            .is_some()
    );
    assert!(pool.get_service_by_name("golden.v1.GreetService").is_some());
    assert_eq!(
        <GreetRequest as prost::Name>::type_url(),
        "type.googleapis.com/golden.v1.GreetRequest"
    );

    // The runtime's JSON codec writes the timestamp as RFC 3339 and reads it back.
    let mut json = Default::default();
    JsonCodec.encode(&ada(), &mut json).unwrap();
    let text = std::str::from_utf8(&json).unwrap();
    assert_eq!(
        text,
        r#"{"name":"Ada","sentAt":"2023-11-14T22:13:20Z","salutation":"Dear","address":{"street":"1 Analytical Row","city":"London","kind":"KIND_HOUSE"},"labels":{"team":"engines"}}"#
    );
    let mut decoded = GreetRequest::default();
    JsonCodec.decode(json.freeze(), &mut decoded).unwrap();
    assert_eq!(decoded, ada());
}

/// Sends one plain HTTP request to a router serving `Greeter`; answers the status, content type and
/// body.
async fn rest(method: &str, uri: &str, body: &str) -> (u16, String, String) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let router = Router::new().add(golden::greet_service_routes(Greeter));
    router.check().expect("the golden bindings are sound");
    let mut request = http::Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(body.to_owned()).unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn rest_bindings_serve_plain_http() {
    // GET: the name from the path, the rest (nested fields too) from the query.
    let (status, content_type, body) = rest(
        "GET",
        "/v1/greet/Ada?sent_at=2023-11-14T22:13:20Z&address.city=Paris",
        "",
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(
        body,
        r#"{"greeting":"Hello, Ada! (sent at 1700000000)","mood":"MOOD_HAPPY"}"#
    );

    // The additional binding: the whole request in the body.
    let (status, _, body) = rest("POST", "/v1/greet", r#"{"name":"Grace"}"#).await;
    assert_eq!(status, 200);
    assert!(body.contains("Hello, Grace!"), "{body}");

    // A body field, a multi-segment path variable, query parameters, and a response_body field.
    let (status, _, body) = rest(
        "POST",
        "/v1/people/ada/cards?copies=3&tags=x&tags=y",
        r#"{"text":"Hi"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, r#""x+y x3 to people/ada: Hi""#);

    // The other additional bindings: a nested path field, and a custom method.
    let (status, _, body) = rest("GET", "/v1/people/bob/cards/Yo", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("x0 to people/bob: Yo"), "{body}");
    let (status, _, _) = rest("HEAD", "/v1/cards/Yo", "").await;
    assert_eq!(status, 200);

    // A server stream: one JSON line per message.
    let (status, content_type, body) = rest("GET", "/v1/greet/Ada:stream", "").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-ndjson")
    );
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 3, "{body}");
    assert!(
        lines[0].starts_with(r#"{"result":{"greeting":"Hello, Ada!"#),
        "{body}"
    );
}
