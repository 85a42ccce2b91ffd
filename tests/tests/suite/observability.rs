//! Observability interceptors end to end over loopback: `TraceCalls` spans on both sides, read back
//! through `tracing-opentelemetry` from the OpenTelemetry SDK's in-memory span exporter (names, kinds,
//! RPC attributes, status for unary and streaming calls that succeed, fail or are dropped); the W3C
//! trace context crossing from a Trident client, and from a hand-written `traceparent` as any
//! OpenTelemetry peer sends it; `RecordMetrics` histograms read from the in-memory metric exporter; and
//! the span fields as a plain `tracing` subscriber records them, with the handler running in the span.
//!
//! Each test runs on a current-thread runtime (server and client on one thread) with its own
//! subscriber set as that thread's default, so tests do not see each other's spans.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, HistogramDataPoint, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use prost::Message as _;
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt as _;
use trident::{
    Client, Code, Error, HttpVersion, ProtocolKind, Request, Response, ResponseStream, Router,
    Server, ServiceRoutes, Streaming, observe::RecordMetrics, observe::TraceCalls,
};
use trident_tests::{
    CHAT, COLLECT, ECHO, EchoRequest, EchoResponse, Http, REPEAT, raw_unary, text, within,
};

const SERVICE: &str = "trident.test.v1.EchoService";

fn reply(text: &str) -> EchoResponse {
    EchoResponse {
        text: text.to_string(),
        ..Default::default()
    }
}

/// What the handlers fail with for a request text: `boom` is the server's fault (`internal`),
/// `missing` the caller's (`not_found`).
fn failure(text: &str) -> Option<Error> {
    match text {
        "boom" => Some(Error::new(Code::Internal, "it broke")),
        "missing" => Some(Error::new(Code::NotFound, "no such thing")),
        _ => None,
    }
}

/// Echo, Repeat (two replies, or one and then the failure), Collect and Chat.
fn routes() -> ServiceRoutes {
    ServiceRoutes::new(SERVICE)
        .unary(&ECHO, |request: Request<EchoRequest>| async move {
            let text = request.into_message().text;
            match failure(&text) {
                Some(error) => Err(error),
                None => Ok(Response::new(reply(&text))),
            }
        })
        .server_stream(&REPEAT, |request: Request<EchoRequest>| async move {
            let text = request.into_message().text;
            let second = match failure(&text) {
                Some(error) => Err(error),
                None => Ok(reply("two")),
            };
            let messages: ResponseStream<EchoResponse> =
                Box::pin(stream::iter([Ok(reply("one")), second]));
            Ok::<_, Error>(Response::new(messages))
        })
        .client_stream(
            &COLLECT,
            |request: Request<Streaming<EchoRequest>>| async move {
                let mut texts = Vec::new();
                let mut messages = request.into_message();
                while let Some(message) = messages.message().await? {
                    texts.push(message.text);
                }
                Ok::<_, Error>(Response::new(reply(&texts.join(" "))))
            },
        )
        .bidi_stream(
            &CHAT,
            |request: Request<Streaming<EchoRequest>>| async move {
                use futures_util::StreamExt as _;
                let messages = request
                    .into_message()
                    .map(|message| message.map(|m| reply(&m.text)));
                let messages: ResponseStream<EchoResponse> = Box::pin(messages);
                Ok::<_, Error>(Response::new(messages))
            },
        )
}

