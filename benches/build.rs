//! Generates the echo service (`proto/trident/bench/v1/echo.proto`) for each Rust peer from the one proto:
//! Trident's code with `trident-build`, tonic's messages and stubs with `tonic-prost-build` (into
//! `$OUT_DIR/tonic/`), and connect-rust's buffa messages and service with `connectrpc-build` (into
//! `$OUT_DIR/connectrpc/`). protox parses the proto in-process, so no `protoc` is needed.

use std::path::PathBuf;

use prost::Message as _;

const PROTO: &str = "trident/bench/v1/echo.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    trident_build::configure().compile(&[PROTO], &["proto"])?;

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let fds = protox::compile([PROTO], ["proto"])?;

    let tonic_dir = out_dir.join("tonic");
    std::fs::create_dir_all(&tonic_dir)?;
    tonic_prost_build::configure()
        .out_dir(&tonic_dir)
        .build_client(true)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .compile_fds(fds.clone())?;

    // connectrpc-build reads a precompiled descriptor set instead of running protoc.
    let fds_path = out_dir.join("echo.fds.bin");
    std::fs::write(&fds_path, fds.encode_to_vec())?;
    let connect_dir = out_dir.join("connectrpc");
    std::fs::create_dir_all(&connect_dir)?;
    connectrpc_build::Config::new()
        .descriptor_set(&fds_path)
        .files(&[PROTO])
        .out_dir(&connect_dir)
        .generate_json(true)
        .emit_rerun_directives(false)
        .compile()?;
    Ok(())
}
