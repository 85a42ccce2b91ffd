//! Reading the `google.api.http` annotations of methods: each method's REST bindings (its rule and
//! the rule's `additional_bindings`), checked against the method's messages at generation time so
//! that a binding that names a missing field fails the build, with the method named.
//!
//! prost-build's descriptors (`prost_types`) drop extension options, so the rules are read from a
//! `prost_reflect::DescriptorPool` built from the encoded descriptors, which keeps them. The option
//! is found by its name in the pool: when no file imports `google/api/annotations.proto`, no method
//! has rules.

mod template;

use std::collections::BTreeMap;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};

pub(crate) use template::{PathTemplate, SpreadParameter, join, segments_regex};

/// Full name of the method option holding a method's REST bindings.
pub(crate) const HTTP_OPTION: &str = "google.api.http";

/// Full name of the message that stands for a raw HTTP body of any content type.
pub(crate) const HTTP_BODY: &str = "google.api.HttpBody";

/// The HTTP method of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpMethod {
    Get,
    Put,
    Post,
    Delete,
    Patch,
    /// `custom { kind: "HEAD" ... }`: any other method, as written.
    Custom(String),
}

impl HttpMethod {
    /// The method as sent on the wire (`GET`, or a custom kind as written).
    pub(crate) fn as_str(&self) -> &str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Put => "PUT",
            HttpMethod::Post => "POST",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Custom(kind) => kind,
        }
    }
}

/// One REST binding of a method, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpBinding {
    /// The HTTP method.
    pub(crate) method: HttpMethod,
    /// The path template, as written.
    pub(crate) pattern: String,
    /// The path template, parsed.
    pub(crate) template: PathTemplate,
    /// The request field the body sets, `*` for the whole request, `None` for no body.
    pub(crate) body: Option<String>,
    /// The response field that is the response body, `None` for the whole response.
    pub(crate) response_body: Option<String>,
}

impl HttpBinding {
    /// The Rust expression building the runtime's `HttpRule` for this binding; `rt` is the path
    /// generated code reaches the runtime through.
    pub(crate) fn rust_expr(&self, rt: &str) -> String {
        let pattern = &self.pattern;
        let mut out = match &self.method {
            HttpMethod::Get => format!("{rt}::HttpRule::get({pattern:?})"),
            HttpMethod::Put => format!("{rt}::HttpRule::put({pattern:?})"),
            HttpMethod::Post => format!("{rt}::HttpRule::post({pattern:?})"),
            HttpMethod::Delete => format!("{rt}::HttpRule::delete({pattern:?})"),
            HttpMethod::Patch => format!("{rt}::HttpRule::patch({pattern:?})"),
            HttpMethod::Custom(kind) => format!("{rt}::HttpRule::custom({kind:?}, {pattern:?})"),
        };
        if let Some(body) = &self.body {
            out.push_str(&format!(".body({body:?})"));
        }
        if let Some(response_body) = &self.response_body {
            out.push_str(&format!(".response_body({response_body:?})"));
        }
        out
    }
}

/// The REST bindings of every method that has some, by the method's full name
/// (`pkg.Service.Method`).
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpRules {
    by_method: BTreeMap<String, Vec<HttpBinding>>,
}

impl HttpRules {
    /// Reads and checks the bindings of the methods of the files `include` accepts. Problems that
    /// do not stop generation (a streaming shape REST cannot carry) go to `warnings`.
    pub(crate) fn read(
        pool: &DescriptorPool,
        include: impl Fn(&FileDescriptor) -> bool,
        warnings: &mut Vec<String>,
    ) -> Result<Self, String> {
        let mut rules = Self::default();
        let Some(extension) = pool.get_extension_by_name(HTTP_OPTION) else {
            return Ok(rules);
        };
        for file in pool.files().filter(|file| include(file)) {
            for service in file.services() {
                for method in service.methods() {
                    let Some(rule) = method_rule(&method, &extension)? else {
                        continue;
                    };
                    let bindings = method_bindings(&method, &rule)?;
                    if method.is_client_streaming() {
                        let shape = if method.is_server_streaming() {
                            "bidirectional-streaming"
                        } else {
                            "client-streaming"
                        };
                        warnings.push(format!(
                            "`{}` is {shape}: REST carries unary and server-streaming calls only, \
                             so its google.api.http bindings answer `unimplemented`",
                            method.full_name()
                        ));
                    }
                    for binding in &bindings {
                        if binding.method == HttpMethod::Get && binding.body.is_some() {
                            warnings.push(format!(
                                "`{}`: google.api.http `GET {}` has a body, which HTTP clients \
                                 and proxies seldom send",
                                method.full_name(),
                                binding.pattern
                            ));
                        }
                    }
                    rules
                        .by_method
                        .insert(method.full_name().to_owned(), bindings);
                }
            }
        }
        Ok(rules)
    }

