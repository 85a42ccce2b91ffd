//! What every request passes on its way from a connection to the served service: the request
//! extensions the call reads (peer address, certificates, and the [`ConnectionScope`] with the
//! shutdown token, response budget and call defaults), the header-size and calls-in-flight limits,
//! and the count of calls in flight that the connection's idle timeout watches.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;
use tower::util::Oneshot;

use crate::body::Body;
use crate::min_data_rate::MinDataRate;
use crate::server::ConnectionScope;
use crate::tls::PeerCertificates;
use crate::{Code, Error};

/// What HTTP/2 adds to each header field's name and value when it measures a header list (RFC 9113,
/// SETTINGS_MAX_HEADER_LIST_SIZE); HTTP/1.1 requests are measured the same way.
const FIELD_OVERHEAD: usize = 32;

/// What a server serves: a [`Router`](crate::Router), or any tower service around one that takes
/// requests with a [`Body`], never fails, and answers with a body of bytes. (The bounds of
/// [`Server::serve`](crate::Server::serve), named once for the connection code.)
pub(super) trait Served:
    tower::Service<
        http::Request<Body>,
        Response = http::Response<Self::ResponseBody>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The body of the service's responses.
    type ResponseBody: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static;
}

impl<S, B> Served for S
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type ResponseBody = B;
}

/// The per-request settings every connection of one server shares.
#[derive(Clone, Debug)]
pub(super) struct RequestLimits {
    /// The largest header list, measured as HTTP/2 does (HTTP/2 enforces it itself, in h2).
    pub max_header_list_size: usize,
    /// Calls in flight over the whole server, when limited.
    pub calls_in_flight: Option<Arc<Semaphore>>,
    pub default_timeout: Option<Duration>,
    pub min_data_rate: Option<MinDataRate>,
    /// Each connection's [`ResponseBudget`], in bytes.
    pub response_budget: usize,
}

/// How many calls a connection has in flight, and since when it has had none: what its idle timeout
/// and the connection limit's eviction of idle connections read.
#[derive(Debug)]
pub(super) struct Activity {
    open: AtomicUsize,
    /// When the connection opened; `idle_since` counts from here.
    epoch: Instant,
    /// Milliseconds from `epoch` to the moment the last call in flight ended.
    idle_since: AtomicU64,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            open: AtomicUsize::new(0),
            epoch: Instant::now(),
            idle_since: AtomicU64::new(0),
        }
    }

    fn call_started(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }

    fn call_ended(&self) {
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            let millis = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.idle_since.store(millis, Ordering::Release);
        }
    }

    /// When the connection last became idle, or `None` while a call is in flight.
    pub fn idle_since(&self) -> Option<Instant> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let millis = self.idle_since.load(Ordering::Acquire);
        Some(self.epoch + Duration::from_millis(millis))
    }
}

/// The served service as one connection sees it.
#[derive(Clone)]
pub(super) struct ConnectionService<S> {
    pub service: S,
    pub peer: SocketAddr,
    pub certificates: Option<PeerCertificates>,
    pub limits: Arc<RequestLimits>,
    pub activity: Arc<Activity>,
    /// The shutdown token, response budget and call defaults every request on the connection carries.
    pub scope: Arc<ConnectionScope>,
    /// The `alt-svc` field a TCP connection adds to responses that have none, when the server
    /// advertises HTTP/3.
    pub alt_svc: Option<http::HeaderValue>,
}

impl<S: Served, RB> hyper::service::Service<http::Request<RB>> for ConnectionService<S>
where
    RB: http_body::Body<Data = Bytes> + Send + 'static,
    RB::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = ResponseFuture<Oneshot<S, http::Request<Body>>>;

    fn call(&self, request: http::Request<RB>) -> Self::Future {
        // HTTP/2 measured the header list already (h2 answers 431 itself); HTTP/1.1 is measured here,
        // the same way, so that the limit means the same on both.
        if request.version() < http::Version::HTTP_2
            && header_list_size(&request) > self.limits.max_header_list_size
        {
            let mut response = http::Response::new(Body::empty());
            *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            return ResponseFuture::refused(response);
        }
        let permit = match &self.limits.calls_in_flight {
            None => None,
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let error = Error::new(
                        Code::Unavailable,
                        "the server is at its limit of calls in flight; try again later",
                    );
                    return ResponseFuture::refused(crate::server::error_response(
                        &request, &error,
                    ));
                }
            },
        };
        let guard = CallGuard::new(self.activity.clone(), permit);

        let mut request = request.map(Body::new);
        let extensions = request.extensions_mut();
        extensions.insert::<SocketAddr>(self.peer);
        extensions.insert(self.scope.clone());
        if let Some(certificates) = &self.certificates {
            extensions.insert(certificates.clone());
        }
        // Waits for the service to be ready (a router always is), then calls it.
        ResponseFuture::called(
            self.service.clone().oneshot(request),
            guard,
            self.alt_svc.clone(),
        )
    }
}

