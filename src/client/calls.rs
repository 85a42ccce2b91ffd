//! The typed streaming calls a client hands out: client-, server- and bidi-streaming, each a thin typed
//! face over the call's [`StreamingClientConn`]: the client's own call (`stream_conn.rs`) wrapped by
//! its interceptors, if it has any.

use std::marker::PhantomData;

use crate::any_message::AnyMessage;
use crate::codec::Message;
use crate::interceptor::StreamingClientConn;
use crate::{Code, Error, Metadata, Response};

/// What every streaming call holds: its connection, and the message types it is typed with.
struct Typed<Req, Res> {
    conn: Box<dyn StreamingClientConn>,
    _message: PhantomData<fn(Req) -> Res>,
}

impl<Req: Message, Res: Message> Typed<Req, Res> {
    fn new(conn: Box<dyn StreamingClientConn>) -> Self {
        Self {
            conn,
            _message: PhantomData,
        }
    }

    async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.conn.send(AnyMessage::new(message)).await
    }

    async fn headers(&mut self) -> Result<&Metadata, Error> {
        self.conn.receive_headers().await?;
        self.conn
            .response_headers()
            .ok_or_else(|| Error::internal("the call has no response headers"))
    }

    async fn message(&mut self) -> Result<Option<Res>, Error> {
        let received = match self.conn.try_receive() {
            Some(received) => received,
            None => self.conn.receive().await,
        };
        match received? {
            Some(message) => message.into_typed().map(Some),
            None => Ok(None),
        }
    }

    /// Reads the one response message of a client-streaming call and the end of the stream. The call
    /// is committed at the message, not at the headers before it: a failure in between (Connect's
    /// error in the stream's last frame) may still be retried.
    async fn single_response(&mut self) -> Result<Response<Res>, Error> {
        let first = self.message().await?;
        let headers = self.conn.response_headers().cloned().unwrap_or_default();
        let Some(message) = first else {
            return Err(
                Error::new(Code::Unimplemented, "the response stream has no message")
                    .with_headers(headers),
            );
        };
        if self.message().await?.is_some() {
            return Err(Error::new(
                Code::Unimplemented,
                "the response stream has more than one message",
            )
            .with_headers(headers));
        }
        let trailers = self.conn.response_trailers().cloned().unwrap_or_default();
        Ok(Response::from_parts(message, headers, trailers))
    }
}

/// A server-streaming call in progress: read messages until `Ok(None)`, then the trailers.
pub struct ServerStreamCall<Res> {
    typed: Typed<(), Res>,
}

impl<Res: Message> ServerStreamCall<Res> {
    /// The call on `conn`, whose response headers arrived.
    pub(crate) fn new(conn: Box<dyn StreamingClientConn>) -> Self {
        Self {
            typed: Typed::new(conn),
        }
    }

    /// The response headers.
    pub fn headers(&self) -> &Metadata {
        static EMPTY: std::sync::OnceLock<Metadata> = std::sync::OnceLock::new();
        self.typed
            .conn
            .response_headers()
            .unwrap_or_else(|| EMPTY.get_or_init(Metadata::new))
    }

    /// The next message; `Ok(None)` when the server finished successfully.
    pub async fn message(&mut self) -> Result<Option<Res>, Error> {
        self.typed.message().await
    }

    /// The trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.typed.conn.response_trailers()
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.typed.conn.cancel();
    }
}

/// A client-streaming call in progress: send messages, then close and receive the one response.
pub struct ClientStreamCall<Req, Res> {
    typed: Typed<Req, Res>,
}

impl<Req: Message, Res: Message> ClientStreamCall<Req, Res> {
    /// The call on `conn`, not started yet.
    pub(crate) fn new(conn: Box<dyn StreamingClientConn>) -> Self {
        Self {
            typed: Typed::new(conn),
        }
    }

    /// Sends one message (starting the request on the first). Waits while the transport is busy.
    pub async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.typed.send(message).await
    }

    /// Closes the request stream and waits for the response.
    pub async fn close_and_receive(mut self) -> Result<Response<Res>, Error> {
        // A failed close means the call already failed; receiving reports why.
        let _ = self.typed.conn.close_send();
        self.typed.single_response().await
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.typed.conn.cancel();
    }
}

/// A bidi-streaming call in progress: send and receive independently (HTTP/2 only).
pub struct BidiStreamCall<Req, Res> {
    typed: Typed<Req, Res>,
}

impl<Req: Message, Res: Message> BidiStreamCall<Req, Res> {
    /// The call on `conn`, not started yet.
    pub(crate) fn new(conn: Box<dyn StreamingClientConn>) -> Self {
        Self {
            typed: Typed::new(conn),
        }
    }

    /// Sends one message (starting the request on the first). Waits while the transport is busy.
    pub async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.typed.send(message).await
    }

    /// Closes the sending side; the server sees end-of-stream. Receiving continues.
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.typed.conn.close_send()
    }

    /// Waits for the response headers.
    pub async fn headers(&mut self) -> Result<&Metadata, Error> {
        self.typed.headers().await
    }

    /// The next message; `Ok(None)` when the server finished successfully.
    pub async fn message(&mut self) -> Result<Option<Res>, Error> {
        self.typed.message().await
    }

    /// The trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.typed.conn.response_trailers()
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.typed.conn.cancel();
    }
}
