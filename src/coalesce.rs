//! Fewer, larger socket writes: a connection wrapper that gathers what a connection writes while other calls
//! are still finishing, and sends it in one syscall.
//!
//! hyper's HTTP/2 connection task writes whatever frames are queued each time it runs, and h2 flushes the
//! socket once for every DATA frame of 256 bytes or more. Under load, each response would leave in a
//! `writev` of its own, and those syscalls, not the RPC work, are most of a small call's CPU.
//!
//! [`Coalesce`] copies small writes into a buffer. The first flush of a batch reports success without
//! writing anything and wakes the connection's task. A task that wakes itself goes to the back of Tokio's
//! run queue, so every call that was already ready runs first and queues its frames; the next run of the
//! connection task then writes the batch, with whatever that run added, in one syscall. Flushes during the
//! run that deferred the batch are deferred too, which is what lets many frames share a syscall. To tell
//! runs apart, [`Turns`] counts the polls of the connection's task: the server wraps each connection's
//! future in it, the HTTP/2 client every future hyper spawns for a connection.
//!
//! Deferring is safe because the task has woken itself, so it runs again, and hyper flushes on every run
//! (h2's connection at the end of each poll, HTTP/1's dispatcher in its poll loop); shutdown writes the
//! batch first. The delay is one pass over tasks that were ready anyway, never a timer. Writes of
//! [`COPY_LIMIT`] bytes or more are not copied: they leave at once, with the batch in front of them in the
//! same vectored write.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, BytesMut};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes at least this long go straight to the socket instead of being copied into the batch.
const COPY_LIMIT: usize = 8 * 1024;
/// A batch never grows past this many bytes; a write that would pass it sends the batch first.
const BATCH_LIMIT: usize = 64 * 1024;
/// An emptied batch buffer larger than this is freed, so idle connections hold little memory.
const KEEP_CAPACITY: usize = 16 * 1024;
/// At most this many slices (the batch and the caller's) go into one vectored write.
const MAX_SLICES: usize = 8;

/// Counts the runs (polls) of the task that drives a connection, so its [`Coalesce`] can tell one run
/// from the next.
#[derive(Clone, Debug, Default)]
pub(crate) struct Turns(Arc<AtomicU64>);

impl Turns {
    /// Wraps `future` so that every poll of it counts as a new run.
    pub(crate) fn track<F: Future>(&self, future: F) -> Tracked<F> {
        Tracked {
            future,
            turns: self.clone(),
        }
    }

