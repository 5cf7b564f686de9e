//! `CurrentUser`: the caller behind a Bearer access token whose session is still live.
//!
//! Every authenticated request checks the session row, so logout, revocation, password change
//! and account deletion take effect on the next request rather than at token expiry.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::AppState;
use crate::error::ApiError;
use crate::repo::{sessions, users::User};
use crate::security::jwt::AccessClaims;

/// The authenticated caller and the claims of the token they used.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user, as stored now (not as when the token was issued).
    pub user: User,
    /// The verified claims, including the session id (`sid`).
    pub claims: AccessClaims,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(ApiError::not_authenticated)?;
        let claims = state.config.require_jwt()?.verify(token)?;
        let mut taken = state.kept_connections.take(&state.db).await?;
        let user = sessions::live_session_user(&mut *taken.connection, claims.sid, claims.sub).await?;
        state.kept_connections.keep(taken);
        let user = user.ok_or_else(ApiError::invalid_token)?;
        Ok(Self { user, claims })
    }
}

/// An optional caller: `None` without an `Authorization` header, the user with a valid one, and a
/// 401 for a header that is present but invalid (a bad token is never silently ignored).
impl OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
    }
}

/// A signed-in superuser; anyone else signed in gets 403 (the seed's message). With
/// `MFA_REQUIRED_FOR_SUPERUSERS`, a superuser's session must be at assurance level 2.
#[derive(Debug, Clone)]
pub struct Superuser(pub CurrentUser);

impl FromRequestParts<AppState> for Superuser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let current = <CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        if !current.user.is_superuser {
            return Err(ApiError::not_enough_permissions());
        }
        if state.config.mfa_required_for_superusers {
            crate::services::mfa::require_second_factor(state, current.claims.sid).await?;
        }
        Ok(Self(current))
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}