    /// The bindings of the method `full_name` (`pkg.Service.Method`), in the order written: the
    /// rule, then its additional bindings.
    pub(crate) fn bindings(&self, full_name: &str) -> &[HttpBinding] {
        self.by_method.get(full_name).map_or(&[], Vec::as_slice)
    }
}

/// `google.api.HttpRule`, decoded from the option's bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRule {
    #[prost(oneof = "RawPattern", tags = "2, 3, 4, 5, 6, 8")]
    pattern: Option<RawPattern>,
    #[prost(string, tag = "7")]
    body: String,
    #[prost(string, tag = "12")]
    response_body: String,
    #[prost(message, repeated, tag = "11")]
    additional_bindings: Vec<RawRule>,
}

/// The `pattern` oneof of `google.api.HttpRule`.
#[derive(Clone, PartialEq, prost::Oneof)]
enum RawPattern {
    #[prost(string, tag = "2")]
    Get(String),
    #[prost(string, tag = "3")]
    Put(String),
    #[prost(string, tag = "4")]
    Post(String),
    #[prost(string, tag = "5")]
    Delete(String),
    #[prost(string, tag = "6")]
    Patch(String),
    #[prost(message, tag = "8")]
    Custom(RawCustom),
}

/// `google.api.CustomHttpPattern`.
#[derive(Clone, PartialEq, prost::Message)]
struct RawCustom {
    #[prost(string, tag = "1")]
    kind: String,
    #[prost(string, tag = "2")]
    path: String,
}

/// The method's `google.api.http` option, if it has one.
fn method_rule(
    method: &MethodDescriptor,
    extension: &ExtensionDescriptor,
) -> Result<Option<RawRule>, String> {
    let options = method.options();
    if !options.has_extension(extension) {
        return Ok(None);
    }
    let Value::Message(rule) = options.get_extension(extension).into_owned() else {
        return Err(format!(
            "`{}`: the option {HTTP_OPTION} is not a message; is google/api/annotations.proto \
             googleapis' own?",
            method.full_name()
        ));
    };
    RawRule::decode(rule.encode_to_vec().as_slice())
        .map(Some)
        .map_err(|error| {
            format!(
                "`{}`: {HTTP_OPTION} does not decode: {error}",
                method.full_name()
            )
        })
}

/// The rule and its additional bindings, checked.
fn method_bindings(method: &MethodDescriptor, rule: &RawRule) -> Result<Vec<HttpBinding>, String> {
    let mut bindings = vec![binding(method, rule)?];
    for additional in &rule.additional_bindings {
        if !additional.additional_bindings.is_empty() {
            return Err(format!(
                "`{}`: {HTTP_OPTION} has an additional binding with additional bindings of its \
                 own, which google.api.http does not allow",
                method.full_name()
            ));
        }
        bindings.push(binding(method, additional)?);
    }
    Ok(bindings)
}

