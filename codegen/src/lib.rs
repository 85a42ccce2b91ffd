//! Code generation for Trident: turns `.proto` files into prost messages plus Trident servers and
//! clients, from a `build.rs` or as the `protoc-gen-trident` plugin.
//!
//! Protobuf files are parsed in pure Rust by [`protox`] (which also bundles the Google well-known
//! types), so no `protoc` binary is needed.
//!
//! # From `build.rs`
//!
//! ```no_run
//! // build.rs
//! fn main() -> std::io::Result<()> {
//!     trident_build::configure().compile(&["proto/greet/v1/greet.proto"], &["proto"])
//! }
//! ```
//!
//! This writes one `<package>.rs` file per protobuf package into `OUT_DIR`, next to
//! `file_descriptor_set.bin`, the encoded descriptors of every compiled file and its imports.
//! Include the code where the package should live:
//!
//! ```ignore
//! pub mod greet {
//!     include!(concat!(env!("OUT_DIR"), "/greet.v1.rs"));
//! }
//! ```
//!
//! [`Builder::include_file`] writes a file that nests every package into modules for you.
//!
//! # What the code needs
//!
//! Services reach the runtime only through `::trident::codegen`. The messages are ordinary prost
//! code and derive `prost_reflect::ReflectMessage` (the runtime's JSON codec and
//! `google.protobuf.Any` handling read their descriptors), so, as with plain prost, the crate
//! including the code depends directly on:
//!
//! * `trident`;
//! * `prost`;
//! * `prost-reflect`, with its `derive` feature;
//! * `prost-types`, when the protos use Google well-known types (they map to `prost_types`).
//!
//! Messages also implement `prost::Name`, so they can serve as error details.
//!
//! # What is generated
//!
//! Per package, besides prost's messages and enums:
//!
//! * `FILE_DESCRIPTOR_SET: &[u8]`, the encoded descriptors the messages resolve through
//!   `prost_reflect::DescriptorPool::global()` (see [`Builder::file_descriptor_set_bytes`] and
//!   [`Builder::descriptor_pool`] for other sources);
//!
//! and per service `pkg.FooService` (see [`TridentServiceGenerator`]):
//!
//! * `FOO_SERVICE_NAME`, the service's fully-qualified name;
//! * `mod foo_service` with one `MethodSpec` constant per method, such as `foo_service::SAY`;
//! * `trait FooService`, the server side, with `unimplemented` default bodies;
//! * `fn foo_service_routes(service) -> ServiceRoutes`, to add to a `Router`, with the methods' REST
//!   bindings (see below);
//! * `struct FooServiceClient`, the typed client.
//!
//! # REST: `google.api.http`
//!
//! A method annotated with googleapis' `google.api.http` option is also served at its REST
//! bindings: the routes function registers each one (the rule, then each of its
//! `additional_bindings`) after the method's handler, through the runtime's `RestRoutes::http`:
//!
//! ```ignore
//! let routes = ::trident::codegen::RestRoutes::http(
//!     routes,
//!     &library_service::GET_BOOK,
//!     ::trident::codegen::HttpRule::get("/v1/{name=shelves/*/books/*}"),
//! );
//! ::trident::codegen::RestRoutes::http(
//!     routes,
//!     &library_service::CREATE_BOOK,
//!     ::trident::codegen::HttpRule::post("/v1/{parent=shelves/*}/books").body("book"),
//! )
//! ```
//!
//! The annotations come from googleapis' `google/api/annotations.proto` and `http.proto` (and
//! `httpbody.proto` for raw bodies), which your project brings like any other proto dependency:
//! from the googleapis repository (`github.com/googleapis/googleapis`), from buf's
//! `buf.build/googleapis/googleapis` module, or from PyPI's `googleapis-common-protos` package,
//! which ships the `.proto` files. Add their directory to the includes. The `google.api` messages
//! get code of their own, like any imported package.
//!
//! Every binding is checked when the code is generated, and a bad one fails the build naming the
//! method: the path template must parse, each path variable must name a singular scalar field
//! (through singular message fields: `{book.name}`; a string when it has a pattern, as in
//! `{name=shelves/*}`), `body` a top-level field or `*`, `response_body` a top-level field of the
//! response. Bindings of client- or bidi-streaming methods, which REST cannot carry, are generated
//! with a `cargo:warning` (the runtime answers them `unimplemented`).
//!
//! `prost_types` drops extension options when it decodes descriptors, so the bindings are read from
//! encoded descriptors: [`Builder::compile`] (protox keeps them), [`Builder::compile_encoded_fds`],
//! [`Builder::generate_encoded`] and the plugin all see them; [`Builder::compile_fds`] and
//! [`Builder::generate`], which take `prost_types` descriptors, see none.
//!
//! # OpenAPI
//!
//! [`Builder::openapi`] (default off) also writes one OpenAPI 3.1 JSON document describing every
//! service compiled, beside the code:
//!
//! ```no_run
//! // build.rs
//! fn main() -> std::io::Result<()> {
//!     trident_build::configure()
//!         .openapi("library.openapi.json")
//!         .openapi_title("Library API")
//!         .openapi_version("1.0.0")
//!         .compile(&["library/v1/library.proto"], &["proto", "third_party/googleapis"])
//! }
//! ```
//!
//! The plugin takes `openapi=<file name>` (and `openapi_title=`, `openapi_version=`) and returns
//! the document as one more file. It describes each REST binding (path and query parameters,
//! request body, response, `google.rpc.Status` errors) and each unary method's Connect endpoint
//! (`POST`, and `GET` for `NO_SIDE_EFFECTS` methods), with the messages' JSON schemas in
//! `components.schemas`, following the proto3 JSON mapping, and the proto comments as
//! descriptions. Its keys come in a fixed order, so the same protos give the same bytes. Bindings
//! the document cannot hold (an HTTP method OpenAPI lacks, a `*` outside a variable) are left out
//! with a warning.
//!
//! # As a `protoc` plugin
//!
//! The `protoc-gen-trident` binary writes the same files, one per package, except that
//! `FILE_DESCRIPTOR_SET` is embedded in each file. See [`plugin`].