/// The OpenTelemetry SDK with in-memory exporters, and a `tracing` subscriber feeding it.
struct Telemetry {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Telemetry {
    fn install() -> Self {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("tests")));
        Self {
            spans,
            tracer_provider,
            metrics,
            meter_provider,
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The call spans ended so far (not those of the HTTP/2 library below), emptying the exporter.
    fn take_spans(&self) -> Vec<SpanData> {
        self.tracer_provider.force_flush().expect("flush spans");
        let spans = self.spans.get_finished_spans().expect("spans");
        self.spans.reset();
        spans
            .into_iter()
            .filter(|span| attribute(span, "rpc.system").is_some())
            .collect()
    }

    /// Waits (briefly) until `count` call spans have ended, then takes them.
    async fn spans(&self, count: usize) -> Vec<SpanData> {
        within("spans to end", async {
            loop {
                let ended = self.spans.get_finished_spans().expect("spans");
                let calls = ended
                    .iter()
                    .filter(|s| attribute(s, "rpc.system").is_some());
                if calls.count() >= count {
                    return self.take_spans();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }

    /// The histogram named `name`, after a flush: its unit and data points.
    fn histogram(&self, name: &str) -> (String, Vec<Point>) {
        self.meter_provider.force_flush().expect("flush metrics");
        let exported = self.metrics.get_finished_metrics().expect("metrics");
        let last = exported.last().expect("an export");
        for scope in last.scope_metrics() {
            for metric in scope.metrics() {
                if metric.name() != name {
                    continue;
                }
                let points = match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        h.data_points().map(Point::of).collect()
                    }
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                        h.data_points().map(Point::of).collect()
                    }
                    _ => panic!("{name} is not a histogram"),
                };
                return (metric.unit().to_string(), points);
            }
        }
        panic!("no metric named {name}");
    }
}

/// One histogram data point: its attributes, how many values and their sum.
#[derive(Debug)]
struct Point {
    attributes: Vec<KeyValue>,
    count: u64,
    sum: f64,
}

/// A histogram's value type as an `f64`, to compare sums of either kind.
trait ToF64 {
    fn to_f64(self) -> f64;
}

impl ToF64 for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl ToF64 for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Point {
    fn of<T: Copy + ToF64>(point: &HistogramDataPoint<T>) -> Self {
        Self {
            attributes: point.attributes().cloned().collect(),
            count: point.count(),
            sum: point.sum().to_f64(),
        }
    }

    fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn string(span: &SpanData, key: &str) -> String {
    match attribute(span, key) {
        Some(value) => value.as_str().into_owned(),
        None => panic!("span {} has no {key}: {:?}", span.name, span.attributes),
    }
}

fn int(span: &SpanData, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Value::I64(n)) => *n,
        other => panic!("span {} has {key} = {other:?}", span.name),
    }
}

fn of_kind(spans: &[SpanData], kind: SpanKind) -> &SpanData {
    let mut found = spans.iter().filter(|s| s.span_kind == kind);
    let span = found.next().unwrap_or_else(|| panic!("no {kind:?} span"));
    assert!(found.next().is_none(), "one {kind:?} span");
    span
}

/// A server with `TraceCalls` (and `RecordMetrics` through `telemetry`'s meter) and the W3C trace
/// context propagator.
async fn serve(telemetry: &Telemetry) -> SocketAddr {
    let meter = opentelemetry::metrics::MeterProvider::meter(&telemetry.meter_provider, "trident");
    let router = Router::new()
        .intercept(TraceCalls::server().propagator(TraceContextPropagator::new()))
        .intercept(RecordMetrics::server().meter(&meter))
        .add(routes());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        Server::new()
            .serve(listener, router)
            .await
            .expect("serving")
    });
    addr
}

