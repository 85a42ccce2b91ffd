//! The pieces of a generated file besides prost's and the services' code: which messages get
//! reflection attributes, the descriptor bytes embedded or written beside the code (without source
//! info), formatting, the include file nesting packages into modules, and writing files only when
//! they change.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use prost_build::Module;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};

use crate::{GeneratedFile, HEADER};

/// Full names (without leading dot) of the messages of `file` that prost generates structs for,
/// with how deeply each is nested in other messages.
pub(crate) fn message_names(file: &FileDescriptorProto) -> Vec<(String, usize)> {
    fn walk(
        prefix: &str,
        messages: &[DescriptorProto],
        depth: usize,
        out: &mut Vec<(String, usize)>,
    ) {
        for message in messages {
            if message.options.as_ref().is_some_and(|o| o.map_entry()) {
                continue;
            }
            let full_name = if prefix.is_empty() {
                message.name().to_owned()
            } else {
                format!("{prefix}.{}", message.name())
            };
            walk(&full_name, &message.nested_type, depth + 1, out);
            out.push((full_name, depth));
        }
    }
    let mut out = Vec::new();
    walk(file.package(), &file.message_type, 0, &mut out);
    out
}

/// `files` and everything they import, in the order of `fds`.
pub(crate) fn dependency_closure(
    fds: &FileDescriptorSet,
    files: &[&FileDescriptorProto],
) -> Vec<FileDescriptorProto> {
    let by_name: BTreeMap<&str, &FileDescriptorProto> =
        fds.file.iter().map(|file| (file.name(), file)).collect();
    let mut needed = std::collections::BTreeSet::new();
    let mut stack: Vec<&str> = files.iter().map(|file| file.name()).collect();
    while let Some(name) = stack.pop() {
        if needed.insert(name)
            && let Some(file) = by_name.get(name)
        {
            stack.extend(file.dependency.iter().map(String::as_str));
        }
    }
    fds.file
        .iter()
        .filter(|file| needed.contains(file.name()))
        .cloned()
        .collect()
}

/// The set of `files` without comments and source positions, which runtime reflection never
/// reads.
pub(crate) fn strip_source_info(files: &[FileDescriptorProto]) -> FileDescriptorSet {
    FileDescriptorSet {
        file: files
            .iter()
            .cloned()
            .map(|mut file| {
                file.source_code_info = None;
                file
            })
            .collect(),
    }
}

/// A Rust byte-string literal of `bytes`.
pub(crate) fn byte_string_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("b\"");
    for &byte in bytes {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

/// Parses generated code and prints it in rustfmt-like style, under the generated-file header.
pub(crate) fn format_code(code: &str) -> io::Result<String> {
    let file = syn::parse_file(code).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("generated code does not parse ({error}); please report this"),
        )
    })?;
    Ok(format!("{HEADER}{}", prettyplease::unparse(&file)))
}

/// An include file nesting each package's code into modules; `include` gives the statement
/// including one file.
pub(crate) fn include_file_content(
    files: &[GeneratedFile],
    include: impl Fn(&str) -> String,
) -> String {
    let mut out = String::from(HEADER);
    let mut open: Vec<String> = Vec::new();
    let mut modules: Vec<(Vec<String>, &str)> = files
        .iter()
        .map(|file| {
            let module = Module::from_protobuf_package_name(&file.package);
            (
                module.parts().map(str::to_owned).collect(),
                file.name.as_str(),
            )
        })
        .collect();
    modules.sort();
    for (parts, name) in modules {
        while !parts.starts_with(&open) {
            open.pop();
            out.push_str(&"    ".repeat(open.len()));
            out.push_str("}\n");
        }
        while open.len() < parts.len() {
            let part = &parts[open.len()];
            let indent = "    ".repeat(open.len());
            let package = parts[..=open.len()].join(".");
            out.push_str(&format!(
                "{indent}/// Protobuf package `{package}`.\n{indent}pub mod {part} {{\n"
            ));
            open.push(part.clone());
        }
        out.push_str(&"    ".repeat(open.len()));
        out.push_str(&include(name));
        out.push('\n');
    }
    while !open.is_empty() {
        open.pop();
        out.push_str(&"    ".repeat(open.len()));
        out.push_str("}\n");
    }
    out
}

/// Writes `content` to `path` unless it already holds exactly that, so unchanged output does not
/// trigger rebuilds.
pub(crate) fn write_if_changed(path: &Path, content: &[u8]) -> io::Result<()> {
    if fs::read(path).is_ok_and(|existing| existing == content) {
        return Ok(());
    }
    fs::write(path, content)
}