/// One binding, checked against the method's request and response messages.
fn binding(method: &MethodDescriptor, rule: &RawRule) -> Result<HttpBinding, String> {
    let name = method.full_name();
    let (http_method, pattern) = match &rule.pattern {
        Some(RawPattern::Get(pattern)) => (HttpMethod::Get, pattern),
        Some(RawPattern::Put(pattern)) => (HttpMethod::Put, pattern),
        Some(RawPattern::Post(pattern)) => (HttpMethod::Post, pattern),
        Some(RawPattern::Delete(pattern)) => (HttpMethod::Delete, pattern),
        Some(RawPattern::Patch(pattern)) => (HttpMethod::Patch, pattern),
        Some(RawPattern::Custom(custom)) => {
            if custom.kind.is_empty()
                || !custom
                    .kind
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                return Err(format!(
                    "`{name}`: {HTTP_OPTION} has a custom method `{}` that is no HTTP method \
                     token",
                    custom.kind
                ));
            }
            (HttpMethod::Custom(custom.kind.clone()), &custom.path)
        }
        None => {
            return Err(format!(
                "`{name}`: {HTTP_OPTION} sets none of get, put, post, delete, patch or custom"
            ));
        }
    };
    let at = |problem: String| format!("`{name}`: {HTTP_OPTION} `{pattern}` {problem}");
    let template = PathTemplate::parse(pattern).map_err(at)?;

    let input = method.input();
    for variable in template.variables() {
        let field = path_field(&input, variable).map_err(at)?;
        if template
            .patterned_variables()
            .any(|(patterned, _)| patterned == variable)
            && field.kind() != Kind::String
        {
            return Err(at(format!(
                "matches `{{{variable}=...}}` with a pattern, which only a string field can hold"
            )));
        }
    }
    let body = match rule.body.as_str() {
        "" => None,
        "*" => Some("*".to_owned()),
        field => {
            if input.get_field_by_name(field).is_none() {
                return Err(at(format!(
                    "has body `{field}`, which is no field of `{}` (body names a top-level field, \
                     or `*`)",
                    input.full_name()
                )));
            }
            Some(field.to_owned())
        }
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        field => {
            let output = method.output();
            if output.get_field_by_name(field).is_none() {
                return Err(at(format!(
                    "has response_body `{field}`, which is no field of `{}` (response_body names \
                     a top-level field)",
                    output.full_name()
                )));
            }
            Some(field.to_owned())
        }
    };
    Ok(HttpBinding {
        method: http_method,
        pattern: pattern.clone(),
        template,
        body,
        response_body,
    })
}