fn client(
    telemetry: &Telemetry,
    addr: SocketAddr,
    protocol: ProtocolKind,
    http: HttpVersion,
) -> Client {
    let meter = opentelemetry::metrics::MeterProvider::meter(&telemetry.meter_provider, "trident");
    Client::builder(format!("http://{addr}"))
        .protocol(protocol)
        .http_version(http)
        .intercept(TraceCalls::client().propagator(TraceContextPropagator::new()))
        .intercept(RecordMetrics::client().meter(&meter))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_unary_call_has_a_client_and_a_server_span_in_one_trace() {
    let telemetry = Telemetry::install();
    let addr = serve(&telemetry).await;
    let client = client(&telemetry, addr, ProtocolKind::CONNECT, HttpVersion::Http1);

    let request = text("hello");
    let response = within(
        "echo",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(request.clone())),
    )
    .await
    .expect("echo");
    let spans = telemetry.spans(2).await;
    let (client_span, server_span) = (
        of_kind(&spans, SpanKind::Client),
        of_kind(&spans, SpanKind::Server),
    );
    for span in [client_span, server_span] {
        assert_eq!(span.name, format!("{SERVICE}/Echo"));
        assert_eq!(string(span, "rpc.system"), "connect_rpc");
        assert_eq!(string(span, "rpc.service"), SERVICE);
        assert_eq!(string(span, "rpc.method"), "Echo");
        assert_eq!(string(span, "network.protocol.version"), "1.1");
        assert_eq!(string(span, "server.address"), "127.0.0.1");
        assert_eq!(int(span, "server.port"), i64::from(addr.port()));
        assert_eq!(int(span, "rpc.request.messages"), 1);
        assert_eq!(int(span, "rpc.request.bytes"), request.encoded_len() as i64);
        assert_eq!(int(span, "rpc.response.messages"), 1);
        assert_eq!(
            int(span, "rpc.response.bytes"),
            response.message().encoded_len() as i64
        );
        assert!(attribute(span, "rpc.connect_rpc.error_code").is_none());
        assert_eq!(span.status, Status::Unset);
        let sizes: Vec<_> = span
            .events
            .iter()
            .filter(|e| e.name == "message")
            .map(|e| {
                e.attributes
                    .iter()
                    .map(|kv| format!("{}={}", kv.key, kv.value))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(sizes.len(), 2, "a message event each way: {sizes:?}");
    }
    assert_eq!(string(server_span, "network.peer.address"), "127.0.0.1");
    assert!(attribute(client_span, "network.peer.address").is_none());
    // The client's trace context crossed in `traceparent`: the server span is its child.
    assert_eq!(
        server_span.span_context.trace_id(),
        client_span.span_context.trace_id()
    );
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert!(server_span.parent_span_is_remote);
}

#[tokio::test]
async fn failed_unary_calls_carry_the_protocols_status_attribute() {
    let telemetry = Telemetry::install();
    let addr = serve(&telemetry).await;

    // gRPC: the numeric status on both sides; `internal` is an error on both.
    let grpc = client(&telemetry, addr, ProtocolKind::GRPC, HttpVersion::Http2);
    let error = within(
        "boom",
        grpc.unary::<_, EchoResponse>(&ECHO, Request::new(text("boom"))),
    )
    .await
    .expect_err("fails");
    assert_eq!(error.code(), Code::Internal);
    let spans = telemetry.spans(2).await;
    for span in &spans {
        assert_eq!(string(span, "rpc.system"), "grpc");
        assert_eq!(string(span, "network.protocol.version"), "2");
        assert_eq!(int(span, "rpc.grpc.status_code"), 13);
        assert_eq!(span.status, Status::error("it broke"));
        assert_eq!(int(span, "rpc.response.messages"), 0);
    }

    // Connect: the code's name; `not_found` fails the client span but is the caller's doing on the
    // server, whose span stays unset.
    let connect = client(&telemetry, addr, ProtocolKind::CONNECT, HttpVersion::Http2);
    let error = within(
        "missing",
        connect.unary::<_, EchoResponse>(&ECHO, Request::new(text("missing"))),
    )
    .await
    .expect_err("fails");
    assert_eq!(error.code(), Code::NotFound);
    let spans = telemetry.spans(2).await;
    for span in &spans {
        assert_eq!(string(span, "rpc.connect_rpc.error_code"), "not_found");
        assert!(attribute(span, "rpc.grpc.status_code").is_none());
    }
    assert_eq!(
        of_kind(&spans, SpanKind::Client).status,
        Status::error("no such thing")
    );
    assert_eq!(of_kind(&spans, SpanKind::Server).status, Status::Unset);

    // A successful gRPC call says status 0.
    within(
        "ok",
        grpc.unary::<_, EchoResponse>(&ECHO, Request::new(text("ok"))),
    )
    .await
    .expect("echo");
    for span in telemetry.spans(2).await {
        assert_eq!(int(&span, "rpc.grpc.status_code"), 0);
        assert_eq!(span.status, Status::Unset);
    }
}

/// Runs Repeat to its end; returns the texts received, or the error the stream ended with.
async fn repeat(client: &Client, word: &str) -> Result<Vec<String>, Error> {
    let mut call = client
        .server_stream::<_, EchoResponse>(&REPEAT, Request::new(text(word)))
        .await?;
    let mut texts = Vec::new();
    while let Some(message) = call.message().await? {
        texts.push(message.text);
    }
    Ok(texts)
}

#[tokio::test]
async fn a_server_stream_records_its_messages_and_the_error_it_ends_with() {
    let telemetry = Telemetry::install();
    let addr = serve(&telemetry).await;
    let client = client(&telemetry, addr, ProtocolKind::GRPC_WEB, HttpVersion::Http1);

    let texts = within("repeat", repeat(&client, "ok"))
        .await
        .expect("repeat");
    assert_eq!(texts, ["one", "two"]);
    let spans = telemetry.spans(2).await;
    for span in &spans {
        assert_eq!(span.name, format!("{SERVICE}/Repeat"));
        assert_eq!(string(span, "rpc.system"), "grpc");
        assert_eq!(int(span, "rpc.grpc.status_code"), 0);
        assert_eq!(int(span, "rpc.request.messages"), 1);
        assert_eq!(int(span, "rpc.response.messages"), 2);
        assert_eq!(span.status, Status::Unset);
    }
    let (c, s) = (
        of_kind(&spans, SpanKind::Client),
        of_kind(&spans, SpanKind::Server),
    );
    assert_eq!(s.span_context.trace_id(), c.span_context.trace_id());

    // The stream fails after its first message: both spans see the error through the stream's end.
    let error = within("repeat", repeat(&client, "boom"))
        .await
        .expect_err("the stream fails");
    assert_eq!(error.code(), Code::Internal);
    for span in telemetry.spans(2).await {
        assert_eq!(
            int(&span, "rpc.grpc.status_code"),
            13,
            "{:?}",
            span.span_kind
        );
        assert_eq!(int(&span, "rpc.response.messages"), 1);
        assert_eq!(span.status, Status::error("it broke"));
    }
}

#[tokio::test]
async fn client_and_bidi_streams_are_traced_and_a_dropped_stream_is_canceled() {
    let telemetry = Telemetry::install();
    let addr = serve(&telemetry).await;
    let client = client(&telemetry, addr, ProtocolKind::CONNECT, HttpVersion::Http2);

    let mut call = client.client_stream::<EchoRequest, EchoResponse>(&COLLECT, Request::new(()));
    within("collect", async {
        call.send(text("a")).await?;
        call.send(text("b")).await?;
        call.close_and_receive().await
    })
    .await
    .expect("collect");
    let spans = telemetry.spans(2).await;
    for span in &spans {
        assert_eq!(string(span, "rpc.method"), "Collect");
        assert_eq!(int(span, "rpc.request.messages"), 2);
        assert_eq!(int(span, "rpc.response.messages"), 1);
        assert_eq!(span.status, Status::Unset);
    }

    let mut chat = client.bidi_stream::<EchoRequest, EchoResponse>(&CHAT, Request::new(()));
    within("chat", async {
        chat.send(text("x")).await?;
        let first = chat.message().await?;
        chat.close_send()?;
        let end = chat.message().await?;
        Ok::<_, Error>((first, end))
    })
    .await
    .expect("chat");
    let spans = telemetry.spans(2).await;
    for span in &spans {
        assert_eq!(string(span, "rpc.method"), "Chat");
        assert_eq!(int(span, "rpc.request.messages"), 1);
        assert_eq!(int(span, "rpc.response.messages"), 1);
    }

    // A server stream the caller drops after one message: the client span says `canceled`.
    let mut call = within(
        "repeat",
        client.server_stream::<_, EchoResponse>(&REPEAT, Request::new(text("ok"))),
    )
    .await
    .expect("repeat");
    within("first", call.message())
        .await
        .expect("a message")
        .expect("one");
    drop(call);
    let spans = telemetry.spans(2).await;
    let span = of_kind(&spans, SpanKind::Client);
    assert_eq!(string(span, "rpc.connect_rpc.error_code"), "canceled");
    assert!(matches!(span.status, Status::Error { .. }));
}

#[tokio::test]
async fn a_traceparent_from_any_opentelemetry_peer_is_continued() {
    let telemetry = Telemetry::install();
    let addr = serve(&telemetry).await;

    // A raw Connect request, as a peer instrumented by any OpenTelemetry SDK sends it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    let response = raw_unary(
        addr,
        Http::H1,
        &format!("/{SERVICE}/Echo"),
        "application/json",
        &[("traceparent", &traceparent)],
        r#"{"text":"raw"}"#,
    )
    .await;
    assert_eq!(response.status, 200);
    let spans = telemetry.spans(1).await;
    let span = of_kind(&spans, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), trace_id);
    assert_eq!(span.parent_span_id.to_string(), parent_id);
    assert!(span.parent_span_is_remote);
    assert!(span.span_context.is_sampled());

    // Without one, the server span starts a trace of its own.
    let response = raw_unary(
        addr,
        Http::H1,
        &format!("/{SERVICE}/Echo"),
        "application/json",
        &[],
        r#"{"text":"raw"}"#,
    )
    .await;
    assert_eq!(response.status, 200);
    let spans = telemetry.spans(1).await;
    let span = of_kind(&spans, SpanKind::Server);
    assert_ne!(span.span_context.trace_id().to_string(), trace_id);
    assert!(!span.parent_span_is_remote);
}