use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message as _;
use prost_build::Module;
use prost_reflect::DescriptorPool;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

mod files;
mod http_rules;
mod openapi;
pub mod plugin;
mod service;

use files::{
    byte_string_literal, dependency_closure, format_code, include_file_content, message_names,
    strip_source_info, write_if_changed,
};
use http_rules::HttpRules;

pub use service::TridentServiceGenerator;

/// Default name of the encoded `FileDescriptorSet` written next to the generated code.
pub const DEFAULT_FILE_DESCRIPTOR_SET_NAME: &str = "file_descriptor_set.bin";

/// Name of the constant holding the encoded descriptors in every generated package file.
const DESCRIPTOR_CONST: &str = "FILE_DESCRIPTOR_SET";

/// First line of every generated file.
const HEADER: &str = "// This file is @generated by trident-build. Do not edit.\n";

/// Starts configuring code generation; shorthand for [`Builder::new`].
pub fn configure() -> Builder {
    Builder::new()
}

/// Where generated messages find their descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Descriptors {
    /// `FILE_DESCRIPTOR_SET` is `include_bytes!` of the descriptor file written next to the code.
    IncludeFile,
    /// `FILE_DESCRIPTOR_SET` is a byte-string literal in the generated file.
    Embed,
    /// `FILE_DESCRIPTOR_SET` is the given expression.
    BytesExpr(String),
    /// Messages use the given `DescriptorPool` expression; no `FILE_DESCRIPTOR_SET`.
    PoolExpr(String),
}

