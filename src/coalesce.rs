//! Fewer, larger socket writes: a connection wrapper that gathers what an HTTP/2 connection writes while
//! other calls are still finishing, and sends it in one syscall.
//!
//! hyper's HTTP/2 connection task writes whatever frames are queued each time it runs, and h2 flushes the
//! socket once for every DATA frame of 256 bytes or more. Under load, each response would leave in a
//! `writev` of its own, and those syscalls, not the RPC work, are most of a small call's CPU. (HTTP/1
//! carries one call at a time and may hand its connection to an upgrade, so it is written through: the
//! server tells the two apart by the first bytes it reads.)
//!
//! [`Coalesce`] copies small writes into a buffer. The first flush of a batch reports success without
//! writing anything and wakes the connection's task. A task that wakes itself goes to the back of Tokio's
//! run queue, so every call that was already ready runs first and queues its frames; the next run of the
//! connection task then writes the batch, with whatever that run added, in one syscall. Flushes during the
//! run that deferred the batch are deferred too, which is what lets many frames share a syscall. To tell
//! runs apart, [`Turns`] numbers the polls of the connection's task (the server wraps each connection's
//! future in it, the HTTP/2 client its connection's task) and marks the one in
//! progress on its thread. Outside those polls (an upgraded connection handed to another task, say) the
//! wrapper holds nothing back.
//!
//! Only servers defer. A client's connection ([`Coalesce::http2`]) gathers what one run of its task writes
//! and sends it at that run's flush: holding a client's requests back for a pass of the run queue makes
//! the server wait for the whole batch, then the client wait for all the answers, so the two sides take
//! turns instead of working at once. With many calls in flight on one connection, the deferring client
//! completed a third fewer calls per second, both processes idle half the time.
//!
//! Deferring is safe because the task has woken itself, so it runs again, and hyper flushes on every run
//! (h2's connection at the end of each poll, HTTP/1's dispatcher in its poll loop); shutdown writes the
//! batch first. The delay is one pass over tasks that were ready anyway, never a timer. Writes of
//! [`COPY_LIMIT`] bytes or more are not copied: they leave at once, with the batch in front of them in the
//! same vectored write.

use std::cell::Cell;
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
///
/// A whole DATA frame at HTTP/2's default maximum frame size (16 KiB and a 9-byte header) is still
/// copied: a streaming response then leaves in writes of up to [`BATCH_LIMIT`], four frames each, rather
/// than a syscall per frame. Copying a frame costs less than the syscall and the receiver's wakeup it
/// saves (server streaming of 64-byte messages took about a quarter less CPU per message than with an
/// 8 KiB limit).
const COPY_LIMIT: usize = 16 * 1024 + 64;
/// A batch never grows past this many bytes; a write that would pass it sends the batch first.
const BATCH_LIMIT: usize = 64 * 1024;
/// An emptied batch buffer larger than this is freed, so idle connections hold little memory.
const KEEP_CAPACITY: usize = 16 * 1024;
/// At most this many slices (the batch and the caller's) go into one vectored write.
const MAX_SLICES: usize = 8;

thread_local! {
    /// The connection run being polled on this thread, if any: its [`Turns`] (by address) and number.
    static RUN: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

/// Numbers the runs (polls) of the task that drives a connection, so that its [`Coalesce`] can tell one
/// run from the next, and can tell that it is being driven by that task at all.
#[derive(Clone, Debug, Default)]
pub(crate) struct Turns(Arc<AtomicU64>);

impl Turns {
    /// Wraps `future` so that every poll of it is a new run.
    pub(crate) fn track<F: Future>(&self, future: F) -> Tracked<F> {
        Tracked {
            future,
            turns: self.clone(),
        }
    }

    /// Starts a new run on this thread, until the guard drops.
    fn enter(&self) -> RunGuard {
        let run = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        RunGuard(RUN.with(|cell| cell.replace((self.id(), run))))
    }

    /// The run polling right now, if the caller is inside one of this connection's runs.
    fn current(&self) -> Option<u64> {
        let (id, run) = RUN.with(Cell::get);
        (id == self.id()).then_some(run)
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

/// Restores the run that was current before [`Turns::enter`] (also when the poll panics).
struct RunGuard((usize, u64));

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUN.with(|cell| cell.set(self.0));
    }
}

pin_project! {
    /// A future each of whose polls is a run of its [`Turns`].
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
        let _run = this.turns.enter();
        this.future.poll(cx)
    }
}

/// What the connection speaks, as far as gathering is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// Not known yet: this many bytes read so far match the start of the HTTP/2 preface.
    Sniffing(usize),
    /// HTTP/2: many calls share the connection, so their writes are gathered.
    Http2,
    /// HTTP/1 (one call at a time, and the connection may be handed to an upgrade): written through.
    Other,
}

