//! Retrying client- and bidi-streaming calls: the messages a caller sent are kept until the call is
//! committed, so that a retry (see `retry.rs`) can open the call again and send them once more, as
//! gRFC A6 buffers them.
//!
//! A call is committed, and its messages let go, at its first response message, when the caller reads
//! the response headers, or when what it sent outgrows [`RetryPolicy::REPLAY_LIMIT`] (A6's per-call buffer limit:
//! past it, a call is no longer retried). Only calls a retry policy applies to keep anything: a client
//! without retries pays nothing.

use bytes::Bytes;
use tokio::time::Instant;

use crate::Error;
use crate::body::Body;
use crate::client::config::ClientConfig;
use crate::client::duplex::DuplexCall;
use crate::client::retry::{Attempts, RetryPolicy};
use crate::method::MethodSpec;

/// What a retryable streaming call keeps to be sent again: its attempts so far and what it sent. The
/// call itself makes each new attempt (`stream_conn.rs`), from the request it was opened with.
pub(crate) struct Replay {
    attempts: Attempts,
    /// The framed messages sent so far, and their size.
    sent: Vec<Bytes>,
    size: usize,
    /// Whether the caller closed the request stream.
    closed: bool,
}

impl Replay {
    /// What a call to `spec` with `deadline` keeps, if a retry policy applies to it or if it is to
    /// keep its messages `always` (a server-streaming call's one message, for the transparent retry).
    pub fn new(
        config: &ClientConfig,
        spec: &'static MethodSpec,
        deadline: Option<Instant>,
        always: bool,
    ) -> Option<Box<Self>> {
        let attempts = Attempts::new(config.retries.as_ref(), spec, deadline);
        (always || attempts.has_policy()).then(|| {
            Box::new(Self {
                attempts,
                sent: Vec::new(),
                size: 0,
                closed: false,
            })
        })
    }

    /// Keeps a framed message about to be sent; `false` when the call outgrew the limit (and is
    /// committed).
    pub fn record(&mut self, framed: &Bytes) -> bool {
        self.size += framed.len();
        if self.size > RetryPolicy::REPLAY_LIMIT {
            return false;
        }
        self.sent.push(framed.clone());
        true
    }

    /// Whether the caller closed the request stream.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Notes that the caller closed the request stream.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Opens the call again (with `reopen`) after it failed with `error`, if the retry rules allow,
    /// and sends what the caller sent so far; `Err` (the call's final error) if it is not retried or
    /// every try failed.
    pub async fn retry(
        &mut self,
        call: &mut DuplexCall,
        mut error: Error,
        mut reopen: impl FnMut() -> DuplexCall,
    ) -> Result<(), Error> {
        loop {
            let Some(pause) = self.attempts.retry_after(&error) else {
                return Err(error);
            };
            self.attempts.pause(pause).await?;
            // The failed call is dropped here, which resets its stream.
            *call = reopen();
            match self.resend(call).await {
                Ok(()) => return Ok(()),
                Err(failed) => error = failed,
            }
        }
    }

    /// Sends the kept messages on `call`, and closes it if the caller had.
    async fn resend(&self, call: &mut DuplexCall) -> Result<(), Error> {
        if self.closed {
            // The whole request is known: sent as one body, in the caller's task, as it first was
            // for a server-streaming call.
            let body = match self.sent.as_slice() {
                [one] => one.clone(),
                many => many.concat().into(),
            };
            call.start_with_body(Body::full(body));
            return call.error().map_or(Ok(()), |e| Err(e.clone()));
        }
        for framed in &self.sent {
            call.send(framed.clone()).await?;
        }
        if self.closed {
            call.close_send()?;
        }
        Ok(())
    }
}
