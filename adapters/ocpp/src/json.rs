//! The validating JSON reader behind every typed message.
//!
//! A serde derive reports one opaque error for "missing", "wrong type", "unknown
//! field" and "bad enum value" alike, but OCPP-J needs a different error code for
//! each, and the charger deserves the path of the field. So payloads are read
//! from a `serde_json::Value` by [`FromJson`], which checks what the official
//! schemas check while it builds the typed value. Serialising stays with serde.
//!
//! Which error code each schema rule maps to is documented in [`crate::error`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ValidationError};

/// Builds a typed value from JSON, enforcing the schema rules for it.
pub(crate) trait FromJson: Sized {
    /// Reads `value`, found at `path` within the payload.
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError>;
}

/// The path of `key` inside the object at `path`.
pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Quotes text from the peer for a description without letting a huge value through.
pub(crate) fn quote(text: &str) -> String {
    const SHOWN: usize = 40;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("`{}…`", text.get(..cut).unwrap_or_default()),
        None => format!("`{text}`"),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at `path` has the wrong JSON type.
pub(crate) fn type_error(path: &str, expected: &str, found: &Value) -> ValidationError {
    ValidationError::new(
        ErrorCode::TypeConstraintViolation,
        path,
        format!("expected {expected}, found {}", kind_of(found)),
    )
}

/// The string at `path` is not one of the values of enum `type_name`.
pub(crate) fn enum_error(path: &str, found: &str, type_name: &str) -> ValidationError {
    ValidationError::new(
        ErrorCode::PropertyConstraintViolation,
        path,
        format!("{} is not a valid {type_name}", quote(found)),
    )
}

/// An object being read: knows its path and has already refused unknown fields.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Obj<'a> {
    /// Opens the object at `path`, refusing any key outside `fields` (every object of
    /// the OCPP 1.6 schemas sets `additionalProperties: false`). Unknown keys are
    /// checked first because a misspelt key is the likely cause of a "missing" one.
    pub(crate) fn new(value: &'a Value, path: &'a str, fields: &[&str]) -> Result<Self, ValidationError> {
        let Some(map) = value.as_object() else {
            return Err(type_error(path, "an object", value));
        };
        if let Some(unknown) = map.keys().find(|key| !fields.contains(&key.as_str())) {
            return Err(ValidationError::new(
                ErrorCode::FormatViolation,
                child(path, unknown),
                "unknown field (the schema allows no additional properties)",
            ));
        }
        Ok(Self { map, path })
    }

    /// The path of field `key` of this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        child(self.path, key)
    }
}

/// A struct field: required (`T`) or optional (`Option<T>`).
pub(crate) trait Field: Sized {
    /// Reads field `key` of `obj`.
    fn read(obj: &Obj<'_>, key: &str) -> Result<Self, ValidationError>;

    /// Whether serialisation leaves the field out (only `None` is left out).
    fn is_absent(&self) -> bool {
        false
    }
}

impl<T: FromJson> Field for T {
    fn read(obj: &Obj<'_>, key: &str) -> Result<Self, ValidationError> {
        match obj.map.get(key) {
            Some(value) => T::from_json(value, &obj.path_of(key)),
            None => Err(ValidationError::new(
                ErrorCode::OccurrenceConstraintViolation,
                obj.path_of(key),
                "required field is missing",
            )),
        }
    }
}

impl<T: FromJson> Field for Option<T> {
    fn read(obj: &Obj<'_>, key: &str) -> Result<Self, ValidationError> {
        // An explicit `null` is not "absent": the schemas give no field a null type.
        obj.map
            .get(key)
            .map(|value| T::from_json(value, &obj.path_of(key)))
            .transpose()
    }

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl FromJson for i32 {
    /// OCPP 1.6 integers are 32-bit (Part 2, "integer"); draft-04 schemas do not count
    /// `5.0` as an integer, and neither does this.
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError> {
        let out_of_range = || {
            ValidationError::new(
                ErrorCode::TypeConstraintViolation,
                path,
                "integer does not fit in 32 bits",
            )
        };
        match value.as_i64() {
            Some(n) => i32::try_from(n).map_err(|_| out_of_range()),
            None if value.is_u64() => Err(out_of_range()),
            None => Err(type_error(path, "an integer", value)),
        }
    }
}

impl FromJson for f64 {
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError> {
        value.as_f64().ok_or_else(|| type_error(path, "a number", value))
    }
}

impl FromJson for bool {
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError> {
        value.as_bool().ok_or_else(|| type_error(path, "a boolean", value))
    }
}

impl FromJson for String {
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| type_error(path, "a string", value))
    }
}

