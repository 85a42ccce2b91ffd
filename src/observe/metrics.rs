//! RPC metrics through OpenTelemetry ([`RecordMetrics`]): call durations, message sizes and message
//! counts per call, named as OpenTelemetry's RPC semantic conventions name them. Only with the
//! `opentelemetry` feature.

use std::sync::Arc;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

use super::{CallInfo, Direction, Observer, Side, StatusAttribute, Tally};
use crate::any_message::{AnyMessage, MessageStream};
use crate::interceptor::{BoxFuture, Interceptor, StreamingClientConn, StreamingNext, UnaryNext};
use crate::{Error, Request, Response};

/// The instrumentation scope Trident's instruments are created in (the name a `Meter` is asked for).
const SCOPE: &str = "trident";

/// Bucket boundaries for call durations, in seconds (the semantic conventions' advice for RPC and
/// HTTP durations: 5 ms to 10 s).
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// An interceptor that records each call's metrics through an OpenTelemetry [`Meter`], on the server
/// ([`RecordMetrics::server`]) or on the client ([`RecordMetrics::client`]). Only with the
/// `opentelemetry` feature.
///
/// With `{side}` being `server` or `client`, it records these histograms, named as OpenTelemetry's
/// RPC semantic conventions name them:
///
/// | Instrument | Unit | One value per |
/// |------------|------|---------------|
/// | `rpc.{side}.call.duration` | `s` | call: from its start until its last message or error |
/// | `rpc.{side}.request.size` | `By` | request message: its uncompressed protobuf size |
/// | `rpc.{side}.response.size` | `By` | response message: its uncompressed protobuf size |
/// | `rpc.{side}.requests_per_rpc` | `{count}` | call: how many request messages it carried |
/// | `rpc.{side}.responses_per_rpc` | `{count}` | call: how many response messages it carried |
///
/// Each value carries `rpc.system`, `rpc.service` and `rpc.method` (see [`TraceCalls`] for their
/// values), on the client `server.address` and `server.port` when known, and — on the values
/// recorded when the call ends — the protocol's status attribute (`rpc.grpc.status_code`, or
/// `rpc.connect_rpc.error_code` on a failed Connect call). A stream's end is its last message, its
/// error, or its being dropped (recorded as `canceled`).
///
/// The instruments come from the global meter provider's `trident` meter unless
/// [`meter`](Self::meter) gives another. They are created with the interceptor: install the global
/// provider (`opentelemetry::global::set_meter_provider`) before calling [`server`](Self::server) or
/// [`client`](Self::client), or instruments made earlier record nowhere.
///
/// [`TraceCalls`]: crate::observe::TraceCalls
///
/// ```
/// let router = trident::Router::new().intercept(trident::observe::RecordMetrics::server());
/// let client = trident::Client::builder("http://127.0.0.1:8080")
///     .intercept(trident::observe::RecordMetrics::client())
///     .build()?;
/// # Ok::<(), trident::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RecordMetrics {
    side: Side,
    instruments: Arc<Instruments>,
}

impl std::fmt::Debug for RecordMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordMetrics")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl RecordMetrics {
    /// Metrics of a server's calls, through the global meter provider.
    pub fn server() -> Self {
        Self::with_side(Side::Server, &opentelemetry::global::meter(SCOPE))
    }

    /// Metrics of a client's calls, through the global meter provider.
    pub fn client() -> Self {
        Self::with_side(Side::Client, &opentelemetry::global::meter(SCOPE))
    }

    /// Records through `meter` (from a meter provider of your own) instead.
    pub fn meter(self, meter: &Meter) -> Self {
        Self::with_side(self.side, meter)
    }

    fn with_side(side: Side, meter: &Meter) -> Self {
        Self {
            side,
            instruments: Arc::new(Instruments::new(side, meter)),
        }
    }
}

/// The five histograms of one side.
struct Instruments {
    duration: Histogram<f64>,
    request_size: Histogram<u64>,
    response_size: Histogram<u64>,
    requests_per_rpc: Histogram<u64>,
    responses_per_rpc: Histogram<u64>,
}

