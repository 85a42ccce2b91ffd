//! Compiles the Connect conformance protos (`connectrpc/conformance/v1/*.proto`) with `trident-build`.
//!
//! The protos are never copied into this repository. They are read from the Go module cache, where
//! `go mod download -json connectrpc.com/conformance@<version>` puts them (its JSON answer names the
//! module's `Dir`). Set `CONFORMANCE_PROTO_DIR` to a directory holding `connectrpc/conformance/v1/` to use
//! another copy (for example on a machine without Go).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The conformance-suite release whose protos (and runner) this crate targets.
const CONFORMANCE_MODULE: &str = "connectrpc.com/conformance@v1.0.5";

/// Where the protos live inside the conformance module.
const PROTO_SUBDIR: &str = "proto";

/// The package directory, relative to the include root.
const PACKAGE_DIR: &str = "connectrpc/conformance/v1";

fn main() {
    println!("cargo:rerun-if-env-changed=CONFORMANCE_PROTO_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    let include_root = proto_root();
    let package_dir = include_root.join(PACKAGE_DIR);
    let mut protos: Vec<PathBuf> = std::fs::read_dir(&package_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", package_dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    protos.sort();
    assert!(
        !protos.is_empty(),
        "no .proto files in {}",
        package_dir.display()
    );
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    trident_build::configure()
        .compile(&protos, &[include_root])
        .unwrap_or_else(|e| panic!("cannot compile the conformance protos: {e}"));
}

/// The include root that holds `connectrpc/conformance/v1/`.
fn proto_root() -> PathBuf {
    if let Some(dir) = env::var_os("CONFORMANCE_PROTO_DIR") {
        let dir = PathBuf::from(dir);
        if dir.join(PACKAGE_DIR).is_dir() {
            return dir;
        }
        // Also accept the module root itself.
        if dir.join(PROTO_SUBDIR).join(PACKAGE_DIR).is_dir() {
            return dir.join(PROTO_SUBDIR);
        }
        panic!(
            "CONFORMANCE_PROTO_DIR={} holds neither {PACKAGE_DIR}/ nor {PROTO_SUBDIR}/{PACKAGE_DIR}/",
            dir.display()
        );
    }
    module_dir().join(PROTO_SUBDIR)
}

/// Asks the Go tool where the conformance module is (downloading it into the module cache if needed).
fn module_dir() -> PathBuf {
    let output = Command::new("go")
        .args(["mod", "download", "-json", CONFORMANCE_MODULE])
        // Not inside any Go module: the download is independent of the caller's directory.
        .env("GO111MODULE", "on")
        .current_dir(env::temp_dir())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `go mod download -json {CONFORMANCE_MODULE}` ({e}); install Go or set \
                 CONFORMANCE_PROTO_DIR to a directory holding {PACKAGE_DIR}/"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "`go mod download -json {CONFORMANCE_MODULE}` printed no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    if let Some(error) = json.get("Error").and_then(|v| v.as_str()) {
        panic!("`go mod download {CONFORMANCE_MODULE}` failed: {error}");
    }
    let dir = json.get("Dir").and_then(|v| v.as_str()).unwrap_or_else(|| {
        panic!("`go mod download -json {CONFORMANCE_MODULE}` gave no Dir: {stdout}")
    });
    let dir = Path::new(dir).to_path_buf();
    assert!(
        dir.join(PROTO_SUBDIR).join(PACKAGE_DIR).is_dir(),
        "{} has no {PROTO_SUBDIR}/{PACKAGE_DIR}/",
        dir.display()
    );
    dir
}