impl FromJson for Value {
    /// A schema field without a type (2.0.1 `anyType`, such as DataTransfer's `data`): any JSON.
    fn from_json(value: &Value, _path: &str) -> Result<Self, ValidationError> {
        Ok(value.clone())
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError> {
        let Some(items) = value.as_array() else {
            return Err(type_error(path, "an array", value));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::from_json(item, &format!("{path}[{i}]")))
            .collect()
    }
}

impl FromJson for DateTime<Utc> {
    /// The schemas' `format: date-time` is RFC 3339, which requires a UTC offset.
    fn from_json(value: &Value, path: &str) -> Result<Self, ValidationError> {
        let Some(text) = value.as_str() else {
            return Err(type_error(path, "an RFC 3339 date-time string", value));
        };
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ValidationError::new(
                    ErrorCode::TypeConstraintViolation,
                    path,
                    format!("{} is not an RFC 3339 date-time", quote(text)),
                )
            })
    }
}

/// Whether `value` passes the schemas' `multipleOf: 0.1`.
///
/// Binary floats cannot hold most tenths exactly (`0.3 * 10.0` is `3.0000000000000004`),
/// so an exact remainder test would refuse valid values; a relative epsilon far below
/// one tenth accepts every decimal a charger or we can write with one fractional digit.
pub(crate) fn is_multiple_of_tenth(value: f64) -> bool {
    let tenths = value * 10.0;
    tenths.is_finite() && (tenths - tenths.round()).abs() <= 1e-9 * tenths.abs().max(1.0)
}

/// Field check for a decimal with `multipleOf: 0.1`.
pub(crate) fn tenths(value: &f64, path: &str) -> Result<(), ValidationError> {
    if is_multiple_of_tenth(*value) {
        Ok(())
    } else {
        Err(ValidationError::new(
            ErrorCode::PropertyConstraintViolation,
            path,
            format!("{value} is not a multiple of 0.1"),
        ))
    }
}

/// Field check for an optional decimal with `multipleOf: 0.1`.
pub(crate) fn opt_tenths(value: &Option<f64>, path: &str) -> Result<(), ValidationError> {
    value.as_ref().map_or(Ok(()), |v| tenths(v, path))
}

/// Drops float noise from a valid tenth (`0.1 + 0.2` goes out as `0.3`), so that
/// exact-decimal validators on the other side (Python's `Decimal`) accept it too.
/// Invalid values go out unchanged, so that validation refuses them instead of
/// silently sending a different limit.
fn clean_tenth(value: f64) -> f64 {
    if is_multiple_of_tenth(value) {
        (value * 10.0).round() / 10.0
    } else {
        value
    }
}

/// `serialize_with` for a decimal with `multipleOf: 0.1`.
pub(crate) fn ser_tenths<S: serde::Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(clean_tenth(*value))
}

/// `serialize_with` for an optional decimal with `multipleOf: 0.1`.
pub(crate) fn ser_opt_tenths<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_f64(clean_tenth(*v)),
        None => s.serialize_none(),
    }
}

/// Field check for `minItems: 1`.
pub(crate) fn non_empty<T>(items: &[T], path: &str) -> Result<(), ValidationError> {
    if items.is_empty() {
        Err(ValidationError::new(
            ErrorCode::OccurrenceConstraintViolation,
            path,
            "must hold at least one item",
        ))
    } else {
        Ok(())
    }
}

/// Deserialises through [`FromJson`], so serde users get the same strict checks.
pub(crate) fn deserialize_checked<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: FromJson,
    D: serde::Deserializer<'de>,
{
    let value = <Value as serde::Deserialize>::deserialize(deserializer)?;
    T::from_json(&value, "").map_err(serde::de::Error::custom)
}

