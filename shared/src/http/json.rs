//! `AppJson<T>`: a JSON body extractor whose failures are FastAPI-style 422 bodies.
//!
//! Axum's own `Json` answers bad input with plain-text 400/415/422; seed clients expect
//! `{"detail":[{"type","loc","msg","input"}]}` for every shape problem, so this extractor parses
//! in two steps (syntax, then shape) and reports the failing field's path.

use axum::body::Bytes;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::response::{IntoResponse, Response};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::body::{between, body_bytes, has_json_content_type, not_json};
use crate::error::{ApiError, FieldError};

/// A JSON request body of type `T`, rejected with our 422 envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(request, state).await?;
        parse(&bytes).map(AppJson).map_err(IntoResponse::into_response)
    }
}

/// An optional JSON body: `None` for a request without any (no `Content-Type` and no bytes, as
/// a `DELETE` usually is); anything else is read as [`AppJson`] reads it.
impl<S, T> OptionalFromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if request.headers().contains_key(http::header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(request, state).await.map(Some);
        }
        let bytes = body_bytes(request, state).await?;
        if bytes.is_empty() { Ok(None) } else { Err(not_json()) }
    }
}

/// A body type whose named top-level string fields are cleaned of control characters by their
/// own validation (the seed drops them from usernames), so a NUL there is not refused up front.
pub trait DropsControlCharacters {
    /// The top-level fields whose validation removes control characters before use.
    const FIELDS: &'static [&'static str];
}

/// [`AppJson`] for a body type that cleans some fields itself ([`DropsControlCharacters`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanedJson<T>(pub T);

impl<S, T> FromRequest<S> for CleanedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + DropsControlCharacters,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(request, state).await?;
        parse_cleaning(&bytes, T::FIELDS).map(CleanedJson).map_err(IntoResponse::into_response)
    }
}

/// The body of a request that says it is JSON, or the 422 / 413 answer.
async fn json_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Response> {
    if !has_json_content_type(request.headers()) {
        return Err(not_json());
    }
    body_bytes(request, state).await
}

/// Parses `bytes` as `T`, describing the first problem the way FastAPI does.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_cleaning(bytes, &[])
}

/// [`parse`], letting NUL through in the top-level string fields named in `cleaned`.
fn parse_cleaning<T: DeserializeOwned>(bytes: &[u8], cleaned: &[&str]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::Validation(vec![FieldError {
            kind: "json_invalid".into(),
            loc: vec![json!("body"), json!(error.column())],
            msg: "JSON decode error".into(),
            input: json!({}),
        }])
    })?;
    let first_nul = match &value {
        Value::Object(fields) => fields
            .iter()
            .filter(|(key, _)| !cleaned.contains(&key.as_str()))
            .find_map(|(key, item)| entry_nul_location(key, item, &[json!("body")])),
        other => nul_location(other, vec![json!("body")]),
    };
    if let Some(loc) = first_nul {
        return Err(ApiError::field(
            "string_pattern_mismatch",
            loc,
            "String should not contain NUL characters",
            Value::Null,
        ));
    }
    serde_path_to_error::deserialize(ObjectsOnly(&value))
        .map_err(|error| ApiError::Validation(vec![describe(&error, &value)]))
}

/// The body as a deserializer that builds a struct only from an object. serde's derived structs
/// also take an array of their fields in order (`["a@example.com"]` as `{"email": ...}`), which
/// no client means and FastAPI refuses; `describe` then answers its `model_attributes_type`.
struct ObjectsOnly<'a>(&'a Value);

