//! The client's own streaming call: what a client-, server- or bidi-streaming call is below the
//! interceptors, as a [`StreamingClientConn`]. It frames the caller's messages onto one duplex call,
//! reads the responses the protocol's way, and retries the call as `retry.rs` allows: every attempt is
//! hidden in here, so the interceptors above see one call.
//!
//! The call is made when it starts (its first send, close or receive), from the request headers and
//! extensions as the interceptors left them. A server-streaming call keeps its one message until the
//! close, then sends the complete request, in the caller's task, as a unary call does (no pipe, no task);
//! client- and bidi-streaming calls pipe their messages (see `duplex.rs`).
//!
//! Until the call is committed, it keeps what it sent (`replay.rs`) so that a retry can send it again:
//! a server-streaming call always (its one message, for the transparent retry of calls the server
//! never processed), client- and bidi-streaming calls only under a [`RetryPolicy`](crate::client::RetryPolicy).
//! It is committed when its response head is received with the call still open (a gRPC
//! trailers-only error is not a head: the call may go again), or at its first response message.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::any_message::AnyMessage;
use crate::body::Body;
use crate::client::config::ClientConfig;
use crate::client::duplex::DuplexCall;
use crate::client::receive::StreamReceiver;
use crate::client::replay::Replay;
use crate::codec::Message;
use crate::interceptor::{ConnFuture, StreamingClientConn};
use crate::method::{MethodSpec, StreamType};
use crate::{CallContext, Code, Error, Metadata};

/// A streaming call as the client makes it (see the module docs).
pub(crate) struct StreamConn<Req, Res> {
    config: Arc<ClientConfig>,
    /// What every attempt of the call is made from.
    request: RequestHead,
    /// The call, once started.
    call: Option<DuplexCall>,
    receiver: StreamReceiver,
    /// What the call keeps to be sent again, until it is committed.
    replay: Option<Box<Replay>>,
    /// A server-streaming call's one message, framed, until the close sends it.
    single: Option<Bytes>,
    _types: PhantomData<fn(Req) -> Res>,
}

/// The request a streaming call is opened with, as the interceptors leave it.
struct RequestHead {
    spec: &'static MethodSpec,
    context: CallContext,
    headers: Metadata,
    /// The transport's request extensions: taken by the call's first attempt, unless it may be retried.
    extensions: http::Extensions,
    timeout: Option<Duration>,
}

impl RequestHead {
    /// A new attempt of the call; `again` when a retry may follow (the extensions are then kept).
    fn open(&mut self, config: &Arc<ClientConfig>, again: bool) -> DuplexCall {
        let extensions = if again {
            self.extensions.clone()
        } else {
            std::mem::take(&mut self.extensions)
        };
        let head = config.request_head(
            self.spec,
            &self.context,
            &self.headers,
            extensions,
            self.timeout,
            config.send_compression_name(),
        );
        DuplexCall::new(config.clone(), self.spec, head, self.context.deadline())
    }
}

impl<Req: Message, Res: Message> StreamConn<Req, Res> {
    /// A call to `spec` that has not started.
    pub fn new(
        config: Arc<ClientConfig>,
        spec: &'static MethodSpec,
        context: CallContext,
        headers: Metadata,
        extensions: http::Extensions,
        timeout: Option<Duration>,
    ) -> Self {
        Self {
            config,
            request: RequestHead {
                spec,
                context,
                headers,
                extensions,
                timeout,
            },
            call: None,
            receiver: StreamReceiver::default(),
            replay: None,
            single: None,
            _types: PhantomData,
        }
    }

    fn stream_type(&self) -> StreamType {
        self.request.spec.stream_type
    }

    /// The call, made (not yet sent) from the request as it stands, if this is the first use.
    fn call(&mut self) -> &mut DuplexCall {
        if self.call.is_none() {
            let server_streams = self.stream_type() == StreamType::ServerStream;
            let deadline = self.request.context.deadline();
            self.replay = Replay::new(&self.config, self.request.spec, deadline, server_streams);
            let call = self.request.open(&self.config, self.replay.is_some());
            self.call = Some(call);
        }
        self.call.as_mut().expect("the call was just made")
    }

    /// Retries the call after it failed with `error`, if it kept what it sent and the retry rules
    /// allow; `Err` with the call's final error otherwise.
    async fn retry(&mut self, error: Error) -> Result<(), Error> {
        let Some(kept) = self.replay.as_mut() else {
            return Err(error);
        };
        let call = self.call.as_mut().expect("a failed call was started");
        let (request, config) = (&mut self.request, &self.config);
        let result = kept.retry(call, error, || request.open(config, true)).await;
        match result {
            // A new call: read its response from the start.
            Ok(()) => self.receiver = StreamReceiver::default(),
            Err(_) => self.replay = None,
        }
        result
    }

