//! The client's side of HTTP/3: connecting to a server over QUIC, and sending one
//! `http::Request<Body>` on a connection as a request stream, its response as an
//! `http::Response<Body>`.
//!
//! Which connection a call uses (one per origin) is `client/h3_channel.rs`.
//!
//! A complete request body (unary and server-streaming calls) is written from the caller's own task
//! before it waits for the response; a streaming one is written by a task of its own, which ends, and
//! resets the stream, when the call is dropped. A response body holds its connection open: h3 closes a
//! connection as soon as its last request handle is dropped.

use std::any::Any;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use h3::error::StreamError;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::body::Body;
use crate::http3::body::{
    RecvBody, SendFailure, SendHalf, connection_error, send_body, stream_error,
};
use crate::{Code, Error};

/// The largest response header section the client accepts: 64 KiB.
const MAX_RESPONSE_HEADER_SECTION: u64 = 64 * 1024;

/// Opens an HTTP/3 connection to `addr` (verifying the certificate for `server_name`) through
/// `endpoint`. Returns the handle calls use, and the connection's driver, which must run (in a task
/// of its own) for the connection to work.
pub(crate) async fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    server_name: &str,
) -> Result<(Sender, Driver), Error> {
    let connecting = endpoint
        .connect_with(config, addr, server_name)
        .map_err(|e| {
            Error::with_source(
                Code::Unavailable,
                format!("connecting to {addr} over QUIC: {e}"),
                e,
            )
        })?;
    let connection = connecting.await.map_err(|e| {
        Error::with_source(
            Code::Unavailable,
            format!("connecting to {addr} over QUIC: {e}"),
            e,
        )
    })?;
    let (driver, send) = h3::client::builder()
        .max_field_section_size(MAX_RESPONSE_HEADER_SECTION)
        .build::<_, _, Bytes>(h3_quinn::Connection::new(connection))
        .await
        .map_err(|e| connection_error(e, "starting HTTP/3"))?;
    Ok((Sender { send }, Driver(driver)))
}

/// Runs a connection: reads the server's control stream (its SETTINGS and GOAWAY).
///
/// h3 0.0.8 does not tell a client when a GOAWAY arrived (its connection state is not public): the
/// next request on the connection is refused, unsent, and goes on a new connection.
pub(crate) struct Driver(h3::client::Connection<h3_quinn::Connection, Bytes>);

impl Driver {
    /// Runs until the connection ends.
    pub async fn run(mut self) {
        let _ = poll_fn(|cx| self.0.poll_close(cx)).await;
    }
}

/// A request that did not get through.
pub(crate) enum Failure {
    /// The connection took no new request (it was going away, or gone), or the server rejected it
    /// unprocessed; either way the request may go on another connection.
    Refused(Box<http::Request<Body>>, Error),
    /// It failed.
    Failed(Error),
}

/// A handle on an HTTP/3 connection. The connection closes when the last handle (calls' response
/// bodies hold one) is dropped.
#[derive(Clone)]
pub(crate) struct Sender {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
}

impl Sender {
    /// Sends `request` and waits for the response head.
    pub async fn send(
        mut self,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Failure> {
        let mut head = http::Request::new(());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request.uri().clone();
        *head.headers_mut() = request.headers().clone();
        crate::http2::strip_connection_headers(head.headers_mut());
        let stream = match self.send.send_request(head).await {
            Ok(stream) => stream,
            Err(error) if refused(&error) => {
                let error = stream_error(error, "sending request");
                return Err(Failure::Refused(Box::new(request), error));
            }
            Err(error) => return Err(Failure::Failed(stream_error(error, "sending request"))),
        };
        let (send, mut recv) = stream.split();
        let mut send = SendHalf::client(send);
        // Cancelled when the call is dropped (with this future, or later with its response body).
        let cancel = CancellationToken::new();
        let guard = cancel.clone().drop_guard();
        let (parts, body) = request.into_parts();
        // A complete body is kept (a cheap clone) so that a request the server rejected unprocessed
        // can go again.
        let (failure, resend) = match body.into_full() {
            Ok(data) => {
                if let Err(error) = send_full(&mut send, data.clone()).await {
                    return Err(Failure::Failed(error));
                }
                (None, Some((parts, data)))
            }
            Err(body) => {
                let failure = BodyFailure::default();
                tokio::spawn(pump(send, body, failure.clone(), cancel));
                (Some(failure), None)
            }
        };
        let response = match recv.recv_response().await {
            Ok(response) => response,
            Err(error) => {
                if let (true, Some((parts, data))) = (rejected(&error), resend) {
                    // A request that raced the server's GOAWAY: it was never processed (RFC 9114,
                    // section 4.1.1).
                    let error = stream_error(error, "receiving response");
                    let request = http::Request::from_parts(parts, Body::full(data));
                    return Err(Failure::Refused(Box::new(request), error));
                }
                let failed = failure.as_ref().and_then(take_failure);
                return Err(Failure::Failed(
                    failed.unwrap_or_else(|| stream_error(error, "receiving response")),
                ));
            }
        };
        let keep: Box<dyn Any + Send + Sync> = Box::new(Keep {
            _sender: self.send,
            _guard: guard,
        });
        Ok(response.map(|()| Body::new(RecvBody::client(recv, keep))))
    }
}

/// What a response body keeps alive: its connection, and its request body's pump.
struct Keep {
    _sender: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    _guard: DropGuard,
}

/// Whether the server refused the request unprocessed, resetting it with `H3_REQUEST_REJECTED`.
fn rejected(error: &StreamError) -> bool {
    matches!(
        error,
        StreamError::RemoteTerminate { code, .. } if *code == h3::error::Code::H3_REQUEST_REJECTED
    )
}

/// Whether the connection refused a request before anything of it was sent.
fn refused(error: &StreamError) -> bool {
    matches!(
        error,
        StreamError::RemoteClosing { .. } | StreamError::ConnectionError { .. }
    )
}

/// Sends a complete request body and ends the stream. A server that answers without reading the
/// whole request stops it (with `H3_NO_ERROR`): not an error, its answer follows.
async fn send_full(send: &mut SendHalf, data: Bytes) -> Result<(), Error> {
    match send_body(send, Body::full(data)).await {
        // A stopped stream: the server's answer, or its reset, is in the response.
        Ok(()) | Err(SendFailure::Stream) => Ok(()),
        Err(SendFailure::Body(error)) => Err(error),
    }
}

/// Where a streaming request body's failure is left for the call waiting on the response, which
/// reports it rather than the reset it caused.
type BodyFailure = Arc<Mutex<Option<Error>>>;

fn take_failure(failure: &BodyFailure) -> Option<Error> {
    failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// Writes a streaming request body; ends when it is written, when it fails (leaving its error in
/// `failure`), when the stream fails, or when the call is dropped (`cancel`), which resets it.
async fn pump(mut send: SendHalf, body: Body, failure: BodyFailure, cancel: CancellationToken) {
    tokio::select! {
        sent = send_body(&mut send, body) => {
            if let Err(SendFailure::Body(error)) = sent {
                *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
            }
        }
        // Dropping `send` unfinished resets the stream.
        () = cancel.cancelled() => {}
    }
}
