//! The `protoc` plugin behind the `protoc-gen-trident` binary, callable in-process.
//!
//! The plugin answers a `CodeGeneratorRequest` with one `<package>.rs` file per protobuf package
//! holding a file to generate, with the same code as the `build.rs` API except that each file
//! embeds its descriptors (`FILE_DESCRIPTOR_SET`), so it needs no companion file.
//!
//! Options go in the plugin parameter as comma-separated `key=value` pairs, for example
//! `--trident_opt=client=false` with `protoc`, or `opt: client=false` with `buf`:
//!
//! * `server=<bool>`: generate server traits and routes functions (default `true`);
//! * `client=<bool>`: generate typed clients (default `true`);
//! * `include_file=<name>`: also write a file nesting every package into modules;
//! * `file_descriptor_set_bytes=<expr>`: initialize `FILE_DESCRIPTOR_SET` with this expression
//!   instead of embedding the bytes (see [`crate::Builder::file_descriptor_set_bytes`]);
//! * `descriptor_pool=<expr>`: take descriptors from this `DescriptorPool` expression (see
//!   [`crate::Builder::descriptor_pool`]).

use std::io::{self, Read, Write};

use prost::Message as _;
use prost_types::FileDescriptorSet;
use prost_types::compiler::code_generator_response::{Feature, File};
use prost_types::compiler::{CodeGeneratorRequest, CodeGeneratorResponse};

use crate::Builder;

/// Answers `request`: the generated files, or an `error` naming what went wrong.
pub fn generate(request: &CodeGeneratorRequest) -> CodeGeneratorResponse {
    let mut response = CodeGeneratorResponse {
        supported_features: Some(Feature::Proto3Optional as u64),
        ..CodeGeneratorResponse::default()
    };
    match generate_files(request) {
        Ok(files) => response.file = files,
        Err(error) => response.error = Some(error),
    }
    response
}

/// Reads an encoded `CodeGeneratorRequest` from `input` and writes the encoded response to
/// `output`, as `protoc` expects of a plugin on stdin and stdout.
pub fn run(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let request = CodeGeneratorRequest::decode(bytes.as_slice()).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid CodeGeneratorRequest: {error}"),
        )
    })?;
    output.write_all(&generate(&request).encode_to_vec())?;
    output.flush()
}

fn generate_files(request: &CodeGeneratorRequest) -> Result<Vec<File>, String> {
    let (builder, include_file) = parse_parameter(request.parameter())?;
    let fds = FileDescriptorSet {
        file: request.proto_file.clone(),
    };
    let generated = builder
        .generate_files(&fds, Some(&request.file_to_generate), "")
        .map_err(|error| error.to_string())?;
    let mut files: Vec<File> = generated
        .iter()
        .map(|file| File {
            name: Some(file.name.clone()),
            content: Some(file.content.clone()),
            ..File::default()
        })
        .collect();
    if let Some(name) = include_file {
        files.push(File {
            name: Some(name),
            content: Some(crate::include_file_content(&generated, |file| {
                format!("include!({file:?});")
            })),
            ..File::default()
        });
    }
    Ok(files)
}

/// The builder and include file name the plugin parameter asks for.
fn parse_parameter(parameter: &str) -> Result<(Builder, Option<String>), String> {
    let mut builder = Builder::new().embed_file_descriptor_set();
    let mut include_file = None;
    for option in parameter
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        builder = match key.trim() {
            "server" => builder.build_server(parse_bool(key, value)?),
            "client" => builder.build_client(parse_bool(key, value)?),
            "include_file" if !value.is_empty() => {
                include_file = Some(value.to_owned());
                builder
            }
            "file_descriptor_set_bytes" if !value.is_empty() => {
                builder.file_descriptor_set_bytes(value)
            }
            "descriptor_pool" if !value.is_empty() => builder.descriptor_pool(value),
            _ => return Err(format!("protoc-gen-trident: unknown option `{option}`")),
        };
    }
    Ok((builder, include_file))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.trim() {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!(
            "protoc-gen-trident: option `{key}` takes true or false, not `{other}`"
        )),
    }
}
