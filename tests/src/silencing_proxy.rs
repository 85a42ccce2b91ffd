//! A TCP proxy that can make its connections go silent without closing them: how tests stand in for a
//! peer that vanished (a crashed host, a dropped NAT entry) to check keepalive on either side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to `upstream` that can make every connection open so far go silent: bytes are still
/// read from both sides, but no longer passed on, and nothing is closed (a host that crashed, a NAT
/// entry that was dropped). Connections opened later pass bytes as usual.
pub struct SilencingProxy {
    addr: SocketAddr,
    /// Connections numbered below this are silent.
    silent_below: Arc<AtomicU64>,
    next_id: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SilencingProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let silent_below = Arc::new(AtomicU64::new(0));
        let next_id = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (silent_below, next_id) = (silent_below.clone(), next_id.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pass(client_read, server_write, id, silent_below.clone()));
                    tokio::spawn(pass(server_read, client_write, id, silent_below.clone()));
                }
            }
        });
        Self {
            addr,
            silent_below,
            next_id,
            task,
        }
    }

    /// Silences every connection opened so far.
    pub fn silence_open_connections(&self) {
        let opened = self.next_id.load(Ordering::SeqCst);
        self.silent_below.store(opened, Ordering::SeqCst);
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy as an `http://` base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilencingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to` until either ends, dropping the bytes once connection `id` is silenced.
async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    silent_below: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if id < silent_below.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
