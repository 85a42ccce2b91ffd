//! The future every handler runs in: the handler's work, bounded by the call's deadline and guarded
//! against panics, then turned into the HTTP response by the call's protocol. Dropping it before it
//! completes (the caller went away) cancels the call's context.
//!
//! Written by hand rather than as nested `async` blocks: those kept the handler's future in four
//! places at once (the argument, the panic guard, the deadline wrapper and its argument), 8 KiB for a
//! unary echo, and copied it from one to the next on every call. Here it is stored once, in place.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::DropGuard;

use crate::body::Body;
use crate::deadline;
use crate::protocol::server::ResponseFormat;
use crate::server::recover::Recovery;
use crate::server::respond::{self, Gate, Reply};
use crate::{Error, Response};

/// What answering needs besides the work itself; taken when the work is done.
pub(super) struct Answering {
    pub format: ResponseFormat,
    /// Cancels the call's context if the answer is dropped unfinished; once answered, it moves into
    /// the response, which cancels when it ends.
    pub cancel_on_drop: DropGuard,
    pub recovery: Recovery,
    pub gate: Gate,
}

pin_project! {
    /// The future of [`Responder::answer`](super::call::Responder::answer).
    pub(crate) struct Answer<F> {
        #[pin]
        work: F,
        // The call's deadline, when it has one. Boxed: most calls have none, and they need not carry a
        // timer's worth of space.
        timer: Option<Pin<Box<Sleep>>>,
        answering: Option<Answering>,
    }
}

impl<F> Answer<F> {
    pub(super) fn new(work: F, deadline: Option<Instant>, answering: Answering) -> Self {
        Self {
            work,
            timer: deadline.map(|deadline| Box::pin(tokio::time::sleep_until(deadline))),
            answering: Some(answering),
        }
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response<Reply>, Error>>,
{
    type Output = http::Response<Body>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answering = this
            .answering
            .as_ref()
            .expect("an answer is not polled after it completed");
        // The work first, as `tokio::time::timeout` does: work that is ready at the deadline counts.
        let work = this.work;
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| work.poll(cx))) {
            Ok(Poll::Ready(result)) => result,
            Err(panic) => Err(answering.recovery.recover(panic)),
            Ok(Poll::Pending) => {
                let timer = this.timer.as_mut();
                if !timer.is_some_and(|timer| timer.as_mut().poll(cx).is_ready()) {
                    return Poll::Pending;
                }
                Err(deadline::exceeded())
            }
        };
        let deadline = this.timer.as_ref().map(|timer| timer.deadline());
        let Answering {
            format,
            cancel_on_drop,
            recovery,
            gate,
        } = this.answering.take().expect("checked above");
        Poll::Ready(respond::respond(
            format,
            deadline,
            cancel_on_drop,
            recovery,
            gate,
            result,
        ))
    }
}
