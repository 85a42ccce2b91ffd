//! The servers under test: which binary each peer is, which protocols it speaks, building the connect-go
//! peer (generating its code from the suite's proto first), and running a peer pinned to its core.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message as _;
use prost_types::compiler::{CodeGeneratorRequest, CodeGeneratorResponse};

/// One implementation of the echo service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Trident, this repository.
    Trident,
    /// tonic 0.14.
    Tonic,
    /// connect-rust (`connectrpc`).
    ConnectRust,
    /// connect-go.
    ConnectGo,
    /// Raw hyper, no RPC layer.
    Hyper,
}

/// The RPC protocols a request can be sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Connect unary: the bare message, `application/proto`.
    Connect,
    /// gRPC: enveloped, trailers.
    Grpc,
    /// gRPC-Web: enveloped, trailers in the body.
    GrpcWeb,
}

impl Protocol {
    /// The protocol's name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Connect => "Connect",
            Protocol::Grpc => "gRPC",
            Protocol::GrpcWeb => "gRPC-Web",
        }
    }
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 5] = [
        Peer::Trident,
        Peer::Tonic,
        Peer::ConnectRust,
        Peer::ConnectGo,
        Peer::Hyper,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Trident => "trident",
            Peer::Tonic => "tonic",
            Peer::ConnectRust => "connect-rust",
            Peer::ConnectGo => "connect-go",
            Peer::Hyper => "hyper",
        }
    }

    /// What the peer is, for the settings section.
    pub fn describe(self) -> &'static str {
        match self {
            Peer::Trident => "Trident (this repository), `trident::Server`",
            Peer::Tonic => "tonic 0.14 with tonic-prost, `tonic::transport::Server`",
            Peer::ConnectRust => {
                "connect-rust: crate `connectrpc` 0.9 (buffa messages), its `Server`"
            }
            Peer::ConnectGo => "connect-go v1.19 (`connectrpc.com/connect`), `net/http` with h2c",
            Peer::Hyper => "raw hyper 1 HTTP/2 server, no RPC layer (the ceiling)",
        }
    }

    /// The peer called `name` on the command line.
    pub fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the peer serves `protocol`.
    pub fn speaks(self, protocol: Protocol) -> bool {
        match self {
            Peer::Trident | Peer::ConnectRust | Peer::ConnectGo => true,
            Peer::Tonic | Peer::Hyper => protocol == Protocol::Grpc,
        }
    }

    fn binary(self, dirs: &Dirs) -> PathBuf {
        match self {
            Peer::Trident => dirs.rust_bin.join("trident-echo"),
            Peer::Tonic => dirs.rust_bin.join("tonic-echo"),
            Peer::ConnectRust => dirs.rust_bin.join("connectrpc-echo"),
            Peer::ConnectGo => dirs.work.join("connect-go-echo"),
            Peer::Hyper => dirs.rust_bin.join("hyper-echo"),
        }
    }
}

/// Where things are.
pub struct Dirs {
    /// The repository's `benches/` directory.
    pub benches: PathBuf,
    /// Where cargo put the Rust peers (next to this driver).
    pub rust_bin: PathBuf,
    /// Scratch space for built Go binaries, request bodies and logs: `target/bench/`.
    pub work: PathBuf,
}

impl Dirs {
    /// The directories of this checkout and build.
    pub fn find() -> Dirs {
        let benches = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let exe = std::env::current_exe().expect("the driver's own path");
        let rust_bin = exe.parent().expect("a directory").to_path_buf();
        let work = benches.parent().expect("a repository").join("target/bench");
        std::fs::create_dir_all(&work).expect("target/bench can be created");
        Dirs {
            benches,
            rust_bin,
            work,
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Generates the Go code for the suite's proto with protoc-gen-go and protoc-gen-connect-go (built from
/// the Go module cache through `benches/go/go.mod`), feeding them a request built from protox's
/// descriptors, so neither protoc nor buf is needed; then builds the connect-go peer and client.
pub fn build_go(dirs: &Dirs) -> Result<(), String> {
    let go_dir = dirs.benches.join("go");
    for (tool, package) in [
        (
            "protoc-gen-go",
            "google.golang.org/protobuf/cmd/protoc-gen-go",
        ),
        (
            "protoc-gen-connect-go",
            "connectrpc.com/connect/cmd/protoc-gen-connect-go",
        ),
    ] {
        run(Command::new("go")
            .current_dir(&go_dir)
            .args(["build", "-o"])
            .arg(dirs.work.join(tool))
            .arg(package))?;
    }

    let proto = "trident/bench/v1/echo.proto";
    let fds = protox::compile([proto], [dirs.benches.join("proto")]).map_err(|e| e.to_string())?;
    let request = CodeGeneratorRequest {
        file_to_generate: vec![proto.into()],
        parameter: Some(format!(
            "module=trident-benches/go,M{proto}=trident-benches/go/gen/benchv1;benchv1"
        )),
        proto_file: fds.file,
        compiler_version: None,
    };
    let gen_dir = go_dir.join("gen");
    let _ = std::fs::remove_dir_all(&gen_dir);
    for tool in ["protoc-gen-go", "protoc-gen-connect-go"] {
        let response = plugin(&dirs.work.join(tool), &request.encode_to_vec())?;
        if let Some(error) = response.error {
            return Err(format!("{tool}: {error}"));
        }
        for file in response.file {
            let name = file
                .name
                .ok_or_else(|| format!("{tool}: a file without a name"))?;
            let path = go_dir.join(&name);
            std::fs::create_dir_all(path.parent().expect("a directory"))
                .map_err(|e| e.to_string())?;
            std::fs::write(&path, file.content.unwrap_or_default()).map_err(|e| e.to_string())?;
        }
    }
    run(Command::new("go")
        .current_dir(&go_dir)
        .args(["build", "-o"])
        .arg(dirs.work.join("connect-go-echo"))
        .arg("."))?;
    run(Command::new("go")
        .current_dir(&go_dir)
        .args(["build", "-o"])
        .arg(dirs.work.join("connect-go-client"))
        .arg("./client"))
}

fn plugin(path: &Path, request: &[u8]) -> Result<CodeGeneratorResponse, String> {
    use std::io::Write as _;
    let mut child = Command::new(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(request)
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    CodeGeneratorResponse::decode(output.stdout.as_slice()).map_err(|e| e.to_string())
}

/// Whether a peer's binary exists (the Rust ones always do once cargo built them).
pub fn available(peer: Peer, dirs: &Dirs) -> bool {
    peer.binary(dirs).exists()
}

/// A running peer, pinned to the server core; killed when dropped.
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `peer` on `addr` pinned to `cpu` with `workers` runtime threads and `env` added to its
    /// environment (`BENCH_DEFAULTS=1`), and waits until it accepts connections.
    pub fn start(
        peer: Peer,
        dirs: &Dirs,
        addr: SocketAddr,
        cpu: &str,
        workers: usize,
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        let child = Command::new("taskset")
            .args(["-c", cpu])
            .arg(peer.binary(dirs))
            .arg(addr.to_string())
            .env("BENCH_WORKERS", workers.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", peer.name()))?;
        let mut server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("{} exited at start: {status}", peer.name()));
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not start listening", peer.name()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (`taskset` execs the peer, so it is the peer's own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
