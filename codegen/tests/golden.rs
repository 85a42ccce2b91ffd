//! Golden tests: regenerates the code for `tests/proto/` with the `build.rs` API and with the plugin,
//! and compares it with `tests/golden/`. Run with `TRIDENT_BLESS=1` to rewrite the golden files.

use std::path::{Path, PathBuf};

use prost::Message as _;
use prost_types::FileDescriptorSet;
use prost_types::compiler::{CodeGeneratorRequest, CodeGeneratorResponse};
use trident_build::GeneratedFile;

const PROTO: &str = "golden/v1/greet.proto";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The golden proto and its imports, encoded with their extension options (`google.api.http`)
/// and source info. Our own `google/api` protos live at the top of the repository.
fn encoded_descriptors() -> Vec<u8> {
    let mut compiler = protox::Compiler::new([
        manifest_dir().join("tests/proto"),
        manifest_dir().join("../proto"),
    ])
    .expect("include directories exist");
    compiler.include_imports(true).include_source_info(true);
    compiler.open_file(PROTO).expect("test proto compiles");
    compiler.encode_file_descriptor_set()
}

/// The golden proto and its imports, as prost_types holds them (without extension options).
fn descriptors() -> FileDescriptorSet {
    FileDescriptorSet::decode(encoded_descriptors().as_slice()).unwrap()
}

/// Compares `actual` with the golden file `relative` (under `tests/golden/`), or rewrites it when
/// `TRIDENT_BLESS` is set.
fn check_golden(relative: &str, actual: &str) {
    let path = manifest_dir().join("tests/golden").join(relative);
    if std::env::var_os("TRIDENT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); run with TRIDENT_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the generated code at line {}:\n  golden:    {:?}\n  generated: {:?}\n\
             run with TRIDENT_BLESS=1 to accept the new output",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

fn only_file(files: &[GeneratedFile]) -> &GeneratedFile {
    assert_eq!(files.len(), 1, "one package expected: {files:?}");
    &files[0]
}

/// The golden package's file among `files`, which also hold `google.api` (from the annotations).
fn golden_file(files: &[GeneratedFile]) -> &GeneratedFile {
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["golden.v1.rs", "google.api.rs"]);
    &files[0]
}

#[test]
fn build_api_output_matches_golden() {
    let files = trident_build::configure()
        .generate_encoded(&encoded_descriptors())
        .expect("generates");
    let file = golden_file(&files);
    assert_eq!(file.name, "golden.v1.rs");
    assert_eq!(file.package, "golden.v1");
    check_golden("build/golden.v1.rs", &file.content);
}

/// The golden request, as prost_types holds it (without extension options).
fn plugin_request(parameter: Option<&str>) -> CodeGeneratorRequest {
    CodeGeneratorRequest {
        file_to_generate: vec![PROTO.to_owned()],
        parameter: parameter.map(str::to_owned),
        proto_file: descriptors().file,
        ..CodeGeneratorRequest::default()
    }
}

/// The golden request encoded as protoc sends it: every file with its extension options.
fn encoded_plugin_request(parameter: Option<&str>) -> Vec<u8> {
    let mut bytes = CodeGeneratorRequest {
        proto_file: Vec::new(),
        ..plugin_request(parameter)
    }
    .encode_to_vec();
    let pool = prost_reflect::DescriptorPool::decode(encoded_descriptors().as_slice()).unwrap();
    for file in pool.files() {
        prost::encoding::bytes::encode(15, &file.encode_to_vec(), &mut bytes);
    }
    bytes
}

fn plugin_generate(parameter: Option<&str>) -> CodeGeneratorResponse {
    trident_build::plugin::generate_encoded(&encoded_plugin_request(parameter))
}

#[test]
fn plugin_output_matches_golden() {
    let response = plugin_generate(None);
    assert_eq!(response.error, None);
    assert_eq!(response.supported_features, Some(1), "proto3 optional");
    assert_eq!(response.file.len(), 1);
    let file = &response.file[0];
    assert_eq!(file.name(), "golden.v1.rs");
    assert_eq!(file.insertion_point, None);
    check_golden("plugin/golden.v1.rs", file.content());
}

#[test]
fn plugin_and_build_api_differ_only_in_descriptor_source() {
    let build = trident_build::configure()
        .generate_encoded(&encoded_descriptors())
        .unwrap();
    let plugin = plugin_generate(None);
    let before_descriptors = |code: &str| {
        code.split("/// Encoded `google.protobuf.FileDescriptorSet`")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        before_descriptors(&build[0].content),
        before_descriptors(plugin.file[0].content()),
        "same code apart from FILE_DESCRIPTOR_SET"
    );
}

#[test]
fn plugin_round_trips_through_its_wire_format() {
    let request = encoded_plugin_request(Some("client=false"));
    let mut output = Vec::new();
    trident_build::plugin::run(request.as_slice(), &mut output).unwrap();
    let response = prost_types::compiler::CodeGeneratorResponse::decode(output.as_slice()).unwrap();
    assert_eq!(response.error, None);
    let code = response.file[0].content();
    assert!(code.contains("pub trait GreetService"));
    assert!(!code.contains("GreetServiceClient"));
    assert!(
        code.contains("RestRoutes::http("),
        "bindings read from the wire"
    );
}

#[test]
fn plugin_binary_speaks_protoc() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-gen-trident"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("plugin starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&encoded_plugin_request(None))
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let response =
        prost_types::compiler::CodeGeneratorResponse::decode(output.stdout.as_slice()).unwrap();
    assert_eq!(response, plugin_generate(None));

    let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-gen-trident"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\xff\xff").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "garbage in is an error");
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("protoc-gen-trident: "));
}

