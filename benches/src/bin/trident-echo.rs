//! The echo service on Trident, served the way users serve it (`trident::Server`: HTTP/1.1 and h2c on
//! one port, Connect, gRPC and gRPC-Web). `trident-echo [ADDR]`.
//!
//! `TRIDENT_ECHO_OBSERVE` in the environment measures what observing calls costs: `intercept` puts a
//! pass-through interceptor around every call (the price of one interceptor alone); `trace` adds
//! `TraceCalls` with its spans going through `tracing-opentelemetry` into an OpenTelemetry SDK tracer
//! (level INFO, always sampled, no exporter: creating and filling the spans is what is measured); `metrics` adds
//! `RecordMetrics` into an SDK meter provider (aggregated in memory, exported once a minute to memory);
//! `all` does both. Unset or `none`: no interceptor, as users run it.
//!
//! `BENCH_DEFAULTS=1` leaves `Server`'s HTTP/2 settings (windows, frame size, max concurrent streams) at
//! Trident's defaults instead of setting the suite's explicitly: the driver's "library defaults" rows.
//! The message limits stay raised. gzip (a `Router` default) answers gzip-compressed requests, and calls
//! that accept gzip, with compressed messages of 1 KiB and more (`Router::compress_min_bytes`' default).
//!
//! `TRIDENT_ECHO_TLS_DIR=DIR` serves TLS and HTTP/3 (QUIC on the same port number) with a self-signed
//! certificate for 127.0.0.1 made at start and written to `DIR/cert.pem` for the client to trust: the
//! driver's HTTP/3 rows, which compare HTTP/3 with HTTP/2 over the same TLS.
//!
//! REST: `Echo` is always bound to `GET /v1/echo/{payload}` (the payload, `bytes`, is the path
//! segment's base64). `TRIDENT_ECHO_REST_BINDINGS=N` makes the router hold N bindings in all: that one
//! and N−1 others of several shapes (`trident_benches::rest_bindings`), none of which takes its
//! requests, so that the driver's REST rows can compare routing among 10 bindings with routing among
//! 1,000.

use trident::{
    Interceptor, Router, Server, observe::RecordMetrics, observe::TraceCalls, tls::TlsConfig,
};
use trident_benches::echo::Echo;
use trident_benches::settings;
use trident_benches::trident_gen::echo_service_routes;

/// Changes nothing: what one interceptor costs a call.
struct PassThrough;

impl Interceptor for PassThrough {}

/// Attaches what `TRIDENT_ECHO_OBSERVE` asks for (see the module docs).
fn observe(mut router: Router) -> Router {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let mode = std::env::var("TRIDENT_ECHO_OBSERVE").unwrap_or_default();
    let (trace, metrics) = match mode.as_str() {
        "" | "none" => return router,
        "intercept" => return router.intercept(PassThrough),
        "trace" => (true, false),
        "metrics" => (false, true),
        "all" => (true, true),
        other => {
            panic!("TRIDENT_ECHO_OBSERVE={other:?}: use none, intercept, trace, metrics or all")
        }
    };
    if trace {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        // At INFO, as services usually run: the spans, not the per-message DEBUG events nor hyper's and
        // h2's own TRACE events.
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("trident-echo")));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        router = router.intercept(TraceCalls::server());
    }
    if metrics {
        let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
            .with_interval(std::time::Duration::from_secs(60))
            .build();
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(reader)
            .build();
        opentelemetry::global::set_meter_provider(provider);
        router = router.intercept(RecordMetrics::server());
    }
    router
}

/// The number of REST bindings `TRIDENT_ECHO_REST_BINDINGS` asks for, 1 when unset.
fn rest_bindings() -> usize {
    match std::env::var("TRIDENT_ECHO_REST_BINDINGS") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("TRIDENT_ECHO_REST_BINDINGS={n:?}: a number of bindings")),
        Err(_) => 1,
    }
}

fn main() -> std::io::Result<()> {
    let addr = trident_benches::listen_addr();
    trident_benches::runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let router = Router::new()
            .add(trident_benches::rest_bindings::bind(
                echo_service_routes(Echo),
                rest_bindings(),
            ))
            .read_max_bytes(settings::MAX_MESSAGE)
            .send_max_bytes(settings::MAX_MESSAGE);
        let router = observe(router);
        // The HTTP/2 windows, frame size and stream limit are set explicitly, as on the tonic and
        // raw-hyper peers, so that a change of hyper's defaults cannot skew the comparison; TCP_NODELAY
        // is set per connection by the server.
        let server = if settings::library_defaults() {
            Server::new()
        } else {
            Server::new().http2(
                trident::Http2Settings::new()
                    .max_concurrent_streams(settings::MAX_CONCURRENT_STREAMS)
                    .initial_stream_window_size(settings::STREAM_WINDOW)
                    .initial_connection_window_size(settings::CONNECTION_WINDOW)
                    .max_frame_size(settings::MAX_FRAME_SIZE),
            )
        };
        let server = match std::env::var_os("TRIDENT_ECHO_TLS_DIR") {
            None => server,
            Some(dir) => {
                let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
                    .map_err(std::io::Error::other)?;
                let cert_pem = certified.cert.pem();
                std::fs::write(std::path::Path::new(&dir).join("cert.pem"), &cert_pem)?;
                let tls = TlsConfig::from_pem(&cert_pem, certified.signing_key.serialize_pem())
                    .map_err(std::io::Error::other)?;
                server.tls(tls).http3(true)
            }
        };
        server.serve(listener, router).await
    })
}
