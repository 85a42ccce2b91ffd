//! Messages to and from the wire: codec, then compression and size limits, then the envelope.
//!
//! Both roles and every protocol use these two halves; only what surrounds them (headers, trailers,
//! end-of-stream) differs by protocol.

use std::sync::Arc;

use bytes::{BufMut as _, Bytes, BytesMut};

use crate::codec::{Codec, Message, MessageView};
use crate::compression::{Compression, decompress_bounded};
use crate::envelope::{Envelope, FLAG_COMPRESSED, HEADER_LEN};
use crate::protocol::server::TextFrame;
use crate::{Code, Error};

/// Encodes outgoing messages.
#[derive(Clone)]
pub(crate) struct MessageWriter {
    pub codec: Arc<dyn Codec>,
    pub compression: Option<Arc<dyn Compression>>,
    /// Messages smaller than this are sent uncompressed.
    pub compress_min_bytes: usize,
    /// Largest message (uncompressed) this side will send (0: no limit).
    pub send_max_bytes: usize,
    /// What surrounds each streamed message of a text stream (`None`: each is an envelope).
    pub text_frame: Option<TextFrame>,
}

impl MessageWriter {
    /// Encodes a message with the codec and checks the send limit; returns the uncompressed bytes.
    pub fn encode<T: MessageView>(&self, message: &T) -> Result<BytesMut, Error> {
        self.encode_view(message)
    }

    fn encode_view(&self, message: &dyn MessageView) -> Result<BytesMut, Error> {
        let mut buf = BytesMut::new();
        self.codec.encode(message, &mut buf)?;
        self.check_send_limit(buf.len())?;
        Ok(buf)
    }

    /// Fails when a message of `len` bytes (uncompressed) is over the send limit; returns `len`.
    fn check_send_limit(&self, len: usize) -> Result<usize, Error> {
        if self.send_max_bytes > 0 && len > self.send_max_bytes {
            return Err(Error::new(
                Code::ResourceExhausted,
                format!(
                    "message size {len} exceeds the send limit {}",
                    self.send_max_bytes
                ),
            ));
        }
        Ok(len)
    }

    /// Compresses an encoded message when worthwhile; returns the bytes and whether they are compressed.
    pub fn compress(&self, encoded: BytesMut) -> Result<(Bytes, bool), Error> {
        match &self.compression {
            Some(c) if encoded.len() >= self.compress_min_bytes => {
                let mut out = BytesMut::with_capacity(encoded.len() / 2 + 16);
                c.compress(&encoded, &mut out)?;
                Ok((out.freeze(), true))
            }
            _ => Ok((encoded.freeze(), false)),
        }
    }

