//! Second factors: TOTP enrolment, the second step of a sign-in, step-up, and removal.
//!
//! A factor's secret is sealed with the configured keys (see `MFA_ENCRYPTION_KEYS`) and bound to
//! its row. Every code is checked after the attempt is counted against the account's own
//! back-off (apart from the password's: a correct password must not buy more guesses), and a
//! code is spent in the same transaction as what it unlocks, so of two requests carrying one
//! code exactly one succeeds.

use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use super::login::{self, LoginSuccess, SecondFactorChallenge, claim_password_attempt};
use super::outbox_mail;
use crate::AppState;
use crate::domain::assurance::{self, Assurance, second_factor_is_recent};
use crate::domain::login_backoff;
use crate::error::{ApiError, ErrorCode};
use crate::http::auth::CurrentUser;
use crate::mail::templates::Template;
use crate::ports::Metric;
use crate::repo::mfa::{self, Factor, FactorView};
use crate::repo::{sessions, users};
use crate::security::secret_box::{Sealed, SecretBox};
use crate::security::{password, recovery_codes, tokens, totp};

/// How long an `mfa_token` can complete its sign-in.
pub const CHALLENGE_MINUTES: i64 = 5;
/// The factor types a challenge can be completed with.
const FACTOR_TYPES: [&str; 1] = ["totp"];

/// What an enrolment shows once: the secret, for an authenticator app.
#[derive(Debug)]
pub struct Enrolment {
    /// The factor to verify with its first code.
    pub factor_id: Uuid,
    /// The secret in base32 (RFC 4648, no padding), for typing in.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// A second factor as submitted: a TOTP code or a recovery code.
#[derive(Debug)]
pub enum Proof {
    /// Six digits from the authenticator app.
    Totp(String),
    /// One of the recovery codes shown at enrolment.
    RecoveryCode(String),
}

/// What removing a factor is confirmed with, besides a recent second factor.
#[derive(Debug, Default)]
pub struct RemovalConfirmation {
    /// The account's password (required when it has one).
    pub password: Option<SecretString>,
    /// A current TOTP code (required when the account has no password).
    pub code: Option<String>,
}

/// The caller's factors and how many recovery codes remain.
#[derive(Debug)]
pub struct FactorList {
    /// Oldest first, without secrets.
    pub factors: Vec<FactorView>,
    /// Unspent recovery codes of the active factor (0 without one).
    pub recovery_codes_left: i64,
}

fn invalid_code() -> ApiError {
    ApiError::refused(ErrorCode::InvalidMfaCode, "Invalid or expired verification code")
}

fn invalid_mfa_token() -> ApiError {
    ApiError::refused(ErrorCode::InvalidMfaToken, "Invalid or expired MFA token. Please sign in again.")
}

fn factor_not_found() -> ApiError {
    ApiError::refused(ErrorCode::MfaFactorNotFound, "MFA factor not found")
}

/// Starts a TOTP enrolment: a fresh 160-bit secret, sealed and stored as an inactive factor
/// (replacing an unfinished enrolment). Refused while an active factor exists.
pub async fn enroll(state: &AppState, user: &users::User, caller: &Caller) -> Result<Enrolment, ApiError> {
    let keys = state.config.require_mfa_keys()?;
    let mut secret = [0u8; totp::SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|_| tokens::RandomnessError)?;
    let factor_id = Uuid::new_v4();
    let sealed = keys.seal(&secret, factor_id.as_bytes()).map_err(|error| ApiError::Internal(error.into()))?;

    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    if mfa::has_active_factor(&mut *tx, user.id).await? {
        return Err(already_enabled());
    }
    mfa::create_factor(&mut tx, factor_id, user.id, &sealed.blob, &sealed.key_id).await?;
    caller.audit(&mut *tx, "mfa_enrolment_started", Some(user.id), true, json!({"factor_id": factor_id})).await?;
    tx.commit().await?;

    Ok(Enrolment {
        factor_id,
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&state.config.project_name, &user.email, &secret),
    })
}

fn already_enabled() -> ApiError {
    ApiError::refused(ErrorCode::MfaAlreadyEnabled, "Two-factor authentication is already enabled")
}

