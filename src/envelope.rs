//! Five-byte message framing (one flags byte, a big-endian u32 length), shared by every protocol and both roles.

use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body as _, Frame};

use crate::body::Body;
use crate::min_data_rate::{MinDataRate, Pace};
use crate::{Code, Error};

/// Flag: the payload is compressed with the stream's negotiated encoding.
pub(crate) const FLAG_COMPRESSED: u8 = 0b0000_0001;
/// Flag (Connect streaming): this is the end-stream message.
pub(crate) const FLAG_END_STREAM: u8 = 0b0000_0010;

/// Length of the prefix before every payload.
pub(crate) const HEADER_LEN: usize = 5;

/// One framed message as read from the wire.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Envelope {
    pub flags: u8,
    pub data: Bytes,
}

impl Envelope {
    /// Whether the compressed flag is set.
    pub fn is_compressed(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0
    }
}

/// Appends one framed message to `out`.
pub(crate) fn write_envelope(flags: u8, payload: &[u8], out: &mut BytesMut) -> Result<(), Error> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::new(Code::ResourceExhausted, "message larger than 4 GiB"))?;
    out.reserve(HEADER_LEN + payload.len());
    out.put_u8(flags);
    out.put_u32(len);
    out.put_slice(payload);
    Ok(())
}

/// The payload length an envelope's prefix at the start of `bytes` states, once the prefix is there.
pub(crate) fn payload_len(bytes: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = bytes.get(1..HEADER_LEN)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(prefix)).ok()
}

/// Incremental parser: feed it bytes in any chunking, take whole envelopes out.
///
/// Envelopes that lie whole inside one received chunk are handed out as slices of it, without a copy;
/// only envelopes split across chunks are gathered in a buffer.
#[derive(Debug, Default)]
pub(crate) struct EnvelopeDecoder {
    /// The unread rest of the latest chunk, while nothing is buffered.
    chunk: Bytes,
    /// Bytes of an envelope that spans chunks.
    buf: BytesMut,
    /// Largest payload accepted before reading it (0: no limit).
    max_len: usize,
}

impl EnvelopeDecoder {
    pub fn new(max_len: usize) -> Self {
        Self {
            chunk: Bytes::new(),
            buf: BytesMut::new(),
            max_len,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: Bytes) {
        if self.chunk.is_empty() && self.buf.is_empty() {
            self.chunk = chunk;
            return;
        }
        if !self.chunk.is_empty() {
            self.buf.extend_from_slice(&self.chunk);
            self.chunk.clear();
        }
        self.buf.extend_from_slice(&chunk);
    }

    /// Takes the next whole envelope, if one has arrived.
    pub fn next(&mut self) -> Result<Option<Envelope>, Error> {
        Ok(self.next_framed()?.map(|mut framed| {
            let flags = framed[0];
            framed.advance(HEADER_LEN);
            Envelope {
                flags,
                data: framed,
            }
        }))
    }

    /// Takes the next whole envelope, if one has arrived, as it was framed (prefix and payload): for
    /// passing envelopes on whole, as a WebSocket message each.
    pub fn next_framed(&mut self) -> Result<Option<Bytes>, Error> {
        if !self.chunk.is_empty() {
            if let Some(len) = self.payload_len(&self.chunk)?
                && self.chunk.len() >= HEADER_LEN + len
            {
                return Ok(Some(self.chunk.split_to(HEADER_LEN + len)));
            }
            // Only part of an envelope: gather it and what follows in the buffer.
            self.buf.extend_from_slice(&self.chunk);
            self.chunk.clear();
        }
        let Some(len) = self.payload_len(&self.buf)? else {
            return Ok(None);
        };
        if self.buf.len() < HEADER_LEN + len {
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(HEADER_LEN + len).freeze()))
    }

