//! The server under test: `ConformanceService` as `service.proto` describes it, plus the [`router`] that
//! serves it.
//!
//! Every handler echoes what it observed (request headers, the timeout left from the deadline, the request
//! messages as `Any`) and answers as the request's response definition asks: headers, trailers, data,
//! delays and errors. `Unimplemented` keeps the generated default (an `unimplemented` error).

use std::mem;
use std::time::Duration;

use prost_types::Any;
use tokio::sync::mpsc;
use trident::{CallContext, Error, Metadata, Request, Response, ResponseStream, Router, Streaming};

use crate::convert::{
    append_headers, error_from_proto, headers_from_metadata, headers_from_query, to_any,
};
use crate::proto::conformance_payload::RequestInfo;
use crate::proto::unary_response_definition::Response as UnaryOutcome;
use crate::proto::{self, ConformancePayload, StreamResponseDefinition, UnaryResponseDefinition};

/// The conformance service implementation (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConformanceServer;

/// The router the conformance server serves: the service, with a per-message receive limit when
/// `message_receive_limit` is non-zero.
pub fn router(message_receive_limit: u32) -> Router {
    let mut router = Router::new().add(proto::conformance_service_routes(ConformanceServer));
    if crate::intercept::enabled() {
        router = router.intercept(crate::intercept::PassThrough);
    }
    if message_receive_limit > 0 {
        router.read_max_bytes(message_receive_limit as usize)
    } else {
        router
    }
}

/// What a handler observed about its call when it started.
struct Observed {
    headers: Vec<proto::Header>,
    timeout_ms: Option<i64>,
}

