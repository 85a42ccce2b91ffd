//! gzip (RFC 1952), the one encoding every Connect and gRPC peer is expected to support.

use std::io::Write;

use bytes::{BufMut, BytesMut};

use super::{Compression, read_bounded};
use crate::{Code, Error};

/// gzip (RFC 1952), via flate2; named `gzip`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gzip;

impl Compression for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        let mut encoder =
            flate2::write::GzEncoder::new(out.writer(), flate2::Compression::default());
        encoder
            .write_all(input)
            .and_then(|_| encoder.finish().map(|_| ()))
            .map_err(|e| Error::with_source(Code::Internal, "gzip compression failed", e))
    }

    fn decompress(&self, input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        read_bounded(flate2::read::GzDecoder::new(input), "gzip", limit, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::checks;

    #[test]
    fn gzip_round_trips_and_stops_bombs() {
        let input = vec![b'a'; 1 << 20];
        let mut compressed = BytesMut::new();
        Gzip.compress(&input, &mut compressed).unwrap();
        assert!(compressed.len() < 4096);
        let mut out = BytesMut::new();
        Gzip.decompress(&compressed, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 1 << 20);
        let mut out = BytesMut::new();
        let err = Gzip
            .decompress(&compressed, (1 << 20) - 1, &mut out)
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
        assert!(out.len() <= 1 << 20);
        let err = Gzip
            .decompress(b"not gzip", 0, &mut BytesMut::new())
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[test]
    fn gzip_passes_the_shared_checks() {
        assert_eq!(Gzip.name(), "gzip");
        checks::all(&Gzip);
        checks::checksum_is_verified(&Gzip);
    }

    #[test]
    fn gzip_bomb_is_stopped() {
        checks::bomb_is_stopped(&Gzip);
    }

    #[test]
    fn gzip_reads_what_go_compress_gzip_writes() {
        let mut out = BytesMut::new();
        Gzip.decompress(GO_GZIP_HELLO, 0, &mut out).unwrap();
        assert_eq!(&out[..], b"hello, trident");
        let mut out = BytesMut::new();
        Gzip.decompress(GO_GZIP_EMPTY, 0, &mut out).unwrap();
        assert!(out.is_empty());
    }

    /// `hello, trident`, as written by Go's compress/gzip (gzip.NewWriter, one Write, Close).
    const GO_GZIP_HELLO: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xca, 0x48, 0xcd, 0xc9, 0xc9,
        0xd7, 0x51, 0x28, 0x29, 0xca, 0x4c, 0x49, 0xcd, 0x2b, 0x01, 0x04, 0x00, 0x00, 0xff, 0xff,
        0xa2, 0x3f, 0x8b, 0x2b, 0x0e, 0x00, 0x00, 0x00,
    ];

    /// The empty message, as written by Go's compress/gzip.
    const GO_GZIP_EMPTY: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
}
