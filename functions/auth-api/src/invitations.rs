//! `POST /api/v1/auth/accept-invite`: the invitee sets a password and is signed in.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use secrecy::SecretString;
use serde::Deserialize;
use shared::AppState;
use shared::error::ApiResult;
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{cross_site, rate_limit};
use shared::services::Caller;
use shared::services::invitations::{self, Acceptance};
use utoipa::ToSchema;

use crate::login::{TokenResponse, signed_in};

/// The registration limit: accepting creates a usable account, as registering does.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/accept-invite", post(accept_invite))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), cross_site::refuse))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.register))
}

/// Body of `accept-invite`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AcceptBody {
    /// From the link `{FRONTEND_URL}/accept-invite?token=…`.
    token: String,
    /// The account's first password; the password policy applies.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    password: SecretString,
    /// Replaces the username the invitation gave (same rules as registration).
    username: Option<String>,
}

/// The token is cleaned of control characters, as the other mailed tokens are.
impl DropsControlCharacters for AcceptBody {
    const FIELDS: &'static [&'static str] = &["token"];
}

/// Sets the password, marks the address verified and signs in: the answer and the refresh
/// cookie are a login's.
#[utoipa::path(
    post,
    path = "/api/v1/auth/accept-invite",
    tag = "auth",
    request_body = AcceptBody,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Invalid or expired invitation (`invalid_invitation`) / Username already taken"),
        (status = 403, description = "Cross-site request refused"),
        (status = 422, description = "The password or username breaks a rule"),
        (status = 429, description = "Too many requests")
    )
)]
pub(crate) async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<AcceptBody>,
) -> ApiResult<Response> {
    let acceptance = Acceptance { token: body.token, password: body.password, username: body.username };
    let success = invitations::accept(&state, acceptance, &caller).await?;
    Ok(signed_in(&state, success))
}
