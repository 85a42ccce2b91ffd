//! Generates the watch service's messages, server trait and client from `proto/trident/watch/v1/watch.proto`.

fn main() -> std::io::Result<()> {
    trident_build::configure()
        .openapi("watch.openapi.json")
        .compile(
            &["proto/trident/watch/v1/watch.proto"],
            &["proto", "../../proto"],
        )
}
