//! `POST /api/v1/auth/verify-email` and `POST /api/v1/auth/resend-verification`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::error::ApiResult;
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{AppJson, rate_limit};
use shared::services::verification::{self, INVALID_TOKEN_REPLY, RESEND_REPLY, VERIFIED_REPLY};
use shared::services::{Caller, TokenUse};
use utoipa::ToSchema;

use crate::responses::{EmailSent, lookup_email};

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/verify-email", post(verify_email))
        .route("/api/v1/auth/resend-verification", post(resend_verification))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.email_verification))
}

/// Body of `verify-email` and of the other routes that take a mailed token.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"token": "Zr8kQm2w0b5Xy7TnV4pLs1HcJ9dGfE3uAiOqN6eRxYk"}))]
pub(crate) struct TokenBody {
    token: String,
}

impl TokenBody {
    /// The token as submitted (control characters already dropped).
    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

/// The token is cleaned of control characters before use, as the seed cleans it.
impl DropsControlCharacters for TokenBody {
    const FIELDS: &'static [&'static str] = &["token"];
}

/// Body of `resend-verification` and of the other routes that take only an address.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "jane@example.com"}))]
pub(crate) struct EmailBody {
    email: String,
}

impl EmailBody {
    /// The address as submitted.
    pub(crate) fn email(&self) -> &str {
        &self.email
    }
}

/// Seed answer of `verify-email`: 200 either way, `verified` says whether the token worked.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"message": "Email verified successfully", "verified": true}))]
pub(crate) struct VerifyReply {
    message: &'static str,
    verified: bool,
}

/// Confirms an email address with the token from the verification mail (single use). An
/// unknown, expired or used token is `verified: false`, as in the seed.
#[utoipa::path(
    post,
    path = "/api/v1/auth/verify-email",
    tag = "auth",
    request_body = TokenBody,
    responses((status = 200, body = VerifyReply))
)]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<TokenBody>,
) -> ApiResult<Json<VerifyReply>> {
    let reply = match verification::verify_email(&state, &body.token, &caller).await? {
        TokenUse::Accepted(()) => VerifyReply { message: VERIFIED_REPLY, verified: true },
        TokenUse::Invalid => VerifyReply { message: INVALID_TOKEN_REPLY, verified: false },
    };
    Ok(Json(reply))
}

/// Sends a new verification link; the answer is the same whether or not the account exists.
#[utoipa::path(
    post,
    path = "/api/v1/auth/resend-verification",
    tag = "auth",
    request_body = EmailBody,
    responses((status = 200, body = EmailSent), (status = 422, description = "Malformed email"))
)]
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    AppJson(body): AppJson<EmailBody>,
) -> ApiResult<Json<EmailSent>> {
    let email = lookup_email(&body.email)?;
    verification::resend(&state, &email).await?;
    Ok(Json(EmailSent::new(RESEND_REPLY)))
}
