//! `POST /api/v1/auth/magic-link` and `POST /api/v1/auth/magic-link/verify`: passwordless
//! sign-in with a mailed link or 6-digit code (`MAGIC_LINK_ENABLED`).

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::AppState;
use shared::error::{ApiError, ApiResult, FieldError};
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{AppJson, cross_site, rate_limit};
use shared::services::Caller;
use shared::services::magic_link::{self, Proof, REQUEST_REPLY};
use utoipa::ToSchema;

use crate::login::{SignInResponse, signed_in};
use crate::responses::{EmailSent, lookup_email};
use crate::verification::EmailBody;

/// Both routes count against the login limit: a code guessed here is a password guessed there.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let verify = Router::new()
        .route("/api/v1/auth/magic-link/verify", post(verify_magic_link))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), cross_site::refuse));
    Router::new()
        .route("/api/v1/auth/magic-link", post(request_magic_link))
        .merge(verify)
        .route_layer(rate_limit::layer(state, state.config.rate_limits.login))
}

/// Body of `magic-link/verify`: the link's `token`, or the `email` and the mailed `code`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct VerifyBody {
    /// From the link `{FRONTEND_URL}/magic-link?token=…`.
    token: Option<String>,
    /// With `code`: the address the code was mailed to.
    email: Option<String>,
    /// With `email`: the 6 digits from the mail.
    #[schema(pattern = "^[0-9]{6}$")]
    code: Option<String>,
}

/// The token and code are cleaned of control characters, as the other mailed tokens are.
impl DropsControlCharacters for VerifyBody {
    const FIELDS: &'static [&'static str] = &["token", "code"];
}

impl VerifyBody {
    fn proof(self) -> Result<Proof, ApiError> {
        match (self.token, self.email, self.code) {
            (Some(token), _, _) => Ok(Proof::Link(token)),
            (None, Some(email), Some(code)) => Ok(Proof::Code { email, code }),
            (None, email, code) => {
                let missing = |field: &str| {
                    FieldError::new("missing", vec![json!("body"), json!(field)], "Field required", Value::Null)
                };
                let mut errors = vec![missing("token")];
                errors.extend(email.is_none().then(|| missing("email")));
                errors.extend(code.is_none().then(|| missing("code")));
                Err(ApiError::Validation(errors))
            }
        }
    }
}

/// Mails a sign-in link and code to the address if it has an active account; the answer and its
/// timing are the same either way.
#[utoipa::path(
    post,
    path = "/api/v1/auth/magic-link",
    tag = "auth",
    request_body = EmailBody,
    responses(
        (status = 200, body = EmailSent),
        (status = 404, description = "Passwordless sign-in is not enabled (`MAGIC_LINK_ENABLED=false`)"),
        (status = 422, description = "Malformed email"),
        (status = 429, description = "Too many requests (the login limit)")
    )
)]
pub(crate) async fn request_magic_link(
    State(state): State<AppState>,
    AppJson(body): AppJson<EmailBody>,
) -> ApiResult<Json<EmailSent>> {
    let email = lookup_email(body.email())?;
    magic_link::request(&state, &email).await?;
    Ok(Json(EmailSent::new(REQUEST_REPLY)))
}

/// Signs in with the mailed link or code, exactly as login does: an access token in the body
/// and the `refresh_token` cookie. Verifies an unverified address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/magic-link/verify",
    tag = "auth",
    request_body = VerifyBody,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in, or `mfa_required` for an account with a second factor"),
        (status = 400, description = "Inactive user"),
        (status = 401, description = "Unknown, expired, used or wrong link or code (`invalid_magic_link`)"),
        (status = 403, description = "Cross-site request refused"),
        (status = 404, description = "Passwordless sign-in is not enabled"),
        (status = 422, description = "Neither a token nor an email and code"),
        (status = 429, description = "Too many requests (the login limit)")
    )
)]
pub(crate) async fn verify_magic_link(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<VerifyBody>,
) -> ApiResult<Response> {
    let success = magic_link::sign_in(&state, body.proof()?, &caller).await?;
    Ok(signed_in(&state, success))
}
