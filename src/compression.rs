//! Message compression: the `Compression` trait, gzip, and the registry that negotiates encodings.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use crate::{Code, Error};

/// A compression algorithm, named as it appears in encoding headers (`gzip`, `br`, ...).
///
/// `identity` (no compression) is not an implementation: it is the absence of one.
pub trait Compression: Send + Sync + 'static {
    /// The name used in `*-Encoding` headers.
    fn name(&self) -> &'static str;
    /// Appends the compressed form of `input` to `out`.
    fn compress(&self, input: &[u8], out: &mut BytesMut) -> Result<(), Error>;
    /// Appends the decompressed form of `input` to `out`, failing with `resource_exhausted` as soon as the
    /// output would pass `limit` bytes (0: no limit), so that compression bombs cost nothing.
    fn decompress(&self, input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error>;
}

/// gzip (RFC 1952), via flate2.
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

/// Drains a decompressing reader into `out`, stopping with `resource_exhausted` past `limit` bytes.
pub fn read_bounded(
    reader: impl Read,
    name: &str,
    limit: usize,
    out: &mut BytesMut,
) -> Result<(), Error> {
    let cap = if limit == 0 {
        u64::MAX
    } else {
        limit as u64 + 1
    };
    let mut writer = out.writer();
    let copied = std::io::copy(&mut reader.take(cap), &mut writer).map_err(|e| {
        Error::with_source(
            Code::InvalidArgument,
            format!("{name} decompression failed: {e}"),
            e,
        )
    })?;
    if limit > 0 && copied > limit as u64 {
        return Err(Error::new(
            Code::ResourceExhausted,
            format!("decompressed message is larger than the configured maximum {limit}"),
        ));
    }
    Ok(())
}

/// The set of encodings one side supports, in preference order.
#[derive(Clone)]
pub struct CompressionRegistry {
    entries: Vec<Arc<dyn Compression>>,
}

impl CompressionRegistry {
    /// A registry with gzip.
    pub fn new() -> Self {
        Self::empty().with(Gzip)
    }

    /// A registry that supports identity only.
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Adds (or replaces) an algorithm; later additions are preferred less.
    pub fn with(mut self, compression: impl Compression) -> Self {
        self.register(Arc::new(compression));
        self
    }

    /// Adds (or replaces) an algorithm.
    pub fn register(&mut self, compression: Arc<dyn Compression>) {
        match self
            .entries
            .iter_mut()
            .find(|c| c.name() == compression.name())
        {
            Some(slot) => *slot = compression,
            None => self.entries.push(compression),
        }
    }

    /// Looks an algorithm up by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Compression>> {
        self.entries.iter().find(|c| c.name() == name).cloned()
    }

    /// Resolves a request/response encoding header value: `Ok(None)` for identity or an absent header,
    /// `unimplemented` for a name this side does not support.
    pub fn resolve(&self, name: Option<&str>) -> Result<Option<Arc<dyn Compression>>, Error> {
        match name.map(str::trim) {
            None | Some("") | Some("identity") => Ok(None),
            Some(name) => self.get(name).map(Some).ok_or_else(|| {
                Error::new(
                    Code::Unimplemented,
                    format!(
                        "unknown compression {name:?}: supported encodings are {}",
                        self.accept_value()
                    ),
                )
            }),
        }
    }

    /// The value for an accept-encoding header listing what this side can read.
    pub fn accept_value(&self) -> String {
        let mut names: Vec<&str> = self.entries.iter().map(|c| c.name()).collect();
        names.push("identity");
        names.join(",")
    }

    /// Picks the first encoding in a peer's accept list that this side also supports.
    pub fn negotiate(&self, accept: Option<&str>) -> Option<Arc<dyn Compression>> {
        accept?
            .split(',')
            .map(|part| part.split(';').next().unwrap_or("").trim())
            .find_map(|name| self.get(name))
    }

    /// Whether nothing but identity is supported.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Default for CompressionRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CompressionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|c| c.name()))
            .finish()
    }
}

/// Decompresses `data` with `compression`, or passes it through bounded by `limit` when there is none.
pub(crate) fn decompress_bounded(
    compression: Option<&dyn Compression>,
    data: bytes::Bytes,
    limit: usize,
) -> Result<bytes::Bytes, Error> {
    match compression {
        None => {
            if limit > 0 && data.len() > limit {
                return Err(Error::new(
                    Code::ResourceExhausted,
                    format!(
                        "message size {} is larger than the configured maximum {limit}",
                        data.len()
                    ),
                ));
            }
            Ok(data)
        }
        Some(c) => {
            let mut out = BytesMut::new();
            c.decompress(&data, limit, &mut out)?;
            Ok(out.freeze())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn negotiation_and_resolution() {
        let registry = CompressionRegistry::new();
        assert_eq!(registry.accept_value(), "gzip,identity");
        assert_eq!(
            registry.negotiate(Some("br, gzip;q=0.5")).unwrap().name(),
            "gzip"
        );
        assert!(registry.negotiate(Some("br")).is_none());
        assert!(registry.resolve(Some("identity")).unwrap().is_none());
        let err = registry.resolve(Some("zstd")).err().unwrap();
        assert_eq!(err.code(), Code::Unimplemented);
    }
}
