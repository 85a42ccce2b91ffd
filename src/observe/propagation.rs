//! W3C trace context (or whatever a configured OpenTelemetry propagator carries) across a call: the
//! client writes its call span's context into the request headers, the server makes the context it
//! reads from them the parent of its call span. Only with the `opentelemetry` feature.

use std::sync::Arc;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::Metadata;

/// A propagator chosen for one interceptor.
pub(crate) type Propagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// Runs `f` with `propagator`, or with OpenTelemetry's global one.
fn with_propagator<T>(
    propagator: Option<&(dyn TextMapPropagator + Send + Sync)>,
    f: impl FnOnce(&dyn TextMapPropagator) -> T,
) -> T {
    match propagator {
        Some(propagator) => f(propagator),
        None => {
            let mut f = Some(f);
            opentelemetry::global::get_text_map_propagator(|global| {
                (f.take().expect("the global propagator is lent once"))(global)
            })
        }
    }
}

/// Writes `span`'s trace context into a client request's `headers`.
pub(crate) fn inject(
    propagator: Option<&(dyn TextMapPropagator + Send + Sync)>,
    span: &Span,
    headers: &mut Metadata,
) {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return; // No OpenTelemetry layer records this span: there is nothing to carry.
    }
    with_propagator(propagator, |p| {
        p.inject_context(&context, &mut HeaderInjector(headers))
    });
}

/// Makes the trace context in a server request's `headers`, if any, the parent of `span`.
pub(crate) fn extract(
    propagator: Option<&(dyn TextMapPropagator + Send + Sync)>,
    headers: &Metadata,
    span: &Span,
) {
    let parent = with_propagator(propagator, |p| {
        p.extract_with_context(&opentelemetry::Context::new(), &HeaderExtractor(headers))
    });
    if parent.span().span_context().is_valid() {
        // Fails only without an OpenTelemetry layer, when there is no OpenTelemetry span to parent.
        let _ = span.set_parent(parent);
    }
}

/// Request headers as a propagator writes them.
struct HeaderInjector<'a>(&'a mut Metadata);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // A propagator writes header-safe names and values; one that does not is left out.
        let _ = self.0.insert(key, &value);
    }
}

/// Request headers as a propagator reads them.
struct HeaderExtractor<'a>(&'a Metadata);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().collect()
    }
}
