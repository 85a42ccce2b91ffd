//! Setting a request message's fields from URL text: the values of a REST binding's path variables
//! and of its query parameters. A field is named by a path of field names (`book.author.name`, each
//! the proto name or the JSON name); its value is text, read as the proto3 JSON mapping reads the same
//! value in a JSON string: numbers in decimal (floats also `NaN`, `Infinity`), booleans `true` and
//! `false`, enums by name or number, bytes in base64 (standard or URL-safe, padded or not), and
//! well-known types in their JSON form (`2024-05-01T10:00:00Z`, `1.5s`, `a,b.c`, wrapped values).
//! A repeated field takes one value per occurrence.

use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage as _, Value,
};

use crate::metadata::decode_base64;
use crate::{Code, Error};

/// The field `name` of `message`, by proto name or JSON name.
pub(crate) fn field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

/// What a field path leads to: the last field, after walking singular message fields.
pub(crate) enum Resolved {
    /// The field the path names.
    Field(FieldDescriptor),
    /// A name on the way names no field.
    Unknown,
    /// The path is not one a text value can set (it crosses a repeated or map field, or ends on a
    /// map): why.
    Unsettable(String),
}

/// Resolves `path` from `message`.
pub(crate) fn resolve<S: AsRef<str>>(message: &MessageDescriptor, path: &[S]) -> Resolved {
    let mut current = message.clone();
    let mut found = None;
    for (i, name) in path.iter().enumerate() {
        let Some(next) = field(&current, name.as_ref()) else {
            return Resolved::Unknown;
        };
        let last = i + 1 == path.len();
        if next.is_map() {
            return Resolved::Unsettable(format!("{} is a map", next.full_name()));
        }
        if !last {
            match next.kind() {
                Kind::Message(inner) if !next.is_list() && !is_well_known(&inner) => {
                    current = inner
                }
                _ => {
                    return Resolved::Unsettable(format!(
                        "{} is not a singular message field",
                        next.full_name()
                    ));
                }
            }
        }
        found = Some(next);
    }
    match found {
        Some(field) => Resolved::Field(field),
        None => Resolved::Unknown,
    }
}

/// Sets the field at `path` of `message` to `text` (appends it, for a repeated field). `origin`
/// says where the value came from, for the error (`path variable`, `query parameter`).
pub(crate) fn set_from_text<S: AsRef<str>>(
    message: &mut DynamicMessage,
    path: &[S],
    text: &str,
    origin: &str,
) -> Result<(), Error> {
    let dotted = || {
        path.iter()
            .map(|name| name.as_ref())
            .collect::<Vec<_>>()
            .join(".")
    };
    let invalid = |why: String| {
        Error::new(
            Code::InvalidArgument,
            format!("invalid {origin} {}={text:?}: {why}", dotted()),
        )
    };
    let Some((last, parents)) = path.split_last() else {
        return Err(invalid("no field named".into()));
    };
    let mut target = message;
    for name in parents {
        let descriptor = target.descriptor();
        let field = field(&descriptor, name.as_ref()).ok_or_else(|| {
            invalid(format!(
                "{} has no field {}",
                descriptor.full_name(),
                name.as_ref()
            ))
        })?;
        target = match target.get_field_mut(&field) {
            Value::Message(inner) if !field.is_list() => inner,
            _ => {
                return Err(invalid(format!(
                    "{} is not a singular message",
                    field.full_name()
                )));
            }
        };
    }
    let descriptor = target.descriptor();
    let field = field(&descriptor, last.as_ref()).ok_or_else(|| {
        invalid(format!(
            "{} has no field {}",
            descriptor.full_name(),
            last.as_ref()
        ))
    })?;
    if field.is_map() {
        return Err(invalid(format!("{} is a map", field.full_name())));
    }
    let value = parse(&field.kind(), text).map_err(invalid)?;
    if field.is_list() {
        if let Value::List(values) = target.get_field_mut(&field) {
            values.push(value);
        }
    } else {
        target.set_field(&field, value);
    }
    Ok(())
}