/// "PRI" opens the HTTP/2 preface and no HTTP/1 method (PRI itself is reserved for this; PROPFIND and
/// PROPPATCH part at the third byte).
const PREFACE_START: &[u8] = b"PRI";

pin_project! {
    /// An I/O stream that gathers small writes and sends them one run of its task later, in one syscall.
    pub(crate) struct Coalesce<S> {
        #[pin]
        inner: S,
        protocol: Protocol,
        // Bytes accepted from the caller and not yet written.
        batch: BytesMut,
        turns: Turns,
        // Whether a flush may be put off to the task's next run (servers), or writes the batch at
        // once (clients).
        defers: bool,
        // The run in which a flush of `batch` was deferred (and the task woke itself), if one was.
        deferred_in: Option<u64>,
    }
}

impl<S> Coalesce<S> {
    /// Wraps an accepted connection: writes are gathered once the first bytes read show the HTTP/2
    /// preface, and only while the returned [`Turns`] is running (inside a poll of a future it
    /// [tracks](Turns::track)); otherwise the stream writes through at once.
    pub(crate) fn server(inner: S) -> (Self, Turns) {
        Self::new(inner, Protocol::Sniffing(0), true)
    }

    /// Wraps a connection this side opened to speak HTTP/2; writes are gathered while the returned
    /// [`Turns`] is running, and each flush writes them (a client never defers: see the module docs).
    pub(crate) fn http2(inner: S) -> (Self, Turns) {
        Self::new(inner, Protocol::Http2, false)
    }