    async fn send_message(&mut self, message: AnyMessage) -> Result<(), Error> {
        let framed = message
            .check_type::<Req>()
            .and_then(|()| self.config.writer().envelope(&message, 0));
        let framed = match framed {
            Ok(framed) => framed,
            Err(error) => return Err(self.call().fail(error)),
        };
        if self.stream_type() == StreamType::ServerStream {
            return self.keep_single(framed);
        }
        self.call();
        // A message after the close (which fails) or past the limit ends the keeping.
        if let Some(kept) = &mut self.replay
            && (kept.is_closed() || !kept.record(&framed))
        {
            self.replay = None;
        }
        let call = self.call.as_mut().expect("the call was made");
        match call.send(framed).await {
            Ok(()) => Ok(()),
            // A retry sends this message again with the others.
            Err(error) => self.retry(error).await,
        }
    }

    /// Keeps a server-streaming call's one message for the close.
    fn keep_single(&mut self, framed: Bytes) -> Result<(), Error> {
        if self.single.is_some() || self.call.is_some() {
            let error = Error::new(
                Code::Internal,
                "a server-streaming call sends exactly one message, before its close",
            );
            return Err(self.call().fail(error));
        }
        self.single = Some(framed);
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        if self.stream_type() == StreamType::ServerStream && self.call.is_none() {
            let Some(framed) = self.single.take() else {
                let error = Error::new(
                    Code::Internal,
                    "a server-streaming call was closed without its message",
                );
                return Err(self.call().fail(error));
            };
            self.call();
            if let Some(kept) = &mut self.replay {
                kept.record(&framed);
                kept.close();
            }
            let call = self.call.as_mut().expect("the call was made");
            call.start_with_body(Body::full(framed));
            return call.error().map_or(Ok(()), |e| Err(e.clone()));
        }
        if let Some(kept) = &mut self.replay {
            kept.close();
        }
        self.call().close_send()
    }

    async fn headers(&mut self) -> Result<(), Error> {
        self.call();
        loop {
            let call = self.call.as_mut().expect("the call was made");
            if let Err(error) = self.receiver.headers(&self.config, call).await {
                self.retry(error).await?;
                continue;
            }
            // A head that ended the call (gRPC's trailers-only error) came before any message: the
            // call may go again. Reading the ending now changes nothing for the caller: later reads
            // return it again.
            if self.replay.is_some() && call.response_ended() {
                let ended = self.receiver.next::<Res>(&self.config, call).await;
                if let Err(error) = ended {
                    match self.retry(error).await {
                        Ok(()) => continue,
                        // Not sent again: the head is handed over, the error in the call behind it
                        // (read again by the first receive).
                        Err(error) if self.response_headers().is_none() => return Err(error),
                        Err(_) => return Ok(()),
                    }
                }
            }
            // The head is handed over: the call is committed.
            self.replay = None;
            return Ok(());
        }
    }

    async fn message(&mut self) -> Result<Option<AnyMessage>, Error> {
        self.call();
        loop {
            let call = self.call.as_mut().expect("the call was made");
            let result = match self.receiver.try_next::<Res>(&self.config, call) {
                Some(result) => result,
                None => self.receiver.next::<Res>(&self.config, call).await,
            };
            match result {
                Err(error) if self.replay.is_some() => self.retry(error).await?,
                result => {
                    // A message (or the end) came: the call is committed.
                    self.replay = None;
                    return result.map(|message| message.map(AnyMessage::new));
                }
            }
        }
    }
}

impl<Req: Message, Res: Message> StreamingClientConn for StreamConn<Req, Res> {
    fn context(&self) -> &CallContext {
        &self.request.context
    }

    fn request_headers(&self) -> &Metadata {
        &self.request.headers
    }

    fn request_headers_mut(&mut self) -> &mut Metadata {
        &mut self.request.headers
    }

    fn request_extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.request.extensions
    }

    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(self.send_message(message))
    }

    fn close_send(&mut self) -> Result<(), Error> {
        self.close()
    }

    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(self.headers())
    }

    fn response_headers(&self) -> Option<&Metadata> {
        let call = self.call.as_ref()?;
        call.head().map(|head| &head.accepted.headers)
    }

    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        Box::pin(self.message())
    }

    fn try_receive(&mut self) -> Option<Result<Option<AnyMessage>, Error>> {
        // Only once committed: before, a failure may have to be retried, which waits.
        if self.replay.is_some() {
            return None;
        }
        let call = self.call.as_mut()?;
        let received = self.receiver.try_next::<Res>(&self.config, call)?;
        Some(received.map(|message| message.map(AnyMessage::new)))
    }

    fn response_trailers(&self) -> Option<&Metadata> {
        self.receiver.trailers()
    }

    fn cancel(&mut self) {
        self.call().cancel();
        // A cancelled call is not opened again.
        self.replay = None;
    }
}
