//! `deflate`: despite the name, HTTP's `deflate` content coding is the zlib format (RFC 1950), a DEFLATE
//! stream wrapped in a two-byte header and an Adler-32 trailer, and that is what Connect and gRPC peers send.

use std::io::Write;

use bytes::{BufMut, BytesMut};

use super::{Compression, read_bounded};
use crate::{Code, Error};

/// The zlib format (RFC 1950) under its HTTP name, `deflate`, via flate2.
///
/// Raw DEFLATE streams (RFC 1951, no zlib header) are rejected as corrupt, as Go's `compress/zlib` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deflate;

impl Compression for Deflate {
    fn name(&self) -> &'static str {
        "deflate"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(out.writer(), flate2::Compression::default());
        encoder
            .write_all(input)
            .and_then(|_| encoder.finish().map(|_| ()))
            .map_err(|e| Error::with_source(Code::Internal, "deflate compression failed", e))
    }

    fn decompress(&self, input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        read_bounded(flate2::read::ZlibDecoder::new(input), "deflate", limit, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::checks;

    #[test]
    fn deflate_passes_the_shared_checks() {
        assert_eq!(Deflate.name(), "deflate");
        checks::all(&Deflate);
        checks::checksum_is_verified(&Deflate);
    }

    #[test]
    fn deflate_bomb_is_stopped() {
        checks::bomb_is_stopped(&Deflate);
    }

    #[test]
    fn deflate_is_zlib_not_raw_deflate() {
        let compressed = checks::compress(&Deflate, b"hello, trident");
        // zlib header: CM = 8 (deflate), and the 16-bit header is a multiple of 31.
        assert_eq!(compressed[0] & 0x0f, 8);
        assert_eq!(u16::from_be_bytes([compressed[0], compressed[1]]) % 31, 0);

        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(b"hello, trident").unwrap();
        let raw = raw.finish().unwrap();
        let err = Deflate
            .decompress(&raw, 0, &mut BytesMut::new())
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[test]
    fn deflate_reads_what_go_compress_zlib_writes() {
        // Go's compress/zlib: zlib.NewWriter (default level), one Write, Close.
        let mut out = BytesMut::new();
        Deflate.decompress(GO_ZLIB_HELLO, 0, &mut out).unwrap();
        assert_eq!(&out[..], b"hello, trident");
        let mut out = BytesMut::new();
        Deflate.decompress(GO_ZLIB_EMPTY, 0, &mut out).unwrap();
        assert!(out.is_empty());
    }

    /// `hello, trident`, as written by Go's compress/zlib.
    const GO_ZLIB_HELLO: &[u8] = &[
        0x78, 0x9c, 0xca, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x28, 0x29, 0xca, 0x4c, 0x49, 0xcd,
        0x2b, 0x01, 0x04, 0x00, 0x00, 0xff, 0xff, 0x27, 0x69, 0x05, 0x5b,
    ];

    /// The empty message, as written by Go's compress/zlib.
    const GO_ZLIB_EMPTY: &[u8] = &[
        0x78, 0x9c, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
    ];
}
