//! The test service every test serves: [`TestService`], driven by its requests, and the counters it
//! records in [`State`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::watch;
use trident::{CallContext, Code, Error, Metadata, Request, Response, ResponseStream, Streaming};

use trident::error_details::{BadRequest, ErrorInfo, FieldViolation, LocalizedMessage, RetryInfo};

use crate::{EchoRequest, EchoResponse, EchoService, ErrorSpec, FailureInfo, Header, within};

// ---------------------------------------------------------------------------------------------------
// Counters

/// A counter a test can wait on, shared between a handler and the test.
#[derive(Debug)]
pub struct Counter(watch::Sender<u64>);

impl Default for Counter {
    fn default() -> Self {
        Self(watch::Sender::new(0))
    }
}

impl Counter {
    /// Adds one.
    pub fn increment(&self) {
        self.0.send_modify(|v| *v += 1);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        *self.0.borrow()
    }

    /// Waits until the value is at least `n` (failing the test after [`STEP_LIMIT`](crate::STEP_LIMIT)).
    pub async fn wait_for(&self, n: u64, what: &str) {
        let mut rx = self.0.subscribe();
        within(what, rx.wait_for(|v| *v >= n))
            .await
            .expect("counter sender lives as long as the service");
    }
}

/// What the test service records; shared by every clone of one [`TestService`].
#[derive(Debug, Default)]
pub struct State {
    /// Handler invocations, of any method.
    pub calls: Counter,
    /// Handlers that started waiting for cancellation (`Wait`, `WaitStream`, or a `hang` message).
    pub hang_started: Counter,
    /// Calls whose `CallContext::cancelled()` fired while a handler was waiting for it.
    pub cancelled: Counter,
    /// Handlers that were still running when `cancelled()` fired, and returned afterwards.
    pub handler_saw_cancel: Counter,
}

// ---------------------------------------------------------------------------------------------------
// The test service

/// The `trident.test.v1.EchoService` implementation every test serves.
///
/// Handlers are driven by the request: `delay_ms` delays each response, `error` fails the call (with
/// details, headers and trailers), `echo_headers` and `echo_context` report what the handler saw, `hang`
/// waits for cancellation. Counters in [`State`] let tests observe the server side.
#[derive(Clone, Debug, Default)]
pub struct TestService {
    state: Arc<State>,
    /// Whether every call ends by itself (see [`TestService::bounded`]).
    bounded: bool,
}

/// In a [bounded](TestService::bounded) service: the longest delay before a message, ...
const BOUNDED_DELAY_MS: u32 = 100;
/// ... the most messages a server stream sends, ...
const BOUNDED_REPEAT: u32 = 1000;
/// ... and how long a handler waits for its call to be cancelled before it gives up.
const BOUNDED_PATIENCE: Duration = Duration::from_secs(600);

impl TestService {
    /// A fresh service with zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh service whose every call ends by itself within minutes (of virtual time) whatever the
    /// request asks: delays are capped at 100 ms a message, server streams at 1,000 messages, and a
    /// handler waiting for cancellation (`Wait`, `WaitStream`, `hang`) gives up after 10 minutes with
    /// `deadline_exceeded`. For the fuzz harnesses, where a call that does not end is a finding: a
    /// request that happens to decode as "wait for a month" would otherwise be reported as a hang.
    pub fn bounded() -> Self {
        Self {
            bounded: true,
            ..Self::default()
        }
    }

    /// `message` with its delay and repeat count capped, when the service is bounded.
    fn bound(&self, mut message: EchoRequest) -> EchoRequest {
        if self.bounded {
            message.delay_ms = message.delay_ms.min(BOUNDED_DELAY_MS);
            message.repeat = message.repeat.min(BOUNDED_REPEAT);
        }
        message
    }

    /// Waits until the call is cancelled (for a bounded service, at most [`BOUNDED_PATIENCE`]); returns
    /// whether it was.
    async fn until_cancelled(&self, context: &CallContext) -> bool {
        if !self.bounded {
            context.canceled().await;
            return true;
        }
        tokio::select! {
            () = context.canceled() => true,
            () = tokio::time::sleep(BOUNDED_PATIENCE) => false,
        }
    }

    /// The counters.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Records that a handler waits for cancellation, and spawns a watcher that records when the call's
    /// `cancelled()` fires, even if the handler's future is dropped first.
    fn watch_cancellation(&self, context: &CallContext) {
        self.state.hang_started.increment();
        let context = context.clone();
        let state = self.state.clone();
        tokio::spawn(async move {
            context.canceled().await;
            state.cancelled.increment();
        });
    }