    /// The payload length stated at the start of `bytes`, once its prefix has arrived.
    fn payload_len(&self, bytes: &[u8]) -> Result<Option<usize>, Error> {
        let Some(len) = payload_len(bytes) else {
            return Ok(None);
        };
        if self.max_len > 0 && len > self.max_len {
            return Err(Error::new(
                Code::ResourceExhausted,
                format!(
                    "message size {len} is larger than the configured maximum {}",
                    self.max_len
                ),
            ));
        }
        Ok(Some(len))
    }

    /// Bytes received but not yet returned as an envelope.
    pub fn pending(&self) -> usize {
        self.chunk.len() + self.buf.len()
    }
}

/// Reads envelopes from an HTTP body, keeping its trailers when they arrive.
#[derive(Debug)]
pub(crate) struct EnvelopeReader {
    body: Body,
    decoder: EnvelopeDecoder,
    trailers: Option<HeaderMap>,
    done: bool,
    /// The minimum rate the request's messages must arrive at (servers only).
    pace: Option<Pace>,
    /// Whether the whole body is one message's worth (methods that take one): then the rate applies
    /// from the start to the end of the body, not just inside envelopes.
    whole_body: bool,
}

impl EnvelopeReader {
    /// `max_len` bounds the size of one frame's payload (0: no limit).
    pub fn new(body: Body, max_len: usize) -> Self {
        Self {
            body,
            decoder: EnvelopeDecoder::new(max_len),
            trailers: None,
            done: false,
            pace: None,
            whole_body: false,
        }
    }

    /// Whether the body has ended with nothing left to read (known without reading: a response whose
    /// head ended its stream, as a gRPC trailers-only answer does).
    pub fn is_end_stream(&self) -> bool {
        self.decoder.pending() == 0 && http_body::Body::is_end_stream(&self.body)
    }

    /// Holds the body to `rate` (see `min_data_rate.rs`): inside each message, or, with `whole_body`,
    /// over the whole body (a request that should carry exactly one message).
    pub fn paced(mut self, rate: Option<MinDataRate>, whole_body: bool) -> Self {
        self.pace = rate.map(Pace::new);
        self.whole_body = whole_body;
        self
    }

