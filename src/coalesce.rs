//! Fewer, larger socket writes: a connection wrapper that lets other ready calls finish before it writes.
//!
//! hyper's HTTP/2 connection task writes whatever frames are queued each time it runs. Each finished call
//! (or each message of a busy stream) wakes it, and Tokio tends to run it right away, so under load every
//! response leaves in a `writev` of its own. Those syscalls, not the RPC work, are most of a small call's
//! CPU. The server wraps every accepted connection, the HTTP/2 client every connection it opens (through
//! hyper-util's `TokioIo`, which converts between hyper's I/O traits and Tokio's).
//!
//! [`Coalesce`] makes the first write of each flush cycle step aside once: it wakes its own task and
//! reports `Pending`. A task that wakes itself goes to the back of Tokio's run queue, so every call that
//! was already ready runs first and queues its frames; the connection task then writes them all in one
//! syscall. The delay is one pass over tasks that were ready anyway, never a timer, and a connection with
//! nothing else to do writes on the very next poll.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pin_project! {
    /// An I/O stream whose writes wait for one turn of the scheduler at the start of each flush cycle.
    pub(crate) struct Coalesce<S> {
        #[pin]
        inner: S,
        // Whether this flush cycle already stepped aside.
        yielded: bool,
    }
}

impl<S> Coalesce<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            yielded: false,
        }
    }

    /// Steps aside once per flush cycle: `true` means "report Pending now".
    fn step_aside(yielded: &mut bool, cx: &mut Context<'_>) -> bool {
        if *yielded {
            return false;
        }
        *yielded = true;
        cx.waker().wake_by_ref();
        true
    }
}

impl<S: AsyncRead> AsyncRead for Coalesce<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<S: AsyncWrite> AsyncWrite for Coalesce<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        if Self::step_aside(this.yielded, cx) {
            return Poll::Pending;
        }
        this.inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        if Self::step_aside(this.yielded, cx) {
            return Poll::Pending;
        }
        this.inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let result = this.inner.poll_flush(cx);
        if result.is_ready() {
            // Everything queued so far is written: the next write starts a new cycle.
            *this.yielded = false;
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use tokio::io::AsyncReadExt as _;

    use super::*;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn first_write_of_each_cycle_steps_aside_once() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut io = Coalesce::new(near);
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut io = Pin::new(&mut io);

        // A new cycle: the write steps aside and asks to be polled again.
        assert!(io.as_mut().poll_write(&mut cx, b"one").is_pending());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        // The retry, and further writes in the same cycle, go straight through.
        assert!(matches!(
            io.as_mut().poll_write(&mut cx, b"one"),
            Poll::Ready(Ok(3))
        ));
        let bufs = [io::IoSlice::new(b"two")];
        assert!(matches!(
            io.as_mut().poll_write_vectored(&mut cx, &bufs),
            Poll::Ready(Ok(3))
        ));
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        // A flush ends the cycle: the next write steps aside again, once.
        assert!(io.as_mut().poll_write(&mut cx, b"three").is_pending());
        assert!(matches!(
            io.as_mut().poll_write(&mut cx, b"three"),
            Poll::Ready(Ok(5))
        ));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);

        let mut received = [0u8; 11];
        far.read_exact(&mut received).await.unwrap();
        assert_eq!(&received, b"onetwothree");
    }
}