#[tokio::test]
async fn metrics_record_durations_sizes_and_message_counts() {
    let telemetry = Telemetry::install();
    let addr = serve(&telemetry).await;
    let client = client(&telemetry, addr, ProtocolKind::GRPC, HttpVersion::Http2);

    let request = text("hello");
    within(
        "echo",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(request.clone())),
    )
    .await
    .expect("echo");
    within(
        "boom",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("boom"))),
    )
    .await
    .expect_err("fails");
    within("repeat", repeat(&client, "ok"))
        .await
        .expect("repeat");
    // Every call has ended on both sides once both spans have.
    telemetry.spans(6).await;

    for side in ["client", "server"] {
        let (unit, points) = telemetry.histogram(&format!("rpc.{side}.call.duration"));
        assert_eq!(unit, "s");
        let echo: Vec<_> = points
            .iter()
            .filter(|p| p.attribute("rpc.method") == Some(&Value::from("Echo")))
            .collect();
        assert_eq!(echo.len(), 2, "one point per status: {points:?}");
        for point in &echo {
            assert_eq!(point.count, 1);
            assert!(point.sum > 0.0 && point.sum < 20.0);
            assert_eq!(point.attribute("rpc.system"), Some(&Value::from("grpc")));
            assert_eq!(point.attribute("rpc.service"), Some(&Value::from(SERVICE)));
        }
        let codes: Vec<_> = echo
            .iter()
            .map(|p| p.attribute("rpc.grpc.status_code").cloned())
            .collect();
        assert!(codes.contains(&Some(Value::I64(0))) && codes.contains(&Some(Value::I64(13))));
        if side == "client" {
            assert_eq!(
                echo[0].attribute("server.address"),
                Some(&Value::from("127.0.0.1"))
            );
        }

        let (unit, points) = telemetry.histogram(&format!("rpc.{side}.request.size"));
        assert_eq!(unit, "By");
        let echo = points
            .iter()
            .find(|p| p.attribute("rpc.method") == Some(&Value::from("Echo")))
            .expect("echo's request sizes");
        assert_eq!(echo.count, 2);
        assert_eq!(
            echo.sum,
            (request.encoded_len() + text("boom").encoded_len()) as f64
        );

        let (unit, points) = telemetry.histogram(&format!("rpc.{side}.response.size"));
        assert_eq!(unit, "By");
        let repeat = points
            .iter()
            .find(|p| p.attribute("rpc.method") == Some(&Value::from("Repeat")))
            .expect("repeat's response sizes");
        assert_eq!(repeat.count, 2, "one value per message");
        assert_eq!(
            repeat.sum,
            (reply("one").encoded_len() + reply("two").encoded_len()) as f64
        );

        let (unit, points) = telemetry.histogram(&format!("rpc.{side}.responses_per_rpc"));
        assert_eq!(unit, "{count}");
        let repeat = points
            .iter()
            .find(|p| p.attribute("rpc.method") == Some(&Value::from("Repeat")))
            .expect("repeat's count");
        assert_eq!((repeat.count, repeat.sum), (1, 2.0));
        let (_, points) = telemetry.histogram(&format!("rpc.{side}.requests_per_rpc"));
        assert_eq!(points.iter().map(|p| p.sum).sum::<f64>(), 3.0);
    }
}