impl Instruments {
    fn new(side: Side, meter: &Meter) -> Self {
        let names = match side {
            Side::Server => [
                "rpc.server.call.duration",
                "rpc.server.request.size",
                "rpc.server.response.size",
                "rpc.server.requests_per_rpc",
                "rpc.server.responses_per_rpc",
            ],
            Side::Client => [
                "rpc.client.call.duration",
                "rpc.client.request.size",
                "rpc.client.response.size",
                "rpc.client.requests_per_rpc",
                "rpc.client.responses_per_rpc",
            ],
        };
        let [
            duration,
            request_size,
            response_size,
            requests_per_rpc,
            responses_per_rpc,
        ] = names;
        Self {
            duration: meter
                .f64_histogram(duration)
                .with_unit("s")
                .with_description("Duration of RPCs")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            request_size: meter
                .u64_histogram(request_size)
                .with_unit("By")
                .with_description("Uncompressed size of RPC request messages")
                .build(),
            response_size: meter
                .u64_histogram(response_size)
                .with_unit("By")
                .with_description("Uncompressed size of RPC response messages")
                .build(),
            requests_per_rpc: meter
                .u64_histogram(requests_per_rpc)
                .with_unit("{count}")
                .with_description("Request messages per RPC")
                .build(),
            responses_per_rpc: meter
                .u64_histogram(responses_per_rpc)
                .with_unit("{count}")
                .with_description("Response messages per RPC")
                .build(),
        }
    }
}

impl Interceptor for RecordMetrics {
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        match MetricsObserver::of(self, &request) {
            Some(observer) => super::unary(Arc::new(observer), self.side, request, next),
            None => next.run(request),
        }
    }

    fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        match MetricsObserver::of(self, &request) {
            Some(observer) => super::streaming(Arc::new(observer), self.side, request, next),
            None => next.run(request),
        }
    }

    fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
        let info = CallInfo::from_parts(call.context(), call.request_headers(), self.side);
        match info {
            Some(info) => super::client_conn(Arc::new(MetricsObserver::new(self, info)), call),
            None => call,
        }
    }
}

/// Records one call's metrics.
struct MetricsObserver {
    info: CallInfo,
    instruments: Arc<Instruments>,
    started: Instant,
    /// The attributes every value of the call carries.
    attributes: Vec<KeyValue>,
}

impl MetricsObserver {
    fn of<T>(interceptor: &RecordMetrics, request: &Request<T>) -> Option<Self> {
        Some(Self::new(
            interceptor,
            CallInfo::of(request, interceptor.side)?,
        ))
    }

    fn new(interceptor: &RecordMetrics, info: CallInfo) -> Self {
        let mut attributes = vec![
            KeyValue::new("rpc.system", info.system()),
            KeyValue::new("rpc.service", info.service),
            KeyValue::new("rpc.method", info.method),
        ];
        if info.side == Side::Client {
            if let Some(address) = &info.server_address {
                attributes.push(KeyValue::new("server.address", address.clone()));
            }
            if let Some(port) = info.server_port {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        Self {
            info,
            instruments: interceptor.instruments.clone(),
            started: Instant::now(),
            attributes,
        }
    }

    /// Whether messages going `direction` are requests.
    fn are_requests(&self, direction: Direction) -> bool {
        matches!(
            (self.info.side, direction),
            (Side::Client, Direction::Sent) | (Side::Server, Direction::Received)
        )
    }
}

impl Observer for MetricsObserver {
    fn message(&self, direction: Direction, _id: u64, size: usize) {
        let histogram = if self.are_requests(direction) {
            &self.instruments.request_size
        } else {
            &self.instruments.response_size
        };
        histogram.record(size as u64, &self.attributes);
    }

    fn end(&self, error: Option<&Error>, tally: &Tally) {
        let mut attributes = self.attributes.clone();
        match self.info.status(error) {
            Some(StatusAttribute::GrpcStatusCode(code)) => {
                attributes.push(KeyValue::new("rpc.grpc.status_code", code));
            }
            Some(StatusAttribute::ConnectErrorCode(code)) => {
                attributes.push(KeyValue::new("rpc.connect_rpc.error_code", code));
            }
            None => {}
        }
        let instruments = &self.instruments;
        instruments
            .duration
            .record(self.started.elapsed().as_secs_f64(), &attributes);
        let (sent, _) = tally.get(Direction::Sent);
        let (received, _) = tally.get(Direction::Received);
        let (requests, responses) = if self.are_requests(Direction::Sent) {
            (sent, received)
        } else {
            (received, sent)
        };
        instruments.requests_per_rpc.record(requests, &attributes);
        instruments.responses_per_rpc.record(responses, &attributes);
    }
}