#[test]
fn plugin_options() {
    let response = plugin_generate(Some("server=false,include_file=mod.rs"));
    assert_eq!(response.error, None);
    let names: Vec<&str> = response.file.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["golden.v1.rs", "mod.rs"]);
    let code = response.file[0].content();
    assert!(!code.contains("pub trait GreetService"));
    assert!(!code.contains("greet_service_routes"));
    assert!(code.contains("pub struct GreetServiceClient"));
    assert!(code.contains("pub mod greet_service {"), "specs stay");
    assert_eq!(
        response.file[1].content(),
        "// This file is @generated by trident-build. Do not edit.\n\
         /// Protobuf package `golden`.\n\
         pub mod golden {\n    \
             /// Protobuf package `golden.v1`.\n    \
             pub mod v1 {\n        \
                 include!(\"golden.v1.rs\");\n    \
             }\n\
         }\n"
    );

    let response = plugin_generate(Some("descriptor_pool=crate::POOL"));
    assert_eq!(response.error, None);
    let code = response.file[0].content();
    assert!(!code.contains("FILE_DESCRIPTOR_SET"));
    assert!(code.contains(r#"descriptor_pool = "crate::POOL""#));
    assert!(!code.contains("file_descriptor_set_bytes"));
}

#[test]
fn plugin_reports_bad_options() {
    for parameter in ["frobnicate", "server=maybe", "include_file"] {
        let response = plugin_generate(Some(parameter));
        assert!(response.file.is_empty(), "{parameter}");
        let error = response.error.unwrap_or_default();
        assert!(
            error.starts_with("protoc-gen-trident: "),
            "{parameter}: {error}"
        );
    }
}

#[test]
fn plugin_skips_packages_it_was_not_asked_for() {
    // Only the well-known types: nothing to generate (they map to prost_types).
    let mut request = plugin_request(None);
    request.file_to_generate = vec!["google/protobuf/timestamp.proto".to_owned()];
    let response = trident_build::plugin::generate(&request);
    assert_eq!(response.error, None);
    assert!(response.file.is_empty());
}

#[test]
fn plugin_embeds_the_descriptors_of_the_package_and_its_imports() {
    let response = plugin_generate(None);
    let code = response.file[0].content();
    let literal = code
        .lines()
        .find_map(|line| line.strip_prefix("pub const FILE_DESCRIPTOR_SET: &[u8] = b\""))
        .expect("embedded descriptors");
    let bytes = unescape_byte_string(literal.strip_suffix("\";").unwrap());
    let set = FileDescriptorSet::decode(bytes.as_slice()).unwrap();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "google/api/http.proto",
            "google/protobuf/descriptor.proto",
            "google/api/annotations.proto",
            "google/protobuf/empty.proto",
            "google/protobuf/timestamp.proto",
            PROTO
        ]
    );
    assert!(set.file.iter().all(|f| f.source_code_info.is_none()));
    let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(set).unwrap();
    assert!(
        pool.get_message_by_name("golden.v1.GreetRequest.Address")
            .is_some()
    );
}

