//! Message compression: the `Compression` trait, the registry that negotiates encodings, and the bounded
//! decompression every algorithm goes through.
//!
//! One file per algorithm: [`Gzip`] (`gzip`), `Brotli` (`br`), `Zstd` (`zstd`), [`Deflate`] (`deflate`,
//! the zlib format) and `Snappy` (`snappy`, the framing format). Gzip and deflate are always built in;
//! the others each come with the cargo feature of their header name (`br`, `zstd`, `snappy`, all on by
//! default). An encoding whose feature is off is unknown to the registry, like any other name it lacks.
//! Every decompressor streams its output through [`read_bounded`], so a message that inflates past the
//! configured limit is stopped with `resource_exhausted` after at most `limit + 1` bytes of output,
//! whatever its compressed size claims.

use std::io::Read;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use crate::{Code, Error};

#[cfg(feature = "br")]
mod brotli;
mod deflate;
mod gzip;
mod gzip_stream;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

#[cfg(feature = "br")]
pub use self::brotli::Brotli;
pub use self::deflate::Deflate;
pub use self::gzip::Gzip;
pub(crate) use self::gzip_stream::GzipStream;
#[cfg(feature = "snappy")]
pub use self::snappy::Snappy;
#[cfg(feature = "zstd")]
pub use self::zstd::Zstd;

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