/// Defines a string enum of a schema: the variants, their wire spellings (plus any
/// extra spellings accepted when reading), serde support and strict reading.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($variant:ident = $wire:literal $(| $alias:literal)*),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $wire, "`")]
                $variant,
            )+
        }

        impl $name {
            /// Every value the schema allows, in schema order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// Reads a wire spelling (case-sensitive, as JSON schema enums are);
            /// `None` for a value the schema does not list.
            pub fn from_wire(text: &str) -> Option<Self> {
                match text {
                    $($wire $(| $alias)* => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::json::deserialize_checked(d)
            }
        }

        impl $crate::json::FromJson for $name {
            fn from_json(
                value: &::serde_json::Value,
                path: &str,
            ) -> Result<Self, $crate::error::ValidationError> {
                let Some(text) = value.as_str() else {
                    return Err($crate::json::type_error(path, "a string", value));
                };
                Self::from_wire(text)
                    .ok_or_else(|| $crate::json::enum_error(path, text, stringify!($name)))
            }
        }
    };
}

/// Defines a schema object: a struct whose fields carry their wire names, serde
/// serialisation that leaves `None` out, and strict reading. A field may name a
/// check, `[check_fn]`, run on its value after reading (`multipleOf`, `minItems`).
///
/// `object!(@allow ["customData"] ...)` also accepts (and drops) the listed keys: OCPP 2.0.1 lets
/// every class carry vendor `customData`, which Coupler has no use for.
macro_rules! object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $json:literal $([$check:path])?
            ),* $(,)?
        }
    ) => {
        object! {
            @allow []
            $(#[$meta])*
            pub struct $name {
                $(
                    $(#[$fmeta])*
                    $field : $ty = $json $([$check])?
                ),*
            }
        }
    };
    (
        @allow [$($extra:literal),*]
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $json:literal $([$check:path])?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[doc = concat!("On the wire: `", $json, "`.")]
                #[serde(rename = $json, skip_serializing_if = "crate::json::Field::is_absent")]
                pub $field: $ty,
            )*
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::json::deserialize_checked(d)
            }
        }

        impl $crate::json::FromJson for $name {
            fn from_json(
                value: &::serde_json::Value,
                path: &str,
            ) -> Result<Self, $crate::error::ValidationError> {
                let obj = $crate::json::Obj::new(value, path, &[$($json,)* $($extra),*])?;
                $(
                    let $field: $ty = $crate::json::Field::read(&obj, $json)?;
                    $( $check(&$field, &obj.path_of($json))?; )?
                )*
                let _ = obj;
                Ok(Self { $($field),* })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tenths_that_floats_cannot_hold_exactly_are_still_multiples_of_a_tenth() {
        for ok in [
            0.0,
            0.1,
            0.3,
            0.7,
            6.1,
            16.0,
            32.2,
            0.1 + 0.2,
            1e-1,
            11_000.5,
            -0.3,
            1e12,
        ] {
            assert!(is_multiple_of_tenth(ok), "{ok} should pass");
        }
        for bad in [0.01, 0.05, 16.05, 6.15, 0.35, 1e-9] {
            assert!(!is_multiple_of_tenth(bad), "{bad} should fail");
        }
    }

    #[test]
    fn a_clean_tenth_has_no_float_noise_left() {
        assert_eq!(json!(clean_tenth(0.1 + 0.2)).to_string(), "0.3");
        assert_eq!(clean_tenth(16.05), 16.05);
    }

    #[test]
    fn integers_must_be_whole_and_fit_32_bits() {
        assert_eq!(i32::from_json(&json!(7), "n"), Ok(7));
        for (value, expected) in [
            (json!(1.5), "n: expected an integer, found a decimal number"),
            (json!(5.0), "n: expected an integer, found a decimal number"),
            (json!("5"), "n: expected an integer, found a string"),
            (json!(3_000_000_000_i64), "n: integer does not fit in 32 bits"),
            (json!(u64::MAX), "n: integer does not fit in 32 bits"),
        ] {
            let error = i32::from_json(&value, "n").unwrap_err();
            assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
            assert_eq!(error.description, expected);
        }
    }

    #[test]
    fn date_times_need_an_offset_and_come_back_in_utc() {
        let t = DateTime::<Utc>::from_json(&json!("2025-03-01T10:00:00+01:00"), "t").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-01T09:00:00+00:00");
        let error = DateTime::<Utc>::from_json(&json!("2025-03-01T10:00:00"), "t").unwrap_err();
        assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
        assert_eq!(error.path, "t");
    }

    #[test]
    fn quoted_peer_text_is_cut_short() {
        assert_eq!(quote("abc"), "`abc`");
        let long = "é".repeat(100);
        assert_eq!(quote(&long).chars().count(), 40 + 3);
    }
}