    /// Waits for the call to be cancelled; returns the error a handler then reports.
    async fn hang(&self, context: &CallContext) -> Error {
        self.watch_cancellation(context);
        if !self.until_cancelled(context).await {
            return gave_up();
        }
        self.state.handler_saw_cancel.increment();
        Error::new(Code::Canceled, "the handler saw the call cancelled")
    }
}

/// What a bounded service's handler reports when its call was not cancelled in time.
fn gave_up() -> Error {
    Error::new(
        Code::DeadlineExceeded,
        "the bounded test service gave up waiting for the call to be cancelled",
    )
}

/// Builds the error an [`ErrorSpec`] describes.
pub fn build_error(spec: &ErrorSpec) -> Error {
    // 17 is Apache Dubbo's business error.
    let mut error = match Code::from_u32(spec.code) {
        Some(code) => Error::new(code, spec.message.clone()),
        None if spec.code == 17 => Error::business(spec.message.clone()),
        None => Error::new(Code::Unknown, spec.message.clone()),
    };
    if spec.with_failure_info {
        error = error.with_detail(&FailureInfo {
            reason: spec.message.clone(),
            attempt: 3,
        });
    }
    if let Some(delay) = &spec.retry_delay {
        error = error.with_detail(delay);
    }
    if spec.with_google_rpc_details {
        error = error
            .with_error_info(
                ErrorInfo::new("EMPTY_NAME", "test.trident.dev").with_metadata("field", "name"),
            )
            .with_bad_request(
                BadRequest::field("name", "must not be empty").with_violation(
                    FieldViolation::new("shelf", "unknown shelf")
                        .with_reason("UNKNOWN_SHELF")
                        .with_localized_message(LocalizedMessage::new("fr", "étagère inconnue")),
                ),
            );
    }
    if let Some(delay) = spec.retry_info_delay {
        error = error.with_retry_info(RetryInfo {
            retry_delay: Some(delay),
        });
    }
    // Headers the request asks for that cannot be sent make the error itself the caller's mistake.
    for h in &spec.headers {
        if let Err(e) = error.headers_mut().append(&h.name, &h.value) {
            return invalid_header("error header", &h.name, &e);
        }
    }
    for t in &spec.trailers {
        if let Err(e) = error.trailers_mut().append(&t.name, &t.value) {
            return invalid_header("error trailer", &t.name, &e);
        }
    }
    error
}

/// The `invalid_argument` answer to a request that asks for a header that cannot be sent.
fn invalid_header(what: &str, name: &str, error: &Error) -> Error {
    Error::new(
        Code::InvalidArgument,
        format!("cannot send {what} {name:?}: {}", error.message()),
    )
}

/// The echo of `request`: its text and payload, plus what it asked to be reported.
fn echo_of(
    request: &EchoRequest,
    headers: &Metadata,
    context: &CallContext,
    index: u32,
) -> EchoResponse {
    let mut echoed = Vec::new();
    for name in &request.echo_headers {
        for value in headers.get_all(name) {
            echoed.push(Header {
                name: name.clone(),
                value: value.to_string(),
            });
        }
    }
    let (remaining_ms, http_version, http_method) = if request.echo_context {
        (
            context
                .remaining()
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            context
                .http_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            context
                .http_method()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )
    } else {
        (None, String::new(), String::new())
    };
    EchoResponse {
        text: request.text.clone(),
        payload: request.payload.clone(),
        index,
        headers: echoed,
        remaining_ms,
        received: 0,
        http_version,
        http_method,
    }
}

/// Attaches the response headers and trailers `request` asks for (`invalid_argument` if one cannot be
/// sent).
fn decorate<T>(mut response: Response<T>, request: &EchoRequest) -> Result<Response<T>, Error> {
    for h in &request.response_headers {
        if let Err(e) = response.headers_mut().append(&h.name, &h.value) {
            return Err(invalid_header("response header", &h.name, &e));
        }
    }
    for t in &request.response_trailers {
        if let Err(e) = response.trailers_mut().append(&t.name, &t.value) {
            return Err(invalid_header("response trailer", &t.name, &e));
        }
    }
    Ok(response)
}

/// Sleeps `ms` milliseconds, or less if the call is cancelled first (then fails with `canceled`).
async fn delay(ms: u32, context: &CallContext) -> Result<(), Error> {
    if ms == 0 {
        return Ok(());
    }
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(u64::from(ms))) => Ok(()),
        () = context.canceled() => Err(Error::new(Code::Canceled, "cancelled while delaying")),
    }
}

impl TestService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Error> {
        self.state.calls.increment();
        let (headers, message, context) = request.into_parts();
        let message = self.bound(message);
        delay(message.delay_ms, &context).await?;
        if let Some(spec) = &message.error {
            return Err(build_error(spec));
        }
        let response = Response::new(echo_of(&message, &headers, &context, 0));
        decorate(response, &message)
    }
}

