//! `POST /auth/oauth/login`: sign in with a verified Google or Apple ID token.
//!
//! Accounts are keyed by (provider, subject). A first sign-in creates a verified account without
//! a password; if the email already belongs to another account, sign-in is refused instead of
//! silently linking (linking would let whoever controls the provider account take over).

use serde_json::json;

use super::Caller;
use super::login::{SignIn, open_session};
use crate::AppState;
use crate::domain::assurance;
use crate::error::{ApiError, ErrorCode};
use crate::repo::identities;
use crate::repo::users::{self, Taken, User};
use crate::security::oidc::{OidcError, Provider, VerifiedIdentity};

/// Attempts at a free `<provider>_<8 hex>` username before giving up.
const USERNAME_ATTEMPTS: usize = 5;

/// Verifies the provider's ID token and opens a session for its account.
pub async fn login(state: &AppState, provider: Provider, id_token: &str, caller: &Caller) -> Result<SignIn, ApiError> {
    state.config.require_jwt()?;
    let identity = state.id_tokens.verify(provider, id_token).await.map_err(|error| match error {
        OidcError::NotConfigured => ApiError::refused(
            ErrorCode::ProviderNotConfigured,
            format!("{} OAuth not configured", provider.display_name()),
        ),
        OidcError::Invalid(reason) => {
            tracing::info!(provider = provider.as_str(), reason, "ID token refused");
            ApiError::refused(ErrorCode::InvalidOauthToken, format!("Invalid {} token", provider.display_name()))
        }
        OidcError::MissingUserInfo(reason) => {
            tracing::info!(provider = provider.as_str(), reason, "ID token without usable user info");
            ApiError::refused(ErrorCode::InvalidOauthUserInfo, "Invalid OAuth user info")
        }
        OidcError::KeysUnavailable(reason) => ApiError::Unavailable(reason.into()),
    })?;

    let user = match identities::find_user(&state.db, provider.as_str(), &identity.subject).await? {
        Some(user_id) => users::find_by_id(&state.db, user_id)
            .await?
            .ok_or_else(|| ApiError::Internal("identity points at a missing user".into()))?,
        None => create_account(state, provider, &identity).await?,
    };
    if !user.is_active {
        return Err(ApiError::refused(ErrorCode::InactiveUser, "Inactive user"));
    }
    caller.audit(&state.db, "oauth_login", Some(user.id), true, json!({"provider": provider.as_str()})).await?;
    open_session(state, &user, None, caller, assurance::OAUTH).await
}

fn email_taken() -> ApiError {
    ApiError::refused(ErrorCode::EmailExists, "Email already registered with different method")
}

async fn create_account(state: &AppState, provider: Provider, identity: &VerifiedIdentity) -> Result<User, ApiError> {
    if users::find_by_email(&state.db, &identity.email).await?.is_some() {
        return linked_by_now(state, provider, identity).await;
    }
    for _ in 0..USERNAME_ATTEMPTS {
        let username = format!("{}_{}", provider.as_str(), random_suffix()?);
        let mut tx = state.db.begin().await?;
        match users::insert_oauth_user(&mut *tx, &identity.email, &username).await? {
            Ok(user) => {
                identities::link(&mut *tx, provider.as_str(), &identity.subject, user.id, &identity.email).await?;
                tx.commit().await?;
                state.metrics.count(crate::ports::Metric::Registered);
                return Ok(user);
            }
            Err(Taken::Email) => {
                drop(tx);
                return linked_by_now(state, provider, identity).await;
            }
            Err(Taken::Username) => continue,
        }
    }
    Err(ApiError::Internal("no free username for a new OAuth account".into()))
}

/// The email is taken: either a concurrent first sign-in with this same identity just created
/// the account (use it), or the address belongs to someone else (refuse, never link).
async fn linked_by_now(state: &AppState, provider: Provider, identity: &VerifiedIdentity) -> Result<User, ApiError> {
    match identities::find_user(&state.db, provider.as_str(), &identity.subject).await? {
        Some(user_id) => users::find_by_id(&state.db, user_id)
            .await?
            .ok_or_else(|| ApiError::Internal("identity points at a missing user".into())),
        None => Err(email_taken()),
    }
}

/// Eight random hex digits, for generated usernames.
pub(crate) fn random_suffix() -> Result<String, ApiError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::Internal("random number generator failed".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
