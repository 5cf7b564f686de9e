//! Refresh with rotation and reuse detection, logout, and the caller's session list.
//!
//! Every refresh exchanges the presented token for a new one. A token that was already exchanged
//! still works for `REFRESH_REUSE_GRACE_SECONDS` (two tabs refreshing at once, or an answer lost
//! on the way): it yields a new access token and the same successor again, as long as that
//! successor is unused. Presented later, it is treated as stolen: the whole session is revoked,
//! which also kills every access token bound to it.
//!
//! The successor is an HMAC of the presented token under the server key, so a replay can be
//! given the very cookie the first answer carried without the server keeping it anywhere.

use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::repo::sessions::{self, RefreshToken, SessionView};
use crate::security::server_key::Purpose;
use crate::security::tokens;

/// What a successful refresh hands back.
#[derive(Debug)]
pub struct Refreshed {
    /// New access token for the same session.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// The successor refresh token; `None` for a replay inside the grace window whose successor
    /// was already exchanged.
    pub refresh_token: Option<String>,
}

fn invalid_refresh_token() -> ApiError {
    ApiError::refused(ErrorCode::InvalidRefreshToken, "Invalid refresh token")
}

/// 401 when a refresh request carries no cookie.
pub fn missing_refresh_token() -> ApiError {
    ApiError::refused(ErrorCode::MissingRefreshToken, "No refresh token provided")
}

/// Exchanges a refresh token for a new access token (and, normally, a new refresh token).
pub async fn refresh(state: &AppState, presented: &str, caller: &Caller) -> Result<Refreshed, ApiError> {
    let keys = state.config.require_jwt()?;
    if !tokens::is_well_formed(presented) {
        return Err(invalid_refresh_token());
    }
    let hash = tokens::hash(presented);
    let token = sessions::find_refresh_token(&state.db, &hash).await?.ok_or_else(invalid_refresh_token)?;
    if !token.session_live {
        return Err(invalid_refresh_token());
    }

    let successor =
        tokens::from_key_material(keys.server_key().digest(Purpose::RefreshSuccessor, presented.as_bytes()));
    let successor = match token.rotated_at {
        None => rotate(state, &hash, successor, &token, caller).await?,
        Some(rotated_at) => {
            let grace = Duration::seconds(i64::from(state.config.refresh_reuse_grace_seconds));
            if Utc::now() - rotated_at > grace {
                return Err(reuse_detected(state, &token, caller).await);
            }
            unused_successor(state, successor).await?
        }
    };

    // The session's level, not a fresh one: refreshing never raises or lowers it.
    let (access_token, _) =
        keys.issue(token.user_id, &token.email, token.session_id, &token.assurance(), Utc::now())?;
    Ok(Refreshed { access_token, expires_in: keys.ttl_seconds(), refresh_token: successor })
}

/// Marks `hash` rotated and stores its successor in one transaction. If a concurrent refresh
/// rotated it first, this one is a replay inside the grace window.
async fn rotate(
    state: &AppState,
    hash: &tokens::TokenHash,
    successor: tokens::IssuedToken,
    token: &RefreshToken,
    caller: &Caller,
) -> Result<Option<String>, ApiError> {
    let mut tx = state.db.begin().await?;
    if !sessions::mark_rotated(&mut *tx, hash).await? {
        drop(tx);
        return unused_successor(state, successor).await;
    }
    sessions::insert_refresh_token(&mut *tx, token.session_id, &successor.hash).await?;
    sessions::touch(&mut *tx, token.session_id).await?;
    caller.audit(&mut *tx, "refresh", Some(token.user_id), true, json!({"session_id": token.session_id})).await?;
    tx.commit().await?;
    Ok(Some(successor.secret))
}