impl<'de> serde::Deserializer<'de> for ObjectsOnly<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_any(self.0, visitor)
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_option(self.0, visitor)
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_newtype_struct(self.0, name, visitor)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_enum(self.0, name, variants, visitor)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if !self.0.is_object() {
            return Err(serde::de::Error::invalid_type(serde::de::Unexpected::Seq, &"an object"));
        }
        serde::Deserializer::deserialize_struct(self.0, name, fields, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// Where the first string (value or key) holding a NUL character is. Postgres text and jsonb
/// cannot store NUL, so such input is refused here as bad input instead of failing later in
/// the database. The walk is bounded by serde_json's nesting limit (128).
fn nul_location(value: &Value, loc: Vec<Value>) -> Option<Vec<Value>> {
    match value {
        Value::String(text) => text.contains('\0').then_some(loc),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            let mut at = loc.clone();
            at.push(json!(index));
            nul_location(item, at)
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| entry_nul_location(key, item, &loc)),
        _ => None,
    }
}

/// [`nul_location`] of one object entry at `loc`: its key, then its value.
fn entry_nul_location(key: &str, item: &Value, loc: &[Value]) -> Option<Vec<Value>> {
    let mut at = loc.to_vec();
    at.push(json!(key));
    if key.contains('\0') { Some(at) } else { nul_location(item, at) }
}

fn describe(error: &serde_path_to_error::Error<serde_json::Error>, body: &Value) -> FieldError {
    if !body.is_object() {
        return FieldError::new(
            "model_attributes_type",
            vec![json!("body")],
            "Input should be a valid dictionary or object to extract fields from",
            redact(body.clone()),
        );
    }
    let mut loc = vec![json!("body")];
    let mut at = Some(body);
    for segment in error.path().iter() {
        use serde_path_to_error::Segment;
        match segment {
            Segment::Map { key } | Segment::Enum { variant: key } => {
                at = at.and_then(|v| v.get(key));
                loc.push(json!(key));
            }
            Segment::Seq { index } => {
                at = at.and_then(|v| v.get(index));
                loc.push(json!(index));
            }
            Segment::Unknown => {}
        }
    }
    let field_is_secret = loc.last().and_then(Value::as_str).is_some_and(is_secret_key);
    let input = if field_is_secret { json!("**********") } else { redact(at.cloned().unwrap_or(Value::Null)) };
    let message = error.inner().to_string();

    if let Some(field) = between(&message, "missing field `", "`") {
        loc.push(json!(field));
        return FieldError::new("missing", loc, "Field required", input);
    }
    if message.starts_with("unknown field `") {
        // the path already ends at the unknown key
        return FieldError::new("extra_forbidden", loc, "Extra inputs are not permitted", Value::Null);
    }
    let (kind, msg) = if message.contains("expected a string") {
        ("string_type", "Input should be a valid string".to_owned())
    } else if message.contains("expected a boolean") {
        ("bool_type", "Input should be a valid boolean".to_owned())
    } else if message.contains("expected i") || message.contains("expected u") || message.contains("integer") {
        ("int_type", "Input should be a valid integer".to_owned())
    } else {
        ("value_error", message.split(" at line ").next().unwrap_or_default().to_owned())
    };
    FieldError::new(kind, loc, msg, input)
}

fn is_secret_key(key: &str) -> bool {
    key.contains("password") || key.contains("token") || key.contains("secret")
}

