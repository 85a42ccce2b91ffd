//! The `prost_build::ServiceGenerator` that turns each protobuf service into Trident server and
//! client code.

use std::fmt::Write as _;
use std::sync::Arc;

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use prost_build::{Comments, Method, Service};
use prost_types::method_options::IdempotencyLevel;

use crate::http_rules::HttpRules;

/// Path under which generated code reaches the runtime; nothing else of `trident` is named.
const RT: &str = "::trident::codegen";

/// Generates Trident code for protobuf services; plug it into a [`prost_build::Config`].
///
/// [`crate::Builder`] installs it for you. Use it directly only when you drive
/// [`prost_build::Config`] yourself; then also make every message implement
/// `prost_reflect::ReflectMessage`, which the runtime needs.
///
/// For each service `pkg.FooService` it appends, to the module of the package:
///
/// * `FOO_SERVICE_NAME`, the fully-qualified service name;
/// * `mod foo_service`, one `MethodSpec` constant per method (`SAY_HELLO`, ...);
/// * `trait FooService`, the server side, whose methods answer `unimplemented` by default;
/// * `fn foo_service_routes`, which turns an implementation into `ServiceRoutes` (with the
///   methods' `google.api.http` bindings when [`crate::Builder`] drives it: prost-build's
///   descriptors alone do not carry them);
/// * `struct FooServiceClient`, the typed client.
#[derive(Debug, Clone)]
pub struct TridentServiceGenerator {
    server: bool,
    client: bool,
    http_rules: Arc<HttpRules>,
}

impl Default for TridentServiceGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl TridentServiceGenerator {
    /// A generator emitting both the server and the client side.
    pub fn new() -> Self {
        Self {
            server: true,
            client: true,
            http_rules: Arc::default(),
        }
    }

    /// The REST bindings to register in the routes functions.
    pub(crate) fn http_rules(mut self, rules: Arc<HttpRules>) -> Self {
        self.http_rules = rules;
        self
    }

    /// Whether to emit the server trait and the routes function (default `true`).
    pub fn server(mut self, enabled: bool) -> Self {
        self.server = enabled;
        self
    }

    /// Whether to emit the typed client (default `true`).
    pub fn client(mut self, enabled: bool) -> Self {
        self.client = enabled;
        self
    }
}

impl prost_build::ServiceGenerator for TridentServiceGenerator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        let names = ServiceNames::new(&service);
        let methods: Vec<MethodNames> = service
            .methods
            .iter()
            .map(|method| MethodNames::new(&names, method))
            .collect();

        write_name_const(&names, buf);
        write_specs_module(&names, &methods, buf);
        if self.server {
            write_server_trait(&service, &names, &methods, buf);
            write_routes_fn(&names, &methods, &self.http_rules, buf);
        }
        if self.client {
            write_client(&names, &methods, buf);
        }
    }
}

/// Names derived from one service.
struct ServiceNames {
    /// `golden.v1.GreetService`
    full_name: String,
    /// `GREET_SERVICE_NAME`
    name_const: String,
    /// `greet_service` (module of the method specs)
    specs_mod: String,
    /// `GreetService`
    trait_name: String,
    /// `greet_service_routes`
    routes_fn: String,
    /// `GreetServiceClient`
    client_struct: String,
}

impl ServiceNames {
    fn new(service: &Service) -> Self {
        let full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        let snake = service.proto_name.to_snake_case();
        let camel = service.proto_name.to_upper_camel_case();
        Self {
            full_name,
            name_const: format!("{}_NAME", service.proto_name.to_shouty_snake_case()),
            specs_mod: sanitize_identifier(&snake),
            trait_name: service.name.clone(),
            routes_fn: format!("{snake}_routes"),
            client_struct: format!("{camel}Client"),
        }
    }
}

/// Names and types derived from one method.
struct MethodNames<'a> {
    method: &'a Method,
    /// `GREET_MANY`
    spec_const: String,
    /// `greet_many` (trait method; already escaped by prost, e.g. `r#type`)
    rust_name: String,
    /// Client method name: as `rust_name`, but never `new`, the constructor.
    client_name: String,
    /// `golden.v1.GreetService.GreetMany`
    full_name: String,
    /// `/golden.v1.GreetService/GreetMany`
    path: String,
}