    /// The body's next frame; while a message is under way and none is ready, checks its pace.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        let Some(pace) = &mut self.pace else {
            return polled;
        };
        match &polled {
            Poll::Pending if self.whole_body || self.decoder.pending() > 0 => {
                if let Err(error) = pace.poll_waiting(cx) {
                    return Poll::Ready(Some(Err(error)));
                }
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    pace.received(data.len());
                }
            }
            _ => {}
        }
        polled
    }

    /// The next envelope if the bytes already read hold all of it, without polling the body: a stream
    /// of small messages arrives many to a DATA frame, and the receiver takes them this way without
    /// a trip through its futures.
    pub fn buffered(&mut self) -> Result<Option<Envelope>, Error> {
        let Some(envelope) = self.decoder.next()? else {
            return Ok(None);
        };
        if let Some(pace) = &mut self.pace
            && !self.whole_body
            && self.decoder.pending() == 0
        {
            pace.message_done();
        }
        Ok(Some(envelope))
    }

    /// The next envelope; `Ok(None)` when the body ended cleanly between envelopes.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Envelope>, Error>> {
        loop {
            if let Some(envelope) = self.buffered()? {
                return Poll::Ready(Ok(Some(envelope)));
            }
            if self.done {
                if self.decoder.pending() > 0 {
                    return Poll::Ready(Err(Error::new(
                        Code::InvalidArgument,
                        format!(
                            "stream ended in the middle of a message ({} bytes left over)",
                            self.decoder.pending()
                        ),
                    )));
                }
                return Poll::Ready(Ok(None));
            }
            match ready!(self.poll_frame(cx)) {
                None => self.done = true,
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.decoder.push(data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            match &mut self.trailers {
                                Some(existing) => existing.extend(trailers),
                                None => self.trailers = Some(trailers),
                            }
                        }
                    }
                },
            }
        }
    }

    /// The next envelope, as a future.
    pub async fn next(&mut self) -> Result<Option<Envelope>, Error> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Reads the whole remaining body as raw bytes (for unframed unary payloads), up to `max` bytes
    /// (0: no limit).
    pub async fn read_to_end(&mut self, max: usize) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        while let Some(frame) = std::future::poll_fn(|cx| self.poll_frame(cx)).await {
            let frame = frame?;
            match frame.into_data() {
                Ok(data) => {
                    if max > 0 && out.len() + data.len() > max {
                        return Err(Error::new(
                            Code::ResourceExhausted,
                            format!("message is larger than the configured maximum {max}"),
                        ));
                    }
                    out.extend_from_slice(&data);
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.trailers
                            .get_or_insert_with(HeaderMap::new)
                            .extend(trailers);
                    }
                }
            }
        }
        self.done = true;
        Ok(out.freeze())
    }

    /// HTTP trailers, once the body has ended (gRPC reads its status from them).
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_envelope(flags, payload, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn splits_and_joins_across_chunks() {
        let mut wire = framed(0, b"hello");
        wire.extend(framed(FLAG_END_STREAM, b"{}"));
        // Feed one byte at a time.
        let mut decoder = EnvelopeDecoder::new(0);
        let mut got = Vec::new();
        for b in &wire {
            decoder.push(Bytes::copy_from_slice(&[*b]));
            while let Some(env) = decoder.next().unwrap() {
                got.push(env);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].data[..], b"hello");
        assert_eq!(got[1].flags, FLAG_END_STREAM);
        // Feed everything at once.
        let mut decoder = EnvelopeDecoder::new(0);
        decoder.push(Bytes::from(wire.clone()));
        assert_eq!(decoder.next().unwrap().unwrap(), got[0]);
        assert_eq!(decoder.next().unwrap().unwrap(), got[1]);
        assert_eq!(decoder.next().unwrap(), None);
    }

    #[test]
    fn whole_envelopes_are_slices_of_their_chunk() {
        let mut wire = framed(0, b"one");
        wire.extend(framed(0, b"two"));
        wire.extend(framed(FLAG_COMPRESSED, b"three"));
        // The chunk ends two bytes into the third payload; the rest comes in a second chunk.
        let split = wire.len() - 3;
        let first = Bytes::from(wire[..split].to_vec());
        let first_start = first.as_ptr() as usize;
        let mut decoder = EnvelopeDecoder::new(0);
        decoder.push(first);
        let one = decoder.next().unwrap().unwrap();
        assert_eq!(&one.data[..], b"one");
        assert_eq!(one.data.as_ptr() as usize, first_start + HEADER_LEN);
        assert_eq!(&decoder.next().unwrap().unwrap().data[..], b"two");
        assert_eq!(decoder.next().unwrap(), None);
        assert_eq!(decoder.pending(), HEADER_LEN + 2);
        decoder.push(Bytes::from(wire[split..].to_vec()));
        let three = decoder.next().unwrap().unwrap();
        assert_eq!(
            (three.flags, &three.data[..]),
            (FLAG_COMPRESSED, &b"three"[..])
        );
        assert_eq!(decoder.next().unwrap(), None);
        assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn oversize_frames_are_rejected_before_buffering() {
        let mut decoder = EnvelopeDecoder::new(4);
        decoder.push(Bytes::from_static(&[0, 0, 0, 0, 4, 1, 2, 3, 4]));
        assert!(decoder.next().unwrap().is_some());
        decoder.push(Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff]));
        assert_eq!(decoder.next().unwrap_err().code(), Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn reader_reports_truncated_frames() {
        let mut wire = framed(0, b"abc");
        wire.truncate(6);
        let mut reader = EnvelopeReader::new(Body::full(wire), 0);
        let err = reader.next().await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
}
