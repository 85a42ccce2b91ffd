//! One gzip body written in pieces, as a text stream hands them on (server-sent events, JSON
//! lines), with no compressor kept between pieces.
//!
//! A compressor kept for the life of a stream would cost about 300 KB per stream (deflate's window
//! and hash tables), held for as long as the stream is open: a server following ten thousand idle
//! watches would spend gigabytes on them. No crate compresses a body statelessly between writes,
//! so this file does it with flate2's raw deflate and the format's own rules (RFC 1951, 1952): the
//! body is the gzip header, then for each piece a deflate compressor made for that piece alone and
//! ended with a full flush (which leaves no back-references into earlier pieces and ends on a byte
//! boundary, so the next piece's blocks may follow as they are), then a final empty block and the
//! trailer (the CRC-32 and length of everything, the only state kept: eight bytes). Pieces below
//! the router's `compress_min_bytes` (heartbeats, single small events) go as stored blocks, with
//! no compressor at all. Every piece is flushed whole, so the client reads each event as soon as
//! it arrives.

use bytes::{BufMut as _, BytesMut};

use crate::{Code, Error};

/// The gzip header: magic, deflate, no flags, no time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty deflate block (fixed Huffman codes, just the end-of-block code).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The most a stored block holds.
const STORED_MAX: usize = 0xffff;

/// The state of one gzip body between its pieces.
#[derive(Debug)]
pub(crate) struct GzipStream {
    /// The CRC-32 and length (modulo 2^32, as the trailer holds it) of everything so far.
    crc: flate2::Crc,
    started: bool,
}

impl GzipStream {
    pub(crate) fn new() -> Self {
        Self {
            crc: flate2::Crc::new(),
            started: false,
        }
    }

    /// Appends `piece`, compressed when it is at least `min_bytes` long and stored otherwise,
    /// ending on a flush so that everything appended so far decompresses by itself.
    pub(crate) fn piece(
        &mut self,
        piece: &[u8],
        min_bytes: usize,
        out: &mut BytesMut,
    ) -> Result<(), Error> {
        self.start(out);
        self.crc.update(piece);
        if piece.len() < min_bytes.max(1) {
            store(piece, out);
            return Ok(());
        }
        deflate(piece, out)
    }

    /// Appends the end of the body: the final block and the trailer.
    pub(crate) fn finish(mut self, out: &mut BytesMut) {
        self.start(out);
        out.put_slice(&FINAL_BLOCK);
        out.put_u32_le(self.crc.sum());
        out.put_u32_le(self.crc.amount());
    }

    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            out.put_slice(&HEADER);
            self.started = true;
        }
    }
}

/// Appends `data` as stored (uncompressed) blocks.
fn store(data: &[u8], out: &mut BytesMut) {
    // Each block has a 5-byte header.
    out.reserve(data.len() + 5 * data.len().div_ceil(STORED_MAX).max(1));
    for chunk in data.chunks(STORED_MAX) {
        // Not final, stored; the rest of the header byte is padding to the byte boundary.
        out.put_u8(0);
        let len = chunk.len() as u16;
        out.put_u16_le(len);
        out.put_u16_le(!len);
        out.put_slice(chunk);
    }
}

/// Appends `data` compressed by a deflate compressor of its own, ended with a full flush.
fn deflate(data: &[u8], out: &mut BytesMut) -> Result<(), Error> {
    let mut compressor = flate2::Compress::new(flate2::Compression::default(), false);
    let mut scratch = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        compressor
            .compress_vec(&data[consumed..], &mut scratch, flate2::FlushCompress::Full)
            .map_err(|e| Error::with_source(Code::Internal, "gzip compression failed", e))?;
        // The flush is complete once all input is in and the compressor left room unused.
        if compressor.total_in() as usize == data.len() && scratch.len() < scratch.capacity() {
            break;
        }
        scratch.reserve(scratch.capacity().max(64));
    }
    out.put_slice(&scratch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("a whole gzip body");
        out
    }

    #[test]
    fn pieces_compressed_and_stored_make_one_gzip_body() {
        let pieces: Vec<Vec<u8>> = vec![
            b"data: {}\n\n".to_vec(),
            "data: {\"text\":\"hello\"}\n\n".repeat(200).into_bytes(),
            b": heartbeat\n\n".to_vec(),
            vec![b'x'; 70_000],
            (0..=255u8).cycle().take(100_000).collect(),
        ];
        let mut stream = GzipStream::new();
        let mut body = BytesMut::new();
        for piece in &pieces {
            stream.piece(piece, 1024, &mut body).unwrap();
        }
        stream.finish(&mut body);
        assert_eq!(gunzip(&body), pieces.concat());
        assert!(body.len() < pieces.concat().len() / 2, "{}", body.len());
    }

    #[test]
    fn each_piece_decompresses_as_soon_as_it_is_appended() {
        let mut stream = GzipStream::new();
        let mut body = BytesMut::new();
        let piece = "data: {\"n\":1}\n\n".repeat(100);
        stream.piece(piece.as_bytes(), 0, &mut body).unwrap();
        // Without the end, a streaming decoder still yields everything flushed so far.
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        std::io::Write::write_all(&mut decoder, &body).unwrap();
        std::io::Write::flush(&mut decoder).unwrap();
        assert_eq!(decoder.get_ref().as_slice(), piece.as_bytes());
    }

    #[test]
    fn an_empty_body_is_valid_gzip() {
        let mut body = BytesMut::new();
        GzipStream::new().finish(&mut body);
        assert!(gunzip(&body).is_empty());
    }
}
