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

pub use code::ErrorCode;

mod code;

/// Result alias for handlers and services that answer HTTP requests.
pub type ApiResult<T> = Result<T, ApiError>;

/// One entry of a FastAPI-style 422 body: `{"type","loc","msg","input"}`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
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

/// The body of every error answer, as the OpenAPI document describes it. `ApiError::body` builds
/// it; the request-log middleware adds `request_id` to 5xx bodies.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The message, or for a 422 FastAPI's list of field errors.
    pub detail: ErrorDetail,
    /// The stable code; absent from 422 bodies (their `type` fields say what failed) and from the
    /// 404 and 405 answers for unknown paths and methods.
    pub code: Option<ErrorCode>,
    /// On 5xx answers: the id of the request, also in `x-request-id` and the logs.
    pub request_id: Option<String>,
}

/// The `detail` of an error body: a message, or the list of field errors of a 422.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// A human-readable message.
    Message(String),
    /// What failed validation, one entry per problem.
    Fields(Vec<FieldError>),
}

/// Everything a handler can fail with, mapped to a status code and a stable body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A 4xx refusal; its status follows from its code, so a code never means two statuses. A 401
    /// carries `WWW-Authenticate: Bearer`.
    #[error("refused: {code}")]
    Refused {
        /// Stable code clients can match on.
        code: ErrorCode,
        /// Human-readable message (the seed's text where the seed has one).
        detail: String,
    },
    /// 422: input that does not have the expected shape, FastAPI style.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 413: a body over [`crate::http::MAX_BODY_BYTES`].
    #[error("payload too large")]
    PayloadTooLarge,
    /// 429: over a rate limit or inside a login back-off window.
    #[error("too many requests: {code}")]
    TooManyRequests {
        /// Stable code (`over_request_rate_limit`, `login_backoff`).
        code: ErrorCode,
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
        code: ErrorCode,
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

/// Failures below the HTTP layer that only a bug or a broken host explains: `?` turns them into a
/// 500 whose cause is logged.
macro_rules! internal_from {
    ($($lower:ty),+ $(,)?) => {$(
        impl From<$lower> for ApiError {
            fn from(error: $lower) -> Self {
                Self::Internal(Box::new(error))
            }
        }
    )+};
}

internal_from!(
    crate::security::password::PasswordError,
    crate::security::tokens::RandomnessError,
    crate::config::ConfigError,
    crate::mail::templates::MissingValue,
);

impl From<crate::security::jwt::TokenError> for ApiError {
    /// A token that does not verify is the caller's 401; one we could not sign is our 500.
    fn from(error: crate::security::jwt::TokenError) -> Self {
        use crate::security::jwt::TokenError;
        match error {
            TokenError::Expired | TokenError::Invalid(_) => Self::invalid_token(),
            TokenError::Signing(_) => Self::Internal(Box::new(error)),
        }
    }
}

/// The generic message of every 500 body.
pub const INTERNAL_ERROR_DETAIL: &str = "Internal server error";
/// The generic message of every 503 body.
pub const UNAVAILABLE_DETAIL: &str = "Service temporarily unavailable, please retry";
/// The message of every 413 body.
pub const PAYLOAD_TOO_LARGE_DETAIL: &str = "Request body too large";

impl ApiError {
    /// A 4xx refusal with its code and message.
    pub fn refused(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::Refused { code, detail: detail.into() }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Refused { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::DependencyUnavailable { code, .. } => *code,
            Self::Validation(_) => ErrorCode::ValidationError,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Database(_) | Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The JSON body, without the request id (added by the request-log middleware for 5xx).
    pub fn body(&self) -> Value {
        let detail = match self {
            Self::Validation(errors) => return json!({ "detail": errors }),
            Self::Refused { detail, .. } => detail.clone(),
            Self::PayloadTooLarge => PAYLOAD_TOO_LARGE_DETAIL.to_owned(),
            Self::TooManyRequests { retry_after_secs, .. } => {
                format!("Too many requests. Try again in {retry_after_secs} seconds.")
            }
            Self::Unavailable(_) => UNAVAILABLE_DETAIL.to_owned(),
            Self::DependencyUnavailable { detail, .. } => (*detail).to_owned(),
            Self::Database(_) | Self::Internal(_) => INTERNAL_ERROR_DETAIL.to_owned(),
        };
        json!({ "detail": detail, "code": self.code() })
    }

    /// 401 for a request without a Bearer token (FastAPI's message).
    pub fn not_authenticated() -> Self {
        Self::refused(ErrorCode::NotAuthenticated, "Not authenticated")
    }

    /// 401 for a Bearer token that is malformed, expired or of an ended session.
    pub fn invalid_token() -> Self {
        Self::refused(ErrorCode::InvalidToken, "Could not validate credentials")
    }

    /// 403 for a signed-in caller without administrator rights (the seed's message).
    pub fn not_enough_permissions() -> Self {
        Self::refused(ErrorCode::NotSuperuser, "Not enough permissions")
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
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::TooManyRequests { retry_after_secs, .. } = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
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
        let response = ApiError::refused(
            ErrorCode::InvalidCredentials,
            "Invalid email or password. Please check your credentials and try again.",
        )
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
            ApiError::TooManyRequests { code: ErrorCode::OverRequestRateLimit, retry_after_secs: 42 }.into_response();
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