/// `text` as a value of `kind`.
fn parse(kind: &Kind, text: &str) -> Result<Value, String> {
    let number = |e: &dyn std::fmt::Display| format!("not a number of its type ({e})");
    Ok(match kind {
        Kind::Double => Value::F64(parse_float(text)?),
        Kind::Float => Value::F32(parse_float(text)? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(text.parse().map_err(|e| number(&e))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(text.parse().map_err(|e| number(&e))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(|e| number(&e))?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(|e| number(&e))?),
        Kind::Bool => Value::Bool(parse_bool(text)?),
        Kind::String => Value::String(text.to_string()),
        Kind::Bytes => Value::Bytes(decode_base64(text.as_bytes()).ok_or("not base64")?.into()),
        Kind::Enum(descriptor) => {
            match descriptor.get_value_by_name(text) {
                Some(value) => Value::EnumNumber(value.number()),
                None => Value::EnumNumber(text.parse().map_err(|_| {
                    format!("{} has no value named {text:?}", descriptor.full_name())
                })?),
            }
        }
        Kind::Message(descriptor) => Value::Message(parse_message(descriptor, text)?),
    })
}

/// Floats as proto3 JSON writes them, and as Rust reads them.
fn parse_float(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| "not a number".to_string()),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" | "True" | "TRUE" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "0" => Ok(false),
        _ => Err("not true or false".to_string()),
    }
}

/// Whether `message` is a well-known type with a JSON form that is not an object (or one a single
/// text value sets whole): these are leaves, never walked into.
fn is_well_known(message: &MessageDescriptor) -> bool {
    message.package_name() == "google.protobuf"
}

/// A message from text: a well-known type from its JSON form (a string for most; the JSON itself for
/// `Struct`, `Value` and `ListValue`; a boolean for `BoolValue`), any other message from a JSON object.
fn parse_message(descriptor: &MessageDescriptor, text: &str) -> Result<DynamicMessage, String> {
    let json = match descriptor.full_name() {
        "google.protobuf.BoolValue" => serde_json::Value::Bool(parse_bool(text)?),
        "google.protobuf.Value" => {
            serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.into()))
        }
        "google.protobuf.Struct" | "google.protobuf.ListValue" => {
            serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?
        }
        name if name.starts_with("google.protobuf.") => serde_json::Value::String(text.into()),
        _ => serde_json::from_str(text)
            .map_err(|_| format!("{} takes a JSON object", descriptor.full_name()))?,
    };
    DynamicMessage::deserialize(descriptor.clone(), json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp() -> DynamicMessage {
        DynamicMessage::new(prost_types::Timestamp::default().descriptor())
    }

    #[test]
    fn scalars_parse_as_proto3_json_reads_them() {
        let mut message = timestamp();
        set_from_text(&mut message, &["seconds"], "-12", "query parameter").unwrap();
        set_from_text(&mut message, &["nanos"], "7", "query parameter").unwrap();
        assert_eq!(
            message.get_field_by_name("seconds").unwrap().as_i64(),
            Some(-12)
        );
        let error = set_from_text(&mut message, &["nanos"], "seven", "path variable").unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        assert!(
            error.message().contains("path variable nanos=\"seven\""),
            "{error}"
        );
        let error = set_from_text(&mut message, &["nope"], "1", "query parameter").unwrap_err();
        assert!(error.message().contains("no field nope"), "{error}");
        assert!(matches!(parse(&Kind::Bool, "true"), Ok(Value::Bool(true))));
        assert!(parse(&Kind::Bool, "yes").is_err());
        assert!(matches!(parse(&Kind::Double, "NaN"), Ok(Value::F64(v)) if v.is_nan()));
        assert!(parse(&Kind::Double, "1e999").is_err());
        assert!(matches!(parse(&Kind::Bytes, "AQID"), Ok(Value::Bytes(b)) if b[..] == [1, 2, 3]));
        assert!(parse(&Kind::Uint32, "-1").is_err());
    }

    #[test]
    fn well_known_types_take_their_json_form() {
        let duration = prost_types::Duration::default().descriptor();
        let Value::Message(parsed) = parse(&Kind::Message(duration), "1.5s").unwrap() else {
            panic!("a message")
        };
        assert_eq!(
            parsed.get_field_by_name("nanos").unwrap().as_i32(),
            Some(500_000_000)
        );
        let timestamp = prost_types::Timestamp::default().descriptor();
        assert!(parse(&Kind::Message(timestamp.clone()), "2024-05-01T10:00:00Z").is_ok());
        assert!(parse(&Kind::Message(timestamp), "yesterday").is_err());
    }
}
