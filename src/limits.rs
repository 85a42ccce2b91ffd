//! Message limits both sides share: the defaults for what a peer may send and when compression pays.

/// Default limit on a received message's uncompressed size, on the server and the client: 4 MiB.
pub(crate) const DEFAULT_READ_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Default size below which messages are sent uncompressed, on the server and the client: 1 KiB.
pub(crate) const DEFAULT_COMPRESS_MIN_BYTES: usize = 1024;
