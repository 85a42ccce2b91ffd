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
//!   [`crate::Builder::descriptor_pool`]);
//! * `openapi=<file name>`: also write an OpenAPI 3.1 document of the services of the files to
//!   generate (see [`crate::Builder::openapi`]);
//! * `openapi_title=<title>`, `openapi_version=<version>`: the document's `info.title` and
//!   `info.version` (no commas: they separate options).
//!
//! Methods' `google.api.http` bindings are registered in the routes functions (see the crate docs).
//! Warnings (a binding the OpenAPI document cannot hold, a streaming method bound to REST) go to
//! standard error, which `protoc` and `buf` show.

use std::io::{self, Read, Write};

use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorSet;
use prost_types::compiler::code_generator_response::{Feature, File};
use prost_types::compiler::{CodeGeneratorRequest, CodeGeneratorResponse};

use crate::Builder;

/// Answers `request`: the generated files, or an `error` naming what went wrong.
///
/// `prost_types` drops extension options when it decodes descriptors, so `request` carries no
/// `google.api.http` bindings and the code registers none: [`generate_encoded`] (which [`run`]
/// calls) reads them from the encoded request.
pub fn generate(request: &CodeGeneratorRequest) -> CodeGeneratorResponse {
    respond(request, None)
}

/// Answers the encoded `request`, reading the `google.api.http` bindings of its methods.
pub fn generate_encoded(request: &[u8]) -> CodeGeneratorResponse {
    let decoded = match CodeGeneratorRequest::decode(request) {
        Ok(decoded) => decoded,
        Err(error) => return failure(format!("invalid CodeGeneratorRequest: {error}")),
    };
    match raw_pool(request) {
        Ok(pool) => respond(&decoded, Some(&pool)),
        Err(error) => failure(error),
    }
}

/// Reads an encoded `CodeGeneratorRequest` from `input` and writes the encoded response to
/// `output`, as `protoc` expects of a plugin on stdin and stdout.
pub fn run(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    CodeGeneratorRequest::decode(bytes.as_slice()).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid CodeGeneratorRequest: {error}"),
        )
    })?;
    output.write_all(&generate_encoded(&bytes).encode_to_vec())?;
    output.flush()
}

/// The request's files, each kept encoded (with its extension options).
#[derive(Clone, PartialEq, prost::Message)]
struct RawRequest {
    /// `CodeGeneratorRequest.proto_file`.
    #[prost(bytes = "vec", repeated, tag = "15")]
    proto_file: Vec<Vec<u8>>,
}

/// A `FileDescriptorSet` of encoded files.
#[derive(Clone, PartialEq, prost::Message)]
struct RawFileSet {
    /// `FileDescriptorSet.file`.
    #[prost(bytes = "vec", repeated, tag = "1")]
    file: Vec<Vec<u8>>,
}

/// The pool of the request's files, extension options included.
fn raw_pool(request: &[u8]) -> Result<DescriptorPool, String> {
    let raw = RawRequest::decode(request)
        .map_err(|error| format!("invalid CodeGeneratorRequest: {error}"))?;
    let set = RawFileSet {
        file: raw.proto_file,
    };
    DescriptorPool::decode(set.encode_to_vec().as_slice())
        .map_err(|error| format!("protoc-gen-trident: invalid descriptors: {error}"))
}

fn failure(error: String) -> CodeGeneratorResponse {
    CodeGeneratorResponse {
        supported_features: Some(Feature::Proto3Optional as u64),
        error: Some(error),
        ..CodeGeneratorResponse::default()
    }
}

fn respond(request: &CodeGeneratorRequest, pool: Option<&DescriptorPool>) -> CodeGeneratorResponse {
    let mut response = CodeGeneratorResponse {
        supported_features: Some(Feature::Proto3Optional as u64),
        ..CodeGeneratorResponse::default()
    };
    match generate_files(request, pool) {
        Ok(files) => response.file = files,
        Err(error) => response.error = Some(error),
    }
    response
}

fn generate_files(
    request: &CodeGeneratorRequest,
    pool: Option<&DescriptorPool>,
) -> Result<Vec<File>, String> {
    let (builder, include_file) = parse_parameter(request.parameter())?;
    let fds = FileDescriptorSet {
        file: request.proto_file.clone(),
    };
    let output = builder
        .generate_output(&fds, pool, Some(&request.file_to_generate), "")
        .map_err(|error| format!("protoc-gen-trident: {error}"))?;
    for warning in &output.warnings {
        // protoc and buf show what a plugin writes to stderr.
        eprintln!("protoc-gen-trident: warning: {warning}");
    }
    let generated = output.files;
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
            content: Some(crate::files::include_file_content(&generated, |file| {
                format!("include!({file:?});")
            })),
            ..File::default()
        });
    }
    if let (Some(name), Some(document)) = (&builder.openapi, output.openapi) {
        files.push(File {
            name: Some(name.clone()),
            content: Some(document),
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
            "openapi" if !value.is_empty() => builder.openapi(value),
            "openapi_title" if !value.is_empty() => builder.openapi_title(value),
            "openapi_version" if !value.is_empty() => builder.openapi_version(value),
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
