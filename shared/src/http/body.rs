//! Reading a request body and its declared type, shared by the body extractors (JSON, the login
//! form, the task shortcuts), so each answers a wrong type, an oversized or an unreadable body
//! the same way.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The media type of the body, lowercased, without parameters (`application/json`), or `""`.
pub fn media_type(headers: &HeaderMap) -> String {
    let value = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Whether the headers declare a JSON body (`application/json` or `application/*+json`).
pub fn has_json_content_type(headers: &HeaderMap) -> bool {
    let mime = media_type(headers);
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// The 422 for a body that is not declared as JSON.
pub fn not_json() -> Response {
    ApiError::field("content_type", vec![json!("body")], "Content-Type must be application/json", Value::Null)
        .into_response()
}

/// The whole body, or the 413 (over the size limit) / 422 (unreadable) answer.
pub async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Response> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| not_read(rejection.status(), "Could not read the request body"))
}

/// The answer for a body an extractor could not take: 413 when it was over the size limit (the
/// extractor's status says so), else the 422 with `message`.
pub fn not_read(status: StatusCode, message: impl Into<String>) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge.into_response()
    } else {
        unreadable(message)
    }
}

/// The 422 for a body that could not be read or decoded as its declared type.
fn unreadable(message: impl Into<String>) -> Response {
    ApiError::field("body_read", vec![json!("body")], message, Value::Null).into_response()
}

/// The text between `start` and the next `end` in a library's error message (serde names the
/// missing field as ``missing field `email` ``).
pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().expect("header value"));
        headers
    }

    #[test]
    fn json_is_recognised_with_parameters_suffixes_and_any_case() {
        assert!(has_json_content_type(&headers("application/json")));
        assert!(has_json_content_type(&headers("Application/JSON; charset=utf-8")));
        assert!(has_json_content_type(&headers("application/merge-patch+json")));
        assert!(!has_json_content_type(&headers("text/plain")));
        assert!(!has_json_content_type(&HeaderMap::new()));
        assert_eq!(media_type(&headers(" Multipart/Form-Data ; boundary=x")), "multipart/form-data");
    }

    #[test]
    fn between_finds_the_quoted_name() {
        assert_eq!(between("missing field `email` at line 1", "missing field `", "`"), Some("email"));
        assert_eq!(between("no such thing", "missing field `", "`"), None);
    }
}
