//! `google.rpc.ResourceInfo`: the resource a call was about.

/// The resource a call could not use (not found, already exists, access denied, …).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ResourceInfo {
    /// The kind of resource, such as a type URL or `sql table`.
    #[prost(string, tag = "1")]
    pub resource_type: String,
    /// Its name.
    #[prost(string, tag = "2")]
    pub resource_name: String,
    /// Its owner, if known.
    #[prost(string, tag = "3")]
    pub owner: String,
    /// What went wrong with it.
    #[prost(string, tag = "4")]
    pub description: String,
}

super::google_rpc_name!(ResourceInfo, "ResourceInfo");

impl ResourceInfo {
    /// A `ResourceInfo` for the resource `name` of kind `kind`, as `description` says, owner unset.
    pub fn new(
        kind: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            resource_type: kind.into(),
            resource_name: name.into(),
            owner: String::new(),
            description: description.into(),
        }
    }

    /// Sets the owner.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }
}
