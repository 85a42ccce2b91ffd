//! Snappy in its framing (stream) format, named `snappy` in encoding headers.
//!
//! The framing format wraps 64 KiB snappy blocks in CRC-32C-checked chunks behind a stream identifier; it is
//! what Go's `github.com/golang/snappy` `NewReader` and `NewBufferedWriter` speak, and so what Connect and
//! gRPC peers send. The raw block format (no framing) is not accepted.

use std::io::Write;

use bytes::{BufMut, BytesMut};

use super::{Compression, read_bounded};
use crate::{Code, Error};

/// Snappy's framing format, via the `snap` crate; named `snappy`.
///
/// The empty message is the empty stream (no stream identifier), as Go writes it. Note that the framing
/// format has no end marker, so a stream cut exactly at a chunk boundary reads as a shorter valid stream;
/// any other truncation or damage is rejected.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snappy;

impl Compression for Snappy {
    fn name(&self) -> &'static str {
        "snappy"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        let internal = |e| Error::with_source(Code::Internal, "snappy compression failed", e);
        let mut encoder = snap::write::FrameEncoder::new(out.writer());
        encoder.write_all(input).map_err(internal)?;
        encoder
            .into_inner()
            .map(|_| ())
            .map_err(|e| internal(e.into_error()))
    }

    fn decompress(&self, input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        read_bounded(snap::read::FrameDecoder::new(input), "snappy", limit, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::checks;

    #[test]
    fn snappy_passes_the_shared_checks() {
        assert_eq!(Snappy.name(), "snappy");
        checks::all(&Snappy);
        checks::checksum_is_verified(&Snappy);
    }

    #[test]
    fn snappy_bomb_is_stopped() {
        checks::bomb_is_stopped(&Snappy);
    }

    #[test]
    fn snappy_is_the_framing_format_not_raw_blocks() {
        let compressed = checks::compress(&Snappy, b"hello, trident");
        assert_eq!(&compressed[..10], b"\xff\x06\x00\x00sNaPpY");

        let raw = snap::raw::Encoder::new()
            .compress_vec(b"hello, trident")
            .unwrap();
        let err = Snappy
            .decompress(&raw, 0, &mut BytesMut::new())
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[test]
    fn snappy_reads_what_go_golang_snappy_writes() {
        // github.com/golang/snappy: snappy.NewBufferedWriter, one Write, Close.
        let mut out = BytesMut::new();
        Snappy.decompress(GO_SNAPPY_HELLO, 0, &mut out).unwrap();
        assert_eq!(&out[..], b"hello, trident");
        // For the empty message Go writes nothing at all.
        let mut out = BytesMut::new();
        Snappy.decompress(&[], 0, &mut out).unwrap();
        assert!(out.is_empty());
    }

    /// `hello, trident`, as written by github.com/golang/snappy (one uncompressed chunk).
    const GO_SNAPPY_HELLO: &[u8] = &[
        0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59, 0x01, 0x12, 0x00, 0x00, 0xb9,
        0x20, 0xd6, 0xd4, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x74, 0x72, 0x69, 0x64, 0x65,
        0x6e, 0x74,
    ];
}
