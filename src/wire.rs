//! Messages to and from the wire: codec, then compression and size limits, then the envelope.
//!
//! Both roles and every protocol use these two halves; only what surrounds them (headers, trailers,
//! end-of-stream) differs by protocol.

use std::sync::Arc;

use bytes::{BufMut as _, Bytes, BytesMut};

use crate::codec::{Codec, Message, MessageView};
use crate::compression::{Compression, decompress_bounded};
use crate::envelope::{Envelope, FLAG_COMPRESSED, HEADER_LEN, write_envelope};
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
}

impl MessageWriter {
    /// Encodes a message with the codec and checks the send limit; returns the uncompressed bytes.
    pub fn encode<T: Message>(&self, message: &T) -> Result<BytesMut, Error> {
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
    pub fn envelope<T: Message>(&self, message: &T, flags: u8) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        self.write_message(message, flags, &mut out)?;
        Ok(out.freeze())
    }

    /// Encodes, maybe compresses, and frames one message into a buffer of its own.
    pub fn frame<T: Message>(&self, message: &T) -> Result<BytesMut, Error> {
        let mut out = BytesMut::new();
        self.write_message(message, 0, &mut out)?;
        Ok(out)
    }

    /// Encodes, maybe compresses, and frames one message (with extra `flags`), appending it to `out`.
    ///
    /// Without compression the message is encoded in place behind its prefix, so streams can gather many
    /// messages in one buffer without a copy each. On error `out` is left as it was.
    pub fn write_message(
        &self,
        message: &dyn MessageView,
        flags: u8,
        out: &mut BytesMut,
    ) -> Result<(), Error> {
        if self.compression.is_some() {
            let encoded = self.encode_view(message)?;
            let (payload, compressed) = self.compress(encoded)?;
            let flags = if compressed {
                flags | FLAG_COMPRESSED
            } else {
                flags
            };
            return write_envelope(flags, &payload, out);
        }
        let start = out.len();
        out.put_bytes(0, HEADER_LEN);
        let result = self
            .codec
            .encode(message, out)
            .and_then(|()| self.check_send_limit(out.len() - start - HEADER_LEN))
            .and_then(|len| {
                u32::try_from(len)
                    .map_err(|_| Error::new(Code::ResourceExhausted, "message larger than 4 GiB"))
            });
        match result {
            Ok(len) => {
                out[start] = flags;
                out[start + 1..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
                Ok(())
            }
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
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