/// Configuration of code generation; created by [`configure`].
///
/// Methods consume and return the builder, so calls chain:
///
/// ```no_run
/// trident_build::configure()
///     .build_client(false)
///     .include_file("protos.rs")
///     .compile(&["greet/v1/greet.proto"], &["proto"])?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    includes: Vec<PathBuf>,
    file_descriptor_set_name: String,
    descriptors: Descriptors,
    server: bool,
    client: bool,
    include_file: Option<String>,
    emit_rerun_if_changed: bool,
    type_attributes: Vec<(String, String)>,
    message_attributes: Vec<(String, String)>,
    enum_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    extern_paths: Vec<(String, String)>,
    bytes: Vec<String>,
    btree_map: Vec<String>,
    boxed: Vec<String>,
    openapi: Option<String>,
    openapi_options: openapi::Options,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// One generated Rust source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// File name: the package followed by `.rs` (such as `golden.v1.rs`), or `_.rs` for files
    /// without a package.
    pub name: String,
    /// The protobuf package (empty for files without one).
    pub package: String,
    /// The Rust source, formatted.
    pub content: String,
}

impl Builder {
    /// Default configuration: server and client code, output into `OUT_DIR`, descriptors
    /// written to `file_descriptor_set.bin` and included with `include_bytes!`.
    pub fn new() -> Self {
        Self {
            out_dir: None,
            includes: Vec::new(),
            file_descriptor_set_name: DEFAULT_FILE_DESCRIPTOR_SET_NAME.to_owned(),
            descriptors: Descriptors::IncludeFile,
            server: true,
            client: true,
            include_file: None,
            emit_rerun_if_changed: true,
            type_attributes: Vec::new(),
            message_attributes: Vec::new(),
            enum_attributes: Vec::new(),
            field_attributes: Vec::new(),
            extern_paths: Vec::new(),
            bytes: Vec::new(),
            btree_map: Vec::new(),
            boxed: Vec::new(),
            openapi: None,
            openapi_options: openapi::Options::default(),
        }
    }

    /// Writes the output into `dir` instead of `OUT_DIR`.
    ///
    /// When `dir` is not inside `OUT_DIR`, the generated code includes the descriptor file by a
    /// path relative to itself, so keep them together.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Adds a directory to search for `.proto` files and their imports, before those given to
    /// [`compile`](Self::compile).
    pub fn include(mut self, dir: impl Into<PathBuf>) -> Self {
        self.includes.push(dir.into());
        self
    }

    /// Names the encoded descriptor file (default `file_descriptor_set.bin`).
    pub fn file_descriptor_set_name(mut self, name: impl Into<String>) -> Self {
        self.file_descriptor_set_name = name.into();
        self
    }

    /// Initializes each package's `FILE_DESCRIPTOR_SET` with the Rust expression `expr`, of type
    /// `&'static [u8]`, instead of including the written descriptor file.
    pub fn file_descriptor_set_bytes(mut self, expr: impl Into<String>) -> Self {
        self.descriptors = Descriptors::BytesExpr(expr.into());
        self
    }

    /// Embeds the descriptors into each generated file as a byte-string literal, so the files
    /// stand alone (this is what the plugin does).
    pub fn embed_file_descriptor_set(mut self) -> Self {
        self.descriptors = Descriptors::Embed;
        self
    }

    /// Makes messages take their descriptors from the Rust expression `expr`, which must give a
    /// `prost_reflect::DescriptorPool` holding them (for example `crate::DESCRIPTOR_POOL` for a
    /// `static` built from the written descriptor file). No `FILE_DESCRIPTOR_SET` is generated.
    pub fn descriptor_pool(mut self, expr: impl Into<String>) -> Self {
        self.descriptors = Descriptors::PoolExpr(expr.into());
        self
    }

    /// Whether to generate server traits and routes functions (default `true`).
    pub fn build_server(mut self, enabled: bool) -> Self {
        self.server = enabled;
        self
    }

    /// Whether to generate typed clients (default `true`).
    pub fn build_client(mut self, enabled: bool) -> Self {
        self.client = enabled;
        self
    }

    /// Also writes a file named `name` in the output directory that declares one nested module per
    /// package and includes its code, so a single `include!` brings in everything.
    pub fn include_file(mut self, name: impl Into<String>) -> Self {
        self.include_file = Some(name.into());
        self
    }

