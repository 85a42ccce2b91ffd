//! `protoc-gen-trident`: the `protoc` / `buf` plugin generating Trident code; see
//! `trident_build::plugin` for its output and options.

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    match trident_build::plugin::run(io::stdin().lock(), io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("protoc-gen-trident: {error}");
            ExitCode::FAILURE
        }
    }
}
