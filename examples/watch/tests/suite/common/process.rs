//! The example's binaries as child processes, for black-box tests of what only a real process shows:
//! surviving `kill -9`, restarting on the same data directory, and resident memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use trident::Client;
use trident_watch::proto::KvServiceClient;

use super::within;

/// A directory under the system's temporary directory, new and empty, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after `name` and this process.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("trident-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `watch-server` child process, killed (SIGKILL) when dropped.
pub struct ServerProcess {
    /// The address it listens on.
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    /// Starts `watch-server ADDR ARGS...` and waits for its `listening on` line.
    pub async fn start(addr: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_watch-server"))
            .arg(addr)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn watch-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = within("watch-server to listen", lines.next_line())
            .await
            .expect("read watch-server's output")
            .expect("watch-server exited before listening");
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .expect("an address");
        Self { addr, child }
    }

    /// Starts a server keeping its store in `dir`.
    pub async fn durable(addr: &str, dir: &Path) -> Self {
        Self::start(addr, &["--data", dir.to_str().expect("a UTF-8 path")]).await
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A Connect client over HTTP/1.1.
    pub fn client(&self) -> KvServiceClient {
        KvServiceClient::new(Client::builder(self.url()).build().expect("client"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("a running process")
    }

    /// Asks it to stop with SIGTERM (a graceful shutdown) and waits until it is gone; returns how it
    /// exited.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .expect("run kill");
        assert!(sent.success(), "kill -TERM");
        within("watch-server to exit", self.child.wait())
            .await
            .expect("wait")
    }

    /// Kills it with SIGKILL (no chance to flush or clean up) and waits until it is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        within("watch-server to die", self.child.wait())
            .await
            .expect("wait");
    }
}

/// A `watch-cli` child process whose standard output is read line by line; killed when dropped.
pub struct CliProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl CliProcess {
    /// Starts `watch-cli ARGS...`.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_watch-cli"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn watch-cli");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// Reads lines until one contains `text`; answers the lines read before it. Fails the test if the
    /// output ends or nothing matches in time.
    pub async fn wait_for(&mut self, text: &str) -> Vec<String> {
        let mut before = Vec::new();
        within(&format!("watch-cli to print {text:?}"), async {
            loop {
                match self.lines.next_line().await.expect("read watch-cli") {
                    Some(line) if line.contains(text) => return,
                    Some(line) => before.push(line),
                    None => panic!("watch-cli's output ended; it printed {before:?}"),
                }
            }
        })
        .await;
        before
    }

    /// Waits for it to exit; answers whether it succeeded and what it wrote to standard error.
    pub async fn exit(mut self) -> (bool, String) {
        let status = within("watch-cli to exit", self.child.wait())
            .await
            .expect("wait");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt as _;
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        (status.success(), stderr)
    }
}

/// A process's resident memory in KiB (`VmRSS` in `/proc/PID/status`).
pub fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}