    /// Whether [`compile`](Self::compile) prints `cargo:rerun-if-changed` for every `.proto`
    /// file read from disk (default `true`).
    pub fn emit_rerun_if_changed(mut self, enabled: bool) -> Self {
        self.emit_rerun_if_changed = enabled;
        self
    }

    /// Adds an attribute to matched messages, enums and oneofs; see
    /// [`prost_build::Config::type_attribute`].
    pub fn type_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matched messages; see [`prost_build::Config::message_attribute`].
    pub fn message_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.message_attributes
            .push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matched enums; see [`prost_build::Config::enum_attribute`].
    pub fn enum_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.enum_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matched fields; see [`prost_build::Config::field_attribute`].
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Uses existing Rust types for a protobuf path instead of generating them; see
    /// [`prost_build::Config::extern_path`]. Those types must implement
    /// `prost_reflect::ReflectMessage` too.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Generates `bytes::Bytes` for matched `bytes` fields; see [`prost_build::Config::bytes`].
    pub fn bytes(mut self, path: impl Into<String>) -> Self {
        self.bytes.push(path.into());
        self
    }

    /// Generates `BTreeMap` for matched map fields; see [`prost_build::Config::btree_map`].
    pub fn btree_map(mut self, path: impl Into<String>) -> Self {
        self.btree_map.push(path.into());
        self
    }

    /// Boxes matched message fields; see [`prost_build::Config::boxed`].
    pub fn boxed(mut self, path: impl Into<String>) -> Self {
        self.boxed.push(path.into());
        self
    }

    /// Also writes an OpenAPI 3.1 document named `file_name` (such as `api.openapi.json`) into
    /// the output directory, describing every service compiled: its REST bindings
    /// (`google.api.http`) and its Connect endpoints. Off by default. See the crate docs.
    pub fn openapi(mut self, file_name: impl Into<String>) -> Self {
        self.openapi = Some(file_name.into());
        self
    }

    /// The `info.title` of the OpenAPI document (default: the service's full name when there is
    /// one service, else the protobuf packages).
    pub fn openapi_title(mut self, title: impl Into<String>) -> Self {
        self.openapi_options.title = Some(title.into());
        self
    }

    /// The `info.version` of the OpenAPI document, the version of the API it describes (default
    /// `0.0.0`).
    pub fn openapi_version(mut self, version: impl Into<String>) -> Self {
        self.openapi_options.version = Some(version.into());
        self
    }