/// The field a path variable sets: every step but the last a singular message field, the last a
/// singular field of a scalar or enum type.
pub(crate) fn path_field(
    input: &MessageDescriptor,
    field_path: &str,
) -> Result<FieldDescriptor, String> {
    let mut message = input.clone();
    let mut steps = field_path.split('.').peekable();
    while let Some(step) = steps.next() {
        let Some(field) = message.get_field_by_name(step) else {
            return Err(format!(
                "binds `{field_path}`, but `{}` has no field `{step}`",
                message.full_name()
            ));
        };
        if field.is_list() || field.is_map() {
            return Err(format!(
                "binds `{field_path}`, whose `{step}` is a repeated field (path variables bind \
                 singular fields)"
            ));
        }
        match (field.kind(), steps.peek()) {
            (Kind::Message(next), Some(_)) => message = next,
            (Kind::Message(_), None) => {
                return Err(format!(
                    "binds `{field_path}`, a message field (path variables bind scalar fields)"
                ));
            }
            (_, None) => return Ok(field),
            (_, Some(_)) => {
                return Err(format!(
                    "binds `{field_path}`, but `{step}` is not a message field"
                ));
            }
        }
    }
    unreachable!("split yields at least one step")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pool holding our google/api protos and `body`, as `test.proto` in package `t`.
    pub(crate) fn pool(body: &str) -> DescriptorPool {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "trident-build-rules-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("test.proto"),
            format!(
                "syntax = \"proto3\";\npackage t;\nimport \"google/api/annotations.proto\";\n\
                 import \"google/api/httpbody.proto\";\n{body}"
            ),
        )
        .unwrap();
        let api = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto");
        let mut compiler = protox::Compiler::new([dir.as_path(), std::path::Path::new(api)])
            .expect("includes exist");
        compiler.include_imports(true).include_source_info(true);
        compiler
            .open_file("test.proto")
            .expect("test proto compiles");
        std::fs::remove_dir_all(&dir).unwrap();
        compiler.descriptor_pool()
    }

    fn read(body: &str) -> (Result<HttpRules, String>, Vec<String>) {
        let mut warnings = Vec::new();
        let rules = HttpRules::read(&pool(body), |_| true, &mut warnings);
        (rules, warnings)
    }

    const MESSAGES: &str = "message Book { string name = 1; int32 id = 2; Book sub = 3; \
                            repeated string tags = 4; }\n\
                            message Get { string name = 1; Book book = 2; int64 n = 3; }\n";

    #[test]
    fn reads_rules_and_additional_bindings() {
        let (rules, warnings) = read(&format!(
            "{MESSAGES}service S {{\n\
             rpc A(Get) returns (Book) {{ option (google.api.http) = {{\n\
               get: \"/v1/{{name=shelves/*}}\"\n\
               additional_bindings {{ post: \"/v1/{{book.sub.name}}:a\" body: \"book\" response_body: \"sub\" }}\n\
               additional_bindings {{ custom {{ kind: \"HEAD\" path: \"/v1/a/{{n}}\" }} body: \"*\" }}\n\
             }}; }}\n\
             rpc B(Get) returns (Book);\n\
             rpc C(stream Get) returns (Book) {{ option (google.api.http) = {{ put: \"/c\" body: \"*\" }}; }}\n\
             }}\n"
        ));
        let rules = rules.unwrap();
        let bindings = rules.bindings("t.S.A");
        assert_eq!(bindings.len(), 3);
        assert_eq!(
            bindings[0].rust_expr("rt"),
            r#"rt::HttpRule::get("/v1/{name=shelves/*}")"#
        );
        assert_eq!(
            bindings[1].rust_expr("rt"),
            r#"rt::HttpRule::post("/v1/{book.sub.name}:a").body("book").response_body("sub")"#
        );
        assert_eq!(
            bindings[2].rust_expr("rt"),
            r#"rt::HttpRule::custom("HEAD", "/v1/a/{n}").body("*")"#
        );
        assert!(rules.bindings("t.S.B").is_empty());
        assert_eq!(rules.bindings("t.S.C").len(), 1);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`t.S.C` is client-streaming"));
    }

    #[test]
    fn no_annotations_import_means_no_rules() {
        let pool = protox::compile(["google/protobuf/empty.proto"], ["."] as [&str; 1])
            .map(|fds| DescriptorPool::from_file_descriptor_set(fds).unwrap())
            .unwrap();
        let rules = HttpRules::read(&pool, |_| true, &mut Vec::new()).unwrap();
        assert!(rules.by_method.is_empty());
    }

    #[test]
    fn reports_bindings_that_cannot_work() {
        for (option, error) in [
            (
                "get: \"v1\"",
                "`t.S.A`: google.api.http `v1` does not start with `/`",
            ),
            ("get: \"/v1/{nope}\"", "`t.Get` has no field `nope`"),
            ("get: \"/v1/{book.nope}\"", "`t.Book` has no field `nope`"),
            ("get: \"/v1/{book}\"", "a message field"),
            ("get: \"/v1/{book.tags}\"", "is a repeated field"),
            ("get: \"/v1/{name.x}\"", "`name` is not a message field"),
            ("get: \"/v1/{n=x/*}\"", "only a string field"),
            (
                "post: \"/v1\" body: \"nope\"",
                "has body `nope`, which is no field of `t.Get`",
            ),
            ("post: \"/v1\" body: \"book.name\"", "has body `book.name`"),
            (
                "post: \"/v1\" response_body: \"nope\"",
                "no field of `t.Book`",
            ),
            ("body: \"*\"", "sets none of get"),
            ("custom { kind: \"\" path: \"/x\" }", "no HTTP method token"),
            (
                "custom { kind: \"A B\" path: \"/x\" }",
                "no HTTP method token",
            ),
            (
                "get: \"/x\" additional_bindings { get: \"/y\" additional_bindings { get: \"/z\" } }",
                "additional bindings of its own",
            ),
        ] {
            let (rules, _) = read(&format!(
                "{MESSAGES}service S {{ rpc A(Get) returns (Book) {{ option (google.api.http) = {{ {option} }}; }} }}\n"
            ));
            let message = rules.unwrap_err();
            assert!(message.contains(error), "{option}: {message}");
            assert!(message.starts_with("`t.S.A`: "), "{message}");
        }
    }

    #[test]
    fn warns_of_a_get_with_a_body() {
        let (rules, warnings) = read(&format!(
            "{MESSAGES}service S {{ rpc A(Get) returns (Book) {{ option (google.api.http) = {{ get: \"/a\" body: \"*\" }}; }} }}\n"
        ));
        assert_eq!(rules.unwrap().bindings("t.S.A").len(), 1);
        assert!(warnings[0].contains("`GET /a` has a body"), "{warnings:?}");
    }
}
