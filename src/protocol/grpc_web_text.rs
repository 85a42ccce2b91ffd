//! gRPC-Web's text mode (`application/grpc-web-text`): the same frames as binary gRPC-Web, carried as
//! base64 so that clients limited to text bodies (grpc-web's JavaScript client in its default mode) can
//! read a stream as it arrives.
//!
//! A text body is a run of base64 chunks, each padded on its own, so `=` may appear in the middle of a
//! body wherever a sender flushed. [`DecodeText`] turns a request body back into bytes (chunk by chunk, as
//! it arrives); [`EncodeText`] encodes each data frame of a response as one padded chunk, so every frame
//! the server flushes can be decoded by the client on arrival.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::Bytes;
use http_body::Frame;

use crate::body::Body;
use crate::{Code, Error};

/// Decodes one chunk of the standard alphabet, with or without its padding.
const CHUNK: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A request body in text mode, decoded to the binary gRPC-Web body it carries.
pub(crate) struct DecodeText {
    inner: Body,
    /// Base64 characters not decoded yet: fewer than four, the start of a group the next frame completes.
    partial: Vec<u8>,
    done: bool,
}

impl DecodeText {
    /// Decodes `inner` as it arrives.
    pub(crate) fn new(inner: Body) -> Self {
        Self {
            inner,
            partial: Vec::with_capacity(4),
            done: false,
        }
    }

    /// Decodes the whole groups of four characters that `data` completes, straight from the frame, and
    /// keeps the rest (fewer than four) for the next one.
    fn decode_frame(&mut self, mut data: &[u8]) -> Result<Bytes, Error> {
        let mut out = Vec::with_capacity((self.partial.len() + data.len()) / 4 * 3);
        if !self.partial.is_empty() {
            let take = (4 - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < 4 {
                return Ok(Bytes::new());
            }
            decode_chunks(&self.partial, &mut out)?;
            self.partial.clear();
        }
        let whole = data.len() / 4 * 4;
        decode_chunks(&data[..whole], &mut out)?;
        self.partial.extend_from_slice(&data[whole..]);
        Ok(Bytes::from(out))
    }
}

impl http_body::Body for DecodeText {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(frame) = frame.into_data() else {
                        // HTTP trailers mean nothing in a gRPC-Web request (its end is the body's end)
                        // and could not follow the data still held here: leave them out.
                        continue;
                    };
                    match this.decode_frame(&frame) {
                        Ok(decoded) if decoded.is_empty() => continue,
                        Ok(decoded) => return Poll::Ready(Some(Ok(Frame::data(decoded)))),
                        Err(error) => {
                            this.done = true;
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                }
                Some(Err(error)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                None => {
                    this.done = true;
                    if this.partial.is_empty() {
                        return Poll::Ready(None);
                    }
                    // A last chunk without its padding: decode what it holds.
                    let mut out = Vec::with_capacity(3);
                    let decoded = decode_chunks(&this.partial, &mut out);
                    return Poll::Ready(Some(decoded.map(|()| Frame::data(Bytes::from(out)))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// Decodes base64 text made of chunks that are each padded on their own (a chunk ends at a group of
/// four characters holding `=`, or at the end of `text`) onto `out`.
fn decode_chunks(text: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut start = 0;
    while start < text.len() {
        let end = text[start..]
            .chunks(4)
            .position(|group| group.contains(&b'='))
            .map_or(text.len(), |i| (start + (i + 1) * 4).min(text.len()));
        CHUNK.decode_vec(&text[start..end], out).map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("invalid base64 in a grpc-web-text body: {e}"),
            )
        })?;
        start = end;
    }
    Ok(())
}

/// A response body in text mode: each data frame of `inner` leaves as one padded base64 chunk.
pub(crate) struct EncodeText {
    inner: Body,
}

impl EncodeText {
    /// Encodes `inner` frame by frame.
    pub(crate) fn new(inner: Body) -> Self {
        Self { inner }
    }
}

impl http_body::Body for EncodeText {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| frame.map_data(|data| Bytes::from(STANDARD.encode(&data))))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    /// A body that yields `chunks` as separate data frames.
    fn body_of(chunks: &[&str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, Error>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c.as_bytes()))))
            .collect();
        Body::from_frames(futures_util::stream::iter(frames))
    }

    async fn decode(chunks: &[&str]) -> Result<Vec<u8>, Error> {
        let collected = DecodeText::new(body_of(chunks)).collect().await?;
        Ok(collected.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn decodes_groups_split_across_frames() {
        // "hello world" is aGVsbG8gd29ybGQ=; frames cut it inside groups.
        assert_eq!(
            decode(&["aGV", "sbG8gd2", "9yb", "GQ="]).await.unwrap(),
            b"hello world"
        );
        assert_eq!(decode(&["aGVsbG8gd29ybGQ="]).await.unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn decodes_chunks_padded_on_their_own() {
        // "a" + "bc" + "def", each encoded and padded separately, then run together.
        assert_eq!(decode(&["YQ==YmM=ZGVm"]).await.unwrap(), b"abcdef".to_vec());
        assert_eq!(
            decode(&["YQ", "==Ym", "M=", "ZGVm"]).await.unwrap(),
            b"abcdef".to_vec()
        );
    }

    #[tokio::test]
    async fn accepts_a_last_chunk_without_padding() {
        assert_eq!(decode(&["aGVsbG8gd29ybGQ"]).await.unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn request_trailers_do_not_cut_the_text() {
        let frames: Vec<Result<Frame<Bytes>, Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"aGVsbG8gd29ybGQ"))),
            Ok(Frame::trailers(http::HeaderMap::new())),
        ];
        let body = Body::from_frames(futures_util::stream::iter(frames));
        let collected = DecodeText::new(body).collect().await.unwrap();
        assert!(collected.trailers().is_none());
        assert_eq!(collected.to_bytes(), "hello world");
    }

    #[tokio::test]
    async fn rejects_what_is_not_base64() {
        for bad in [
            &["aGVs*G8="][..],
            &["YQ===="],
            &["Y===", "YQ=="],
            &["YQ==", "Y"],
            &["aGVsbG8gd29ybGQ=\n"],
        ] {
            let error = decode(bad).await.unwrap_err();
            assert_eq!(error.code(), Code::InvalidArgument, "{bad:?}");
            assert!(error.message().contains("base64"), "{bad:?}: {error}");
        }
    }

    #[tokio::test]
    async fn encodes_each_frame_as_a_padded_chunk() {
        let mut body = EncodeText::new(body_of(&["a", "bc", "def"]));
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            chunks.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(chunks, ["YQ==", "YmM=", "ZGVm"]);
        let joined: Vec<&str> = chunks
            .iter()
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        assert_eq!(decode(&joined).await.unwrap(), b"abcdef".to_vec());
    }

    #[test]
    fn encodes_each_frame_as_base64() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let encoded = Body::new(EncodeText::new(Body::full("abc")));
        let bytes = runtime.block_on(async { encoded.collect().await.unwrap().to_bytes() });
        assert_eq!(bytes, "YWJj");
    }
}
