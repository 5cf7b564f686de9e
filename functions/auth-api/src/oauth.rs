//! `POST /api/v1/auth/oauth/login` and `GET /api/v1/auth/oauth/providers`.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::error::ApiResult;
use shared::http::{AppJson, cross_site, rate_limit};
use shared::security::oidc::Provider;
use shared::services::Caller;
use shared::services::oauth;
use utoipa::ToSchema;

use crate::login::{SignInResponse, signed_in};

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let sign_in = Router::new()
        .route("/api/v1/auth/oauth/login", post(oauth_login))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), cross_site::refuse))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.oauth));
    let listing = Router::new()
        .route("/api/v1/auth/oauth/providers", get(providers))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default));
    sign_in.merge(listing)
}

/// Sign-in request: the provider and its **ID token** (kept under the seed's field name).
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OAuthLoginBody {
    provider: Provider,
    /// The provider's ID token (a JWT), not an OAuth access token.
    access_token: String,
}

/// The providers this deployment accepts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Providers {
    providers: Vec<Provider>,
}

/// Signs in with a Google or Apple ID token; creates the account on first use.
#[utoipa::path(
    post,
    path = "/api/v1/auth/oauth/login",
    tag = "auth",
    request_body = OAuthLoginBody,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in, or `mfa_required` for an account with a second factor"),
        (status = 400, description = "Invalid token, Invalid OAuth user info, provider not configured, or Email already registered with different method"),
        (status = 403, description = "Cross-site request refused (another site's page sent it)"),
        (status = 422, description = "Unknown provider")
    )
)]
pub(crate) async fn oauth_login(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<OAuthLoginBody>,
) -> ApiResult<Response> {
    let success = oauth::login(&state, body.provider, &body.access_token, &caller).await?;
    Ok(signed_in(&state, success))
}

/// Lists the configured sign-in providers.
#[utoipa::path(get, path = "/api/v1/auth/oauth/providers", tag = "auth", responses((status = 200, body = Providers)))]
pub(crate) async fn providers(State(state): State<AppState>) -> Json<Providers> {
    Json(Providers { providers: state.id_tokens.configured() })
}
