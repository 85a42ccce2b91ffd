//! Triple's part in routing, as dubbo-go routes: Apache Dubbo's service group and version pick one of
//! several implementations of a service, a service may answer to other names (a Java interface's), and
//! a method is found with either case of its name's first letter.
//!
//! This is the server side: [`TripleRoutes`], the options of a service's routes, and [`TripleRouting`],
//! which reads a call's `tri-service-group` and `tri-service-version` headers for the router (the
//! client sends them with `client_options.rs`). They are plain request headers, so group and version
//! routing works whatever protocol a call speaks.

use crate::ServiceRoutes;
use crate::protocol::routing::{Routing, Variant};
use crate::protocol::triple::{SERVICE_GROUP, SERVICE_VERSION};
/// The labels of a variant (see `protocol/routing.rs`), as the router's messages show them.
const GROUP_LABEL: &str = "service group";
const VERSION_LABEL: &str = "service version";

/// Triple's routing: the variant is the service group and version a call's headers name.
pub(crate) struct TripleRouting;

impl Routing for TripleRouting {
    fn variant(&self, headers: &http::HeaderMap, variant: &mut Variant) {
        for (label, name) in [
            (GROUP_LABEL, SERVICE_GROUP),
            (VERSION_LABEL, SERVICE_VERSION),
        ] {
            if let Some(value) = headers.get(name) {
                variant.set(label, value.to_str().unwrap_or("\u{fffd}"));
            }
        }
    }

    /// `path` with the first letter of its last segment (the method) in lower case: dubbo-go routes
    /// `/pkg.Service/sayHello` to `SayHello`, and the other way round, so Trident does too.
    fn loose_path(&self, path: &str) -> Option<String> {
        let (service, method) = path.rsplit_once('/')?;
        let mut chars = method.chars();
        let first = chars.next()?;
        Some(format!(
            "{service}/{}{}",
            first.to_lowercase(),
            chars.as_str()
        ))
    }
}

/// Triple's options for a service's routes: Apache Dubbo's service group, version and interface-name
/// aliases. Bring the trait into scope (`use trident::triple::TripleRoutes;`) and chain its methods
/// on [`ServiceRoutes`] like the others.
pub trait TripleRoutes: Sized {
    /// Makes these handlers the implementation of the service for Apache Dubbo's service group
    /// `group`: they answer only calls whose `tri-service-group` header names it (and whose
    /// `tri-service-version` names this routes' [`version`](Self::version)). One router may hold a
    /// service's default implementation (no group, no version) and others per group and version;
    /// a call naming a pair with no implementation fails with `unimplemented`, as dubbo-go answers
    /// it. The headers are plain request headers, so this works with every protocol.
    fn group(self, group: &str) -> Self;

    /// Makes these handlers the implementation of the service for Apache Dubbo's service version
    /// `version` (the `tri-service-version` header); see [`group`](Self::group).
    fn version(self, version: &str) -> Self;

    /// Also serves these methods under the service name `name`: `/{name}/{Method}`. Dubbo services
    /// defined as Java interfaces are called by the interface's name
    /// (`/org.apache.dubbo.demo.GreetService/greet`) rather than the proto's full name; with
    /// `alias("org.apache.dubbo.demo.GreetService")` such callers reach these handlers too. Method
    /// names match as for the service's own name, the first letter in either case.
    fn alias(self, name: &str) -> Self;
}

impl TripleRoutes for ServiceRoutes {
    fn group(mut self, group: &str) -> Self {
        self.variant_mut().set(GROUP_LABEL, group);
        self
    }

    fn version(mut self, version: &str) -> Self {
        self.variant_mut().set(VERSION_LABEL, version);
        self
    }

    fn alias(mut self, name: &str) -> Self {
        self.push_alias(name);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_first_letter_is_lowered() {
        let lower = |path| TripleRouting.loose_path(path);
        assert_eq!(lower("/p.S/SayHello").as_deref(), Some("/p.S/sayHello"));
        assert_eq!(lower("/p.S/sayHello").as_deref(), Some("/p.S/sayHello"));
        assert_eq!(lower("/p.S/"), None);
    }

    #[test]
    fn group_and_version_headers_name_the_variant() {
        let mut headers = http::HeaderMap::new();
        headers.insert(SERVICE_GROUP, http::HeaderValue::from_static("g1"));
        let mut variant = Variant::default();
        TripleRouting.variant(&headers, &mut variant);
        let mut expected = Variant::default();
        expected.set(GROUP_LABEL, "g1");
        assert_eq!(variant, expected);
        let mut none = Variant::default();
        TripleRouting.variant(&http::HeaderMap::new(), &mut none);
        assert!(none.is_default());
    }
}