impl<'a> MethodNames<'a> {
    fn new(names: &ServiceNames, method: &'a Method) -> Self {
        let client_name = if method.name == "new" {
            "new_".to_owned()
        } else {
            method.name.clone()
        };
        Self {
            method,
            spec_const: method.proto_name.to_shouty_snake_case(),
            rust_name: method.name.clone(),
            client_name,
            full_name: format!("{}.{}", names.full_name, method.proto_name),
            path: format!("/{}/{}", names.full_name, method.proto_name),
        }
    }

    fn stream_type(&self) -> StreamKind {
        match (self.method.client_streaming, self.method.server_streaming) {
            (false, false) => StreamKind::Unary,
            (false, true) => StreamKind::ServerStream,
            (true, false) => StreamKind::ClientStream,
            (true, true) => StreamKind::BidiStream,
        }
    }

    fn deprecated(&self) -> bool {
        self.method.options.deprecated()
    }
}

/// The four call shapes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Unary,
    ServerStream,
    ClientStream,
    BidiStream,
}

impl StreamKind {
    /// Variant of `trident::StreamType`.
    fn variant(self) -> &'static str {
        match self {
            StreamKind::Unary => "Unary",
            StreamKind::ServerStream => "ServerStream",
            StreamKind::ClientStream => "ClientStream",
            StreamKind::BidiStream => "BidiStream",
        }
    }

    /// Method of `ServiceRoutes` and of `Client` for this shape.
    fn call_fn(self) -> &'static str {
        match self {
            StreamKind::Unary => "unary",
            StreamKind::ServerStream => "server_stream",
            StreamKind::ClientStream => "client_stream",
            StreamKind::BidiStream => "bidi_stream",
        }
    }

    /// Words used in generated docs.
    fn describe(self) -> &'static str {
        match self {
            StreamKind::Unary => "unary",
            StreamKind::ServerStream => "server-streaming",
            StreamKind::ClientStream => "client-streaming",
            StreamKind::BidiStream => "bidirectional-streaming",
        }
    }
}

fn write_name_const(names: &ServiceNames, buf: &mut String) {
    let _ = writeln!(
        buf,
        "/// Fully-qualified name of the `{full}` service.\n\
         pub const {konst}: &str = {full:?};",
        full = names.full_name,
        konst = names.name_const,
    );
}