    /// Encodes, maybe compresses, and frames one message (with extra `flags`).
    pub fn envelope<T: MessageView>(&self, message: &T, flags: u8) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        self.write_message(message, flags, &mut out)?;
        Ok(out.freeze())
    }

    /// Encodes, maybe compresses, and frames one message into a buffer of its own.
    pub fn frame<T: MessageView>(&self, message: &T) -> Result<BytesMut, Error> {
        let mut out = BytesMut::new();
        self.write_message(message, 0, &mut out)?;
        Ok(out)
    }

    /// Encodes, maybe compresses, and frames one message (with extra `flags`), appending it to `out`.
    ///
    /// The payload goes straight behind its prefix (encoded in place, or compressed from a scratch
    /// encoding), so streams can gather many messages in one buffer without a copy each. On error `out`
    /// is left as it was.
    pub fn write_message(
        &self,
        message: &dyn MessageView,
        flags: u8,
        out: &mut BytesMut,
    ) -> Result<(), Error> {
        let start = out.len();
        if let Some(frame) = self.text_frame {
            // Text streams are never compressed per message (HTTP compresses whole bodies).
            out.extend_from_slice(frame.prefix);
            let written = self
                .codec
                .encode(message, out)
                .and_then(|()| self.check_send_limit(out.len() - start - frame.prefix.len()));
            if let Err(error) = written {
                out.truncate(start);
                return Err(error);
            }
            out.extend_from_slice(frame.suffix);
            return Ok(());
        }
        out.put_bytes(0, HEADER_LEN);
        let result = self.write_payload(message, out).and_then(|compressed| {
            let len = u32::try_from(out.len() - start - HEADER_LEN)
                .map_err(|_| Error::new(Code::ResourceExhausted, "message larger than 4 GiB"))?;
            Ok((compressed, len))
        });
        match result {
            Ok((compressed, len)) => {
                out[start] = if compressed {
                    flags | FLAG_COMPRESSED
                } else {
                    flags
                };
                out[start + 1..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }

    /// Appends one message's payload to `out`: encoded in place, or, when compression applies, encoded
    /// aside and compressed onto `out`. Returns whether the payload is compressed.
    fn write_payload(&self, message: &dyn MessageView, out: &mut BytesMut) -> Result<bool, Error> {
        let Some(compression) = &self.compression else {
            let before = out.len();
            self.codec.encode(message, out)?;
            self.check_send_limit(out.len() - before)?;
            return Ok(false);
        };
        let encoded = self.encode_view(message)?;
        if encoded.len() < self.compress_min_bytes {
            out.extend_from_slice(&encoded);
            return Ok(false);
        }
        compression.compress(&encoded, out)?;
        Ok(true)
    }
}

/// Decodes incoming messages.
#[derive(Clone)]
pub(crate) struct MessageReader {
    pub codec: Arc<dyn Codec>,
    pub compression: Option<Arc<dyn Compression>>,
    /// Largest message (uncompressed) this side accepts (0: no limit).
    pub read_max_bytes: usize,
}

impl MessageReader {
    /// Decodes one framed message.
    pub fn decode_envelope<T: Message>(&self, envelope: Envelope) -> Result<T, Error> {
        let compression = if envelope.is_compressed() {
            match &self.compression {
                Some(c) => Some(c.as_ref()),
                None => {
                    return Err(Error::new(
                        Code::Internal,
                        "received a compressed message, but no compression was negotiated",
                    ));
                }
            }
        } else {
            None
        };
        self.decode_payload(envelope.data, compression)
    }

    /// Decodes an unframed payload (Connect unary bodies, GET queries), decompressing with `compression`.
    pub fn decode_payload<T: Message>(
        &self,
        data: Bytes,
        compression: Option<&dyn Compression>,
    ) -> Result<T, Error> {
        let data = decompress_bounded(compression, data, self.read_max_bytes)?;
        crate::codec::decode_message(self.codec.as_ref(), data)
    }

    /// Decodes an unframed payload with this reader's negotiated compression.
    pub fn decode_unary<T: Message>(&self, data: Bytes) -> Result<T, Error> {
        self.decode_payload(data, self.compression.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ProtoCodec;
    use crate::compression::Gzip;

    fn writer(compression: Option<Arc<dyn Compression>>, min: usize, max: usize) -> MessageWriter {
        MessageWriter {
            text_frame: None,
            codec: Arc::new(ProtoCodec),
            compression,
            compress_min_bytes: min,
            send_max_bytes: max,
        }
    }

    /// Splits one framed message into its flags and payload, checking the length prefix.
    fn unframe(frame: &[u8]) -> (u8, &[u8]) {
        let len = u32::from_be_bytes(frame[1..HEADER_LEN].try_into().unwrap()) as usize;
        assert_eq!(
            frame.len(),
            HEADER_LEN + len,
            "prefix names the payload's length"
        );
        (frame[0], &frame[HEADER_LEN..])
    }

    #[test]
    fn compressed_messages_are_appended_flagged_and_decode_back() {
        let writer = writer(Some(Arc::new(Gzip)), 0, 0);
        let message = "hello, trident ".repeat(100);
        let mut out = BytesMut::from(&b"earlier"[..]);
        writer.write_message(&message, 0x80, &mut out).unwrap();

        assert_eq!(&out[..7], b"earlier");
        let (flags, payload) = unframe(&out[7..]);
        assert_eq!(flags, 0x80 | FLAG_COMPRESSED);
        assert!(payload.len() < message.len());
        let reader = MessageReader {
            codec: Arc::new(ProtoCodec),
            compression: Some(Arc::new(Gzip)),
            read_max_bytes: 0,
        };
        let back: String = reader
            .decode_payload(Bytes::copy_from_slice(payload), Some(&Gzip))
            .unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn messages_below_the_threshold_stay_uncompressed() {
        let compressing = writer(Some(Arc::new(Gzip)), 1024, 0);
        let plain = writer(None, 0, 0);
        let message = "short".to_owned();
        let mut compressed_out = BytesMut::new();
        let mut plain_out = BytesMut::new();
        compressing
            .write_message(&message, 0, &mut compressed_out)
            .unwrap();
        plain.write_message(&message, 0, &mut plain_out).unwrap();

        assert_eq!(compressed_out, plain_out);
        let (flags, payload) = unframe(&plain_out);
        assert_eq!(flags, 0);
        assert_eq!(payload, plain.encode(&message).unwrap().as_ref());
    }

    #[test]
    fn a_message_over_the_send_limit_leaves_the_buffer_as_it_was() {
        let message = "x".repeat(64);
        for compression in [None, Some(Arc::new(Gzip) as Arc<dyn Compression>)] {
            let writer = writer(compression, 0, 10);
            let mut out = BytesMut::from(&b"kept"[..]);
            let error = writer.write_message(&message, 0, &mut out).unwrap_err();
            assert_eq!(error.code(), Code::ResourceExhausted);
            assert_eq!(&out[..], b"kept");
        }
    }
}
