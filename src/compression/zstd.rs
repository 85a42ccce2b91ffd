//! Zstandard (RFC 8878), named `zstd` in encoding headers.

use std::io::Write;

use bytes::{BufMut, BytesMut};

use super::{Compression, read_bounded};
use crate::{Code, Error};

/// Zstandard (RFC 8878), via the `zstd` crate (bindings to the reference C library); named `zstd`.
///
/// Frames are written with their content size and a content checksum. Reading accepts any number of
/// concatenated frames, and an empty input as the empty message (which is what Go's
/// `github.com/klauspost/compress/zstd` writes for one).
#[derive(Clone, Copy, Debug, Default)]
pub struct Zstd;

impl Compression for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        let internal = |e| Error::with_source(Code::Internal, "zstd compression failed", e);
        let mut encoder =
            ::zstd::stream::write::Encoder::new(out.writer(), ::zstd::DEFAULT_COMPRESSION_LEVEL)
                .map_err(internal)?;
        encoder
            .set_pledged_src_size(Some(input.len() as u64))
            .and_then(|_| encoder.include_contentsize(true))
            .and_then(|_| encoder.include_checksum(true))
            .and_then(|_| encoder.write_all(input))
            .and_then(|_| encoder.finish().map(|_| ()))
            .map_err(internal)
    }

    fn decompress(&self, input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        if input.is_empty() {
            // Zero frames: the empty message, as klauspost/compress writes it.
            return Ok(());
        }
        let decoder = ::zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| Error::with_source(Code::Internal, "zstd decompressor setup failed", e))?;
        read_bounded(decoder, "zstd", limit, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::checks;

    #[test]
    fn zstd_passes_the_shared_checks() {
        assert_eq!(Zstd.name(), "zstd");
        checks::all(&Zstd);
        checks::checksum_is_verified(&Zstd);
    }

    #[test]
    fn zstd_bomb_is_stopped() {
        checks::bomb_is_stopped(&Zstd);
    }

    #[test]
    fn zstd_reads_concatenated_frames_and_rejects_trailing_garbage() {
        let mut two = checks::compress(&Zstd, b"hello, ");
        two.extend_from_slice(&checks::compress(&Zstd, b"trident"));
        let mut out = BytesMut::new();
        Zstd.decompress(&two, 0, &mut out).unwrap();
        assert_eq!(&out[..], b"hello, trident");

        two.extend_from_slice(b"junk");
        let err = Zstd.decompress(&two, 0, &mut BytesMut::new()).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[test]
    fn zstd_reads_what_go_klauspost_zstd_writes() {
        // github.com/klauspost/compress/zstd: zstd.NewWriter (defaults), one Write, Close.
        let mut out = BytesMut::new();
        Zstd.decompress(GO_ZSTD_HELLO, 0, &mut out).unwrap();
        assert_eq!(&out[..], b"hello, trident");
        // For the empty message Go writes nothing at all.
        let mut out = BytesMut::new();
        Zstd.decompress(&[], 0, &mut out).unwrap();
        assert!(out.is_empty());
    }

    /// `hello, trident`, as written by github.com/klauspost/compress/zstd.
    const GO_ZSTD_HELLO: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00, 0x71, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
        0x20, 0x74, 0x72, 0x69, 0x64, 0x65, 0x6e, 0x74, 0xed, 0x7f, 0x8f, 0x6e,
    ];
}
