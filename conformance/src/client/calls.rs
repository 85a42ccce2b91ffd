//! The five call shapes the runner asks for (unary, client stream, server stream, half- and
//! full-duplex bidi), each following the pseudocode of the suite's `testing_clients.md`: send with
//! delays, cancel when told to, and record headers, payloads, error and trailers.

use std::future::Future;

use prost_reflect::ReflectMessage;
use tokio::time::{Instant, sleep, sleep_until};
use trident::{
    Client, Code, Error, Message, Metadata, MethodSpec, Request, client::BidiStreamCall,
    client::ServerStreamCall,
};

use super::{CancelAt, Plan};
use crate::convert::{error_to_proto, from_any, headers_from_metadata};
use crate::proto::{self, ConformancePayload};

/// What one call produced, as the runner wants it back.
#[derive(Debug, Default)]
pub struct Outcome {
    headers: Vec<proto::Header>,
    payloads: Vec<ConformancePayload>,
    error: Option<Error>,
    trailers: Vec<proto::Header>,
    unsent: usize,
}

impl Outcome {
    fn failed(error: Error) -> Self {
        let mut outcome = Self::default();
        outcome.fail(error);
        outcome
    }

    /// Records `error`, taking the headers and trailers it carries when the call gave none otherwise
    /// (a failed unary or client-stream call has no response to hold them).
    fn fail(&mut self, error: Error) {
        if self.headers.is_empty() {
            self.headers = headers_from_metadata(error.headers());
        }
        if self.trailers.is_empty() {
            self.trailers = headers_from_metadata(error.trailers());
        }
        self.error = Some(error);
    }

    /// The `ClientResponseResult` for the runner.
    pub fn into_result(self) -> proto::ClientResponseResult {
        proto::ClientResponseResult {
            response_headers: self.headers,
            payloads: self.payloads,
            error: self.error.as_ref().map(error_to_proto),
            response_trailers: self.trailers,
            num_unsent_requests: i32::try_from(self.unsent).unwrap_or(i32::MAX),
            ..Default::default()
        }
    }
}

/// The error the client reports for a call it canceled itself while waiting on it.
fn canceled_by_client() -> Error {
    Error::new(Code::Canceled, "canceled by the conformance client")
}

/// Response messages that carry a conformance payload.
pub trait HasPayload {
    /// The payload (an empty one when the message has none).
    fn into_payload(self) -> ConformancePayload;
}

macro_rules! has_payload {
    ($($ty:ty),*) => {$(
        impl HasPayload for $ty {
            fn into_payload(self) -> ConformancePayload {
                self.payload.unwrap_or_default()
            }
        }
    )*};
}

has_payload!(
    proto::UnaryResponse,
    proto::IdempotentUnaryResponse,
    proto::ClientStreamResponse,
    proto::ServerStreamResponse,
    proto::BidiStreamResponse
);

impl HasPayload for proto::UnimplementedResponse {
    fn into_payload(self) -> ConformancePayload {
        ConformancePayload::default()
    }
}

/// Unpacks every request message as `M`.
fn requests<M: Message>(plan: &Plan) -> Result<Vec<M>, String> {
    plan.messages.iter().map(from_any::<M>).collect()
}

/// Unpacks the one and only request message of a unary or server-stream call.
fn single_request<M: Message>(plan: &Plan) -> Result<M, String> {
    match plan.messages.as_slice() {
        [only] => from_any(only),
        other => Err(format!(
            "expected exactly one request message, got {}",
            other.len()
        )),
    }
}

fn request<M>(plan: &Plan, message: M) -> Request<M> {
    let mut request = Request::new(message);
    *request.headers_mut() = plan.headers.clone();
    match plan.timeout {
        Some(timeout) => request.with_timeout(timeout),
        None => request,
    }
}

/// Awaits `call`, unless `cancel` says to give up on it first (dropping it cancels the RPC).
async fn unless_canceled<T>(
    cancel: CancelAt,
    started: Instant,
    call: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match cancel {
        CancelAt::AfterCloseSend(delay) => {
            tokio::select! {
                result = call => result,
                () = sleep_until(started + delay) => Err(canceled_by_client()),
            }
        }
        _ => call.await,
    }
}

async fn pause(plan: &Plan) {
    if !plan.request_delay.is_zero() {
        sleep(plan.request_delay).await;
    }
}