    fn current(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pin_project! {
    /// A future whose polls [`Turns`] counts.
    pub(crate) struct Tracked<F> {
        #[pin]
        future: F,
        turns: Turns,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.turns.0.fetch_add(1, Ordering::Relaxed);
        this.future.poll(cx)
    }
}

pin_project! {
    /// An I/O stream that gathers small writes and sends them one run of its task later, in one syscall.
    pub(crate) struct Coalesce<S> {
        #[pin]
        inner: S,
        // Bytes accepted from the caller and not yet written.
        batch: BytesMut,
        turns: Turns,
        // The run in which a flush of `batch` was deferred (and the task woke itself), if one was.
        deferred_in: Option<u64>,
    }
}

impl<S> Coalesce<S> {
    /// Wraps `inner`. The future that drives the connection must be polled through the returned
    /// [`Turns`] ([`Turns::track`]); otherwise a deferred flush would never be told that a new run began.
    pub(crate) fn new(inner: S) -> (Self, Turns) {
        let turns = Turns::default();
        let io = Self {
            inner,
            batch: BytesMut::new(),
            turns: turns.clone(),
            deferred_in: None,
        };
        (io, turns)
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
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let len: usize = bufs.iter().map(|buf| buf.len()).sum();
        if len < COPY_LIMIT && this.batch.len() + len <= BATCH_LIMIT {
            // A new batch starts with room for several frames; a growing one grows as a Vec does.
            this.batch.reserve(if this.batch.is_empty() {
                COPY_LIMIT
            } else {
                len
            });
            for buf in bufs {
                this.batch.extend_from_slice(buf);
            }
            return Poll::Ready(Ok(len));
        }
        let written = ready!(write_through(this.inner, this.batch, cx, bufs))?;
        if this.batch.is_empty() {
            *this.deferred_in = None;
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if !this.batch.is_empty() {
            let turn = this.turns.current();
            match *this.deferred_in {
                None => {
                    // Let the calls that are ready add to the batch; a later run writes it.
                    *this.deferred_in = Some(turn);
                    cx.waker().wake_by_ref();
                    return Poll::Ready(Ok(()));
                }
                // Still the run that deferred (and woke itself): keep gathering.
                Some(deferred) if deferred == turn => return Poll::Ready(Ok(())),
                Some(_) => ready!(drain(this.inner.as_mut(), this.batch, cx))?,
            }
        }
        *this.deferred_in = None;
        this.inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(drain(this.inner.as_mut(), this.batch, cx))?;
        *this.deferred_in = None;
        ready!(this.inner.as_mut().poll_flush(cx))?;
        this.inner.poll_shutdown(cx)
    }
}

/// Writes the whole batch.
fn drain<S: AsyncWrite>(
    mut inner: Pin<&mut S>,
    batch: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !batch.is_empty() {
        let written = ready!(inner.as_mut().poll_write(cx, batch))?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        batch.advance(written);
    }
    release(batch);
    Poll::Ready(Ok(()))
}

/// Writes the batch and then `bufs`, in as few vectored writes as the socket allows; returns how many
/// bytes of `bufs` were written (at least one, as `poll_write` promises).
fn write_through<S: AsyncWrite>(
    mut inner: Pin<&mut S>,
    batch: &mut BytesMut,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    while !batch.is_empty() {
        let written = {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            slices[0] = IoSlice::new(batch);
            let theirs = bufs.len().min(MAX_SLICES - 1);
            slices[1..=theirs].copy_from_slice(&bufs[..theirs]);
            ready!(inner.as_mut().poll_write_vectored(cx, &slices[..=theirs]))?
        };
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        let ours = written.min(batch.len());
        batch.advance(ours);
        if batch.is_empty() {
            release(batch);
        }
        if written > ours {
            return Poll::Ready(Ok(written - ours));
        }
    }
    inner.poll_write_vectored(cx, bufs)
}

/// Frees an emptied batch buffer that grew large.
fn release(batch: &mut BytesMut) {
    if batch.capacity() > KEEP_CAPACITY {
        *batch = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};

    use super::*;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A socket that records each write call (each would be one syscall).
    #[derive(Default)]
    struct Recorder {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        flushes: usize,
        shut: bool,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.lock().unwrap().push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let joined: Vec<u8> = bufs.iter().flat_map(|buf| buf.iter().copied()).collect();
            let len = joined.len();
            self.writes.lock().unwrap().push(joined);
            Poll::Ready(Ok(len))
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    fn context() -> (Arc<CountWakes>, Waker) {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        (wakes, waker)
    }

    fn next_turn(turns: &Turns) {
        turns.0.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn flushes_in_one_run_are_gathered_into_one_write_in_the_next() {
        let (wakes, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let recorder = Recorder::default();
        let writes = recorder.writes.clone();
        let (mut io, turns) = Coalesce::new(recorder);
        let mut io = Pin::new(&mut io);

        // One run: three frames, each followed by a flush, as h2 does for frames it does not copy.
        next_turn(&turns);
        for frame in [&b"one"[..], b"two", b"three"] {
            assert!(
                matches!(io.as_mut().poll_write(&mut cx, frame), Poll::Ready(Ok(n)) if n == frame.len())
            );
            assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        }
        assert!(writes.lock().unwrap().is_empty());
        // The first deferred flush asked for another run, once.
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);

        // The next run adds a frame; its flush writes everything in one call.
        next_turn(&turns);
        let bufs = [IoSlice::new(b"fo"), IoSlice::new(b"ur")];
        assert!(matches!(
            io.as_mut().poll_write_vectored(&mut cx, &bufs),
            Poll::Ready(Ok(4))
        ));
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(*writes.lock().unwrap(), vec![b"onetwothreefour".to_vec()]);
        assert_eq!(io.inner.flushes, 1);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);

        // Nothing buffered: a flush goes straight through.
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(io.inner.flushes, 2);
    }

    #[test]
    fn large_writes_leave_at_once_behind_the_batch() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let recorder = Recorder::default();
        let writes = recorder.writes.clone();
        let (mut io, turns) = Coalesce::new(recorder);
        let mut io = Pin::new(&mut io);
        next_turn(&turns);

        assert!(io.as_mut().poll_write(&mut cx, b"header").is_ready());
        let large = vec![7u8; COPY_LIMIT];
        assert!(
            matches!(io.as_mut().poll_write(&mut cx, &large), Poll::Ready(Ok(n)) if n == COPY_LIMIT)
        );
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), 1, "batch and large write share one call");
        assert_eq!(&writes[0][..6], b"header");
        assert_eq!(writes[0].len(), 6 + COPY_LIMIT);
        assert!(io.batch.is_empty());
    }

    #[test]
    fn the_batch_never_passes_its_limit() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let recorder = Recorder::default();
        let writes = recorder.writes.clone();
        let (mut io, _turns) = Coalesce::new(recorder);
        let mut io = Pin::new(&mut io);

        let chunk = vec![1u8; COPY_LIMIT - 1];
        let mut accepted = 0;
        while accepted <= BATCH_LIMIT {
            assert!(io.as_mut().poll_write(&mut cx, &chunk).is_ready());
            accepted += chunk.len();
            assert!(io.batch.len() <= BATCH_LIMIT);
        }
        let written: usize = writes.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(written + io.batch.len(), accepted);
        assert!(written > 0);
    }

    #[test]
    fn shutdown_writes_the_batch_first() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let recorder = Recorder::default();
        let writes = recorder.writes.clone();
        let (mut io, _turns) = Coalesce::new(recorder);
        let mut io = Pin::new(&mut io);

        assert!(io.as_mut().poll_write(&mut cx, b"goodbye").is_ready());
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert!(writes.lock().unwrap().is_empty());
        assert!(io.as_mut().poll_shutdown(&mut cx).is_ready());
        assert_eq!(*writes.lock().unwrap(), vec![b"goodbye".to_vec()]);
        assert!(io.inner.shut);
    }

    #[tokio::test]
    async fn tracked_futures_count_their_polls() {
        let turns = Turns::default();
        let mut polls = 0;
        let future = std::future::poll_fn(|cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        turns.track(future).await;
        assert_eq!(turns.current(), 3);
    }
}
