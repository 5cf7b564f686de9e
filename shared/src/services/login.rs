//! `POST /auth/login`: password check with back-off, then a new session, refresh token and
//! access token.
//!
//! Neither the answer nor its timing reveals whether an account exists: an unknown email (or an
//! account without a password) is checked against a dummy hash with the same cost as a real one,
//! and failures on unknown addresses are counted and backed off like failures on accounts.

use chrono::{Duration, Utc};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use crate::AppState;
use crate::domain::assurance::{self, Assurance};
use crate::domain::{device, login_backoff};
use crate::error::{ApiError, ErrorCode};
use crate::ports::Metric;
use crate::repo::sessions::{self, Origin};
use crate::repo::users::{self, Rehash, User};
use crate::repo::{mfa, registration_holds};
use crate::security::server_key::{Purpose, ServerKey};
use crate::security::validation::Email;
use crate::security::{password, tokens};

/// argon2id (m=19456, t=2, p=1) hash of a random string nobody knows; verified against when the
/// account does not exist so both paths cost one hash.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cb9Df12IQv7pBuiAw2rnqQ$EFeEKNlGXPRB9vPW7CQMrpqVr2pfLnABHoEqhLOwjqE";

/// Email and password as submitted.
#[derive(Debug)]
pub struct Credentials {
    /// As typed; compared case-insensitively.
    pub email: String,
    /// As typed.
    pub password: SecretString,
}

/// What a sign-in's first step leads to: a session, or, for an account with a second factor,
/// a challenge to complete with it (`POST /auth/mfa/challenge`).
#[derive(Debug)]
pub enum SignIn {
    /// Signed in.
    Session(LoginSuccess),
    /// The second factor is still needed; no session exists yet.
    SecondFactorRequired(SecondFactorChallenge),
}

/// The pending second step of a sign-in.
#[derive(Debug)]
pub struct SecondFactorChallenge {
    /// Single-use token naming the challenge (stored only as a digest).
    pub mfa_token: String,
    /// The factor types that can complete it.
    pub factors: Vec<&'static str>,
}

/// What a successful login hands back.
#[derive(Debug)]
pub struct LoginSuccess {
    /// Signed access JWT.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// The refresh token for the cookie (never stored in clear).
    pub refresh_token: String,
    /// The new session.
    pub session_id: Uuid,
}

fn incorrect() -> ApiError {
    ApiError::refused(
        ErrorCode::InvalidCredentials,
        "Invalid email or password. Please check your credentials and try again.",
    )
}

fn email_not_verified() -> ApiError {
    ApiError::refused(
        ErrorCode::EmailNotVerified,
        "Please verify your email before logging in. Check your inbox for a verification link.",
    )
}

/// Holds checked per login at most: a registration's hold is one argon2 check each.
const HOLDS_CHECKED: i64 = 3;

