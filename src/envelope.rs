//! Five-byte message framing (one flags byte, a big-endian u32 length), shared by every protocol and both roles.

use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body as _;

use crate::body::Body;
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

/// Incremental parser: feed it bytes in any chunking, take whole envelopes out.
#[derive(Debug, Default)]
pub(crate) struct EnvelopeDecoder {
    buf: BytesMut,
    /// Largest payload accepted before reading it (0: no limit).
    max_len: usize,
}

impl EnvelopeDecoder {
    pub fn new(max_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_len,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Takes the next whole envelope, if one is buffered.
    pub fn next(&mut self) -> Result<Option<Envelope>, Error> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let flags = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if self.max_len > 0 && len > self.max_len {
            return Err(Error::new(
                Code::ResourceExhausted,
                format!(
                    "message size {len} is larger than the configured maximum {}",
                    self.max_len
                ),
            ));
        }
        if self.buf.len() < HEADER_LEN + len {
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let data = self.buf.split_to(len).freeze();
        Ok(Some(Envelope { flags, data }))
    }

    /// Bytes received but not yet returned as an envelope.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Reads envelopes from an HTTP body, keeping its trailers when they arrive.
#[derive(Debug)]
pub(crate) struct EnvelopeReader {
    body: Body,
    decoder: EnvelopeDecoder,
    trailers: Option<HeaderMap>,
    done: bool,
}

impl EnvelopeReader {
    /// `max_len` bounds the size of one frame's payload (0: no limit).
    pub fn new(body: Body, max_len: usize) -> Self {
        Self {
            body,
            decoder: EnvelopeDecoder::new(max_len),
            trailers: None,
            done: false,
        }
    }

    /// The next envelope; `Ok(None)` when the body ended cleanly between envelopes.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Envelope>, Error>> {
        loop {
            if let Some(envelope) = self.decoder.next()? {
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
            match ready!(std::pin::Pin::new(&mut self.body).poll_frame(cx)) {
                None => self.done = true,
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.decoder.push(&data),
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
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.body).poll_frame(cx)).await
        {
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
            decoder.push(&[*b]);
            while let Some(env) = decoder.next().unwrap() {
                got.push(env);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].data[..], b"hello");
        assert_eq!(got[1].flags, FLAG_END_STREAM);
        // Feed everything at once.
        let mut decoder = EnvelopeDecoder::new(0);
        decoder.push(&wire);
        assert_eq!(decoder.next().unwrap().unwrap(), got[0]);
        assert_eq!(decoder.next().unwrap().unwrap(), got[1]);
        assert_eq!(decoder.next().unwrap(), None);
    }

    #[test]
    fn oversize_frames_are_rejected_before_buffering() {
        let mut decoder = EnvelopeDecoder::new(4);
        decoder.push(&[0, 0, 0, 0, 4, 1, 2, 3, 4]);
        assert!(decoder.next().unwrap().is_some());
        decoder.push(&[0, 0xff, 0xff, 0xff, 0xff]);
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