impl Observed {
    fn new(metadata: &Metadata, context: &CallContext) -> Self {
        Self {
            headers: headers_from_metadata(metadata),
            timeout_ms: context
                .remaining()
                .map(|left| i64::try_from(left.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// The full request info: headers, timeout and the given requests.
    fn request_info(&self, requests: Vec<Any>) -> RequestInfo {
        RequestInfo {
            request_headers: self.headers.clone(),
            timeout_ms: self.timeout_ms,
            requests,
            connect_get_info: None,
        }
    }
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// Answers a unary or client-stream call as `definition` asks (or with just the request info when
/// there is no definition).
async fn respond_once<T>(
    definition: Option<&UnaryResponseDefinition>,
    info: RequestInfo,
    wrap: impl FnOnce(ConformancePayload) -> T,
) -> Result<Response<T>, Error> {
    let Some(definition) = definition else {
        return Ok(Response::new(wrap(ConformancePayload {
            data: Vec::new(),
            request_info: Some(info),
        })));
    };
    let delay = millis(definition.response_delay_ms);
    match &definition.response {
        Some(UnaryOutcome::Error(error)) => {
            let mut error = error_from_proto(error, Some(&info));
            // A failed unary call has no response to carry metadata: it goes out with the error.
            append_headers(error.headers_mut(), &definition.response_headers)?;
            append_headers(error.trailers_mut(), &definition.response_trailers)?;
            tokio::time::sleep(delay).await;
            Err(error)
        }
        outcome => {
            let data = match outcome {
                Some(UnaryOutcome::ResponseData(data)) => data.clone(),
                _ => Vec::new(),
            };
            let mut response = Response::new(wrap(ConformancePayload {
                data,
                request_info: Some(info),
            }));
            append_headers(response.headers_mut(), &definition.response_headers)?;
            append_headers(response.trailers_mut(), &definition.response_trailers)?;
            tokio::time::sleep(delay).await;
            Ok(response)
        }
    }
}

type Outgoing<T> = mpsc::Sender<Result<T, Error>>;

/// A response stream fed by a task through a channel.
fn channel<T: Send + 'static>() -> (Outgoing<T>, ResponseStream<T>) {
    let (tx, mut rx) = mpsc::channel(1);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (tx, Box::pin(stream))
}

/// Sleeps for `delay`; false if the caller went away meanwhile.
async fn pause<T>(tx: &Outgoing<T>, delay: Duration) -> bool {
    if delay.is_zero() {
        return !tx.is_closed();
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = tx.closed() => false,
    }
}

/// A streaming response carrying `definition`'s headers and trailers around `stream`.
fn stream_response<T>(
    definition: &StreamResponseDefinition,
    stream: ResponseStream<T>,
) -> Result<Response<ResponseStream<T>>, Error> {
    let mut response = Response::new(stream);
    append_headers(response.headers_mut(), &definition.response_headers)?;
    append_headers(response.trailers_mut(), &definition.response_trailers)?;
    Ok(response)
}

/// Sends `definition`'s response data from index `sent` on, each after the response delay (the first
/// one sent carries `first_info`), then its error if any: with `error_info` among the details when
/// nothing was sent at all.
async fn send_rest<T>(
    tx: &Outgoing<T>,
    definition: &StreamResponseDefinition,
    mut sent: usize,
    mut first_info: Option<RequestInfo>,
    error_info: RequestInfo,
    wrap: impl Fn(ConformancePayload) -> T,
) {
    let delay = millis(definition.response_delay_ms);
    for data in &definition.response_data[sent.min(definition.response_data.len())..] {
        let payload = ConformancePayload {
            data: data.clone(),
            request_info: first_info.take(),
        };
        if !pause(tx, delay).await || tx.send(Ok(wrap(payload))).await.is_err() {
            return;
        }
        sent += 1;
    }
    if let Some(error) = &definition.error {
        let info = (sent == 0).then_some(&error_info);
        let _ = tx.send(Err(error_from_proto(error, info))).await;
    }
}

/// Full-duplex bidi: one response per request received (each echoing the requests received since the
/// previous response), then any responses left over, then the error if any.
async fn full_duplex(
    tx: Outgoing<proto::BidiStreamResponse>,
    mut incoming: Streaming<proto::BidiStreamRequest>,
    definition: StreamResponseDefinition,
    observed: Observed,
    mut requests: Vec<Any>,
) {
    let wrap = |payload| proto::BidiStreamResponse {
        payload: Some(payload),
    };
    let delay = millis(definition.response_delay_ms);
    let mut sent = 0;
    while sent < definition.response_data.len() {
        let info = if sent == 0 {
            observed.request_info(mem::take(&mut requests))
        } else {
            RequestInfo {
                requests: mem::take(&mut requests),
                ..Default::default()
            }
        };
        let payload = ConformancePayload {
            data: definition.response_data[sent].clone(),
            request_info: Some(info),
        };
        if !pause(&tx, delay).await || tx.send(Ok(wrap(payload))).await.is_err() {
            return;
        }
        sent += 1;
        match incoming.message().await {
            Ok(Some(request)) => requests.push(to_any(&request)),
            Ok(None) => break,
            Err(error) => {
                let _ = tx.send(Err(error)).await;
                return;
            }
        }
    }
    let error_info = observed.request_info(requests);
    send_rest(&tx, &definition, sent, None, error_info, wrap).await;
}

impl proto::ConformanceService for ConformanceServer {
    async fn unary(
        &self,
        request: Request<proto::UnaryRequest>,
    ) -> Result<Response<proto::UnaryResponse>, Error> {
        let (metadata, message, context) = request.into_parts();
        let info = Observed::new(&metadata, &context).request_info(vec![to_any(&message)]);
        respond_once(message.response_definition.as_ref(), info, |payload| {
            proto::UnaryResponse {
                payload: Some(payload),
            }
        })
        .await
    }

    async fn idempotent_unary(
        &self,
        request: Request<proto::IdempotentUnaryRequest>,
    ) -> Result<Response<proto::IdempotentUnaryResponse>, Error> {
        let (metadata, message, context) = request.into_parts();
        let mut info = Observed::new(&metadata, &context).request_info(vec![to_any(&message)]);
        if context.http_method() == Some(&http::Method::GET) {
            let query = context.uri().and_then(|uri| uri.query()).unwrap_or("");
            info.connect_get_info = Some(proto::conformance_payload::ConnectGetInfo {
                query_params: headers_from_query(query),
            });
        }
        respond_once(message.response_definition.as_ref(), info, |payload| {
            proto::IdempotentUnaryResponse {
                payload: Some(payload),
            }
        })
        .await
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<proto::ClientStreamRequest>>,
    ) -> Result<Response<proto::ClientStreamResponse>, Error> {
        let (metadata, mut incoming, context) = request.into_parts();
        let observed = Observed::new(&metadata, &context);
        let mut definition = None;
        let mut requests = Vec::new();
        while let Some(message) = incoming.message().await? {
            if requests.is_empty() {
                definition = message.response_definition.clone();
            }
            requests.push(to_any(&message));
        }
        let info = observed.request_info(requests);
        respond_once(definition.as_ref(), info, |payload| {
            proto::ClientStreamResponse {
                payload: Some(payload),
            }
        })
        .await
    }

    async fn server_stream(
        &self,
        request: Request<proto::ServerStreamRequest>,
    ) -> Result<Response<ResponseStream<proto::ServerStreamResponse>>, Error> {
        let (metadata, message, context) = request.into_parts();
        let info = Observed::new(&metadata, &context).request_info(vec![to_any(&message)]);
        let definition = message.response_definition.unwrap_or_default();
        let (tx, stream) = channel();
        let response = stream_response(&definition, stream)?;
        tokio::spawn(async move {
            let wrap = |payload| proto::ServerStreamResponse {
                payload: Some(payload),
            };
            send_rest(&tx, &definition, 0, Some(info.clone()), info, wrap).await;
        });
        Ok(response)
    }

    async fn bidi_stream(
        &self,
        request: Request<Streaming<proto::BidiStreamRequest>>,
    ) -> Result<Response<ResponseStream<proto::BidiStreamResponse>>, Error> {
        let (metadata, mut incoming, context) = request.into_parts();
        let observed = Observed::new(&metadata, &context);
        let (tx, stream) = channel();
        let Some(first) = incoming.message().await? else {
            // No requests at all: nothing to define a response, so end cleanly.
            return Ok(Response::new(stream));
        };
        let definition = first.response_definition.clone().unwrap_or_default();
        let mut requests = vec![to_any(&first)];
        if first.full_duplex {
            let response = stream_response(&definition, stream)?;
            tokio::spawn(full_duplex(tx, incoming, definition, observed, requests));
            return Ok(response);
        }
        // Half duplex: the whole upload first, then the responses.
        while let Some(message) = incoming.message().await? {
            requests.push(to_any(&message));
        }
        let info = observed.request_info(requests);
        let response = stream_response(&definition, stream)?;
        tokio::spawn(async move {
            let wrap = |payload| proto::BidiStreamResponse {
                payload: Some(payload),
            };
            send_rest(&tx, &definition, 0, Some(info.clone()), info, wrap).await;
        });
        Ok(response)
    }
}