/// A unary call (also used for `IdempotentUnary` and `Unimplemented`).
pub async fn unary<Req, Res>(
    client: &Client,
    spec: &'static MethodSpec,
    plan: Plan,
) -> Result<Outcome, String>
where
    Req: Message + ReflectMessage,
    Res: Message + HasPayload,
{
    let message: Req = single_request(&plan)?;
    let started = Instant::now();
    let call = client.unary::<Req, Res>(spec, request(&plan, message));
    Ok(match unless_canceled(plan.cancel, started, call).await {
        Ok(response) => Outcome {
            headers: headers_from_metadata(response.headers()),
            trailers: headers_from_metadata(response.trailers()),
            payloads: vec![response.into_message().into_payload()],
            ..Outcome::default()
        },
        Err(error) => Outcome::failed(error),
    })
}

/// A client-stream call.
pub async fn client_stream(
    client: &Client,
    spec: &'static MethodSpec,
    plan: Plan,
) -> Result<Outcome, String> {
    let messages: Vec<proto::ClientStreamRequest> = requests(&plan)?;
    let total = messages.len();
    let mut call = client.client_stream::<proto::ClientStreamRequest, proto::ClientStreamResponse>(
        spec,
        request(&plan, ()),
    );
    for (index, message) in messages.into_iter().enumerate() {
        pause(&plan).await;
        if let Err(send_error) = call.send(message).await {
            // A failed send usually stands for the call's real outcome: ask the response side.
            let error = call.close_and_receive().await.err().unwrap_or(send_error);
            let mut outcome = Outcome::failed(error);
            outcome.unsent = total - index;
            return Ok(outcome);
        }
    }
    if plan.cancel == CancelAt::BeforeCloseSend {
        call.cancel();
    }
    let started = Instant::now();
    Ok(
        match unless_canceled(plan.cancel, started, call.close_and_receive()).await {
            Ok(response) => Outcome {
                headers: headers_from_metadata(response.headers()),
                trailers: headers_from_metadata(response.trailers()),
                payloads: vec![response.into_message().into_payload()],
                ..Outcome::default()
            },
            Err(error) => Outcome::failed(error),
        },
    )
}

/// The receiving half shared by server-stream and bidi calls.
trait Receiving<Res> {
    fn receive(&mut self) -> impl Future<Output = Result<Option<Res>, Error>> + Send;
    fn cancel_now(&mut self);
    fn trailer_metadata(&self) -> Option<&Metadata>;
}

impl<Res: Message> Receiving<Res> for ServerStreamCall<Res> {
    fn receive(&mut self) -> impl Future<Output = Result<Option<Res>, Error>> + Send {
        self.message()
    }
    fn cancel_now(&mut self) {
        self.cancel();
    }
    fn trailer_metadata(&self) -> Option<&Metadata> {
        self.trailers()
    }
}

impl<Req: Message, Res: Message> Receiving<Res> for BidiStreamCall<Req, Res> {
    fn receive(&mut self) -> impl Future<Output = Result<Option<Res>, Error>> + Send {
        self.message()
    }
    fn cancel_now(&mut self) {
        self.cancel();
    }
    fn trailer_metadata(&self) -> Option<&Metadata> {
        self.trailers()
    }
}

/// Receives one response. `false` once the stream is over (ended, or failed: then the error is
/// recorded).
async fn receive_one<Res: HasPayload, C: Receiving<Res>>(
    call: &mut C,
    outcome: &mut Outcome,
    cancel: CancelAt,
) -> bool {
    match call.receive().await {
        Ok(Some(message)) => {
            outcome.payloads.push(message.into_payload());
            if cancel == CancelAt::AfterResponses(outcome.payloads.len()) {
                call.cancel_now();
            }
            true
        }
        Ok(None) => false,
        Err(error) => {
            record_trailers(call, outcome);
            outcome.fail(error);
            false
        }
    }
}

/// Receives every remaining response, then the trailers.
async fn receive_rest<Res: HasPayload, C: Receiving<Res>>(
    call: &mut C,
    outcome: &mut Outcome,
    cancel: CancelAt,
) {
    while receive_one(call, outcome, cancel).await {}
    record_trailers(call, outcome);
}

fn record_trailers<Res, C: Receiving<Res>>(call: &C, outcome: &mut Outcome) {
    if let Some(trailers) = call.trailer_metadata() {
        outcome.trailers = headers_from_metadata(trailers);
    }
}

