//! Triple's client options: the Apache Dubbo service group and version a client's calls are for, sent
//! as headers the server routes by (see `routing.rs`).

use crate::client::ClientBuilder;
use crate::protocol::triple::{SERVICE_GROUP, SERVICE_VERSION};

/// Triple's options for a client: the Apache Dubbo service group and version its calls are for. Bring
/// the trait into scope (`use trident::triple::TripleClientOptions;`) and chain its methods on
/// [`ClientBuilder`] like the others.
pub trait TripleClientOptions: Sized {
    /// Names the Apache Dubbo service group every call is for (the `tri-service-group` header, which
    /// Dubbo servers, and Trident routers with [`TripleRoutes::group`](crate::triple::TripleRoutes::group), route by), unless a call's own
    /// headers name one. Works with every protocol; Dubbo services are usually called with
    /// [`ProtocolKind::TRIPLE`](crate::ProtocolKind::TRIPLE). A value that is no valid header value
    /// fails [`build`](ClientBuilder::build).
    fn service_group(self, group: &str) -> Self;

    /// Names the Apache Dubbo service version every call is for (the `tri-service-version` header);
    /// see [`service_group`](Self::service_group).
    fn service_version(self, version: &str) -> Self;
}

impl TripleClientOptions for ClientBuilder {
    fn service_group(self, group: &str) -> Self {
        self.default_header(SERVICE_GROUP, group)
    }

    fn service_version(self, version: &str) -> Self {
        self.default_header(SERVICE_VERSION, version)
    }
}
