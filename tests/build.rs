//! Compiles the test service's proto (`proto/trident/test/v1/test.proto`) with `trident-build`.

fn main() -> std::io::Result<()> {
    trident_build::configure().compile(&["trident/test/v1/test.proto"], &["proto"])
}
