//! JSON Schemas (OpenAPI 3.1's dialect of JSON Schema 2020-12) of protobuf messages and enums in
//! their proto3 JSON form, as Trident's JSON codec writes and reads them:
//!
//! * fields by their JSON name (lowerCamelCase, or `json_name`);
//! * 64-bit integers as decimal strings, other integers as numbers;
//! * `float` and `double` as numbers, or the strings `NaN`, `Infinity` and `-Infinity`;
//! * `bytes` as base64 strings;
//! * enums by value name;
//! * repeated fields as arrays, maps as objects;
//! * messages as references to `#/components/schemas/<full name>` (so recursion is no problem);
//! * the well-known types in their special JSON forms (a `Timestamp` is an RFC 3339 string, a
//!   wrapper its wrapped value or `null`, ...), inline but for `google.protobuf.Any`.
//!
//! Members of a oneof are optional properties like the others; the message's description says
//! that at most one is set. Leading comments (else trailing ones) become descriptions.

use std::collections::BTreeMap;

use prost_reflect::{EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

/// Where component schemas are referred to.
const REF_PREFIX: &str = "#/components/schemas/";

/// The error of REST responses: googleapis' `google.rpc.Status` in JSON.
pub(crate) const STATUS: &str = "google.rpc.Status";

/// The error of Connect responses.
pub(crate) const CONNECT_ERROR: &str = "connect.error";

const ANY: &str = "google.protobuf.Any";

/// Connect's error codes, as its JSON errors name them.
const CONNECT_CODES: [&str; 16] = [
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

/// The component schemas referred to so far, by name (a message or enum's full name).
#[derive(Debug, Default)]
pub(crate) struct Schemas {
    /// `None` while the schema is being built (so recursive references stop there).
    components: BTreeMap<String, Option<Value>>,
}

impl Schemas {
    /// The component schemas, sorted by name.
    pub(crate) fn into_components(self) -> Map<String, Value> {
        self.components
            .into_iter()
            .map(|(name, schema)| (name, schema.expect("every schema is finished")))
            .collect()
    }

    /// The schema of a value of type `message`: a reference to its component schema, or a
    /// well-known type's JSON form.
    pub(crate) fn message(&mut self, message: &MessageDescriptor) -> Value {
        let name = message.full_name();
        if let Some(schema) = self.well_known(name) {
            return schema;
        }
        if !self.components.contains_key(name) {
            self.components.insert(name.to_owned(), None);
            let schema = self.object(message, &[]);
            self.components.insert(name.to_owned(), Some(schema));
        }
        reference(name)
    }

    /// The object schema of `message` with the fields named in `exclude` (protobuf names) left
    /// out: its description, one property per field.
    pub(crate) fn object(&mut self, message: &MessageDescriptor, exclude: &[&str]) -> Value {
        let mut schema = Map::new();
        schema.insert("type".into(), "object".into());
        let mut description = comment(&message.parent_file(), message.path()).unwrap_or_default();
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            if exclude.contains(&field.name()) {
                continue;
            }
            properties.insert(field.json_name().to_owned(), self.field(&field));
            if field.cardinality() == prost_reflect::Cardinality::Required {
                required.push(Value::from(field.json_name()));
            }
        }
        for oneof in message.oneofs().filter(|oneof| !oneof.is_synthetic()) {
            let members: Vec<String> = oneof
                .fields()
                .filter(|field| !exclude.contains(&field.name()))
                .map(|field| format!("`{}`", field.json_name()))
                .collect();
            if members.len() > 1 {
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str(&format!(
                    "At most one of {} is set (oneof `{}`).",
                    members.join(", "),
                    oneof.name()
                ));
            }
        }
        if !description.is_empty() {
            schema.insert("description".into(), description.into());
        }
        if message
            .descriptor_proto()
            .options
            .as_ref()
            .is_some_and(|options| options.deprecated())
        {
            schema.insert("deprecated".into(), true.into());
        }
        schema.insert("properties".into(), properties.into());
        if !required.is_empty() {
            schema.insert("required".into(), required.into());
        }
        schema.into()
    }

    /// The schema of `field` as a property: its values (an array of them for a repeated field, an
    /// object for a map), with the field's description.
    pub(crate) fn field(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = self.field_values(field);
        describe(
            &mut schema,
            comment(&field.parent_file(), field.path()),
            field
                .field_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|options| options.deprecated()),
        );
        schema
    }

    /// The schema of `field`'s values, without its description.
    pub(crate) fn field_values(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                unreachable!("map fields hold entries")
            };
            let value = self.kind(&entry.map_entry_value_field().kind());
            json!({"type": "object", "additionalProperties": value})
        } else if field.is_list() {
            json!({"type": "array", "items": self.kind(&field.kind())})
        } else {
            self.kind(&field.kind())
        }
    }

    /// The schema of one value of type `kind`.
    pub(crate) fn kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Message(message) => self.message(message),
            Kind::Enum(enumeration) => self.enumeration(enumeration),
            scalar => scalar_schema(scalar),
        }
    }

    /// The schema of a value of `enumeration`: a reference to its component, a string naming a
    /// value (or `null` for `google.protobuf.NullValue`).
    fn enumeration(&mut self, enumeration: &EnumDescriptor) -> Value {
        let name = enumeration.full_name();
        if name == "google.protobuf.NullValue" {
            return json!({"type": "null"});
        }
        if !self.components.contains_key(name) {
            let file = enumeration.parent_file();
            let mut description = comment(&file, enumeration.path()).unwrap_or_default();
            for value in enumeration.values() {
                if let Some(text) = comment(&file, value.path()) {
                    if !description.is_empty() {
                        description.push_str(if description.contains("\n- `") {
                            "\n"
                        } else {
                            "\n\n"
                        });
                    }
                    description.push_str(&format!(
                        "- `{}`: {}",
                        value.name(),
                        text.replace('\n', "\n  ")
                    ));
                }
            }
            let names: Vec<Value> = enumeration.values().map(|v| v.name().into()).collect();
            let mut schema = Map::new();
            schema.insert("type".into(), "string".into());
            if !description.is_empty() {
                schema.insert("description".into(), description.into());
            }
            schema.insert("enum".into(), names.into());
            self.components.insert(name.to_owned(), Some(schema.into()));
        }
        reference(name)
    }

    /// A reference to `google.rpc.Status`, the error of REST responses.
    pub(crate) fn status(&mut self) -> Value {
        if !self.components.contains_key(STATUS) {
            let any = self.any();
            let schema = json!({
                "type": "object",
                "description": "An error: a `google.rpc.Status` in JSON.",
                "properties": {
                    "code": {
                        "type": "integer",
                        "format": "int32",
                        "description": "The gRPC status code (`3` for `INVALID_ARGUMENT`, ...).",
                    },
                    "message": {"type": "string", "description": "What went wrong, for developers."},
                    "details": {
                        "type": "array",
                        "items": any,
                        "description": "Messages with more about the error.",
                    },
                },
            });
            self.components.insert(STATUS.to_owned(), Some(schema));
        }
        reference(STATUS)
    }

    /// A reference to Connect's error.
    pub(crate) fn connect_error(&mut self) -> Value {
        if !self.components.contains_key(CONNECT_ERROR) {
            let schema = json!({
                "type": "object",
                "description": "A Connect error.",
                "properties": {
                    "code": {"type": "string", "enum": CONNECT_CODES},
                    "message": {"type": "string", "description": "What went wrong, for developers."},
                    "details": {
                        "type": "array",
                        "description": "Messages with more about the error.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "type": {
                                    "type": "string",
                                    "description": "The message's full name, such as `google.rpc.RetryInfo`.",
                                },
                                "value": {
                                    "type": "string",
                                    "contentEncoding": "base64",
                                    "description": "The message's protobuf encoding, in base64 without padding.",
                                },
                                "debug": {
                                    "type": "object",
                                    "description": "The message in JSON, for people to read.",
                                },
                            },
                        },
                    },
                },
                "required": ["code"],
            });
            self.components
                .insert(CONNECT_ERROR.to_owned(), Some(schema));
        }
        reference(CONNECT_ERROR)
    }

    /// A reference to `google.protobuf.Any`.
    fn any(&mut self) -> Value {
        if !self.components.contains_key(ANY) {
            let schema = json!({
                "type": "object",
                "description": "A message of any type: `@type` names it \
                    (`type.googleapis.com/<full name>`), the other properties are its fields, or \
                    `value` holds its JSON form when that is no object.",
                "properties": {"@type": {"type": "string"}},
                "required": ["@type"],
            });
            self.components.insert(ANY.to_owned(), Some(schema));
        }
        reference(ANY)
    }

    /// The JSON form of the well-known type `name`, if it is one with a form of its own.
    fn well_known(&mut self, name: &str) -> Option<Value> {
        let schema = match name {
            ANY => self.any(),
            STATUS => self.status(),
            "google.protobuf.Struct" => json!({"type": "object"}),
            "google.protobuf.Value" => json!({}),
            "google.protobuf.ListValue" => json!({"type": "array"}),
            "google.protobuf.Empty" => json!({"type": "object"}),
            _ => return well_known_scalar(name, true),
        };
        Some(schema)
    }
}