    /// Parses `protos` (searched for in the [`include`](Self::include) directories, then in
    /// `includes`) and writes their code, their imports' code and the encoded descriptors into the
    /// output directory.
    ///
    /// Code is generated for every package among `protos` and their imports, except the Google
    /// well-known types, which map to `prost_types`.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> io::Result<()> {
        let mut all_includes = self.includes.clone();
        all_includes.extend(includes.iter().map(|dir| dir.as_ref().to_path_buf()));
        let mut compiler = protox::Compiler::new(&all_includes).map_err(protox_error)?;
        compiler.include_imports(true).include_source_info(true);
        for proto in protos {
            compiler.open_file(proto).map_err(protox_error)?;
        }
        if self.emit_rerun_if_changed {
            for file in compiler.files() {
                if let Some(path) = file.path() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        self.write(
            &compiler.file_descriptor_set(),
            Some(&compiler.descriptor_pool()),
        )
    }

    /// Like [`compile`](Self::compile), from already parsed descriptors. The set must hold
    /// every imported file too.
    ///
    /// `prost_types` drops extension options when it decodes descriptors, so this sees no
    /// `google.api.http` bindings: give encoded descriptors to
    /// [`compile_encoded_fds`](Self::compile_encoded_fds) to keep them.
    pub fn compile_fds(self, fds: FileDescriptorSet) -> io::Result<()> {
        self.write(&fds, None)
    }

    /// Like [`compile`](Self::compile), from an encoded `google.protobuf.FileDescriptorSet`
    /// holding every imported file too (such as `buf build -o set.binpb` or
    /// `protoc --include_imports --descriptor_set_out` writes), with its extension options, so
    /// `google.api.http` bindings included. Keep the source info (`--include_source_info`) for
    /// doc comments.
    pub fn compile_encoded_fds(self, encoded: &[u8]) -> io::Result<()> {
        let (fds, pool) = decode_fds(encoded)?;
        self.write(&fds, Some(&pool))
    }

    /// Writes everything into the output directory; `pool`, when given, holds the same files with
    /// their extension options.
    fn write(self, fds: &FileDescriptorSet, pool: Option<&DescriptorPool>) -> io::Result<()> {
        let env_out_dir = env::var_os("OUT_DIR").map(PathBuf::from);
        let (target, in_env_out_dir) = match (&self.out_dir, &env_out_dir) {
            (Some(dir), Some(env_dir)) => (dir.clone(), dir.strip_prefix(env_dir).ok()),
            (Some(dir), None) => (dir.clone(), None),
            (None, Some(env_dir)) => (env_dir.clone(), Some(Path::new(""))),
            (None, None) => {
                return Err(io::Error::other(
                    "OUT_DIR is not set: call trident_build from a build script, or set out_dir",
                ));
            }
        };
        // How generated code names a file of the output directory.
        let locate = |file: &str| match in_env_out_dir {
            Some(relative) => {
                let mut path = String::new();
                for part in relative.components() {
                    path.push('/');
                    path.push_str(&part.as_os_str().to_string_lossy());
                }
                format!("concat!(env!(\"OUT_DIR\"), {:?})", format!("{path}/{file}"))
            }
            None => format!("{file:?}"),
        };
        fs::create_dir_all(&target)?;

        write_if_changed(
            &target.join(&self.file_descriptor_set_name),
            &strip_source_info(&fds.file).encode_to_vec(),
        )?;

        let include_bytes = format!("include_bytes!({})", locate(&self.file_descriptor_set_name));
        let output = self.generate_output(fds, pool, None, &include_bytes)?;
        output.print_warnings();
        let files = output.files;
        for file in &files {
            write_if_changed(&target.join(&file.name), file.content.as_bytes())?;
        }
        if let (Some(name), Some(document)) = (&self.openapi, &output.openapi) {
            write_if_changed(&target.join(name), document.as_bytes())?;
        }
        if let Some(include_file) = &self.include_file {
            let content =
                include_file_content(&files, |name| format!("include!({});", locate(name)));
            write_if_changed(&target.join(include_file), content.as_bytes())?;
        }
        Ok(())
    }

    /// Returns the code for every package in `fds` without writing anything.
    ///
    /// With the default descriptor source, the code includes
    /// `$OUT_DIR/file_descriptor_set.bin`, which is not written. Like
    /// [`compile_fds`](Self::compile_fds), this sees no `google.api.http` bindings; see
    /// [`generate_encoded`](Self::generate_encoded).
    pub fn generate(&self, fds: &FileDescriptorSet) -> io::Result<Vec<GeneratedFile>> {
        let output = self.generate_output(fds, None, None, &self.out_dir_include_bytes())?;
        output.print_warnings();
        Ok(output.files)
    }

    /// Like [`generate`](Self::generate), from an encoded `google.protobuf.FileDescriptorSet`,
    /// so with the `google.api.http` bindings of its methods.
    pub fn generate_encoded(&self, encoded: &[u8]) -> io::Result<Vec<GeneratedFile>> {
        let (fds, pool) = decode_fds(encoded)?;
        let output =
            self.generate_output(&fds, Some(&pool), None, &self.out_dir_include_bytes())?;
        output.print_warnings();
        Ok(output.files)
    }

    /// The OpenAPI document of every service of an encoded `google.protobuf.FileDescriptorSet`,
    /// as [`openapi`](Self::openapi) writes it, whether or not that option is set.
    pub fn generate_openapi(&self, encoded: &[u8]) -> io::Result<String> {
        let (_, pool) = decode_fds(encoded)?;
        let mut warnings = Vec::new();
        let rules = HttpRules::read(&pool, |_| true, &mut warnings).map_err(invalid_input)?;
        let document = openapi::document(
            &pool,
            |_| true,
            &rules,
            &self.openapi_options,
            &mut warnings,
        );
        Output::print(&warnings);
        Ok(document)
    }

    /// How generated code includes the descriptor file written into `OUT_DIR`.
    fn out_dir_include_bytes(&self) -> String {
        format!(
            "include_bytes!(concat!(env!(\"OUT_DIR\"), {:?}))",
            format!("/{}", self.file_descriptor_set_name)
        )
    }

    /// Generates the files of the packages that hold at least one of `only` (file names as in
    /// the descriptors), or of every package when `only` is `None`, with the OpenAPI document of
    /// their services when asked for. `pool`, when given, holds the same files with their
    /// extension options, where the `google.api.http` bindings are read from.
    fn generate_output(
        &self,
        fds: &FileDescriptorSet,
        pool: Option<&DescriptorPool>,
        only: Option<&[String]>,
        include_bytes: &str,
    ) -> io::Result<Output> {
        // The packages generated: those holding a file of `only`.
        let packages: Option<BTreeSet<&str>> = only.map(|only| {
            fds.file
                .iter()
                .filter(|file| only.iter().any(|name| name == file.name()))
                .map(|file| file.package())
                .collect()
        });
        let generated = |package: &str| {
            packages
                .as_ref()
                .is_none_or(|packages| packages.contains(package))
        };
        let mut warnings = Vec::new();
        let owned_pool;
        let pool = match pool {
            Some(pool) => Some(pool),
            None if self.openapi.is_some() => {
                owned_pool =
                    DescriptorPool::from_file_descriptor_set(fds.clone()).map_err(invalid_input)?;
                Some(&owned_pool)
            }
            None => None,
        };
        let rules = match pool {
            Some(pool) => {
                HttpRules::read(pool, |file| generated(file.package_name()), &mut warnings)
                    .map_err(invalid_input)?
            }
            None => HttpRules::default(),
        };
        let openapi = match (&self.openapi, pool) {
            (Some(_), Some(pool)) => Some(openapi::document(
                pool,
                |file| generated(file.package_name()),
                &rules,
                &self.openapi_options,
                &mut warnings,
            )),
            _ => None,
        };
        let files = self.generate_files(fds, rules, only, include_bytes)?;
        Ok(Output {
            files,
            openapi,
            warnings,
        })
    }

    /// Generates the code of the packages that hold at least one of `only`, or of every package
    /// when `only` is `None`, registering `rules` in the routes functions.
    fn generate_files(
        &self,
        fds: &FileDescriptorSet,
        rules: HttpRules,
        only: Option<&[String]>,
        include_bytes: &str,
    ) -> io::Result<Vec<GeneratedFile>> {
        let mut config = prost_build::Config::new();
        config.format(false);
        config.enable_type_names();
        config.type_name_domain(["."], "type.googleapis.com");
        config.service_generator(Box::new(
            TridentServiceGenerator::new()
                .server(self.server)
                .client(self.client)
                .http_rules(Arc::new(rules)),
        ));
        for (path, attribute) in &self.type_attributes {
            config.type_attribute(path, attribute);
        }
        for (path, attribute) in &self.enum_attributes {
            config.enum_attribute(path, attribute);
        }
        for (path, attribute) in &self.field_attributes {
            config.field_attribute(path, attribute);
        }
        for (proto_path, rust_path) in &self.extern_paths {
            config.extern_path(proto_path, rust_path);
        }
        config.bytes(&self.bytes);
        config.btree_map(&self.btree_map);
        for path in &self.boxed {
            config.boxed(path);
        }
        for file in &fds.file {
            for (full_name, depth) in message_names(file) {
                config.message_attribute(&full_name, "#[derive(::prost_reflect::ReflectMessage)]");
                config.message_attribute(&full_name, self.reflect_attribute(&full_name, depth));
            }
        }
        for (path, attribute) in &self.message_attributes {
            config.message_attribute(path, attribute);
        }

        let requests = fds
            .file
            .iter()
            .map(|file| {
                (
                    Module::from_protobuf_package_name(file.package()),
                    file.clone(),
                )
            })
            .collect();
        let mut modules = config.generate(requests)?;

        // Package of each module, and the files of each package.
        let mut packages: BTreeMap<Module, (String, Vec<&FileDescriptorProto>)> = BTreeMap::new();
        for file in &fds.file {
            let entry = packages
                .entry(Module::from_protobuf_package_name(file.package()))
                .or_insert_with(|| (file.package().to_owned(), Vec::new()));
            entry.1.push(file);
        }

        let mut out = Vec::new();
        for (module, (package, files)) in packages {
            if let Some(only) = only
                && !files
                    .iter()
                    .any(|file| only.iter().any(|name| name == file.name()))
            {
                continue;
            }
            let Some(mut code) = modules.remove(&module) else {
                continue;
            };
            let init = match &self.descriptors {
                Descriptors::IncludeFile => Some(include_bytes.to_owned()),
                Descriptors::BytesExpr(expr) => Some(expr.clone()),
                Descriptors::Embed => Some(byte_string_literal(
                    &strip_source_info(&dependency_closure(fds, &files)).encode_to_vec(),
                )),
                Descriptors::PoolExpr(_) => None,
            };
            if let Some(init) = init {
                code.push_str(&format!(
                    "/// Encoded `google.protobuf.FileDescriptorSet` of the protobuf files this code \
                     was generated from, with their imports.\n\
                     ///\n\
                     /// Messages register it in `prost_reflect::DescriptorPool::global()` on first \
                     use of their descriptor.\n\
                     pub const {DESCRIPTOR_CONST}: &[u8] = {init};\n"
                ));
            }
            out.push(GeneratedFile {
                name: module.to_file_name_or("_"),
                package,
                content: format_code(&code)?,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The `#[prost_reflect(..)]` attribute of message `full_name`, nested `depth` messages deep.
    fn reflect_attribute(&self, full_name: &str, depth: usize) -> String {
        let source = match &self.descriptors {
            Descriptors::PoolExpr(expr) => format!("descriptor_pool = {expr:?}"),
            _ => {
                let path = if depth == 0 {
                    format!("self::{DESCRIPTOR_CONST}")
                } else {
                    format!("{}{DESCRIPTOR_CONST}", "super::".repeat(depth))
                };
                format!("file_descriptor_set_bytes = {path:?}")
            }
        };
        format!("#[prost_reflect(message_name = {full_name:?}, {source})]")
    }
}

/// What one generation run produces.
struct Output {
    /// The Rust files.
    files: Vec<GeneratedFile>,
    /// The OpenAPI document, when asked for.
    openapi: Option<String>,
    /// Problems that did not stop generation.
    warnings: Vec<String>,
}

impl Output {
    /// Prints the warnings for Cargo to show (a build script's `cargo:warning`).
    fn print_warnings(&self) {
        Self::print(&self.warnings);
    }

    fn print(warnings: &[String]) {
        for warning in warnings {
            println!("cargo:warning=trident-build: {warning}");
        }
    }
}

/// Decodes an encoded `FileDescriptorSet` twice: with `prost_types` for prost-build, and into a
/// pool that keeps extension options.
fn decode_fds(encoded: &[u8]) -> io::Result<(FileDescriptorSet, DescriptorPool)> {
    let fds = FileDescriptorSet::decode(encoded).map_err(invalid_input)?;
    let pool = DescriptorPool::decode(encoded).map_err(invalid_input)?;
    Ok((fds, pool))
}

/// An `InvalidInput` error with `error`'s message.
fn invalid_input(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error.to_string())
}

/// Wraps a protox error, keeping its message (which names the file and line).
fn protox_error(error: protox::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error.to_string())
}