fn write_specs_module(names: &ServiceNames, methods: &[MethodNames<'_>], buf: &mut String) {
    let _ = writeln!(
        buf,
        "/// Method descriptors of the `{}` service.\npub mod {} {{",
        names.full_name, names.specs_mod
    );
    for m in methods {
        let idempotency = match m.method.options.idempotency_level() {
            IdempotencyLevel::IdempotencyUnknown => "Unknown",
            IdempotencyLevel::NoSideEffects => "NoSideEffects",
            IdempotencyLevel::Idempotent => "Idempotent",
        };
        let _ = writeln!(
            buf,
            "/// Descriptor of the {kind} method `{full}`.\n\
             pub const {konst}: {RT}::MethodSpec = {RT}::MethodSpec {{\n\
                 service: {service:?},\n\
                 method: {method:?},\n\
                 path: {path:?},\n\
                 stream_type: {RT}::StreamType::{stream},\n\
                 idempotency: {RT}::Idempotency::{idempotency},\n\
             }};",
            kind = m.stream_type().describe(),
            full = m.full_name,
            konst = m.spec_const,
            service = names.full_name,
            method = m.method.proto_name,
            path = m.path,
            stream = m.stream_type().variant(),
        );
    }
    buf.push_str("}\n");
}

/// Appends the proto comments, or `fallback` when there are none.
fn write_docs(comments: &Comments, fallback: &str, buf: &mut String) {
    if comments.leading.is_empty() && comments.trailing.is_empty() {
        let _ = writeln!(buf, "/// {fallback}");
    } else {
        // Detached comments are not about this item; keep only the attached ones.
        let attached = Comments {
            leading_detached: Vec::new(),
            leading: comments.leading.clone(),
            trailing: comments.trailing.clone(),
        };
        attached.append_with_indent(0, buf);
    }
}

fn result(ok: &str) -> String {
    format!("::core::result::Result<{ok}, {RT}::Error>")
}

fn write_server_trait(
    service: &Service,
    names: &ServiceNames,
    methods: &[MethodNames<'_>],
    buf: &mut String,
) {
    write_docs(
        &service.comments,
        &format!("Server side of the `{}` service.", names.full_name),
        buf,
    );
    let _ = writeln!(
        buf,
        "///\n\
         /// Every method has a default body answering `unimplemented`.\n\
         /// Serve an implementation with [`{routes}`].\n\
         pub trait {name}: ::core::marker::Send + ::core::marker::Sync + 'static {{",
        routes = names.routes_fn,
        name = names.trait_name,
    );
    for m in methods {
        let input = &m.method.input_type;
        let output = &m.method.output_type;
        let (request, response) = match m.stream_type() {
            StreamKind::Unary => (
                format!("{RT}::Request<{input}>"),
                format!("{RT}::Response<{output}>"),
            ),
            StreamKind::ServerStream => (
                format!("{RT}::Request<{input}>"),
                format!("{RT}::Response<{RT}::ResponseStream<{output}>>"),
            ),
            StreamKind::ClientStream => (
                format!("{RT}::Request<{RT}::Streaming<{input}>>"),
                format!("{RT}::Response<{output}>"),
            ),
            StreamKind::BidiStream => (
                format!("{RT}::Request<{RT}::Streaming<{input}>>"),
                format!("{RT}::Response<{RT}::ResponseStream<{output}>>"),
            ),
        };
        write_docs(
            &m.method.comments,
            &format!(
                "Handles the {} method `{}`.",
                m.stream_type().describe(),
                m.full_name
            ),
            buf,
        );
        if m.deprecated() {
            buf.push_str("#[deprecated]\n");
        }
        let _ = writeln!(
            buf,
            "fn {name}(&self, request: {request}) \
             -> impl {RT}::Future<Output = {result}> + ::core::marker::Send {{\n\
                 let _ = request;\n\
                 async {{\n\
                     ::core::result::Result::Err({RT}::Error::new(\n\
                         {RT}::Code::Unimplemented,\n\
                         {message:?},\n\
                     ))\n\
                 }}\n\
             }}",
            name = m.rust_name,
            result = result(&response),
            message = format!("{} is not implemented", m.full_name),
        );
    }
    buf.push_str("}\n");
}

fn write_routes_fn(
    names: &ServiceNames,
    methods: &[MethodNames<'_>],
    rules: &HttpRules,
    buf: &mut String,
) {
    let bindings: Vec<_> = methods
        .iter()
        .flat_map(|m| {
            rules
                .bindings(&m.full_name)
                .iter()
                .map(move |binding| (m, binding))
        })
        .collect();
    let _ = writeln!(
        buf,
        "/// Routes serving the `{}` service with `service`; add them to a `Router`.",
        names.full_name
    );
    if methods.iter().any(MethodNames::deprecated) {
        // Serving a deprecated method is not a use of it.
        buf.push_str("#[allow(deprecated)]\n");
    }
    let _ = writeln!(
        buf,
        "pub fn {routes}<S: {name}>(service: S) -> {RT}::ServiceRoutes {{",
        routes = names.routes_fn,
        name = names.trait_name,
    );
    if methods.is_empty() {
        buf.push_str("let _ = service;\n");
    } else {
        let _ = writeln!(buf, "let service = {RT}::Arc::new(service);");
    }
    if !bindings.is_empty() {
        buf.push_str("let routes = ");
    }
    let _ = write!(buf, "{RT}::ServiceRoutes::new({})", names.name_const);
    for m in methods {
        let _ = write!(
            buf,
            "\n.{call}(&{specs}::{konst}, {{\n\
                 let service = ::core::clone::Clone::clone(&service);\n\
                 move |request| {{\n\
                     let service = ::core::clone::Clone::clone(&service);\n\
                     async move {{ <S as {name}>::{method}(&service, request).await }}\n\
                 }}\n\
             }})",
            call = m.stream_type().call_fn(),
            specs = names.specs_mod,
            konst = m.spec_const,
            name = names.trait_name,
            method = m.rust_name,
        );
    }
    if !bindings.is_empty() {
        // The `google.api.http` bindings, in the order written; the last one is the result.
        buf.push(';');
        let last = bindings.len() - 1;
        for (index, (m, binding)) in bindings.into_iter().enumerate() {
            let _ = write!(
                buf,
                "\n{let_}{RT}::RestRoutes::http(routes, &{specs}::{konst}, {rule}){end}",
                let_ = if index == last { "" } else { "let routes = " },
                end = if index == last { "" } else { ";" },
                specs = names.specs_mod,
                konst = m.spec_const,
                rule = binding.rust_expr(RT),
            );
        }
    }
    buf.push_str("\n}\n");
}

fn write_client(names: &ServiceNames, methods: &[MethodNames<'_>], buf: &mut String) {
    let _ = writeln!(
        buf,
        "/// Typed client of the `{full}` service.\n\
         #[derive(Clone, Debug)]\n\
         pub struct {client} {{\n\
             {allow}client: {RT}::Client,\n\
         }}\n\
         impl {client} {{\n\
             /// A `{full}` client sending its calls through `client`.\n\
             pub fn new(client: {RT}::Client) -> Self {{\n\
                 Self {{ client }}\n\
             }}",
        full = names.full_name,
        client = names.client_struct,
        // Without methods, nothing reads the client.
        allow = if methods.is_empty() {
            "#[allow(dead_code)]\n"
        } else {
            ""
        },
    );
    for m in methods {
        let input = &m.method.input_type;
        let output = &m.method.output_type;
        write_docs(
            &m.method.comments,
            &format!(
                "Calls the {} method `{}`.",
                m.stream_type().describe(),
                m.full_name
            ),
            buf,
        );
        if m.deprecated() {
            buf.push_str("#[deprecated]\n");
        }
        let spec = format!("&{}::{}", names.specs_mod, m.spec_const);
        let name = &m.client_name;
        let call = m.stream_type().call_fn();
        let _ = match m.stream_type() {
            StreamKind::Unary => writeln!(
                buf,
                "pub async fn {name}(&self, request: impl {RT}::IntoRequest<{input}>) \
                 -> {result} {{\n\
                     self.client.{call}({spec}, {RT}::IntoRequest::<{input}>::into_request(request)).await\n\
                 }}",
                result = result(&format!("{RT}::Response<{output}>")),
            ),
            StreamKind::ServerStream => writeln!(
                buf,
                "pub async fn {name}(&self, request: impl {RT}::IntoRequest<{input}>) \
                 -> {result} {{\n\
                     self.client.{call}({spec}, {RT}::IntoRequest::<{input}>::into_request(request)).await\n\
                 }}",
                result = result(&format!("{RT}::ServerStreamCall<{output}>")),
            ),
            StreamKind::ClientStream => writeln!(
                buf,
                "pub fn {name}(&self, request: impl {RT}::IntoRequest<()>) \
                 -> {RT}::ClientStreamCall<{input}, {output}> {{\n\
                     self.client.{call}({spec}, {RT}::IntoRequest::<()>::into_request(request))\n\
                 }}",
            ),
            StreamKind::BidiStream => writeln!(
                buf,
                "pub fn {name}(&self, request: impl {RT}::IntoRequest<()>) \
                 -> {RT}::BidiStreamCall<{input}, {output}> {{\n\
                     self.client.{call}({spec}, {RT}::IntoRequest::<()>::into_request(request))\n\
                 }}",
            ),
        };
    }
    buf.push_str("}\n");
}

/// Escapes an identifier that is a Rust keyword, as prost-build does for its own names.
pub(crate) fn sanitize_identifier(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        _ => ident.to_owned(),
    }
}
