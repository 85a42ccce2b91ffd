//! Reading responses on the client: unary bodies and message streams, and what a Connect server's reply
//! must look like to be accepted.

use std::sync::Arc;

use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

use crate::client::ClientConfig;
use crate::client::duplex::DuplexCall;
use crate::codec::Message;
use crate::compression::Compression;
use crate::envelope::FLAG_END_STREAM;
use crate::protocol::{ProtocolKind, connect, grpc, grpc_web};
use crate::wire::MessageReader;
use crate::{Code, Error, Metadata, Response};

/// Largest error body a client reads from a failed unary response.
const ERROR_BODY_MAX: usize = 64 * 1024;

fn header(headers: &http::HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Resolves the response's compression; a name the client never offered is a protocol error.
fn response_compression(
    config: &ClientConfig,
    name: Option<&str>,
) -> Result<Option<Arc<dyn Compression>>, Error> {
    config.compression.resolve(name).map_err(|e| {
        Error::new(
            Code::Internal,
            format!(
                "server used an encoding the client does not accept: {}",
                e.message()
            ),
        )
    })
}

fn status_error(status: http::StatusCode) -> Error {
    Error::new(
        Code::from_http_status(status.as_u16()),
        format!("HTTP status {status}"),
    )
}

/// Receives a Connect unary response: one unframed message, or an error as JSON.
pub(crate) async fn unary<Res: Message>(
    config: &ClientConfig,
    call: &mut DuplexCall,
) -> Result<Response<Res>, Error> {
    let head = call.response_head().await?;
    let status = head.status;
    let (headers, trailers) = connect::split_unary_trailers(&head.headers);
    let content_type = header(&head.headers, CONTENT_TYPE).map(str::to_string);
    let encoding = header(&head.headers, CONTENT_ENCODING).map(str::to_string);
    if status != http::StatusCode::OK {
        let body = call.read_body(ERROR_BODY_MAX).await.unwrap_or_default();
        let is_json = content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/json"));
        let compression = response_compression(config, encoding.as_deref())
            .ok()
            .flatten();
        let body = match compression {
            Some(c) => {
                let mut out = bytes::BytesMut::new();
                c.decompress(&body, ERROR_BODY_MAX, &mut out)
                    .map(|_| out.freeze())
                    .unwrap_or_default()
            }
            None => body,
        };
        let mut error = is_json
            .then(|| connect::parse_error_json(&body, status.as_u16()))
            .flatten()
            .unwrap_or_else(|| status_error(status));
        *error.metadata_mut() = headers;
        *error.trailers_mut() = trailers;
        return Err(call.fail(error));
    }
    let expected = connect::unary_content_type(config.codec.name());
    let parsed = content_type
        .as_deref()
        .and_then(connect::parse_content_type);
    if !parsed
        .as_ref()
        .is_some_and(|ct| !ct.streaming && ct.codec == config.codec.name())
    {
        // A Connect reply in another codec is a protocol error; anything else is not Connect at all.
        let code = match parsed {
            Some(ct) if !ct.streaming => Code::Internal,
            _ => Code::Unknown,
        };
        let error = Error::new(
            code,
            format!("invalid content-type {content_type:?}; expecting {expected:?}"),
        );
        return Err(call.fail(error.with_metadata(headers)));
    }
    let compression = match response_compression(config, encoding.as_deref()) {
        Ok(c) => c,
        Err(e) => return Err(call.fail(e)),
    };
    let body = call.read_body(config.read_max_bytes).await?;
    let message = config
        .reader(compression)
        .decode_unary(body)
        .map_err(|e| call.fail(e))?;
    call.finish();
    Ok(Response::from_parts(message, headers, trailers))
}

/// Receives a streaming response (Connect streams, every gRPC and gRPC-Web call): headers, messages,
/// then the protocol's ending (end-stream message, HTTP trailers or gRPC-Web trailer frame).
#[derive(Default)]
pub(crate) struct StreamReceiver {
    reader: Option<MessageReader>,
    headers: Option<Metadata>,
    trailers: Option<Metadata>,
    /// Response headers that carried a gRPC status: a trailers-only response, if no body follows.
    header_status: Option<http::HeaderMap>,
    /// Whether any message arrived.
    received_message: bool,
    ended: bool,
}

impl StreamReceiver {
    /// Waits for and validates the response head.
    pub async fn headers(
        &mut self,
        config: &ClientConfig,
        call: &mut DuplexCall,
    ) -> Result<&Metadata, Error> {
        if self.headers.is_none() {
            let head = call.response_head().await?;
            let status = head.status;
            let map = head.headers.clone();
            let grpc = config.protocol != ProtocolKind::Connect;
            let headers = if grpc {
                grpc::user_metadata(&map)
            } else {
                Metadata::from_header_map(map.clone())
            };
            if status != http::StatusCode::OK {
                let error = status_error(status).with_metadata(headers);
                return Err(call.fail(error));
            }
            if grpc && map.contains_key(grpc::STATUS) {
                // Possibly trailers-only; decided at the end of the body, since a body or real
                // trailers make the status in the headers void.
                self.header_status = Some(map.clone());
            }
            let content_type = header(&map, CONTENT_TYPE);
            let codec = config.codec.name();
            let code = if grpc {
                let web = config.protocol == ProtocolKind::GrpcWeb;
                match content_type.and_then(grpc::parse_content_type) {
                    Some(ct) if ct.web == web && !ct.text && ct.codec == codec => None,
                    Some(_) => Some(Code::Internal),
                    None => Some(Code::Unknown),
                }
            } else {
                match content_type.and_then(connect::parse_content_type) {
                    Some(ct) if ct.streaming && ct.codec == codec => None,
                    Some(_) => Some(Code::Internal),
                    None => Some(Code::Unknown),
                }
            };
            // A trailers-only response need not name a content type.
            if let Some(code) = code.filter(|_| self.header_status.is_none()) {
                let error = Error::new(
                    code,
                    format!(
                        "invalid content-type {content_type:?} for a {} {codec} response",
                        config.protocol
                    ),
                );
                return Err(call.fail(error.with_metadata(headers)));
            }
            let encoding = if grpc {
                header(&map, grpc::ENCODING)
            } else {
                header(&map, connect::STREAM_ENCODING_HEADER)
            };
            let compression = match response_compression(config, encoding) {
                Ok(c) => c,
                Err(e) => return Err(call.fail(e.with_metadata(headers))),
            };
            self.reader = Some(config.reader(compression));
            self.headers = Some(headers);
        }
        Ok(self.headers.get_or_insert_with(Metadata::new))
    }

    /// The next message; `Ok(None)` after the stream ended successfully.
    pub async fn next<T: Message>(
        &mut self,
        config: &ClientConfig,
        call: &mut DuplexCall,
    ) -> Result<Option<T>, Error> {
        self.headers(config, call).await?;
        if self.ended {
            return match call.error() {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        }
        let envelope = call.receive_envelope().await?;
        match (config.protocol, envelope) {
            (ProtocolKind::Connect, None) => {
                self.ended = true;
                let error = Error::new(
                    Code::Internal,
                    "the stream ended without an end-stream message",
                );
                Err(call.fail(self.with_headers(error)))
            }
            (ProtocolKind::Connect, Some(envelope)) if envelope.flags & FLAG_END_STREAM != 0 => {
                self.ended = true;
                let payload = self.unwrap_payload(config, call, envelope)?;
                let (trailers, error) = match connect::parse_end_stream(&payload) {
                    Ok(parsed) => parsed,
                    Err(e) => return Err(call.fail(self.with_headers(e))),
                };
                self.trailers = Some(trailers);
                if let Some(error) = error {
                    return Err(call.fail(self.with_headers(error)));
                }
                self.expect_end(call).await
            }
            (ProtocolKind::Grpc | ProtocolKind::GrpcWeb, None) => {
                self.ended = true;
                // Real trailers win; a status in the headers counts only for an empty body.
                let trailers = match config.protocol {
                    ProtocolKind::Grpc => call.http_trailers().cloned(),
                    _ => None,
                };
                let trailers_only = self.header_status.take().filter(|_| !self.received_message);
                match trailers.or(trailers_only) {
                    Some(trailers) => {
                        self.finish_grpc(call, &trailers)?;
                        call.finish();
                        Ok(None)
                    }
                    None => {
                        let error = Error::new(
                            Code::Internal,
                            "protocol error: the stream ended without trailers",
                        );
                        Err(call.fail(self.with_headers(error)))
                    }
                }
            }
            (ProtocolKind::GrpcWeb, Some(envelope))
                if envelope.flags & grpc_web::FLAG_TRAILERS != 0 =>
            {
                self.ended = true;
                let block = self.unwrap_payload(config, call, envelope)?;
                let trailers = match grpc_web::parse_web_trailers(&block) {
                    Ok(trailers) => trailers,
                    Err(e) => return Err(call.fail(self.with_headers(e))),
                };
                self.finish_grpc(call, &trailers)?;
                self.expect_end(call).await
            }
            (_, Some(envelope)) => {
                self.received_message = true;
                let Some(reader) = &self.reader else {
                    return Err(call.fail(Error::internal("stream read before its headers")));
                };
                reader
                    .decode_envelope(envelope)
                    .map(Some)
                    .map_err(|e| call.fail(e))
            }
        }
    }

    /// The payload of a control frame (end-stream, trailers), decompressed if flagged.
    fn unwrap_payload(
        &self,
        config: &ClientConfig,
        call: &mut DuplexCall,
        envelope: crate::envelope::Envelope,
    ) -> Result<bytes::Bytes, Error> {
        if !envelope.is_compressed() {
            return Ok(envelope.data);
        }
        let Some(c) = self.reader.as_ref().and_then(|r| r.compression.clone()) else {
            let error = Error::new(
                Code::Internal,
                "compressed control frame without a negotiated encoding",
            );
            return Err(call.fail(self.with_headers(error)));
        };
        let mut out = bytes::BytesMut::new();
        match c.decompress(&envelope.data, config.read_max_bytes, &mut out) {
            Ok(()) => Ok(out.freeze()),
            Err(e) => Err(call.fail(self.with_headers(e))),
        }
    }

    /// Applies gRPC status trailers: success ends the stream, an error is returned.
    fn finish_grpc(
        &mut self,
        call: &mut DuplexCall,
        trailers: &http::HeaderMap,
    ) -> Result<(), Error> {
        let user = grpc::user_metadata(trailers);
        self.trailers = Some(user.clone());
        match grpc::parse_status(trailers) {
            Ok(None) => Ok(()),
            Ok(Some(mut error)) => {
                *error.trailers_mut() = user;
                Err(call.fail(self.with_headers(error)))
            }
            Err(error) => Err(call.fail(self.with_headers(error))),
        }
    }

    /// After the protocol's last frame, the body must end.
    async fn expect_end<T>(&mut self, call: &mut DuplexCall) -> Result<Option<T>, Error> {
        match call.receive_envelope().await {
            Ok(None) => {
                call.finish();
                Ok(None)
            }
            Ok(Some(_)) => {
                let error = Error::new(
                    Code::Internal,
                    "protocol error: data after the end of the stream",
                );
                Err(call.fail(self.with_headers(error)))
            }
            Err(e) => Err(e),
        }
    }

    fn with_headers(&self, mut error: Error) -> Error {
        if error.metadata().is_empty()
            && let Some(headers) = &self.headers
        {
            *error.metadata_mut() = headers.clone();
        }
        error
    }

    /// The response headers, once received.
    pub fn headers_now(&self) -> Option<&Metadata> {
        self.headers.as_ref()
    }

    /// The trailers, once the end-stream message arrived.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }
}