impl EchoService for TestService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Error> {
        self.unary(request).await
    }

    async fn echo_post(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Error> {
        self.unary(request).await
    }

    async fn repeat(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ResponseStream<EchoResponse>>, Error> {
        self.state.calls.increment();
        let (headers, message, context) = request.into_parts();
        let message = self.bound(message);
        if let Some(spec) = &message.error
            && spec.after_messages == 0
        {
            return Err(build_error(spec));
        }
        let first = echo_of(&message, &headers, &context, 0);
        let decorations = message.clone();
        // With an error spec, `after_messages` messages are sent, then the error; else `repeat` messages.
        let stream = futures_util::stream::unfold((0u32, false), move |(index, done)| {
            let message = message.clone();
            let mut out = first.clone();
            let context = context.clone();
            async move {
                if done {
                    return None;
                }
                match &message.error {
                    Some(spec) if index >= spec.after_messages => {
                        return Some((Err(build_error(spec)), (index, true)));
                    }
                    None if index >= message.repeat => return None,
                    _ => {}
                }
                if let Err(e) = delay(message.delay_ms, &context).await {
                    return Some((Err(e), (index, true)));
                }
                out.index = index;
                Some((Ok(out), (index + 1, false)))
            }
        });
        let stream: ResponseStream<EchoResponse> = Box::pin(stream);
        decorate(Response::new(stream), &decorations)
    }

    async fn collect(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Error> {
        self.state.calls.increment();
        let (headers, mut messages, context) = request.into_parts();
        let mut first: Option<EchoRequest> = None;
        let mut texts = Vec::new();
        let mut received = 0u32;
        while let Some(message) = messages.message().await? {
            received += 1;
            if let Some(spec) = &message.error
                && received > spec.after_messages
            {
                return Err(build_error(spec));
            }
            if message.hang {
                return Err(self.hang(&context).await);
            }
            texts.push(message.text.clone());
            if first.is_none() {
                first = Some(message);
            }
        }
        let first = first.unwrap_or_default();
        let mut response = echo_of(&first, &headers, &context, 0);
        response.text = texts.join(",");
        response.received = received;
        decorate(Response::new(response), &first)
    }

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ResponseStream<EchoResponse>>, Error> {
        self.state.calls.increment();
        let (headers, mut messages, context) = request.into_parts();
        // The first message is read before answering, so that its error spec can fail the call before
        // the response headers (which then carry the error's headers).
        let Some(first) = messages.message().await? else {
            return Ok(Response::new(Box::pin(futures_util::stream::empty())));
        };
        if let Some(spec) = &first.error
            && spec.after_messages == 0
        {
            return Err(build_error(spec));
        }
        let service = self.clone();
        let response_for = first.clone();
        let stream = futures_util::stream::unfold(
            (Some(first), messages, 0u32, false),
            move |(pending, mut messages, index, ended)| {
                let service = service.clone();
                let headers = headers.clone();
                let context = context.clone();
                async move {
                    if ended {
                        return None;
                    }
                    let next = match pending {
                        Some(m) => Some(m),
                        None => match messages.message().await {
                            Ok(m) => m,
                            Err(e) => return Some((Err(e), (None, messages, index, true))),
                        },
                    };
                    let message = service.bound(next?);
                    let received = index + 1;
                    if let Some(spec) = &message.error
                        && received > spec.after_messages
                    {
                        return Some((Err(build_error(spec)), (None, messages, received, true)));
                    }
                    if message.hang {
                        let error = service.hang(&context).await;
                        return Some((Err(error), (None, messages, received, true)));
                    }
                    if let Err(e) = delay(message.delay_ms, &context).await {
                        return Some((Err(e), (None, messages, received, true)));
                    }
                    let mut out = echo_of(&message, &headers, &context, index);
                    out.received = received;
                    Some((Ok(out), (None, messages, received, false)))
                }
            },
        );
        let stream: ResponseStream<EchoResponse> = Box::pin(stream);
        decorate(Response::new(stream), &response_for)
    }

    async fn wait(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Error> {
        self.state.calls.increment();
        Err(self.hang(request.context()).await)
    }

    async fn wait_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ResponseStream<EchoResponse>>, Error> {
        self.state.calls.increment();
        let (headers, message, context) = request.into_parts();
        self.watch_cancellation(&context);
        let first = echo_of(&message, &headers, &context, 0);
        let service = self.clone();
        let rest = futures_util::stream::once(async move {
            if !service.until_cancelled(&context).await {
                return Err(gave_up());
            }
            service.state.handler_saw_cancel.increment();
            Err(Error::new(
                Code::Canceled,
                "the handler saw the call cancelled",
            ))
        });
        let stream: ResponseStream<EchoResponse> =
            Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(rest));
        Ok(Response::new(stream))
    }
}