/// Activates an enrolment with its first code and returns the recovery codes, shown only now.
pub async fn verify_enrolment(
    state: &AppState,
    user: &users::User,
    factor_id: Uuid,
    code: &str,
    caller: &Caller,
) -> Result<Vec<String>, ApiError> {
    let keys = state.config.require_mfa_keys()?;
    let factor = mfa::find_factor(&state.db, user.id, factor_id).await?.ok_or_else(factor_not_found)?;
    if factor.activated_at.is_some() {
        return Err(already_enabled());
    }
    let secret = open_secret(state, keys, &factor).await?;
    let step = totp::accepted_step(&secret, code, totp::step_at(Utc::now().timestamp()), factor.last_used_step)
        .ok_or_else(invalid_code)?;
    let codes = recovery_codes::generate()?;
    let digests: Vec<[u8; 32]> = codes
        .iter()
        .filter_map(|code| recovery_codes::normalize(code))
        .map(|normalized| recovery_codes::digest(&secret, &normalized))
        .collect();

    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    if mfa::has_active_factor(&mut *tx, user.id).await? {
        return Err(already_enabled());
    }
    if !mfa::activate(&mut *tx, factor.id, step).await? {
        return Err(invalid_code());
    }
    mfa::replace_recovery_codes(&mut tx, factor.id, &digests).await?;
    let outbox_id =
        outbox_mail::queue_notice(state, &mut tx, (&user.email, &user.username), Template::MfaEnabled).await?;
    caller.audit(&mut *tx, "mfa_enabled", Some(user.id), true, json!({"factor_id": factor.id})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(codes)
}

/// The user's factors (no secrets) and the recovery codes left.
pub async fn list(state: &AppState, user_id: Uuid) -> Result<FactorList, ApiError> {
    let factors = mfa::list_factors(&state.db, user_id).await?;
    let active = factors.iter().find(|factor| factor.activated_at.is_some());
    let recovery_codes_left = match active {
        Some(factor) => mfa::recovery_codes_left(&state.db, factor.id).await?,
        None => 0,
    };
    Ok(FactorList { factors, recovery_codes_left })
}

/// Removes one of the caller's factors. An active one needs a second factor checked in the last
/// minutes on this session, plus the password (or, without one, a current code): a stolen
/// access token alone cannot strip the account's protection.
pub async fn remove(
    state: &AppState,
    current: &CurrentUser,
    factor_id: Uuid,
    confirmation: RemovalConfirmation,
    caller: &Caller,
) -> Result<(), ApiError> {
    let user = &current.user;
    let factor = mfa::find_factor(&state.db, user.id, factor_id).await?.ok_or_else(factor_not_found)?;
    let active = factor.activated_at.is_some();
    let confirmed = if active {
        require_recent_second_factor(state, current.claims.sid).await?;
        Some(confirm_removal(state, user, confirmation, caller).await?)
    } else {
        None
    };

    let mut tx = state.db.begin().await?;
    // As a password change does: a reset committed since the check wins.
    let verified_password = match &confirmed {
        Some(Confirmed::Password(hash)) => Some(hash.as_str()),
        _ => None,
    };
    if !users::lock_if_password_is(&mut *tx, user.id, verified_password).await? {
        return Err(incorrect_password());
    }
    if let Some(Confirmed::Code(factor, checked)) = &confirmed {
        if !spend(&mut *tx, factor, checked).await? {
            drop(tx);
            return Err(wrong_code(state, user.id, caller).await);
        }
        mfa::reset_attempts(&mut *tx, user.id).await?;
    }
    if !mfa::delete_factor(&mut *tx, user.id, factor.id).await? {
        return Err(factor_not_found());
    }
    let outbox_id = if active {
        Some(outbox_mail::queue_notice(state, &mut tx, (&user.email, &user.username), Template::MfaDisabled).await?)
    } else {
        None
    };
    let event = if active { "mfa_disabled" } else { "mfa_enrolment_cancelled" };
    caller.audit(&mut *tx, event, Some(user.id), true, json!({"factor_id": factor.id})).await?;
    tx.commit().await?;
    if let Some(outbox_id) = outbox_id {
        outbox_mail::queue_delivery(state, outbox_id).await;
    }
    Ok(())
}

/// 403 `mfa_required` unless the session's second factor was checked in the last minutes.
async fn require_recent_second_factor(state: &AppState, session_id: Uuid) -> Result<(), ApiError> {
    let (assurance, aal2_at) = sessions::assurance(&state.db, session_id).await?.ok_or_else(ApiError::invalid_token)?;
    if assurance.aal >= 2 && second_factor_is_recent(aal2_at, Utc::now()) {
        return Ok(());
    }
    Err(ApiError::refused(
        ErrorCode::MfaRequired,
        format!(
            "Confirm your second factor first (POST /api/v1/auth/mfa/challenge); it must have been checked in the last {} minutes",
            assurance::RECENT_SECOND_FACTOR_MINUTES
        ),
    ))
}

/// What a removal was confirmed with.
enum Confirmed {
    /// The password, verified against this stored hash.
    Password(String),
    /// A code that matched, to spend in the removal's transaction.
    Code(Factor, Checked),
}

/// Checks the password of an account that has one (under the login back-off), else a current
/// code (under the second-factor back-off; spent by the caller).
async fn confirm_removal(
    state: &AppState,
    user: &users::User,
    confirmation: RemovalConfirmation,
    caller: &Caller,
) -> Result<Confirmed, ApiError> {
    if let Some(stored) = user.password_hash.clone() {
        let Some(given) = confirmation.password.filter(|given| !given.expose_secret().is_empty()) else {
            return Err(incorrect_password());
        };
        claim_password_attempt(state, user.id).await?;
        if !password::verify(given, stored.clone()).await? {
            return Err(incorrect_password());
        }
        users::record_successful_login(&state.db, user.id, None).await?;
        return Ok(Confirmed::Password(stored));
    }
    let code = confirmation.code.ok_or_else(invalid_code)?;
    let (factor, checked) = claim_and_check(state, user.id, &Proof::Totp(code), caller).await?;
    Ok(Confirmed::Code(factor, checked))
}

fn incorrect_password() -> ApiError {
    ApiError::refused(ErrorCode::IncorrectPassword, "Incorrect password")
}

/// Creates the second step of a sign-in inside the first step's transaction.
pub(crate) async fn start_challenge(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    first_method: &str,
) -> Result<SecondFactorChallenge, ApiError> {
    let token = tokens::issue()?;
    let expires_at = Utc::now() + Duration::minutes(CHALLENGE_MINUTES);
    mfa::create_challenge(&mut *tx, &token.hash, user_id, &[first_method.to_owned()], expires_at).await?;
    Ok(SecondFactorChallenge { mfa_token: token.secret, factors: FACTOR_TYPES.to_vec() })
}

/// Completes a sign-in with its `mfa_token` and a second factor: the session opens at level 2.
pub async fn complete_sign_in(
    state: &AppState,
    mfa_token: &str,
    proof: Proof,
    caller: &Caller,
) -> Result<LoginSuccess, ApiError> {
    state.config.require_jwt()?;
    let mfa_token = tokens::clean(mfa_token);
    if !tokens::is_well_formed(&mfa_token) {
        return Err(invalid_mfa_token());
    }
    let hash = tokens::hash(&mfa_token);
    let challenge = mfa::live_challenge(&state.db, &hash).await?.ok_or_else(invalid_mfa_token)?;
    let (factor, checked) = claim_and_check(state, challenge.user_id, &proof, caller)
        .await
        .inspect_err(|error| count_failed_sign_in(state, error))?;
    let user = users::find_by_id(&state.db, challenge.user_id).await?.ok_or_else(invalid_mfa_token)?;

    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    if !spend(&mut *tx, &factor, &checked).await? {
        drop(tx);
        state.metrics.count(Metric::LoginFailed);
        return Err(wrong_code(state, user.id, caller).await);
    }
    if !mfa::consume_challenge(&mut *tx, &hash).await? {
        return Err(invalid_mfa_token());
    }
    mfa::reset_attempts(&mut *tx, user.id).await?;
    let assurance = Assurance::with_second_factor(challenge.amr, checked.method);
    let success = login::create_session(state, &mut tx, &user, caller, &assurance).await?;
    let outbox_id = recovery_code_notice(state, &mut tx, &user, &factor, &checked, caller).await?;
    tx.commit().await?;
    state.metrics.count(Metric::LoginSucceeded);
    if let Some(outbox_id) = outbox_id {
        outbox_mail::queue_delivery(state, outbox_id).await;
    }
    Ok(success)
}

/// Counts a sign-in's second step refused for a wrong code, or inside the back-off.
fn count_failed_sign_in(state: &AppState, error: &ApiError) {
    match error.code() {
        ErrorCode::InvalidMfaCode => state.metrics.count(Metric::LoginFailed),
        ErrorCode::MfaBackoff => state.metrics.count(Metric::LoginBackedOff),
        _ => {}
    }
}

/// Raises the caller's session to level 2 with a second factor; returns a new access token.
pub async fn step_up(
    state: &AppState,
    current: &CurrentUser,
    proof: Proof,
    caller: &Caller,
) -> Result<(String, i64), ApiError> {
    let keys = state.config.require_jwt()?;
    let user = &current.user;
    let (factor, checked) = claim_and_check(state, user.id, &proof, caller).await?;

    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    if !spend(&mut *tx, &factor, &checked).await? {
        drop(tx);
        return Err(wrong_code(state, user.id, caller).await);
    }
    let assurance = sessions::raise_to_aal2(&mut *tx, current.claims.sid, checked.method)
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    mfa::reset_attempts(&mut *tx, user.id).await?;
    let details = json!({"session_id": current.claims.sid, "method": checked.method});
    caller.audit(&mut *tx, "mfa_step_up", Some(user.id), true, details).await?;
    let outbox_id = recovery_code_notice(state, &mut tx, user, &factor, &checked, caller).await?;
    tx.commit().await?;
    if let Some(outbox_id) = outbox_id {
        outbox_mail::queue_delivery(state, outbox_id).await;
    }
    let (access_token, _) = keys.issue(user.id, &user.email, current.claims.sid, &assurance, Utc::now())?;
    Ok((access_token, keys.ttl_seconds()))
}

/// A proof that matched, not yet spent.
#[derive(Debug)]
struct Checked {
    /// The `amr` value it adds.
    method: &'static str,
    spend: Spend,
}

#[derive(Debug)]
enum Spend {
    /// The TOTP step whose code matched.
    Step(i64),
    /// The digest of the recovery code (whether it exists is known when it is spent).
    RecoveryCode([u8; 32]),
}

/// Counts the attempt (429 inside the back-off), then checks the proof against the user's active
/// factor. A mismatch is audited and answered 400 `invalid_mfa_code`.
async fn claim_and_check(
    state: &AppState,
    user_id: Uuid,
    proof: &Proof,
    caller: &Caller,
) -> Result<(Factor, Checked), ApiError> {
    if !mfa::claim_attempt(&state.db, user_id, login_backoff::RULE).await? {
        let until = mfa::attempts_locked_until(&state.db, user_id).await?;
        let retry_after_secs = login_backoff::retry_after_seconds(until, Utc::now()).unwrap_or(1);
        return Err(ApiError::TooManyRequests { code: ErrorCode::MfaBackoff, retry_after_secs });
    }
    let factor = mfa::active_factor(&state.db, user_id).await?.ok_or_else(factor_not_found)?;
    match check(state, &factor, proof).await {
        Ok(checked) => Ok((factor, checked)),
        Err(error) if error.code() == ErrorCode::InvalidMfaCode => Err(wrong_code(state, user_id, caller).await),
        Err(error) => Err(error),
    }
}

/// Audits a wrong second factor and returns its error.
async fn wrong_code(state: &AppState, user_id: Uuid, caller: &Caller) -> ApiError {
    match caller.audit(&state.db, "mfa_challenge", Some(user_id), false, json!({"reason": "wrong_code"})).await {
        Ok(()) => invalid_code(),
        Err(error) => error,
    }
}

/// Whether `proof` matches `factor` now (a recovery code's existence is checked when spent).
async fn check(state: &AppState, factor: &Factor, proof: &Proof) -> Result<Checked, ApiError> {
    let keys = state.config.require_mfa_keys()?;
    let secret = open_secret(state, keys, factor).await?;
    match proof {
        Proof::Totp(code) => {
            let now_step = totp::step_at(Utc::now().timestamp());
            let step = totp::accepted_step(&secret, code, now_step, factor.last_used_step).ok_or_else(invalid_code)?;
            Ok(Checked { method: assurance::TOTP, spend: Spend::Step(step) })
        }
        Proof::RecoveryCode(code) => {
            let normalized = recovery_codes::normalize(code).ok_or_else(invalid_code)?;
            let digest = recovery_codes::digest(&secret, &normalized);
            Ok(Checked { method: assurance::RECOVERY_CODE, spend: Spend::RecoveryCode(digest) })
        }
    }
}

/// Spends a checked proof; `false` when a concurrent request spent it first.
async fn spend(db: impl sqlx::PgExecutor<'_>, factor: &Factor, checked: &Checked) -> Result<bool, ApiError> {
    Ok(match &checked.spend {
        Spend::Step(step) => mfa::claim_step(db, factor.id, *step).await?,
        Spend::RecoveryCode(digest) => mfa::use_recovery_code(db, factor.id, digest).await?,
    })
}

/// After a recovery code was spent: the audit entry and the owner's notice (to deliver after
/// commit), since a stranger using one means the codes leaked.
async fn recovery_code_notice(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user: &users::User,
    factor: &Factor,
    checked: &Checked,
    caller: &Caller,
) -> Result<Option<Uuid>, ApiError> {
    if !matches!(checked.spend, Spend::RecoveryCode(_)) {
        return Ok(None);
    }
    let left = mfa::recovery_codes_left(&mut *tx, factor.id).await?;
    caller.audit(&mut *tx, "mfa_recovery_code_used", Some(user.id), true, json!({"codes_left": left})).await?;
    let left = left.to_string();
    let values = [("codes_left", left.as_str())];
    let to = (user.email.as_str(), user.username.as_str());
    Ok(Some(outbox_mail::queue_notice_with(state, tx, to, Template::RecoveryCodeUsed, &values).await?))
}

/// The factor's secret; one sealed with an older key is sealed again with the newest (the
/// rotation of `MFA_ENCRYPTION_KEYS` completes as factors are used).
async fn open_secret(state: &AppState, keys: &SecretBox, factor: &Factor) -> Result<Vec<u8>, ApiError> {
    let sealed = Sealed { key_id: factor.key_id.clone(), blob: factor.secret_sealed.clone() };
    let context = factor.id.as_bytes();
    let secret = keys.open(&sealed, context).map_err(|error| {
        ApiError::Internal(format!("the TOTP secret of factor {} does not open: {error}", factor.id).into())
    })?;
    if keys.needs_resealing(&sealed) {
        let resealed = keys.seal(&secret, context).map_err(|error| ApiError::Internal(error.into()))?;
        mfa::reseal(&state.db, factor.id, &sealed.key_id, &resealed.blob, &resealed.key_id).await?;
    }
    Ok(secret)
}

/// Removes all of a user's factors on a superuser's word (a lost phone and lost codes), ends
/// every session of theirs and mails them.
pub async fn reset_by_admin(state: &AppState, admin_id: Uuid, target: Uuid, caller: &Caller) -> Result<u64, ApiError> {
    let mut tx = state.db.begin().await?;
    let user = users::find_by_id(&mut *tx, target)
        .await?
        .ok_or_else(|| ApiError::refused(ErrorCode::UserNotFound, "User not found"))?;
    users::lock_for_update(&mut *tx, user.id).await?;
    let had_active_factor = mfa::has_active_factor(&mut *tx, user.id).await?;
    let removed = mfa::delete_all(&mut *tx, user.id).await?;
    if removed == 0 {
        return Err(factor_not_found());
    }
    sessions::revoke_all_except(&mut *tx, user.id, None, "mfa_reset").await?;
    mfa::reset_attempts(&mut *tx, user.id).await?;
    let outbox_id =
        outbox_mail::queue_notice(state, &mut tx, (&user.email, &user.username), Template::MfaReset).await?;
    // Recorded under the administrator, as every admin action is: the target's export must not
    // carry the administrator's address.
    let details =
        json!({"target_user_id": user.id, "factors_removed": removed, "had_active_factor": had_active_factor});
    caller.audit(&mut *tx, "admin_mfa_reset", Some(admin_id), true, details).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(removed)
}

/// For `MFA_REQUIRED_FOR_SUPERUSERS`: 403 `mfa_required` unless the session is at level 2.
pub async fn require_second_factor(state: &AppState, session_id: Uuid) -> Result<(), ApiError> {
    let (assurance, _) = sessions::assurance(&state.db, session_id).await?.ok_or_else(ApiError::invalid_token)?;
    if assurance.aal >= 2 {
        return Ok(());
    }
    Err(ApiError::refused(
        ErrorCode::MfaRequired,
        "Administration needs a session signed in with a second factor (enable TOTP, then sign in again or confirm it with POST /api/v1/auth/mfa/challenge)",
    ))
}
