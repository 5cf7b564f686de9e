//! `IdPath`: the `{id}` segment of a route as a UUID. A malformed one is a FastAPI-style 422 at
//! `["path", "id"]` rather than axum's plain-text 400.

use axum::extract::{FromRequestParts, Path};
use http::request::Parts;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;

/// The UUID in a route's `{id}` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let loc = || vec![json!("path"), json!("id")];
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::field("missing", loc(), "Field required", Value::Null))?;
        Uuid::parse_str(&raw).map(Self).map_err(|error| {
            ApiError::field("uuid_parsing", loc(), format!("Input should be a valid UUID, {error}"), json!(raw))
        })
    }
}
