//! Writing responses: headers, messages, and how each protocol ends a call or reports an error.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use http_body::Frame;
use tokio_util::sync::DropGuard;

use crate::body::Body;
use crate::deadline;
use crate::envelope::FLAG_END_STREAM;
use crate::protocol::connect;
use crate::server::handler::{EncodedStream, ServerCall};
use crate::wire::MessageWriter;
use crate::{Error, Metadata, Response};

/// A Connect unary response (also used for GET): one unframed message, or an error as JSON.
pub(crate) fn unary(
    call: &ServerCall,
    result: Result<Response<BytesMut>, Error>,
) -> http::Response<Body> {
    let codec = call.writer.codec.name();
    let result = result.and_then(|response| {
        let (headers, message, trailers) = response.into_parts();
        let (payload, compressed) = call.writer.compress(message)?;
        Ok((headers, payload, compressed, trailers))
    });
    match result {
        Ok((headers, payload, compressed, trailers)) => {
            let mut response = http::Response::new(Body::full(payload));
            let map = response.headers_mut();
            append_metadata(map, &headers);
            set(
                map,
                CONTENT_TYPE.as_str(),
                &connect::unary_content_type(codec),
            );
            if compressed && let Some(c) = &call.writer.compression {
                set(map, CONTENT_ENCODING.as_str(), c.name());
            }
            set(map, "accept-encoding", &call.accept_encoding);
            connect::append_unary_trailers(map, &trailers);
            response
        }
        Err(error) => {
            let mut response = connect_unary_error(&error);
            set(
                response.headers_mut(),
                "accept-encoding",
                &call.accept_encoding,
            );
            response
        }
    }
}

/// A Connect unary error response: HTTP status from the code, JSON body, metadata as headers.
pub(crate) fn connect_unary_error(error: &Error) -> http::Response<Body> {
    let mut response = http::Response::new(Body::full(connect::error_json(error)));
    *response.status_mut() = http::StatusCode::from_u16(error.code().http_status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    append_metadata(map, error.metadata());
    connect::append_unary_trailers(map, error.trailers());
    set(map, CONTENT_TYPE.as_str(), "application/json");
    response
}

/// A streaming response: headers now, then each message as it comes, then the protocol's ending.
pub(crate) fn stream(
    call: ServerCall,
    result: Result<Response<EncodedStream>, Error>,
) -> http::Response<Body> {
    let codec = call.writer.codec.name();
    let mut response = http::Response::new(Body::empty());
    let map = response.headers_mut();
    set(
        map,
        CONTENT_TYPE.as_str(),
        &connect::stream_content_type(codec),
    );
    if let Some(c) = &call.writer.compression {
        set(map, connect::STREAM_ENCODING_HEADER, c.name());
    }
    set(
        map,
        connect::STREAM_ACCEPT_ENCODING_HEADER,
        &call.accept_encoding,
    );
    let guard = call.cancel.clone().drop_guard();
    let body = match result {
        Ok(ok) => {
            let (headers, messages, trailers) = ok.into_parts();
            append_metadata(response.headers_mut(), &headers);
            ResponseBody {
                messages: Some(messages),
                writer: call.writer,
                deadline: call.deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
                trailers,
                pending_error: None,
                done: false,
                _guard: guard,
            }
        }
        Err(error) => {
            append_metadata(response.headers_mut(), error.metadata());
            ResponseBody {
                messages: None,
                writer: call.writer,
                deadline: None,
                trailers: Metadata::new(),
                pending_error: Some(error),
                done: false,
                _guard: guard,
            }
        }
    };
    *response.body_mut() = Body::from_frames(body);
    response
}

/// The body of a streaming response.
struct ResponseBody {
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
    fn end(&mut self, error: Option<Error>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        self.messages = None;
        let payload = connect::end_stream_json(error.as_ref(), &self.trailers);
        Poll::Ready(Some(
            self.writer
                .envelope_raw(&payload, FLAG_END_STREAM)
                .map(Frame::data),
        ))
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
            Poll::Ready(Some(Err(error))) => {
                this.trailers.extend(error.trailers().clone());
                this.end(Some(error))
            }
            Poll::Ready(Some(Ok(encoded))) => {
                let framed = this
                    .writer
                    .compress(encoded)
                    .and_then(|(payload, compressed)| {
                        let flags = if compressed {
                            crate::envelope::FLAG_COMPRESSED
                        } else {
                            0
                        };
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

use std::future::Future as _;

fn set(map: &mut http::HeaderMap, name: &'static str, value: &str) {
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
