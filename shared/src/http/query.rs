//! `AppQuery<T>`: a query-string extractor whose failures are FastAPI-style 422 bodies.
//!
//! Axum's own `Query` answers a bad value with a plain-text 400; seed clients expect
//! `{"detail":[{"type","loc":["query",name],"msg","input"}]}`. The string is deserialised through
//! `serde_path_to_error`, so the failing parameter is known, and its raw value is echoed back.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::body::between;
use crate::error::{ApiError, FieldError};

/// Query parameters of type `T`, rejected with our 422 envelope. Unknown parameters are ignored,
/// as FastAPI does.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(AppQuery)
    }
}

/// Parses a raw query string (without the `?`) as `T`, describing the first problem the way
/// FastAPI does.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // Postgres text cannot hold NUL; refuse it here as bad input rather than fail in the database.
    if let Some((name, value)) = form_urlencoded::parse(query.as_bytes()).find(|(_, value)| value.contains('\0')) {
        return Err(ApiError::field(
            "string_pattern_mismatch",
            vec![json!("query"), json!(name)],
            "String should not contain NUL characters",
            json!(value),
        ));
    }
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| ApiError::Validation(vec![describe(&error, query)]))
}

fn describe(error: &serde_path_to_error::Error<serde_urlencoded::de::Error>, query: &str) -> FieldError {
    let message = error.inner().to_string();
    if let Some(name) = between(&message, "missing field `", "`") {
        return FieldError::new("missing", vec![json!("query"), json!(name)], "Field required", Value::Null);
    }
    let name = error.path().iter().find_map(|segment| match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    });
    let Some(name) = name else {
        // not about one parameter (a repeated one, say): report the query as a whole
        return FieldError::new("value_error", vec![json!("query")], message, Value::Null);
    };
    let input = raw_value(query, &name).map_or(Value::Null, |value| json!(value));
    let loc = vec![json!("query"), json!(name)];
    if message.contains("invalid digit") || message.contains("parse integer") || message.contains("number too") {
        FieldError::new(
            "int_parsing",
            loc,
            "Input should be a valid integer, unable to parse string as an integer",
            input,
        )
    } else if message.contains("`true` or `false`") {
        FieldError::new("bool_parsing", loc, "Input should be a valid boolean, unable to interpret input", input)
    } else if let Some(reason) = message.strip_prefix("UUID parsing failed: ") {
        FieldError::new("uuid_parsing", loc, format!("Input should be a valid UUID, {reason}"), input)
    } else if message.starts_with("input ") || message.starts_with("premature end") || message.starts_with("trailing") {
        // chrono's parse errors, from `DateTime` parameters
        FieldError::new("datetime_parsing", loc, format!("Input should be a valid datetime, {message}"), input)
    } else {
        FieldError::new("value_error", loc, message, input)
    }
}

/// The first raw (decoded) value of parameter `name`.
fn raw_value<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde::Deserialize;
    use uuid::Uuid;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Filters {
        page: Option<i64>,
        active: Option<bool>,
        user_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
        search: Option<String>,
    }

    fn first_error(query: &str) -> FieldError {
        match parse::<Filters>(query) {
            Err(ApiError::Validation(errors)) => errors.into_iter().next().expect("one error"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn valid_values_parse_and_unknown_parameters_are_ignored() {
        let filters: Filters =
            parse("page=2&active=true&since=2025-01-02T03:04:05Z&search=a%25b&other=x").expect("valid");
        assert_eq!(filters.page, Some(2));
        assert_eq!(filters.active, Some(true));
        assert_eq!(filters.search.as_deref(), Some("a%b"));
        assert!(filters.since.is_some());
    }

    #[test]
    fn a_bad_integer_names_the_parameter_and_echoes_it() {
        let error = first_error("page=abc");
        assert_eq!(error.kind, "int_parsing");
        assert_eq!(error.loc, vec![json!("query"), json!("page")]);
        assert_eq!(error.input, json!("abc"));
    }

    #[test]
    fn bad_booleans_uuids_and_datetimes_have_their_own_kinds() {
        assert_eq!(first_error("active=maybe").kind, "bool_parsing");
        assert_eq!(first_error("user_id=nope").kind, "uuid_parsing");
        let error = first_error("since=yesterday");
        assert_eq!(error.kind, "datetime_parsing");
        assert_eq!(error.loc, vec![json!("query"), json!("since")]);
    }

    #[test]
    fn pagination_bounds_answer_like_pydantic() {
        use crate::domain::pagination::Pagination;
        let problems = Pagination::new(Some(0), Some(101)).expect_err("both out of bounds");
        let ApiError::Validation(errors) = ApiError::from(problems) else { panic!("a 422") };
        let kinds: Vec<&str> = errors.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["greater_than_equal", "less_than_equal"]);
        assert_eq!(errors[1].loc, vec![json!("query"), json!("size")]);
        assert_eq!(errors[1].msg, "Input should be less than or equal to 100");
        assert_eq!(errors[1].input, json!("101"));
        assert!(Pagination::new(None, Some(0)).is_err());
    }
}
