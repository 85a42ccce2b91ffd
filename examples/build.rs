//! Generates the demo service's messages, server trait and client.

fn main() -> std::io::Result<()> {
    trident_build::configure()
        .openapi("greet.openapi.json")
        .compile(
            &["proto/trident/demo/v1/greet.proto"],
            &["proto", "../proto"],
        )
}
