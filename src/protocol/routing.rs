//! What protocols add to routing. The router keys its routes by path; a protocol may add two things
//! (Triple does both, for Apache Dubbo's callers):
//! - a [`Variant`]: labels a call states in its headers (Triple's service group and version) to pick
//!   one of several implementations of the same service, which register under the same labels;
//! - a looser spelling of paths ([`Routing::loose_path`]), tried when no path matches exactly.
//!
//! The router (`server/router.rs`) knows neither Dubbo nor its headers: it asks [`variant_of`] and
//! [`loose_path`], which ask every registered protocol's [`Routing`].

use std::collections::BTreeMap;
use std::fmt;

use crate::protocol::PROTOCOLS;

/// What a protocol adds to routing (see the module docs).
pub(crate) trait Routing: Send + Sync + 'static {
    /// The labels of the variant `headers` ask for, added to `variant` (none: the default
    /// implementation).
    fn variant(&self, headers: &http::HeaderMap, variant: &mut Variant);

    /// The spelling under which `path` is also looked up when no route has it exactly (`None`: no
    /// other spelling). Routes are registered under the same spelling of their paths.
    fn loose_path(&self, path: &str) -> Option<String> {
        let _ = path;
        None
    }
}

/// Which implementation of a service a call asks for, or a route implements: labels and their values
/// (Triple's `service group` and `service version`), empty for the default implementation. Labels
/// with empty values are left out, so "no group" and "group `\"\"`" are the same variant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Variant {
    labels: BTreeMap<&'static str, Box<str>>,
}

impl Variant {
    /// Sets `label` to `value` (an empty value removes it).
    pub(crate) fn set(&mut self, label: &'static str, value: &str) {
        if value.is_empty() {
            self.labels.remove(label);
        } else {
            self.labels.insert(label, Box::from(value));
        }
    }

    /// Whether this is the default implementation (no labels).
    pub(crate) fn is_default(&self) -> bool {
        self.labels.is_empty()
    }
}

impl fmt::Display for Variant {
    /// The labels as a phrase: `service group "g1" and service version "1.0.0"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default() {
            return f.write_str("the default variant");
        }
        for (i, (label, value)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{label} {value:?}")?;
        }
        Ok(())
    }
}

/// The variant a request with `headers` asks for, as every protocol's routing reads it.
pub(crate) fn variant_of(headers: &http::HeaderMap) -> Variant {
    let mut variant = Variant::default();
    for routing in PROTOCOLS.iter().filter_map(|protocol| protocol.routing) {
        routing.variant(headers, &mut variant);
    }
    variant
}

/// The looser spelling of `path` the first protocol with one gives, if any.
pub(crate) fn loose_path(path: &str) -> Option<String> {
    PROTOCOLS
        .iter()
        .filter_map(|protocol| protocol.routing)
        .find_map(|routing| routing.loose_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_labels_are_the_default_and_order_does_not_matter() {
        let mut a = Variant::default();
        a.set("service group", "");
        assert!(a.is_default());
        a.set("service version", "1");
        a.set("service group", "g");
        let mut b = Variant::default();
        b.set("service group", "g");
        b.set("service version", "1");
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            "service group \"g\" and service version \"1\""
        );
    }
}
