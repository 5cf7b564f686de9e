//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: published only when tokens
//! are signed with an asymmetric key, so an API Gateway JWT authorizer (or any other verifier)
//! can check access tokens without sharing a secret. With HS256 both answer 404.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use shared::AppState;
use shared::error::{ApiError, ErrorCode};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(openid_configuration))
}

fn not_published() -> ApiError {
    ApiError::refused(ErrorCode::NotFound, "Not Found")
}

/// The public signing keys (JWKS).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "system",
    responses((status = 200, description = "JSON Web Key Set"), (status = 404, description = "Tokens use a shared secret"))
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.config.jwt.as_ref().and_then(|keys| keys.jwks()).ok_or_else(not_published)?;
    Ok(([(axum::http::header::CACHE_CONTROL, "public, max-age=300")], Json(keys)).into_response())
}

/// OpenID discovery document pointing at the JWKS; needs `JWT_ISSUER` to be the API's base URL.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "system",
    responses((status = 200, description = "Discovery document"), (status = 404, description = "Not published"))
)]
pub(crate) async fn openid_configuration(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let keys = state.config.jwt.as_ref().filter(|keys| keys.jwks().is_some()).ok_or_else(not_published)?;
    let issuer = keys.issuer();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(not_published());
    }
    Ok(Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
        "id_token_signing_alg_values_supported": [format!("{:?}", keys.algorithm())],
        "subject_types_supported": ["public"],
        "response_types_supported": ["token"],
    })))
}