/// The successor for a replay inside the grace window, if it is still unused and its session
/// live; once the successor has been exchanged in turn, the replay gets an access token only.
async fn unused_successor(state: &AppState, successor: tokens::IssuedToken) -> Result<Option<String>, ApiError> {
    let stored = sessions::find_refresh_token(&state.db, &successor.hash).await?;
    let unused = stored.is_some_and(|stored| stored.rotated_at.is_none() && stored.session_live);
    Ok(unused.then_some(successor.secret))
}

async fn reuse_detected(state: &AppState, token: &RefreshToken, caller: &Caller) -> ApiError {
    // The revocation and its entry (which announces `session.revoked` when this request ended
    // the session) commit together.
    let revoked = async {
        let mut tx = state.db.begin().await?;
        let ended = sessions::revoke(&mut *tx, token.session_id, "refresh_token_reuse").await?;
        let details = json!({"session_id": token.session_id, "session_revoked": ended});
        caller.audit(&mut *tx, "refresh_token_reuse", Some(token.user_id), false, details).await?;
        Ok::<_, ApiError>(tx.commit().await?)
    }
    .await;
    match revoked {
        Ok(()) => {
            state.metrics.count(crate::ports::Metric::RefreshReuseDetected);
            tracing::warn!(session_id = %token.session_id, "refresh token reused after rotation; session revoked");
            invalid_refresh_token()
        }
        Err(error) => error,
    }
}

/// Ends the session of a refresh token, whatever state it is in. Unknown tokens are ignored:
/// logging out always succeeds.
pub async fn logout(state: &AppState, presented: Option<&str>, caller: &Caller) -> Result<(), ApiError> {
    let Some(presented) = presented.filter(|token| tokens::is_well_formed(token)) else { return Ok(()) };
    let Some(token) = sessions::find_refresh_token(&state.db, &tokens::hash(presented)).await? else { return Ok(()) };
    let mut tx = state.db.begin().await?;
    if sessions::revoke(&mut *tx, token.session_id, "logout").await? {
        caller.audit(&mut *tx, "logout", Some(token.user_id), true, json!({"session_id": token.session_id})).await?;
    }
    Ok(tx.commit().await?)
}

/// The session a request belongs to: the refresh cookie's if present (and the caller's), else
/// the access token's `sid`.
pub async fn current_session(
    state: &AppState,
    user_id: Uuid,
    refresh_cookie: Option<&str>,
    access_sid: Uuid,
) -> Result<Uuid, ApiError> {
    if let Some(presented) = refresh_cookie.filter(|token| tokens::is_well_formed(token))
        && let Some(token) = sessions::find_refresh_token(&state.db, &tokens::hash(presented)).await?
        && token.user_id == user_id
    {
        return Ok(token.session_id);
    }
    Ok(access_sid)
}

/// The caller's live sessions, newest first.
pub async fn list(state: &AppState, user_id: Uuid) -> Result<Vec<SessionView>, ApiError> {
    Ok(sessions::list_live(&state.db, user_id).await?)
}

/// Revokes one of the caller's sessions; another user's (or an unknown) id is a 404.
pub async fn revoke_one(state: &AppState, user_id: Uuid, session_id: Uuid, caller: &Caller) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    if !sessions::revoke_own(&mut *tx, user_id, session_id).await? {
        return Err(ApiError::refused(ErrorCode::SessionNotFound, "Session not found or already revoked"));
    }
    caller.audit(&mut *tx, "session_revoked", Some(user_id), true, json!({"session_id": session_id})).await?;
    Ok(tx.commit().await?)
}

/// Revokes every session of the caller but `current`; returns how many.
pub async fn revoke_others(state: &AppState, user_id: Uuid, current: Uuid, caller: &Caller) -> Result<u64, ApiError> {
    let mut tx = state.db.begin().await?;
    let revoked = sessions::revoke_all_except(&mut *tx, user_id, Some(current), "revoked_by_user").await?;
    caller
        .audit(&mut *tx, "sessions_revoked", Some(user_id), true, json!({"kept": current, "revoked_count": revoked}))
        .await?;
    tx.commit().await?;
    Ok(revoked)
}