    fn new(inner: S, protocol: Protocol, defers: bool) -> (Self, Turns) {
        let turns = Turns::default();
        let io = Self {
            inner,
            protocol,
            batch: BytesMut::new(),
            turns: turns.clone(),
            defers,
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
        let this = self.project();
        let Protocol::Sniffing(matched) = *this.protocol else {
            return this.inner.poll_read(cx, buf);
        };
        let before = buf.filled().len();
        ready!(this.inner.poll_read(cx, buf))?;
        *this.protocol = sniff(matched, &buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

/// Advances the preface check by the bytes just read, `matched` of which matched before.
fn sniff(matched: usize, read: &[u8]) -> Protocol {
    let mut matched = matched;
    for &byte in read {
        if byte != PREFACE_START[matched] {
            return Protocol::Other;
        }
        matched += 1;
        if matched == PREFACE_START.len() {
            return Protocol::Http2;
        }
    }
    Protocol::Sniffing(matched)
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
        if len < COPY_LIMIT
            && this.batch.len() + len <= BATCH_LIMIT
            && *this.protocol == Protocol::Http2
            && this.turns.current().is_some()
        {
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
            match (this.turns.current(), *this.deferred_in) {
                (Some(run), None) if *this.defers => {
                    // Let the calls that are ready add to the batch; a later run writes it.
                    *this.deferred_in = Some(run);
                    cx.waker().wake_by_ref();
                    return Poll::Ready(Ok(()));
                }
                // Still the run that deferred (and woke itself): keep gathering.
                (Some(run), Some(deferred)) if deferred == run => return Poll::Ready(Ok(())),
                // A later run, or a poller that is no run of this connection: write.
                _ => ready!(drain(this.inner.as_mut(), this.batch, cx))?,
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

    /// Each write call a [`Recorder`] saw, in order.
    type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

    /// A socket that records each write call (each would be one syscall), and reads `incoming` at once.
    #[derive(Default)]
    struct Recorder {
        writes: Writes,
        flushes: usize,
        shut: bool,
        incoming: Vec<u8>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let incoming = std::mem::take(&mut self.incoming);
            buf.put_slice(&incoming);
            Poll::Ready(Ok(()))
        }
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

    /// A server's HTTP/2 stream (gathering from the start, deferring flushes) over a fresh
    /// [`Recorder`], with its turns and the recorder's list of writes.
    fn http2_over_recorder() -> (Coalesce<Recorder>, Turns, Writes) {
        let recorder = Recorder::default();
        let writes = recorder.writes.clone();
        let (io, turns) = Coalesce::new(recorder, Protocol::Http2, true);
        (io, turns, writes)
    }

    fn context() -> (Arc<CountWakes>, Waker) {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        (wakes, waker)
    }

    #[test]
    fn flushes_in_one_run_are_gathered_into_one_write_in_the_next() {
        let (wakes, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let (mut io, turns, writes) = http2_over_recorder();
        let mut io = Pin::new(&mut io);

        // One run: three frames, each followed by a flush, as h2 does for frames it does not copy.
        let run = turns.enter();
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
        drop(run);
        let _run = turns.enter();
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
    fn a_client_connection_gathers_within_a_run_and_writes_at_its_flush() {
        let (wakes, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let recorder = Recorder::default();
        let writes = recorder.writes.clone();
        let (mut io, turns) = Coalesce::http2(recorder);
        let mut io = Pin::new(&mut io);

        let _run = turns.enter();
        for frame in [&b"one"[..], b"two"] {
            assert!(io.as_mut().poll_write(&mut cx, frame).is_ready());
        }
        assert!(writes.lock().unwrap().is_empty());
        // The flush writes the batch in this run, without asking for another.
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(*writes.lock().unwrap(), vec![b"onetwo".to_vec()]);
        assert_eq!(io.inner.flushes, 1);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn large_writes_leave_at_once_behind_the_batch() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let (mut io, turns, writes) = http2_over_recorder();
        let mut io = Pin::new(&mut io);
        let _run = turns.enter();

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
        let (mut io, turns, writes) = http2_over_recorder();
        let mut io = Pin::new(&mut io);
        let _run = turns.enter();

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
        let (mut io, turns, writes) = http2_over_recorder();
        let mut io = Pin::new(&mut io);
        let _run = turns.enter();

        assert!(io.as_mut().poll_write(&mut cx, b"goodbye").is_ready());
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert!(writes.lock().unwrap().is_empty());
        assert!(io.as_mut().poll_shutdown(&mut cx).is_ready());
        assert_eq!(*writes.lock().unwrap(), vec![b"goodbye".to_vec()]);
        assert!(io.inner.shut);
    }

    #[test]
    fn outside_its_runs_the_stream_writes_through() {
        let (wakes, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let (mut io, turns, writes) = http2_over_recorder();
        let mut io = Pin::new(&mut io);

        // A batch left by the connection's last run...
        let run = turns.enter();
        assert!(io.as_mut().poll_write(&mut cx, b"left ").is_ready());
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        drop(run);
        // ...and another connection's run on this thread: neither defers nor holds anything back.
        let (_, other) = Coalesce::http2(Recorder::default());
        let _other_run = other.enter();
        assert!(io.as_mut().poll_write(&mut cx, b"over").is_ready());
        assert_eq!(*writes.lock().unwrap(), vec![b"left over".to_vec()]);
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(io.inner.flushes, 1);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_preface_is_recognised_from_its_first_bytes() {
        assert_eq!(
            sniff(0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Protocol::Http2
        );
        assert_eq!(sniff(0, b""), Protocol::Sniffing(0));
        assert_eq!(sniff(0, b"P"), Protocol::Sniffing(1));
        assert_eq!(sniff(1, b"RI *"), Protocol::Http2);
        for http1 in [
            &b"GET / HTTP/1.1"[..],
            b"POST",
            b"PROPFIND",
            b"PUT",
            b"\r\n",
        ] {
            assert_eq!(sniff(0, http1), Protocol::Other, "{http1:?}");
        }
    }

    #[test]
    fn a_server_connection_gathers_only_after_the_http2_preface() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        for (incoming, gathers) in [
            (&b"GET / HTTP/1.1\r\n"[..], false),
            (b"PRI * HTTP/2.0", true),
        ] {
            let recorder = Recorder {
                incoming: incoming.to_vec(),
                ..Recorder::default()
            };
            let writes = recorder.writes.clone();
            let (mut io, turns) = Coalesce::server(recorder);
            let mut io = Pin::new(&mut io);
            let _run = turns.enter();

            // Nothing read yet: written through.
            assert!(io.as_mut().poll_write(&mut cx, b"early").is_ready());
            assert_eq!(writes.lock().unwrap().len(), 1);

            let mut space = [0u8; 32];
            let mut buf = ReadBuf::new(&mut space);
            assert!(io.as_mut().poll_read(&mut cx, &mut buf).is_ready());
            assert_eq!(buf.filled(), incoming);
            assert!(io.as_mut().poll_write(&mut cx, b"later").is_ready());
            assert_eq!(writes.lock().unwrap().len(), if gathers { 1 } else { 2 });
        }
    }

    #[tokio::test]
    async fn each_poll_of_a_tracked_future_is_a_new_run() {
        let turns = Turns::default();
        let mut runs = Vec::new();
        let future = std::future::poll_fn(|cx| {
            runs.push(turns.current());
            if runs.len() < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        turns.clone().track(future).await;
        assert_eq!(runs, [Some(1), Some(2), Some(3)]);
        assert_eq!(turns.current(), None, "no run once the poll returns");
    }
}
