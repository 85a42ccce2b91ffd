//! Request headers, response headers and trailers: ordered, duplicate-preserving, with `-bin` values.

use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{Code, Error};

/// A set of metadata entries (HTTP headers or trailers).
///
/// Keys are case-insensitive; several values under one key keep the order they were added in. Keys ending in
/// `-bin` carry binary values, base64-encoded on the wire: use [`Metadata::append_bin`] and
/// [`Metadata::get_bin_all`] for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    map: HeaderMap,
}

impl Metadata {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps an existing header map.
    pub fn from_header_map(map: HeaderMap) -> Self {
        Self { map }
    }

    /// Adds a value under `key`, keeping any values already there.
    ///
    /// Fails with `internal` if the key or value is not valid in an HTTP header.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (name, value) = header_pair(key, value)?;
        self.map.append(name, value);
        Ok(())
    }

    /// Replaces every value under `key` with `value`.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (name, value) = header_pair(key, value)?;
        self.map.insert(name, value);
        Ok(())
    }

    /// Adds a binary value under a `-bin` key, base64-encoding it.
    pub fn append_bin(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        if !key.ends_with("-bin") {
            return Err(Error::new(
                Code::Internal,
                format!("binary metadata key {key:?} must end in -bin"),
            ));
        }
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(value);
        self.append(key, &encoded)
    }

    /// The first value under `key`, if it is valid text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(|v| v.to_str().ok())
    }

    /// Every value under `key`, in order. Values that are not valid text are skipped.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.map
            .get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// Every binary value under a `-bin` key, decoded (padded or unpadded base64 is accepted).
    pub fn get_bin_all(&self, key: &str) -> Result<Vec<Vec<u8>>, Error> {
        self.map
            .get_all(key)
            .iter()
            .map(|v| {
                decode_base64(v.as_bytes()).ok_or_else(|| {
                    Error::new(
                        Code::Internal,
                        format!("invalid base64 in metadata {key:?}"),
                    )
                })
            })
            .collect()
    }

    /// Removes every value under `key`.
    pub fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// Whether any value is stored under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Every entry in order (a key with several values appears several times). Non-text values are skipped.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
    }

    /// The distinct keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(|k| k.as_str())
    }

    /// Number of values stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The underlying header map.
    pub fn as_header_map(&self) -> &HeaderMap {
        &self.map
    }

    /// The underlying header map, mutably.
    pub fn as_header_map_mut(&mut self) -> &mut HeaderMap {
        &mut self.map
    }

    /// Unwraps into the underlying header map.
    pub fn into_header_map(self) -> HeaderMap {
        self.map
    }

    /// Appends every entry of `other`.
    pub fn extend(&mut self, other: Metadata) {
        let mut last: Option<HeaderName> = None;
        for (name, value) in other.map {
            if let Some(name) = name {
                last = Some(name);
            }
            if let Some(name) = &last {
                self.map.append(name.clone(), value);
            }
        }
    }
}

impl From<HeaderMap> for Metadata {
    fn from(map: HeaderMap) -> Self {
        Self { map }
    }
}

fn header_pair(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let name = HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| Error::new(Code::Internal, format!("invalid metadata key {key:?}")))?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        Error::new(
            Code::Internal,
            format!("invalid value for metadata {key:?}"),
        )
    })?;
    Ok((name, value))
}

/// Decodes standard or URL-safe base64, padded or not.
pub(crate) fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    // Padding is optional: decode what comes before it, in place (no copy without the `=`s).
    let end = input
        .iter()
        .rposition(|b| *b != b'=')
        .map_or(0, |last| last + 1);
    let unpadded = &input[..end];
    STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_padded_or_not_standard_or_url_safe() {
        for text in ["+/8=", "+/8", "-_8", "-_8="] {
            assert_eq!(
                decode_base64(text.as_bytes()),
                Some(vec![0xfb, 0xff]),
                "{text}"
            );
        }
        assert_eq!(decode_base64(b""), Some(Vec::new()));
        assert_eq!(decode_base64(b"=="), Some(Vec::new()));
        assert_eq!(decode_base64(b"AA=A"), None, "padding only at the end");
        assert_eq!(decode_base64(b"A!"), None);
    }

    #[test]
    fn duplicates_keep_their_order() {
        let mut md = Metadata::new();
        md.append("x-a", "1").unwrap();
        md.append("X-A", "2").unwrap();
        md.append("x-b", "3").unwrap();
        md.append("x-a", "4").unwrap();
        assert_eq!(md.get_all("x-a"), vec!["1", "2", "4"]);
        assert_eq!(md.len(), 4);
    }

    #[test]
    fn binary_values_round_trip() {
        let mut md = Metadata::new();
        md.append_bin("x-data-bin", &[0, 1, 2, 255]).unwrap();
        md.append("x-data-bin", "AAEC/w==").unwrap();
        assert_eq!(
            md.get_bin_all("x-data-bin").unwrap(),
            vec![vec![0, 1, 2, 255]; 2]
        );
        assert!(md.append_bin("x-data", b"no").is_err());
    }

    #[test]
    fn bad_keys_are_rejected() {
        let mut md = Metadata::new();
        assert!(md.append("bad key", "v").is_err());
        assert!(md.append("k", "bad\nvalue").is_err());
    }
}
