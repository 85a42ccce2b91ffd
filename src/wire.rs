//! Messages to and from the wire: codec, then compression and size limits, then the envelope.
//!
//! Both roles and every protocol use these two halves; only what surrounds them (headers, trailers,
//! end-of-stream) differs by protocol.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::codec::{Codec, Message};
use crate::compression::{Compression, decompress_bounded};
use crate::envelope::{Envelope, FLAG_COMPRESSED, write_envelope};
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
        let mut buf = BytesMut::new();
        self.codec.encode(message, &mut buf)?;
        if self.send_max_bytes > 0 && buf.len() > self.send_max_bytes {
            return Err(Error::new(
                Code::ResourceExhausted,
                format!(
                    "message size {} exceeds the send limit {}",
                    buf.len(),
                    self.send_max_bytes
                ),
            ));
        }
        Ok(buf)
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
        let (payload, compressed) = self.compress(self.encode(message)?)?;
        let flags = if compressed {
            flags | FLAG_COMPRESSED
        } else {
            flags
        };
        let mut out = BytesMut::with_capacity(payload.len() + 5);
        write_envelope(flags, &payload, &mut out)?;
        Ok(out.freeze())
    }

    /// Frames an already-built payload (end-stream JSON, gRPC-Web trailers), compressing it when asked.
    pub fn envelope_raw(&self, payload: &[u8], flags: u8) -> Result<Bytes, Error> {
        let mut out = BytesMut::with_capacity(payload.len() + 5);
        write_envelope(flags, payload, &mut out)?;
        Ok(out.freeze())
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
        crate::codec::decode_message(self.codec.as_ref(), &data)
    }

    /// Decodes an unframed payload with this reader's negotiated compression.
    pub fn decode_unary<T: Message>(&self, data: Bytes) -> Result<T, Error> {
        self.decode_payload(data, self.compression.as_deref())
    }
}
