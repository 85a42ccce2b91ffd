//! Writing responses: headers, messages, and how each protocol ends a call or reports an error.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use http_body::Frame;
use tokio_util::sync::DropGuard;

use crate::body::Body;
use crate::deadline;
use crate::envelope::{FLAG_COMPRESSED, FLAG_END_STREAM};
use crate::protocol::{ProtocolKind, connect, grpc};
use crate::server::handler::{EncodedStream, ServerCall};
use crate::wire::MessageWriter;
use crate::{Error, Metadata, Response};

/// A Connect unary response (also used for GET): one unframed message, or an error as JSON.
pub(crate) fn unary(
    call: &ServerCall,
    result: Result<Response<BytesMut>, Error>,
) -> http::Response<Body> {
    let result = result.and_then(|response| {
        let (headers, message, trailers) = response.into_parts();
        let (payload, compressed) = call.writer.compress(message)?;
        Ok((headers, payload, compressed, trailers))
    });
    let mut response = match result {
        Ok((headers, payload, compressed, trailers)) => {
            let mut response = http::Response::new(Body::full(payload));
            let map = response.headers_mut();
            append_metadata(map, &headers);
            set_header(map, CONTENT_TYPE.as_str(), &call.content_type);
            if compressed && let Some(c) = &call.writer.compression {
                set_header(map, CONTENT_ENCODING.as_str(), c.name());
            }
            connect::append_unary_trailers(map, &trailers);
            response
        }
        Err(error) => connect_unary_error(&error),
    };
    set_header(
        response.headers_mut(),
        "accept-encoding",
        &call.accept_encoding,
    );
    response
}

/// A Connect unary error response: HTTP status from the code, JSON body, metadata as headers.
pub(crate) fn connect_unary_error(error: &Error) -> http::Response<Body> {
    let mut response = http::Response::new(Body::full(connect::error_json(error)));
    *response.status_mut() = http::StatusCode::from_u16(error.code().http_status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    append_metadata(map, error.metadata());
    connect::append_unary_trailers(map, error.trailers());
    set_header(map, CONTENT_TYPE.as_str(), "application/json");
    response
}

/// A streaming response (every gRPC call, Connect streams): headers now, then each message as it comes,
/// then the protocol's ending. A handler that failed before answering gets the protocol's error-only form.
pub(crate) fn stream(
    call: ServerCall,
    result: Result<Response<EncodedStream>, Error>,
) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    let map = response.headers_mut();
    set_header(map, CONTENT_TYPE.as_str(), &call.content_type);
    let (encoding_header, accept_header) = match call.protocol {
        ProtocolKind::Connect => (
            connect::STREAM_ENCODING_HEADER,
            connect::STREAM_ACCEPT_ENCODING_HEADER,
        ),
        ProtocolKind::Grpc | ProtocolKind::GrpcWeb => (grpc::ENCODING, grpc::ACCEPT_ENCODING),
    };
    set_header(map, accept_header, &call.accept_encoding);
    let (headers, messages, trailers, error) = match result {
        Ok(ok) => {
            let (headers, messages, trailers) = ok.into_parts();
            (headers, Some(messages), trailers, None)
        }
        Err(error) => (error.metadata().clone(), None, Metadata::new(), Some(error)),
    };
    append_metadata(response.headers_mut(), &headers);
    if let Some(error) = error {
        if call.protocol != ProtocolKind::Connect {
            // gRPC's trailers-only response: the status travels in the headers, with no body.
            let status = grpc::status_trailers(Some(&error), &Metadata::new());
            response.headers_mut().extend(status);
            return response;
        }
        // Connect streams always answer 200; the error rides in the end-stream message.
        let body = ResponseBody::new(call, None, Metadata::new(), Some(error));
        *response.body_mut() = Body::from_frames(body);
        return response;
    }
    if let Some(c) = &call.writer.compression {
        set_header(response.headers_mut(), encoding_header, c.name());
    }
    let body = ResponseBody::new(call, messages, trailers, None);
    *response.body_mut() = Body::from_frames(body);
    response
}

/// The body of a streaming response.
struct ResponseBody {
    protocol: ProtocolKind,
    messages: Option<EncodedStream>,
    writer: MessageWriter,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    trailers: Metadata,
    pending_error: Option<Error>,
    done: bool,
    /// Cancels the call's context when the body is finished or dropped (the caller went away).
    _guard: DropGuard,
}

impl ResponseBody {
    fn new(
        call: ServerCall,
        messages: Option<EncodedStream>,
        trailers: Metadata,
        pending_error: Option<Error>,
    ) -> Self {
        Self {
            protocol: call.protocol,
            _guard: call.cancel.clone().drop_guard(),
            deadline: messages
                .as_ref()
                .and(call.deadline)
                .map(|d| Box::pin(tokio::time::sleep_until(d))),
            messages,
            writer: call.writer,
            trailers,
            pending_error,
            done: false,
        }
    }

    /// The protocol's last frame: Connect's end-stream message, gRPC's trailers, gRPC-Web's trailer frame.
    fn end(&mut self, error: Option<Error>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        self.messages = None;
        let frame = match self.protocol {
            ProtocolKind::Connect => {
                let payload = connect::end_stream_json(error.as_ref(), &self.trailers);
                self.writer
                    .envelope_raw(&payload, FLAG_END_STREAM)
                    .map(Frame::data)
            }
            ProtocolKind::Grpc => Ok(Frame::trailers(grpc::status_trailers(
                error.as_ref(),
                &self.trailers,
            ))),
            ProtocolKind::GrpcWeb => {
                let trailers = grpc::status_trailers(error.as_ref(), &self.trailers);
                let block = grpc::encode_web_trailers(&trailers);
                self.writer
                    .envelope_raw(&block, grpc::FLAG_TRAILERS)
                    .map(Frame::data)
            }
        };
        Poll::Ready(Some(frame))
    }
}

impl Stream for ResponseBody {
    type Item = Result<Frame<Bytes>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(error) = this.pending_error.take() {
            return this.end(Some(error));
        }
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return this.end(Some(deadline::exceeded()));
        }
        let Some(messages) = &mut this.messages else {
            return this.end(None);
        };
        match messages.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => this.end(None),
            Poll::Ready(Some(Err(error))) => this.end(Some(error)),
            Poll::Ready(Some(Ok(encoded))) => {
                let framed = this
                    .writer
                    .compress(encoded)
                    .and_then(|(payload, compressed)| {
                        let flags = if compressed { FLAG_COMPRESSED } else { 0 };
                        this.writer.envelope_raw(&payload, flags)
                    });
                match framed {
                    Ok(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                    Err(error) => this.end(Some(error)),
                }
            }
        }
    }
}

/// Sets a header, skipping values that are not valid in HTTP.
pub(crate) fn set_header(map: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        map.insert(name, value);
    }
}

fn append_metadata(map: &mut http::HeaderMap, metadata: &Metadata) {
    for (name, value) in metadata.as_header_map() {
        map.append(name.clone(), value.clone());
    }
}

/// A plain HTTP response with an empty body (404, 405, 415, ...).
pub(crate) fn plain_status(status: http::StatusCode) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
