//! Brotli (RFC 7932), named `br` in encoding headers.

use bytes::{BufMut, BytesMut};

use super::{Compression, read_bounded};
use crate::{Code, Error};

/// Encoder quality (0–11). 11 is the densest and far too slow for per-message use; 6 is Go's
/// `brotli.DefaultCompression` and a common web-server default.
const QUALITY: i32 = 6;
/// Base-2 logarithm of the encoder's window (the format allows 10–24).
const WINDOW_LOG: i32 = 22;
/// Size of the decoder's input staging buffer.
const BUFFER_SIZE: usize = 4096;

/// Brotli (RFC 7932), via the pure-Rust `brotli` crate; named `br`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Brotli;

impl Compression for Brotli {
    fn name(&self) -> &'static str {
        "br"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        let params = ::brotli::enc::BrotliEncoderParams {
            quality: QUALITY,
            lgwin: WINDOW_LOG,
            size_hint: input.len(),
            ..Default::default()
        };
        let mut reader = input;
        ::brotli::BrotliCompress(&mut reader, &mut out.writer(), &params)
            .map(|_| ())
            .map_err(|e| Error::with_source(Code::Internal, "br compression failed", e))
    }

    fn decompress(&self, input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        read_bounded(
            ::brotli::Decompressor::new(input, BUFFER_SIZE),
            "br",
            limit,
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::checks;

    #[test]
    fn brotli_passes_the_shared_checks() {
        assert_eq!(Brotli.name(), "br");
        checks::all(&Brotli);
    }

    #[test]
    fn brotli_bomb_is_stopped() {
        checks::bomb_is_stopped(&Brotli);
    }

    #[test]
    fn brotli_reads_what_go_andybalholm_brotli_writes() {
        // github.com/andybalholm/brotli: brotli.NewWriter (default level), one Write, Close.
        let mut out = BytesMut::new();
        Brotli.decompress(GO_BROTLI_HELLO, 0, &mut out).unwrap();
        assert_eq!(&out[..], b"hello, trident");
        let mut out = BytesMut::new();
        Brotli.decompress(&[0x3b], 0, &mut out).unwrap();
        assert!(out.is_empty(), "the one-byte empty stream Go writes");
    }

    /// `hello, trident`, as written by github.com/andybalholm/brotli.
    const GO_BROTLI_HELLO: &[u8] = &[
        0x8b, 0x06, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x74, 0x72, 0x69, 0x64, 0x65,
        0x6e, 0x74, 0x03,
    ];
}