/// The fields of every span opened under a [`Fields`] layer, by span id: its name and each field's
/// value as recorded (strings as they are, other values in their `Debug` form).
#[derive(Clone, Default)]
struct Fields(Arc<Mutex<HashMap<u64, NamedFields>>>);

/// A span's name and fields.
type NamedFields = (String, BTreeMap<String, String>);

struct Visitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Fields {
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        attributes.record(&mut Visitor(&mut fields));
        let name = attributes.metadata().name().to_string();
        self.0.lock().unwrap().insert(id.into_u64(), (name, fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }
}

#[tokio::test]
async fn spans_carry_their_fields_for_any_subscriber_and_the_handler_runs_inside() {
    // A plain `tracing` subscriber, no OpenTelemetry: what any subscriber sees.
    let fields = Fields::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(fields.clone()));
    let handler_span = Arc::new(Mutex::new(None));
    let seen = handler_span.clone();
    let routes = ServiceRoutes::new(SERVICE).unary(&ECHO, move |request: Request<EchoRequest>| {
        *seen.lock().unwrap() = tracing::Span::current().id().map(|id| id.into_u64());
        async move { Ok::<_, Error>(Response::new(reply(&request.into_message().text))) }
    });
    let router = Router::new().intercept(TraceCalls::server()).add(routes);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { Server::new().serve(listener, router).await });
    let client = Client::builder(format!("http://{addr}"))
        .protocol(ProtocolKind::GRPC_WEB)
        .intercept(TraceCalls::client())
        .build()
        .expect("client");

    within(
        "echo",
        client.unary::<_, EchoResponse>(&ECHO, Request::new(text("hi"))),
    )
    .await
    .expect("echo");

    let spans = fields.0.lock().unwrap().clone();
    let find = |name: &str| {
        let mut found = spans.iter().filter(|(_, (n, _))| n == name);
        let (id, (_, fields)) = found.next().unwrap_or_else(|| panic!("no {name} span"));
        assert!(found.next().is_none(), "one {name} span");
        (*id, fields.clone())
    };
    let (server_id, server) = find("rpc.server");
    let (_, client) = find("rpc.client");
    assert_eq!(*handler_span.lock().unwrap(), Some(server_id));
    for (fields, kind) in [(&server, "server"), (&client, "client")] {
        let field = |name: &str| fields.get(name).map(String::as_str);
        assert_eq!(field("otel.name"), Some("trident.test.v1.EchoService/Echo"));
        assert_eq!(field("otel.kind"), Some(kind));
        assert_eq!(field("rpc.system"), Some("grpc"));
        assert_eq!(field("rpc.service"), Some(SERVICE));
        assert_eq!(field("rpc.method"), Some("Echo"));
        assert_eq!(field("rpc.grpc.status_code"), Some("0"));
        assert_eq!(field("network.protocol.version"), Some("1.1"));
        assert_eq!(field("server.address"), Some("127.0.0.1"));
        assert_eq!(field("server.port"), Some(addr.port().to_string().as_str()));
        assert_eq!(field("rpc.request.messages"), Some("1"));
        assert_eq!(field("rpc.response.messages"), Some("1"));
        assert_eq!(field("otel.status_code"), None);
    }
    assert_eq!(
        server.get("network.peer.address").map(String::as_str),
        Some("127.0.0.1")
    );
}