/// Decodes the body of a Rust byte-string literal as written by the generator.
fn unescape_byte_string(body: &str) -> Vec<u8> {
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            match bytes[i + 1] {
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 4;
                }
                other => {
                    out.push(other);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn compile_writes_code_descriptors_and_include_file() {
    let dir = std::env::temp_dir().join(format!("trident-build-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    trident_build::configure()
        .out_dir(&dir)
        .include(manifest_dir().join("tests/proto"))
        .include(manifest_dir().join("../proto"))
        .include_file("protos.rs")
        .emit_rerun_if_changed(false)
        .compile(&[PROTO], &[] as &[&Path])
        .expect("compiles");

    let code = std::fs::read_to_string(dir.join("golden.v1.rs")).unwrap();
    // Outside OUT_DIR, the descriptors are included relative to the generated file.
    assert!(code.contains("include_bytes!(\"file_descriptor_set.bin\")"));
    let build = trident_build::configure()
        .generate_encoded(&encoded_descriptors())
        .unwrap();
    let before_descriptors = |code: &str| {
        code.split("/// Encoded `google.protobuf.FileDescriptorSet`")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        before_descriptors(&code),
        before_descriptors(&build[0].content)
    );

    let bytes = std::fs::read(dir.join("file_descriptor_set.bin")).unwrap();
    let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice()).unwrap();
    assert!(pool.get_service_by_name("golden.v1.GreetService").is_some());
    assert!(
        pool.get_message_by_name("google.protobuf.Timestamp")
            .is_some()
    );

    let include = std::fs::read_to_string(dir.join("protos.rs")).unwrap();
    assert!(include.contains("include!(\"golden.v1.rs\");"), "{include}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compile_reports_proto_errors() {
    let dir = std::env::temp_dir().join(format!("trident-build-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.proto"),
        "syntax = \"proto3\";\nmessage A { Missing m = 1; }\n",
    )
    .unwrap();
    let error = trident_build::configure()
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile(&["bad.proto"], &[&dir])
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("Missing"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_without_package_and_clashing_with_rust() {
    let dir = std::env::temp_dir().join(format!("trident-build-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("names.proto"),
        "syntax = \"proto3\";\n\
         message M {}\n\
         service match { rpc New(M) returns (M); rpc Self(M) returns (M); rpc get_thing(M) returns (M); }\n",
    )
    .unwrap();
    let fds = protox::compile(["names.proto"], [&dir]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let files = trident_build::configure().generate(&fds).unwrap();
    let file = only_file(&files);
    assert_eq!(file.name, "_.rs");
    assert_eq!(file.package, "");
    let code = &file.content;
    for expected in [
        "pub const MATCH_NAME: &str = \"match\";",
        "pub mod r#match {",
        "pub const NEW: ::trident::codegen::MethodSpec",
        "path: \"/match/New\",",
        "pub const SELF: ::trident::codegen::MethodSpec",
        "pub const GET_THING: ::trident::codegen::MethodSpec",
        "pub trait Match:",
        "fn new(",
        "fn self_(",
        "fn get_thing(",
        "\"match.Self is not implemented\"",
        "pub fn match_routes<S: Match>(",
        "pub struct MatchClient {",
        // The constructor keeps `new`; the method becomes `new_`.
        "pub fn new(client: ::trident::codegen::Client) -> Self {",
        "pub async fn new_(",
        "pub async fn self_(",
    ] {
        assert!(code.contains(expected), "missing {expected:?} in:\n{code}");
    }
}

#[test]
fn prost_types_descriptors_carry_no_bindings() {
    // prost_types drops extension options: `generate` and `plugin::generate` see no bindings.
    let build = trident_build::configure().generate(&descriptors()).unwrap();
    assert!(!golden_file(&build).content.contains("RestRoutes"));
    let plugin = trident_build::plugin::generate(&plugin_request(None));
    assert_eq!(plugin.error, None);
    assert!(!plugin.file[0].content().contains("RestRoutes"));
}

#[test]
fn openapi_document_matches_golden() {
    let document = trident_build::configure()
        .generate_openapi(&encoded_descriptors())
        .expect("generates");
    check_golden("openapi/golden.openapi.json", &document);

    let response = plugin_generate(Some("openapi=api/golden.openapi.json"));
    assert_eq!(response.error, None);
    let names: Vec<&str> = response.file.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["golden.v1.rs", "api/golden.openapi.json"]);
    assert_eq!(
        response.file[1].content(),
        document,
        "plugin and build API agree"
    );

    let response = plugin_generate(Some(
        "openapi=api.json,openapi_title=Greetings,openapi_version=1.2.3",
    ));
    let document = response.file[1].content();
    assert!(
        document.contains("\"title\": \"Greetings\",\n    \"version\": \"1.2.3\""),
        "{document}"
    );
}