/// Whether `password` is one submitted by a recent registration of `email` (its holds, newest
/// first). The holds are always read, so an address without any costs the same query.
async fn matches_a_registration_hold(state: &AppState, email: &str, password: &SecretString) -> Result<bool, ApiError> {
    for hash in registration_holds::password_hashes(&state.db, email, HOLDS_CHECKED).await? {
        if password::verify(password.clone(), hash).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The seed's answer to a login whose email is malformed or of one of its disposable domains: no
/// account can have such an address, so this reveals nothing.
fn invalid_email_format() -> ApiError {
    ApiError::refused(ErrorCode::InvalidEmailFormat, "Invalid email format")
}

/// Checks credentials and opens a session.
pub async fn login(state: &AppState, credentials: Credentials, caller: &Caller) -> Result<SignIn, ApiError> {
    let keys = state.config.require_jwt()?;
    let email = Email::parse_existing(&credentials.email).map_err(|_| invalid_email_format())?;
    let email = email.as_str();
    let user = users::find_by_email(&state.db, email).await?;

    let claimed = match &user {
        Some(user) => claim_password_attempt(state, user.id).await,
        None => claim_unknown_email_attempt(state, keys.server_key(), email).await,
    };
    if let Err(error) = claimed {
        if error.code() == ErrorCode::LoginBackoff {
            state.metrics.count(Metric::LoginBackedOff);
        }
        return Err(error);
    }

    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches =
        password::verify(credentials.password.clone(), stored.clone().unwrap_or_else(|| DUMMY_HASH.into())).await?;
    // Checked whether or not the account's password matched, so both cost the same.
    let held = matches_a_registration_hold(state, email, &credentials.password).await?;
    let (user, stored) = match (user, stored, matches) {
        (Some(user), Some(stored), true) => (user, stored),
        // The password of a registration of this (taken) address: the answer a registration of a
        // free address gets, without touching the account's back-off (see `registration`).
        (Some(user), _, _) if held => {
            state.metrics.count(Metric::LoginFailed);
            caller.audit(&state.db, "login", Some(user.id), false, json!({"reason": "registration_hold"})).await?;
            return Err(email_not_verified());
        }
        (user, _, _) => {
            state.metrics.count(Metric::LoginFailed);
            caller.audit(&state.db, "login", user.map(|u| u.id), false, json!({"reason": "bad_credentials"})).await?;
            return Err(incorrect());
        }
    };

    // The password was right: the attempt no longer counts, and a weaker stored hash is upgraded.
    let upgraded =
        if password::needs_rehash(&stored) { Some(password::hash(credentials.password).await?) } else { None };
    let upgrade = upgraded.as_deref().map(|new_hash| Rehash { verified_hash: &stored, new_hash });
    users::record_successful_login(&state.db, user.id, upgrade).await?;

    if !user.is_verified {
        state.metrics.count(Metric::LoginFailed);
        caller.audit(&state.db, "login", Some(user.id), false, json!({"reason": "unverified"})).await?;
        return Err(email_not_verified());
    }
    if !user.is_active {
        state.metrics.count(Metric::LoginFailed);
        caller.audit(&state.db, "login", Some(user.id), false, json!({"reason": "inactive"})).await?;
        return Err(ApiError::refused(ErrorCode::InactiveUser, "Inactive user"));
    }
    // The hash now stored if nothing replaced it meanwhile: the upgrade, or the one verified.
    let verified = upgraded.unwrap_or(stored);
    open_session(state, &user, Some(&verified), caller, assurance::PASSWORD).await
}

/// Counts a password check against the account's back-off before it runs (login and
/// change-password share it); 429 `login_backoff` inside a back-off window.
pub(crate) async fn claim_password_attempt(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let claimed = users::claim_login_attempt(&state.db, user_id, login_backoff::RULE).await?;
    if claimed {
        return Ok(());
    }
    let until = users::locked_until(&state.db, user_id).await?;
    Err(backing_off(until))
}

/// [`claim_password_attempt`] for an address without an account, so the back-off does not tell
/// registered addresses from unknown ones. The counter is keyed by an HMAC of the address, so a
/// copy of the table does not tell which addresses were tried.
async fn claim_unknown_email_attempt(state: &AppState, server_key: &ServerKey, email: &str) -> Result<(), ApiError> {
    let digest = server_key.digest(Purpose::UnknownEmailLogins, email.as_bytes());
    if users::claim_unknown_email_attempt(&state.db, &digest, login_backoff::RULE).await? {
        return Ok(());
    }
    Err(backing_off(users::unknown_email_locked_until(&state.db, &digest).await?))
}

fn backing_off(until: Option<chrono::DateTime<Utc>>) -> ApiError {
    let retry_after_secs = login_backoff::retry_after_seconds(until, Utc::now()).unwrap_or(1);
    ApiError::TooManyRequests { code: ErrorCode::LoginBackoff, retry_after_secs }
}

/// Signs `user` in after a first factor (`method`, an `amr` value): a session, or a second-factor
/// challenge when the account has an active factor. `verified_password` is the stored hash the
/// password was checked against (`None` for a sign-in without one); if a reset replaced it
/// meanwhile, nothing opens, so the old password cannot outlive the reset.
pub(crate) async fn open_session(
    state: &AppState,
    user: &User,
    verified_password: Option<&str>,
    caller: &Caller,
    method: &str,
) -> Result<SignIn, ApiError> {
    let mut tx = state.db.begin().await?;
    // Concurrent logins of one user queue here, so each eviction sees the other's new session.
    if !users::lock_if_password_is(&mut *tx, user.id, verified_password).await? {
        return Err(incorrect());
    }
    if mfa::has_active_factor(&mut *tx, user.id).await? {
        let challenge = super::mfa::start_challenge(&mut tx, user.id, method).await?;
        caller.audit(&mut *tx, "login", Some(user.id), true, json!({"mfa_required": true})).await?;
        tx.commit().await?;
        return Ok(SignIn::SecondFactorRequired(challenge));
    }
    let success = create_session(state, &mut tx, user, caller, &Assurance::first_factor(method)).await?;
    tx.commit().await?;
    state.metrics.count(Metric::LoginSucceeded);
    Ok(SignIn::Session(success))
}

/// Writes a session of `assurance` for `user` inside `tx` (whose caller holds the user's row
/// lock): session row, refresh token, eviction beyond the session limit, audit entry, and the
/// access token, which works once `tx` commits.
pub(crate) async fn create_session(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user: &User,
    caller: &Caller,
    assurance: &Assurance,
) -> Result<LoginSuccess, ApiError> {
    let keys = state.config.require_jwt()?;
    let now = Utc::now();
    let origin = Origin {
        ip: caller.ip,
        user_agent: caller.user_agent.clone(),
        device_info: Some(device::describe_or_unknown(caller.user_agent.as_deref())),
    };
    let refresh = tokens::issue()?;
    let expires_at = now + Duration::days(i64::from(state.config.refresh_token_days));
    let session_id = sessions::create(&mut *tx, user.id, expires_at, &origin, assurance).await?;
    sessions::insert_refresh_token(&mut *tx, session_id, &refresh.hash).await?;
    sessions::evict_oldest(&mut *tx, user.id, i64::from(state.config.max_sessions_per_user)).await?;
    let details = json!({"session_id": session_id, "aal": assurance.level(), "amr": assurance.amr});
    caller.audit(&mut *tx, "login", Some(user.id), true, details).await?;
    let (access_token, _) = keys.issue(user.id, &user.email, session_id, assurance, now)?;
    Ok(LoginSuccess { access_token, expires_in: keys.ttl_seconds(), refresh_token: refresh.secret, session_id })
}
