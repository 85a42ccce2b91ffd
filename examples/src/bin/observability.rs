//! Observability: a server and a client, each with `TraceCalls` (a span per call, W3C trace context
//! carried from client to server) and `RecordMetrics` (duration, size and count histograms). The
//! spans go through `tracing-opentelemetry` into the OpenTelemetry SDK, the metrics into its meter
//! provider; both are kept in memory and printed at the end: each trace's client and server spans
//! with their attributes, then each histogram.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;
use trident::{
    Client, HttpVersion, ProtocolKind, Router, Server, observe::RecordMetrics, observe::TraceCalls,
};
use trident_examples::Greeter;
use trident_examples::greet::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // OpenTelemetry: in-memory exporters, and W3C trace context as the global propagator (which
    // `TraceCalls` uses unless given one).
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    // `tracing` spans become OpenTelemetry spans; only Trident's, not those of the HTTP libraries.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer_provider.tracer("observability-example")),
            )
            .with(tracing_subscriber::filter::filter_fn(|metadata| {
                metadata.target().starts_with("trident")
            })),
    )?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .intercept(TraceCalls::server())
        .intercept(RecordMetrics::server())
        .add(greet_service_routes(Greeter));
    tokio::spawn(Server::new().serve(listener, router).into_future());

    for (protocol, version) in [
        (ProtocolKind::CONNECT, HttpVersion::Http1),
        (ProtocolKind::GRPC, HttpVersion::Http2),
    ] {
        let client = GreetServiceClient::new(
            Client::builder(format!("http://{addr}"))
                .protocol(protocol)
                .http_version(version)
                .intercept(TraceCalls::client())
                .intercept(RecordMetrics::client())
                .build()?,
        );
        client.greet(GreetRequest { name: "Ada".into() }).await?;
        let failed = client.greet(GreetRequest::default()).await;
        assert!(failed.is_err(), "an empty name is refused");
        let mut countdown = client.countdown(CountdownRequest { from: 3 }).await?;
        while countdown.message().await?.is_some() {}
    }

    tracer_provider.force_flush()?;
    let mut finished = spans.get_finished_spans()?;
    finished.sort_by_key(|span| (span.span_context.trace_id().to_string(), span.start_time));
    println!("spans (client, then the server's in the same trace):");
    for span in &finished {
        println!(
            "  trace {} span {} parent {} {:?} {:?} {:?}",
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id,
            span.span_kind,
            span.name,
            span.status,
        );
        for attribute in &span.attributes {
            if attribute.key.as_str().starts_with("rpc.")
                || attribute.key.as_str().starts_with("server.")
                || attribute.key.as_str().starts_with("network.")
            {
                println!("      {} = {}", attribute.key, attribute.value);
            }
        }
    }

    meter_provider.force_flush()?;
    println!("metrics:");
    let exported = metrics.get_finished_metrics()?;
    // Cumulative totals: the last export holds everything.
    if let Some(resource) = exported.last() {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics() {
                println!("  {} ({})", metric.name(), metric.unit());
                let points: Vec<(String, u64, f64)> = match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => h
                        .data_points()
                        .map(|p| (attributes(p.attributes()), p.count(), p.sum()))
                        .collect(),
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => h
                        .data_points()
                        .map(|p| (attributes(p.attributes()), p.count(), p.sum() as f64))
                        .collect(),
                    _ => Vec::new(),
                };
                for (attributes, count, sum) in points {
                    println!("      count {count} sum {sum:.4} {{{attributes}}}");
                }
            }
        }
    }
    Ok(())
}

/// Attributes as `key=value` pairs, sorted.
fn attributes<'a>(attributes: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
    let mut pairs: Vec<String> = attributes
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    pairs.sort();
    pairs.join(" ")
}