/// The size of `request`'s header list as HTTP/2 measures it: every field's name and value plus 32
/// bytes, with the request line as HTTP/2's pseudo-header fields and `host` as `:authority`.
fn header_list_size<B>(request: &http::Request<B>) -> usize {
    let field = |name: usize, value: usize| name + value + FIELD_OVERHEAD;
    let uri = request.uri();
    let path = uri.path_and_query().map_or(1, |p| p.as_str().len());
    let authority = match uri.authority() {
        Some(authority) => authority.as_str().len(),
        None => request
            .headers()
            .get(http::header::HOST)
            .map_or(0, |host| host.len()),
    };
    let pseudo = field(":method".len(), request.method().as_str().len())
        + field(":scheme".len(), uri.scheme_str().map_or(4, str::len))
        + field(":authority".len(), authority)
        + field(":path".len(), path);
    request
        .headers()
        .iter()
        .filter(|(name, _)| *name != http::header::HOST)
        .fold(pseudo, |size, (name, value)| {
            size + field(name.as_str().len(), value.len())
        })
}

/// Holds a call's place while it is in flight: counted in its connection's [`Activity`], and in the
/// server's calls-in-flight limit when there is one.
pub(crate) struct CallGuard {
    activity: Arc<Activity>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl CallGuard {
    fn new(activity: Arc<Activity>, permit: Option<OwnedSemaphorePermit>) -> Self {
        activity.call_started();
        Self {
            activity,
            _permit: permit,
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.activity.call_ended();
    }
}

/// Set on a response by a call that goes on after it (a WebSocket, whose handshake's answer is over
/// at once): the call's place in flight, which the response held, is handed into the slot, and the
/// call holds it until it drops the slot.
#[derive(Clone, Default)]
pub(crate) struct CallTakeover(pub Arc<std::sync::Mutex<Option<CallGuard>>>);

pin_project! {
    /// The response to one request: the service's (its call counted in flight until the response body
    /// is done), or the connection's own refusal.
    pub(super) struct ResponseFuture<F> {
        #[pin]
        future: Option<F>,
        guard: Option<CallGuard>,
        refused: Option<http::Response<Body>>,
        alt_svc: Option<http::HeaderValue>,
    }
}

impl<F> ResponseFuture<F> {
    fn called(future: F, guard: CallGuard, alt_svc: Option<http::HeaderValue>) -> Self {
        Self {
            future: Some(future),
            guard: Some(guard),
            refused: None,
            alt_svc,
        }
    }

    fn refused(response: http::Response<Body>) -> Self {
        Self {
            future: None,
            guard: None,
            refused: Some(response),
            alt_svc: None,
        }
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, Infallible>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<http::Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut response, mut guard) = match this.future.as_pin_mut() {
            Some(future) => {
                let Ok(response) = ready!(future.poll(cx));
                (response.map(Body::new), this.guard.take())
            }
            None => match this.refused.take() {
                Some(response) => (response, None),
                None => panic!("ResponseFuture polled after it completed"),
            },
        };
        if let Some(takeover) = response.extensions_mut().remove::<CallTakeover>()
            && let Ok(mut slot) = takeover.0.lock()
        {
            *slot = guard.take();
        }
        if let Some(alt_svc) = this.alt_svc.take() {
            response
                .headers_mut()
                .entry(http::header::ALT_SVC)
                .or_insert(alt_svc);
        }
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _guard: guard,
        })))
    }
}

/// A response body that keeps its call counted in flight until it is finished or dropped.
pub(super) struct TrackedBody {
    body: Body,
    _guard: Option<CallGuard>,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_requests_are_measured_as_http2_measures_them() {
        let request = http::Request::post("/a.B/C?x=1")
            .header("host", "example.com")
            .header("content-type", "application/grpc")
            .body(())
            .expect("request");
        let expected = (7 + 4 + 32) // :method POST
            + (7 + 4 + 32) // :scheme http
            + (10 + 11 + 32) // :authority example.com
            + (5 + 10 + 32) // :path /a.B/C?x=1
            + (12 + 16 + 32); // content-type
        assert_eq!(header_list_size(&request), expected);
    }

    #[test]
    fn activity_counts_calls_and_notes_when_the_last_one_ended() {
        let activity = Arc::new(Activity::new());
        assert!(activity.idle_since().is_some(), "idle from the start");
        let first = CallGuard::new(activity.clone(), None);
        let second = CallGuard::new(activity.clone(), None);
        assert_eq!(activity.idle_since(), None);
        drop(first);
        assert_eq!(activity.idle_since(), None, "one call still in flight");
        drop(second);
        assert!(activity.idle_since().is_some());
    }
}