/// A server-stream call.
pub async fn server_stream(
    client: &Client,
    spec: &'static MethodSpec,
    plan: Plan,
) -> Result<Outcome, String> {
    let message: proto::ServerStreamRequest = single_request(&plan)?;
    let started = Instant::now();
    let call = client.server_stream::<proto::ServerStreamRequest, proto::ServerStreamResponse>(
        spec,
        request(&plan, message),
    );
    let mut call = match unless_canceled(plan.cancel, started, call).await {
        Ok(call) => call,
        Err(error) => return Ok(Outcome::failed(error)),
    };
    if let CancelAt::AfterCloseSend(delay) = plan.cancel {
        sleep_until(started + delay).await;
        call.cancel();
    }
    let mut outcome = Outcome {
        headers: headers_from_metadata(call.headers()),
        ..Outcome::default()
    };
    receive_rest(&mut call, &mut outcome, plan.cancel).await;
    Ok(outcome)
}

type Bidi = BidiStreamCall<proto::BidiStreamRequest, proto::BidiStreamResponse>;

/// Records the response headers once they are there (an error here means the call failed, which the
/// receiving side reports; the headers then stay empty).
async fn capture_headers(call: &mut Bidi, outcome: &mut Outcome, captured: &mut bool) {
    if !*captured {
        *captured = true;
        if let Ok(headers) = call.headers().await {
            outcome.headers = headers_from_metadata(headers);
        }
    }
}

/// Closes the send side, cancelling before or after as the plan says.
async fn close_send(call: &mut Bidi, cancel: CancelAt) {
    if cancel == CancelAt::BeforeCloseSend {
        call.cancel();
    }
    // A failure here is the call's failure, which the receiving side reports.
    let _ = call.close_send();
    if let CancelAt::AfterCloseSend(delay) = cancel {
        sleep(delay).await;
        call.cancel();
    }
}

/// A half-duplex bidi call: every request first, then every response.
pub async fn half_duplex(
    client: &Client,
    spec: &'static MethodSpec,
    plan: Plan,
) -> Result<Outcome, String> {
    let messages: Vec<proto::BidiStreamRequest> = requests(&plan)?;
    let total = messages.len();
    let mut call: Bidi = client.bidi_stream(spec, request(&plan, ()));
    let mut outcome = Outcome::default();
    let mut captured = false;
    for (index, message) in messages.into_iter().enumerate() {
        pause(&plan).await;
        if let Err(send_error) = call.send(message).await {
            outcome.unsent = total - index;
            capture_headers(&mut call, &mut outcome, &mut captured).await;
            receive_rest(&mut call, &mut outcome, plan.cancel).await;
            if outcome.error.is_none() {
                outcome.fail(send_error);
            }
            return Ok(outcome);
        }
    }
    close_send(&mut call, plan.cancel).await;
    capture_headers(&mut call, &mut outcome, &mut captured).await;
    receive_rest(&mut call, &mut outcome, plan.cancel).await;
    Ok(outcome)
}

/// A full-duplex bidi call: each request followed by one response, then the rest of the responses.
pub async fn full_duplex(
    client: &Client,
    spec: &'static MethodSpec,
    plan: Plan,
) -> Result<Outcome, String> {
    let messages: Vec<proto::BidiStreamRequest> = requests(&plan)?;
    let total = messages.len();
    let mut call: Bidi = client.bidi_stream(spec, request(&plan, ()));
    let mut outcome = Outcome::default();
    let mut captured = false;
    let mut open = true;
    for (index, message) in messages.into_iter().enumerate() {
        pause(&plan).await;
        if let Err(send_error) = call.send(message).await {
            outcome.unsent = total - index;
            if open {
                capture_headers(&mut call, &mut outcome, &mut captured).await;
                receive_rest(&mut call, &mut outcome, plan.cancel).await;
            }
            if outcome.error.is_none() {
                outcome.fail(send_error);
            }
            return Ok(outcome);
        }
        if open {
            capture_headers(&mut call, &mut outcome, &mut captured).await;
            open = receive_one(&mut call, &mut outcome, plan.cancel).await;
            if outcome.error.is_some() {
                outcome.unsent = total - index - 1;
                return Ok(outcome);
            }
        }
    }
    close_send(&mut call, plan.cancel).await;
    capture_headers(&mut call, &mut outcome, &mut captured).await;
    if open {
        receive_rest(&mut call, &mut outcome, plan.cancel).await;
    } else {
        record_trailers(&call, &mut outcome);
    }
    Ok(outcome)
}
