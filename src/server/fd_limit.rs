//! The default connection limit: what the process's file-descriptor limit allows, less a reserve.
//!
//! Every connection costs the server one file descriptor. A server that accepts until `accept` fails
//! with "too many open files" can no longer open anything else either (a log file, a connection to its
//! database), and its idle connections lock new clients out. Stopping a little short of the limit keeps
//! the rest of the process working and lets the connection limit's idle-connection eviction take over.

/// The connection limit a `Server` gets unless told otherwise: `None` (no limit) where the
/// file-descriptor limit cannot be read or is unlimited.
pub(crate) fn default_max_connections() -> Option<usize> {
    soft_fd_limit().map(connections_within)
}

/// How many connections fit in `fd_limit` file descriptors, keeping a tenth of them (at least 32)
/// for everything else the process opens; at least 1.
fn connections_within(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 10).max(32);
    usize::try_from(fd_limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
}

/// The process's soft limit on open file descriptors (`ulimit -n`).
#[cfg(unix)]
fn soft_fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Other systems report no limit this way.
#[cfg(not(unix))]
fn soft_fd_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenth_of_the_descriptors_is_kept_in_reserve() {
        assert_eq!(connections_within(1024), 922);
        assert_eq!(connections_within(65_536), 58_983);
        // Small limits keep at least 32 for the rest of the process, and allow one connection.
        assert_eq!(connections_within(256), 224);
        assert_eq!(connections_within(20), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_default_follows_this_process_limit() {
        let limit = soft_fd_limit();
        assert_eq!(default_max_connections(), limit.map(connections_within));
    }
}