/// Error bodies echo the input back; never echo a secret.
fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let secret = is_secret_key(&key);
                    (key, if secret { json!("**********") } else { redact(value) })
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
        remember: Option<bool>,
    }

    fn first_error(body: &str) -> FieldError {
        match parse::<Login>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors.into_iter().next().expect("one error"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_struct_is_built_only_from_an_object() {
        // serde alone would read the array as the fields in order and let it through
        for body in [r#"["a@b.c", "secret", true]"#, r#""a@b.c""#, "42"] {
            let error = first_error(body);
            assert_eq!(
                (error.kind.as_str(), error.loc.clone()),
                ("model_attributes_type", vec![json!("body")]),
                "{body}"
            );
        }
        assert_eq!(parse::<Vec<Value>>(b"[1, 2]").expect("arrays where a list is wanted"), vec![json!(1), json!(2)]);
        assert!(parse::<Login>(br#"{"email": "a@b.c", "password": "x"}"#).is_ok());
    }

    #[test]
    fn a_nul_is_let_through_only_in_fields_their_validation_cleans() {
        let body = br#"{"username": "user\u0000name", "email": "a@b.c"}"#;
        let parsed: Value = parse_cleaning(body, &["username"]).expect("username cleans itself");
        assert_eq!(parsed["username"], "user\u{0}name");
        let elsewhere = parse_cleaning::<Value>(br#"{"username": "ok", "email": "a\u0000@b.c"}"#, &["username"])
            .expect_err("email does not clean itself");
        let ApiError::Validation(errors) = elsewhere else { panic!("a 422") };
        assert_eq!(errors[0].loc, vec![json!("body"), json!("email")]);
        assert!(parse::<Value>(body).is_err(), "without the exception, refused");
    }

    #[test]
    fn a_nul_character_anywhere_is_a_422_at_its_path() {
        let in_value = first_error(r#"{"email": "a\u0000@b.c", "password": "x"}"#);
        assert_eq!(
            (in_value.kind.as_str(), in_value.loc.clone()),
            ("string_pattern_mismatch", vec![json!("body"), json!("email")])
        );
        let nested = parse::<Value>(br#"{"kwargs": {"data": [1, "\u0000"]}}"#).expect_err("refused");
        let ApiError::Validation(errors) = nested else { panic!("a validation error") };
        assert_eq!(errors[0].loc, vec![json!("body"), json!("kwargs"), json!("data"), json!(1)]);
        let in_key = parse::<Value>(br#"{"a\u0000b": 1}"#).expect_err("refused");
        assert!(matches!(in_key, ApiError::Validation(_)));
        // an escaped backslash followed by "u0000" is just text
        assert!(parse::<Value>(br#"{"text": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn malformed_json_is_json_invalid() {
        let error = first_error("{\"email\": ");
        assert_eq!(error.kind, "json_invalid");
        assert_eq!(error.loc[0], "body");
        assert_eq!(error.msg, "JSON decode error");
    }

    #[test]
    fn missing_field_names_the_field_and_hides_secrets_in_the_echo() {
        let error = first_error(r#"{"password": "hunter22"}"#);
        assert_eq!(error.kind, "missing");
        assert_eq!(error.loc, vec![json!("body"), json!("email")]);
        assert_eq!(error.msg, "Field required");
        assert_eq!(error.input, json!({"password": "**********"}));
    }

    #[test]
    fn a_secret_field_of_the_wrong_type_is_not_echoed() {
        let error = first_error(r#"{"email": "a@b.c", "password": 12345678}"#);
        assert_eq!(error.loc, vec![json!("body"), json!("password")]);
        assert_eq!(error.input, json!("**********"));
    }

    #[test]
    fn wrong_type_reports_the_field_path() {
        let error = first_error(r#"{"email": 5, "password": "x"}"#);
        assert_eq!(error.kind, "string_type");
        assert_eq!(error.loc, vec![json!("body"), json!("email")]);
        assert_eq!(error.input, json!(5));
    }

    #[test]
    fn non_object_body_is_model_attributes_type() {
        assert_eq!(first_error("[1,2]").kind, "model_attributes_type");
        assert_eq!(first_error("\"text\"").kind, "model_attributes_type");
    }

    #[test]
    fn unknown_fields_are_reported_when_the_type_forbids_them() {
        let error = first_error(r#"{"email": "a@b.c", "password": "x", "is_superuser": true}"#);
        assert_eq!(error.kind, "extra_forbidden");
        assert_eq!(error.loc, vec![json!("body"), json!("is_superuser")]);
    }

    #[test]
    fn valid_body_parses() {
        let login: Login = parse(br#"{"email": "a@b.c", "password": "x", "remember": true}"#).expect("valid");
        assert_eq!(login.email, "a@b.c");
    }
}