/// The JSON form of the well-known types that are a single JSON value (`Timestamp`, `Duration`,
/// `FieldMask` and the wrappers), which also fit in a URL's path or query; a wrapper may be `null`
/// when `nullable`.
pub(crate) fn well_known_scalar(name: &str, nullable: bool) -> Option<Value> {
    let wrapped = match name {
        "google.protobuf.Timestamp" => {
            return Some(json!({"type": "string", "format": "date-time"}));
        }
        "google.protobuf.Duration" => {
            return Some(json!({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"}));
        }
        "google.protobuf.FieldMask" => return Some(json!({"type": "string"})),
        "google.protobuf.DoubleValue" => Kind::Double,
        "google.protobuf.FloatValue" => Kind::Float,
        "google.protobuf.Int64Value" => Kind::Int64,
        "google.protobuf.UInt64Value" => Kind::Uint64,
        "google.protobuf.Int32Value" => Kind::Int32,
        "google.protobuf.UInt32Value" => Kind::Uint32,
        "google.protobuf.BoolValue" => Kind::Bool,
        "google.protobuf.StringValue" => Kind::String,
        "google.protobuf.BytesValue" => Kind::Bytes,
        _ => return None,
    };
    let mut schema = scalar_schema(&wrapped);
    if nullable {
        match schema.get_mut("anyOf").and_then(Value::as_array_mut) {
            Some(any_of) => any_of.push(json!({"type": "null"})),
            None => schema["type"] = json!([schema["type"].take(), "null"]),
        }
    }
    Some(schema)
}

/// The schema of a scalar (neither message nor enum) value.
pub(crate) fn scalar_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Double | Kind::Float => {
            let format = if *kind == Kind::Double {
                "double"
            } else {
                "float"
            };
            json!({"anyOf": [
                {"type": "number", "format": format},
                {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
            ]})
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Message(_) | Kind::Enum(_) => unreachable!("not a scalar"),
    }
}

/// A reference to the component schema `name`.
pub(crate) fn reference(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

/// Adds `description` and `deprecated` to a schema.
pub(crate) fn describe(schema: &mut Value, description: Option<String>, deprecated: bool) {
    if let Some(object) = schema.as_object_mut() {
        if let Some(description) = description {
            object.insert("description".into(), description.into());
        }
        if deprecated {
            object.insert("deprecated".into(), true.into());
        }
    }
}

/// The comment of the element at `path` in `file` (leading, else trailing), without the space
/// after each `//` and without blank lines around it.
pub(crate) fn comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info
        .location
        .iter()
        .find(|location| location.path == path)?;
    let text = location
        .leading_comments
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .or(location.trailing_comments.as_deref())?;
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let start = lines.iter().position(|line| !line.is_empty())?;
    let end = lines.iter().rposition(|line| !line.is_empty())?;
    Some(lines[start..=end].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_rules::tests::pool;

    #[test]
    fn proto3_json_forms() {
        let pool = pool(
            "import \"google/protobuf/timestamp.proto\";\n\
             import \"google/protobuf/duration.proto\";\n\
             import \"google/protobuf/wrappers.proto\";\n\
             import \"google/protobuf/struct.proto\";\n\
             import \"google/protobuf/field_mask.proto\";\n\
             import \"google/protobuf/empty.proto\";\n\
             import \"google/protobuf/any.proto\";\n\
             // A node.\n\
             //\n\
             //   Indented.\n\
             message Node {\n\
               int64 a = 1; // Trailing.\n\
               uint64 b = 2;\n\
               int32 c = 3;\n\
               fixed32 d = 4;\n\
               double e = 5;\n\
               bytes f = 6;\n\
               repeated Node children = 7;\n\
               map<int32, E> by_id = 8;\n\
               google.protobuf.Timestamp t = 9;\n\
               google.protobuf.Duration u = 10;\n\
               google.protobuf.Int64Value v = 11;\n\
               google.protobuf.DoubleValue w = 12;\n\
               google.protobuf.Struct x = 13;\n\
               google.protobuf.Value y = 14;\n\
               google.protobuf.ListValue z = 15;\n\
               google.protobuf.NullValue n = 16;\n\
               google.protobuf.FieldMask mask = 17;\n\
               google.protobuf.Empty empty = 18;\n\
               google.protobuf.Any any = 19;\n\
               google.protobuf.BoolValue flag = 20;\n\
               string json = 21 [json_name = \"JSON\", deprecated = true];\n\
               oneof choice { string p = 22; Node q = 23; }\n\
               optional string r = 24;\n\
             }\n\
             // Kinds.\n\
             enum E {\n\
               // Nothing.\n\
               E_UNSPECIFIED = 0;\n\
               E_ONE = 1;\n\
               // Two,\n\
               // on two lines.\n\
               E_TWO = 2;\n\
             }\n",
        );
        let mut schemas = Schemas::default();
        let node = pool.get_message_by_name("t.Node").unwrap();
        assert_eq!(
            schemas.message(&node),
            json!({"$ref": "#/components/schemas/t.Node"})
        );
        let components = schemas.into_components();
        let names: Vec<&String> = components.keys().collect();
        assert_eq!(names, ["google.protobuf.Any", "t.E", "t.Node"]);
        assert_eq!(
            components["t.E"],
            json!({
                "type": "string",
                "description": "Kinds.\n\n- `E_UNSPECIFIED`: Nothing.\n- `E_TWO`: Two,\n  on two lines.",
                "enum": ["E_UNSPECIFIED", "E_ONE", "E_TWO"],
            })
        );
        let node = &components["t.Node"];
        assert_eq!(
            node["description"],
            "A node.\n\n  Indented.\n\nAt most one of `p`, `q` is set (oneof `choice`)."
        );
        let nan = json!({"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]});
        let expected = json!({
            "a": {"type": "string", "format": "int64", "description": "Trailing."},
            "b": {"type": "string", "format": "uint64"},
            "c": {"type": "integer", "format": "int32"},
            "d": {"type": "integer", "minimum": 0, "maximum": 4294967295u32},
            "e": {"anyOf": [{"type": "number", "format": "double"}, nan]},
            "f": {"type": "string", "contentEncoding": "base64"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/t.Node"}},
            "byId": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/t.E"}},
            "t": {"type": "string", "format": "date-time"},
            "u": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"},
            "v": {"type": ["string", "null"], "format": "int64"},
            "w": {"anyOf": [{"type": "number", "format": "double"}, nan, {"type": "null"}]},
            "x": {"type": "object"},
            "y": {},
            "z": {"type": "array"},
            "n": {"type": "null"},
            "mask": {"type": "string"},
            "empty": {"type": "object"},
            "any": {"$ref": "#/components/schemas/google.protobuf.Any"},
            "flag": {"type": ["boolean", "null"]},
            "JSON": {"type": "string", "deprecated": true},
            "p": {"type": "string"},
            "q": {"$ref": "#/components/schemas/t.Node"},
            "r": {"type": "string"},
        });
        assert_eq!(node["properties"], expected);
        let order: Vec<&String> = node["properties"].as_object().unwrap().keys().collect();
        let expected_order: Vec<&String> = expected.as_object().unwrap().keys().collect();
        assert_eq!(order, expected_order, "fields in declaration order");
    }

    #[test]
    fn object_leaves_out_fields_and_their_oneof_note() {
        let pool = pool("message M { string a = 1; oneof o { string b = 2; string c = 3; } }\n");
        let message = pool.get_message_by_name("t.M").unwrap();
        let mut schemas = Schemas::default();
        let object = schemas.object(&message, &["a", "b"]);
        assert_eq!(
            object,
            json!({"type": "object", "properties": {"c": {"type": "string"}}})
        );
    }
}
