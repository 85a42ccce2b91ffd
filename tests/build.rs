//! Compiles the test service's proto (`proto/trident/test/v1/test.proto`) twice: with `trident-build`
//! (messages, Trident server trait and client), and with `tonic-prost-build` into `$OUT_DIR/tonic/`
//! (tonic client and server stubs only, reusing the Trident-generated messages), for the tonic interop
//! tests in `tests/suite/tonic_client.rs` and `tests/suite/tonic_server.rs`.

use std::path::PathBuf;

const PROTO: &str = "trident/test/v1/test.proto";

/// The REST tests' service, whose `google.api.http` annotations import our own minimal
/// `google/api` definitions from the repository's `proto/` folder.
const LIBRARY: &str = "trident/test/v1/library.proto";

fn main() -> std::io::Result<()> {
    trident_build::configure()
        .include_file("protos.rs")
        .compile(&[PROTO, LIBRARY], &["proto", "../proto"])?;

    // protox parses the proto in-process (there is no protoc), and tonic's prost generator turns the
    // descriptors into stubs. Every message is the one `trident_tests::proto` already defines.
    let fds = protox::compile([PROTO], ["proto"]).map_err(std::io::Error::other)?;
    let out_dir =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set for build scripts"));
    let tonic_dir = out_dir.join("tonic");
    std::fs::create_dir_all(&tonic_dir)?;
    tonic_prost_build::configure()
        .out_dir(&tonic_dir)
        .build_transport(false)
        .generate_default_stubs(true)
        .emit_rerun_if_changed(false)
        .extern_path(".trident.test.v1", "::trident_tests::proto")
        .compile_fds(fds)
}
