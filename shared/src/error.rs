//! The one error type of the HTTP functions and its JSON envelope.
//!
//! Client errors carry the seed's status and message plus a stable `code`; server errors carry a
//! generic message and the request id, while the cause goes to the log exactly once (see
//! [`crate::http::request_log`]), never to the client.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};

/// Result alias for handlers and services that answer HTTP requests.
pub type ApiResult<T> = Result<T, ApiError>;

/// One entry of a FastAPI-style 422 body: `{"type","loc","msg","input"}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    /// Machine-readable kind, FastAPI's names (`missing`, `json_invalid`, `string_type`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the problem is: `["body", "email"]`, `["query", "page"]`, ...
    pub loc: Vec<Value>,
    /// Human-readable message, the seed's wording where the seed has one.
    pub msg: String,
    /// The offending input (never a secret: password fields are replaced before this is built).
    pub input: Value,
}

impl FieldError {
    /// A field-level validation failure.
    pub fn new(kind: &str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        Self { kind: kind.to_owned(), loc, msg: msg.into(), input }
    }
}

/// Everything a handler can fail with, mapped to a status code and a stable body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a request the API understood and refuses (`email_exists`, `invalid_token`, ...).
    #[error("bad request: {code}")]
    BadRequest {
        /// Stable snake_case code from the closed list clients can match on.
        code: &'static str,
        /// Human-readable message (the seed's text).
        detail: String,
    },
    /// 401: missing or invalid credentials; the response carries `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {code}")]
    Unauthorized {
        /// Stable code.
        code: &'static str,
        /// Seed message.
        detail: String,
    },
    /// 403: authenticated but not allowed.
    #[error("forbidden: {code}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Seed message.
        detail: String,
    },
    /// 404: no such object, or one the caller may not see (never reveal which).
    #[error("not found: {code}")]
    NotFound {
        /// Stable code.
        code: &'static str,
        /// Message.
        detail: String,
    },
    /// 409: the request conflicts with the object's current state.
    #[error("conflict: {code}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Message.
        detail: String,
    },
    /// 422: input that does not have the expected shape, FastAPI style.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429: over a rate limit or inside a login back-off window.
    #[error("too many requests: {code}")]
    TooManyRequests {
        /// Stable code (`over_request_rate_limit`, `login_backoff`).
        code: &'static str,
        /// Seconds until the caller may try again (`Retry-After`).
        retry_after_secs: u64,
    },
    /// 503: a dependency (database, identity provider) is down or overloaded; worth retrying.
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503 naming the dependency that is down (`queue_unavailable`), for clients that react to
    /// it; the cause is logged, not returned.
    #[error("dependency unavailable: {code}")]
    DependencyUnavailable {
        /// Stable code.
        code: &'static str,
        /// Message naming the dependency, without internals.
        detail: &'static str,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// 500 from the database layer.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// 500 from anything else; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Postgres error codes that say "busy, try again", not "bug": lock and statement timeouts
/// (`shared::db::SESSION_LIMITS`), serialization failures, deadlocks, and sessions the server
/// ended (idle-in-transaction timeout, shutdown, failover).
const TRANSIENT_SQLSTATES: [&str; 7] = ["55P03", "57014", "40001", "40P01", "25P03", "57P01", "57P03"];

impl From<sqlx::Error> for ApiError {
    /// Connection problems (pool timeout, refused, closed) and transient database conditions are
    /// 503 (retry), not 500.
    fn from(error: sqlx::Error) -> Self {
        let transient = match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(database) => {
                database.code().is_some_and(|code| TRANSIENT_SQLSTATES.contains(&code.as_ref()))
            }
            _ => false,
        };
        if transient { Self::Unavailable(Box::new(error)) } else { Self::Database(error) }
    }
}

/// The generic message of every 500 body.
pub const INTERNAL_ERROR_DETAIL: &str = "Internal server error";
/// The generic message of every 503 body.
pub const UNAVAILABLE_DETAIL: &str = "Service temporarily unavailable, please retry";

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::DependencyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::DependencyUnavailable { code, .. } => code,
            Self::Validation(_) => "validation_error",
            Self::Unavailable(_) => "service_unavailable",
            Self::Database(_) | Self::Internal(_) => "internal_error",
        }
    }

    /// The JSON body, without the request id (added by the request-log middleware for 5xx).
    pub fn body(&self) -> Value {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::Forbidden { detail, .. }
            | Self::NotFound { detail, .. }
            | Self::Conflict { detail, .. } => json!({ "detail": detail, "code": self.code() }),
            Self::Validation(errors) => json!({ "detail": errors }),
            Self::TooManyRequests { retry_after_secs, .. } => json!({
                "detail": format!("Too many requests. Try again in {retry_after_secs} seconds."),
                "code": self.code(),
            }),
            Self::Unavailable(_) => json!({ "detail": UNAVAILABLE_DETAIL, "code": self.code() }),
            Self::DependencyUnavailable { detail, .. } => json!({ "detail": detail, "code": self.code() }),
            Self::Database(_) | Self::Internal(_) => json!({ "detail": INTERNAL_ERROR_DETAIL, "code": self.code() }),
        }
    }

    /// Shorthand for a single-field 422, the most common validation answer.
    pub fn field(kind: &str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        Self::Validation(vec![FieldError::new(kind, loc, msg, input)])
    }
}

/// Marker left in the extensions of a 5xx response so the request-log middleware can log the
/// cause once and add the request id to the body.
#[derive(Debug, Clone)]
pub struct ServerErrorCause(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests { retry_after_secs, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        if status.is_server_error() {
            response.extensions_mut().insert(ServerErrorCause(Arc::new(self)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response) -> Value {
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        serde_json::from_slice(&bytes).expect("json body")
    }

    #[tokio::test]
    async fn unauthorized_has_bearer_challenge_and_code() {
        let response = ApiError::Unauthorized {
            code: "invalid_credentials",
            detail: "Invalid email or password. Please check your credentials and try again.".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            body_of(response).await,
            json!({"detail": "Invalid email or password. Please check your credentials and try again.", "code": "invalid_credentials"})
        );
    }

    #[tokio::test]
    async fn rate_limited_has_retry_after_and_seed_message() {
        let response =
            ApiError::TooManyRequests { code: "over_request_rate_limit", retry_after_secs: 42 }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        assert_eq!(body_of(response).await["detail"], "Too many requests. Try again in 42 seconds.");
    }

    #[tokio::test]
    async fn server_errors_hide_their_cause_but_keep_it_for_the_log() {
        let response = ApiError::Database(sqlx::Error::RowNotFound).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<ServerErrorCause>().is_some());
        let body = body_of(response).await;
        assert_eq!(body, json!({"detail": INTERNAL_ERROR_DETAIL, "code": "internal_error"}));
    }

    #[test]
    fn connection_failures_are_unavailable_not_internal() {
        assert_eq!(ApiError::from(sqlx::Error::PoolTimedOut).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ApiError::from(sqlx::Error::RowNotFound).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