/// Drains a decompressing reader into `out`, stopping with `resource_exhausted` past `limit` bytes (0: no
/// limit).
///
/// At most `limit + 1` bytes are ever pulled from `reader`, so the cost of a compression bomb is bounded by
/// the limit, not by what the stream would inflate to. A read error (corrupt or truncated input) becomes
/// `invalid_argument`. On any error `out` is left as it was.
pub fn read_bounded(
    reader: impl Read,
    name: &str,
    limit: usize,
    out: &mut BytesMut,
) -> Result<(), Error> {
    let start = out.len();
    let cap = if limit == 0 {
        u64::MAX
    } else {
        limit as u64 + 1
    };
    let mut writer = out.writer();
    let copied = std::io::copy(&mut reader.take(cap), &mut writer);
    let out = writer.into_inner();
    let copied = match copied {
        Ok(copied) => copied,
        Err(e) => {
            out.truncate(start);
            return Err(Error::with_source(
                Code::InvalidArgument,
                format!("{name} decompression failed: {e}"),
                e,
            ));
        }
    };
    if limit > 0 && copied > limit as u64 {
        out.truncate(start);
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
    /// [`Self::accept_value`] as a header value, kept up to date so each call can reuse it.
    accept_header: http::HeaderValue,
}

impl CompressionRegistry {
    /// A registry with every built-in algorithm, in preference order: gzip, br, zstd, deflate, snappy
    /// (`br`, `zstd` and `snappy` only when their cargo features are on, as they are by default).
    pub fn new() -> Self {
        let registry = Self::empty().with(Gzip);
        #[cfg(feature = "br")]
        let registry = registry.with(Brotli);
        #[cfg(feature = "zstd")]
        let registry = registry.with(Zstd);
        let registry = registry.with(Deflate);
        #[cfg(feature = "snappy")]
        let registry = registry.with(Snappy);
        registry
    }

    /// A registry that supports identity only.
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
            accept_header: http::HeaderValue::from_static("identity"),
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
        // A user's algorithm whose name cannot appear in a header leaves just `identity` advertised.
        self.accept_header = http::HeaderValue::from_str(&self.accept_value())
            .unwrap_or_else(|_| http::HeaderValue::from_static("identity"));
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

    /// [`Self::accept_value`] as a header value (cheap to clone).
    pub(crate) fn accept_header(&self) -> http::HeaderValue {
        self.accept_header.clone()
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
///
/// An empty payload is the empty message whatever the encoding, as connect-go reads it: some
/// peers flag a zero-length message as compressed without running it through the compressor.
pub(crate) fn decompress_bounded(
    compression: Option<&dyn Compression>,
    data: bytes::Bytes,
    limit: usize,
) -> Result<bytes::Bytes, Error> {
    match compression {
        Some(_) if data.is_empty() => Ok(data),
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

/// Checks every algorithm must pass, shared by the per-algorithm test modules.
#[cfg(test)]
pub(crate) mod checks {
    use super::*;

    /// Deterministic, poorly compressible bytes (a xorshift stream), so outputs are not all runs.
    pub(crate) fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    /// Text-like bytes that compress well but are not a single run.
    pub(crate) fn text(len: usize) -> Vec<u8> {
        let words = [
            &b"trident "[..],
            b"connect ",
            b"grpc ",
            b"web ",
            b"message ",
            b"compression\n",
        ];
        let mut out = Vec::with_capacity(len + 16);
        let mut i = 0usize;
        while out.len() < len {
            out.extend_from_slice(words[(i * 7 + i / 3) % words.len()]);
            i += 1;
        }
        out.truncate(len);
        out
    }

    /// Compresses `input`, asserting success.
    pub(crate) fn compress(c: &dyn Compression, input: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        c.compress(input, &mut out)
            .unwrap_or_else(|e| panic!("{} compression failed: {e}", c.name()));
        out
    }

    /// Round trips several shapes of input, unbounded and bounded, appending after existing content.
    pub(crate) fn round_trip(c: &dyn Compression) {
        let inputs = [
            Vec::new(),
            b"a".to_vec(),
            b"hello, trident".to_vec(),
            text(100_000),
            noise(300_000),
            vec![0; 1 << 20],
        ];
        for input in &inputs {
            let compressed = compress(c, input);
            for limit in [0, input.len().max(1), usize::MAX / 2] {
                let mut out = BytesMut::from(&b"prefix"[..]);
                c.decompress(&compressed, limit, &mut out)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{}: decompressing {} bytes with limit {limit}: {e}",
                            c.name(),
                            input.len()
                        )
                    });
                assert_eq!(&out[..6], b"prefix", "{}", c.name());
                assert!(
                    out[6..] == input[..],
                    "{}: round trip of {} bytes",
                    c.name(),
                    input.len()
                );
            }
        }
        // Compressing appends too.
        let mut out = BytesMut::from(&b"head"[..]);
        c.compress(b"tail", &mut out).unwrap();
        assert_eq!(&out[..4], b"head");
        let mut plain = BytesMut::new();
        c.decompress(&out[4..], 0, &mut plain).unwrap();
        assert_eq!(&plain[..], b"tail");
    }

    /// Output of exactly `limit` bytes passes; one byte over fails with `resource_exhausted`.
    pub(crate) fn limit_is_exact(c: &dyn Compression) {
        for input in [text(65_537), noise(4_097), b"xy".to_vec()] {
            let compressed = compress(c, &input);
            let mut out = BytesMut::new();
            c.decompress(&compressed, input.len(), &mut out).unwrap();
            assert_eq!(&out[..], &input[..], "{}", c.name());

            let mut out = BytesMut::from(&b"kept"[..]);
            let err = c
                .decompress(&compressed, input.len() - 1, &mut out)
                .unwrap_err();
            assert_eq!(err.code(), Code::ResourceExhausted, "{}: {err}", c.name());
            assert_eq!(&out[..], b"kept", "{}: output untouched on error", c.name());

            let err =
                decompress_bounded(Some(c), compressed.freeze(), input.len() - 1).unwrap_err();
            assert_eq!(err.code(), Code::ResourceExhausted, "{}: {err}", c.name());
        }
    }

    /// 64 MiB of zeros, compressed, against a 1 MiB limit: fails without producing more than the limit.
    pub(crate) fn bomb_is_stopped(c: &dyn Compression) {
        let compressed = compress(c, &vec![0; 64 << 20]);
        assert!(
            compressed.len() < 4 << 20,
            "{}: bomb is {} bytes",
            c.name(),
            compressed.len()
        );
        let started = std::time::Instant::now();
        let mut out = BytesMut::new();
        let err = c.decompress(&compressed, 1 << 20, &mut out).unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err.code(), Code::ResourceExhausted, "{}: {err}", c.name());
        assert!(out.is_empty());
        // Generous even for a debug build on a loaded machine: inflating all 64 MiB would take far longer.
        assert!(
            elapsed < std::time::Duration::from_secs(5),
            "{}: stopping the bomb took {elapsed:?}",
            c.name()
        );
    }

    /// Garbage and truncated streams fail with `invalid_argument` and a message naming the algorithm.
    pub(crate) fn corrupt_is_rejected(c: &dyn Compression) {
        let garbage: [&[u8]; 3] = [b"this is not a compressed stream", &[0xff; 64], &[0x00; 7]];
        for input in garbage {
            let mut out = BytesMut::from(&b"kept"[..]);
            let err = c.decompress(input, 0, &mut out).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{}: {err}", c.name());
            assert!(
                err.to_string().contains(c.name()),
                "{}: message should name the algorithm: {err}",
                c.name()
            );
            assert_eq!(&out[..], b"kept");
        }
        let input = text(10_000);
        let compressed = compress(c, &input);
        for cut in [1, 3, compressed.len() / 2] {
            let truncated = &compressed[..compressed.len() - cut];
            let err = c
                .decompress(truncated, 0, &mut BytesMut::new())
                .unwrap_err();
            assert_eq!(
                err.code(),
                Code::InvalidArgument,
                "{}: cut {cut}: {err}",
                c.name()
            );
        }
    }

    /// A stream with one byte of its payload flipped fails with `invalid_argument` (checksummed formats).
    pub(crate) fn checksum_is_verified(c: &dyn Compression) {
        let input = noise(10_000);
        let compressed = compress(c, &input);
        let mut damaged = compressed.to_vec();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x55;
        let err = c.decompress(&damaged, 0, &mut BytesMut::new()).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{}: {err}", c.name());
    }

    /// Runs every check.
    pub(crate) fn all(c: &dyn Compression) {
        round_trip(c);
        limit_is_exact(c);
        corrupt_is_rejected(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_bounded_stops_an_endless_reader() {
        let mut out = BytesMut::new();
        let err = read_bounded(std::io::repeat(7), "test", 1 << 20, &mut out).unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
        assert!(out.is_empty());
        read_bounded(std::io::repeat(7).take(1 << 20), "test", 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 1 << 20);
    }

    #[test]
    fn identity_is_bounded_too() {
        let data = bytes::Bytes::from_static(b"12345");
        assert_eq!(decompress_bounded(None, data.clone(), 5).unwrap(), data);
        assert_eq!(decompress_bounded(None, data.clone(), 0).unwrap(), data);
        let err = decompress_bounded(None, data, 4).unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
    }

    /// The names `CompressionRegistry::new` holds in this build, in preference order.
    fn built_in() -> Vec<&'static str> {
        [
            ("gzip", true),
            ("br", cfg!(feature = "br")),
            ("zstd", cfg!(feature = "zstd")),
            ("deflate", true),
            ("snappy", cfg!(feature = "snappy")),
        ]
        .into_iter()
        .filter_map(|(name, built)| built.then_some(name))
        .collect()
    }

    #[test]
    fn empty_payload_is_the_empty_message_in_every_encoding() {
        let registry = CompressionRegistry::new();
        for name in built_in() {
            let c = registry.get(name).unwrap();
            let out = decompress_bounded(Some(c.as_ref()), bytes::Bytes::new(), 1).unwrap();
            assert!(out.is_empty(), "{name}");
            let compressed = checks::compress(c.as_ref(), b"");
            let out = decompress_bounded(Some(c.as_ref()), compressed.freeze(), 1).unwrap();
            assert!(out.is_empty(), "{name}");
        }
    }

    #[cfg(all(feature = "br", feature = "zstd", feature = "snappy"))]
    #[test]
    fn negotiation_and_resolution() {
        let registry = CompressionRegistry::new();
        assert_eq!(
            registry.accept_value(),
            "gzip,br,zstd,deflate,snappy,identity"
        );
        assert_eq!(
            format!("{registry:?}"),
            r#"["gzip", "br", "zstd", "deflate", "snappy"]"#
        );
        assert_eq!(
            registry
                .negotiate(Some("lz4, gzip;q=0.5, br"))
                .unwrap()
                .name(),
            "gzip"
        );
        assert_eq!(registry.negotiate(Some("br")).unwrap().name(), "br");
        assert!(registry.negotiate(Some("lz4, identity")).is_none());
        assert!(registry.resolve(Some("identity")).unwrap().is_none());
        for name in ["gzip", "br", "zstd", "deflate", "snappy"] {
            assert_eq!(registry.resolve(Some(name)).unwrap().unwrap().name(), name);
        }
        let err = registry.resolve(Some("lz4")).err().unwrap();
        assert_eq!(err.code(), Code::Unimplemented);
    }

    /// Whatever features are on, the registry holds exactly the built-in algorithms, and a name whose
    /// feature is off is answered like any unknown encoding.
    #[test]
    fn registry_follows_the_features() {
        let registry = CompressionRegistry::new();
        let built = built_in();
        let mut accept = built.join(",");
        accept.push_str(",identity");
        assert_eq!(registry.accept_value(), accept);
        assert_eq!(registry.accept_header(), accept.as_str());
        for name in ["gzip", "br", "zstd", "deflate", "snappy"] {
            if built.contains(&name) {
                assert_eq!(registry.resolve(Some(name)).unwrap().unwrap().name(), name);
                continue;
            }
            let err = registry.resolve(Some(name)).err().unwrap();
            assert_eq!(err.code(), Code::Unimplemented, "{name}");
            assert!(err.message().contains(&accept), "{name}: {err}");
            assert!(registry.get(name).is_none(), "{name}");
        }
        // Negotiation skips what this build lacks: deflate is always there.
        assert_eq!(
            registry.negotiate(Some("lz4, deflate")).map(|c| c.name()),
            Some("deflate")
        );
        let preferred = registry
            .negotiate(Some("snappy, zstd, br, deflate"))
            .unwrap();
        let expected = ["snappy", "zstd", "br", "deflate"]
            .into_iter()
            .find(|name| built.contains(name));
        assert_eq!(Some(preferred.name()), expected);
    }

    #[test]
    fn empty_registry_is_identity_only() {
        let registry = CompressionRegistry::empty();
        assert!(registry.is_empty());
        assert_eq!(registry.accept_value(), "identity");
        assert!(registry.negotiate(Some("gzip, br")).is_none());
        let err = registry.resolve(Some("gzip")).err().unwrap();
        assert_eq!(err.code(), Code::Unimplemented);
        let registry = registry.with(Deflate);
        assert_eq!(registry.accept_value(), "deflate,identity");
    }
}
