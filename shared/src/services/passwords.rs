//! Forgot / reset password and change password.
//!
//! A reset proves control of the mailbox, so it ends every session (a thief signed in elsewhere
//! is thrown out); a change proves knowledge of the current password from a live session, so it
//! ends every *other* session and keeps the caller signed in. Both send a notice mail.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use super::login::claim_password_attempt;
use super::outbox_mail::Unsolicited;
use super::uniform_latency::{ADDRESS_LOOKUP_FLOOR, no_sooner_than};
use super::{Caller, TokenUse, outbox_mail};
use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::mail::templates::Template;
use crate::repo::one_time_tokens::{self, Purpose};
use crate::repo::sessions;
use crate::repo::users::{self, User};
use crate::security::validation::{Email, check_password};
use crate::security::{password, tokens};

/// The one answer `forgot-password` gives, whether or not the account exists.
pub const FORGOT_REPLY: &str = "If an account with that email exists, a password reset link has been sent.";

/// `reset-password`'s answer for a used token (seed text).
pub const RESET_REPLY: &str = "Password reset successfully. You can now log in with your new password.";

/// `reset-password`'s answer for an unknown, expired or used token (seed text).
pub const INVALID_RESET_TOKEN_REPLY: &str = "Invalid or expired password reset token. Please request a new one.";

/// Mails a reset link to an active account that has a password. Accounts that only sign in
/// through Google/Apple, unknown and disabled addresses get nothing; the caller answers
/// [`FORGOT_REPLY`] in every case, no sooner than [`ADDRESS_LOOKUP_FLOOR`] whichever it was.
pub async fn forgot(state: &AppState, email: &Email) -> Result<(), ApiError> {
    no_sooner_than(ADDRESS_LOOKUP_FLOOR, mail_reset_link(state, email)).await
}

async fn mail_reset_link(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let Some(user) = users::find_by_email(&state.db, email.as_str()).await? else { return Ok(()) };
    if !user.is_active || user.password_hash.is_none() {
        return Ok(());
    }
    if !outbox_mail::within_recipient_budget(state, Unsolicited::PasswordReset, &user.email).await? {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    let outbox_id = outbox_mail::queue_token_mail(
        state,
        &mut tx,
        (user.id, &user.email, &user.username),
        Purpose::ResetPassword,
        Template::ResetPassword,
        "reset-password",
        state.config.password_reset_token_ttl,
    )
    .await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(())
}

/// Sets a new password with a reset token (single use) and ends every session of the user.
pub async fn reset(
    state: &AppState,
    token: &str,
    new_password: SecretString,
    caller: &Caller,
) -> Result<TokenUse, ApiError> {
    // The rules that need no account first, as the seed validates the body before the token.
    check_password_rules(state, &[], &new_password, "new_password")?;
    let token = &tokens::clean(token);
    if !tokens::is_well_formed(token) {
        return Ok(TokenUse::Invalid);
    }
    let hash = tokens::hash(token);
    let Some(user_id) = one_time_tokens::peek(&state.db, &hash, Purpose::ResetPassword).await? else {
        return Ok(TokenUse::Invalid);
    };
    let Some(user) = users::find_by_id(&state.db, user_id).await? else { return Ok(TokenUse::Invalid) };
    // An account that signs in with Google or Apple only has no password to reset; forgot-password
    // never mails it a link, and no link may give it one.
    if user.password_hash.is_none() {
        return Ok(TokenUse::Invalid);
    }
    check_new_password(state, &user, &new_password, "new_password")?;
    let new_hash = password::hash(new_password).await?;

    let mut tx = state.db.begin().await?;
    // User row first, then the token, the order every writer of both uses: a password change
    // voiding this link at the same moment queues behind us instead of deadlocking.
    users::lock_for_update(&mut *tx, user.id).await?;
    // Consuming inside the transaction makes the token single use even under concurrent resets.
    if one_time_tokens::consume(&mut *tx, &hash, Purpose::ResetPassword).await?.is_none() {
        return Ok(TokenUse::Invalid);
    }
    users::set_password(&mut *tx, user.id, &new_hash).await?;
    sessions::revoke_all_except(&mut *tx, user.id, None, "password_reset").await?;
    // A pending email change or sign-in link, possibly someone else's, ends with the password.
    one_time_tokens::void_account_links(&mut *tx, user.id).await?;
    let outbox_id =
        outbox_mail::queue_notice(state, &mut tx, (&user.email, &user.username), Template::PasswordChanged).await?;
    caller.audit(&mut *tx, "password_reset", Some(user.id), true, json!({})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(TokenUse::Accepted(()))
}

/// Changes the password of the signed-in user and ends their other sessions.
pub async fn change(
    state: &AppState,
    user: &User,
    current_session: Uuid,
    current_password: SecretString,
    new_password: SecretString,
    caller: &Caller,
) -> Result<(), ApiError> {
    // The body is checked before the account, as the seed validates it: a weak new password is
    // a 422 whatever else is wrong.
    check_password_rules(state, &[], &new_password, "new_password")?;
    let Some(stored) = user.password_hash.clone() else {
        return Err(ApiError::refused(ErrorCode::OauthUser, "OAuth users cannot change password"));
    };
    // A stolen access token must not become a password oracle: same back-off as login.
    claim_password_attempt(state, user.id).await?;
    let matches = password::verify(current_password, stored.clone()).await?;
    if !matches {
        return Err(incorrect_current_password());
    }
    users::record_successful_login(&state.db, user.id, None).await?;
    check_new_password(state, user, &new_password, "new_password")?;
    let new_hash = password::hash(new_password).await?;

    let mut tx = state.db.begin().await?;
    // A reset committed since the check replaced the password this request proved: it wins.
    if !users::lock_if_password_is(&mut *tx, user.id, Some(&stored)).await? {
        return Err(incorrect_current_password());
    }
    users::set_password(&mut *tx, user.id, &new_hash).await?;
    sessions::revoke_all_except(&mut *tx, user.id, Some(current_session), "password_changed").await?;
    one_time_tokens::void_account_links(&mut *tx, user.id).await?;
    let outbox_id =
        outbox_mail::queue_notice(state, &mut tx, (&user.email, &user.username), Template::PasswordChanged).await?;
    caller.audit(&mut *tx, "password_change", Some(user.id), true, json!({})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(())
}

fn incorrect_current_password() -> ApiError {
    ApiError::refused(ErrorCode::IncorrectPassword, "Incorrect current password")
}

pub(crate) fn check_new_password(
    state: &AppState,
    user: &User,
    new_password: &SecretString,
    field: &str,
) -> Result<(), ApiError> {
    let local_part = user.email.split('@').next().unwrap_or_default();
    check_password_rules(state, &[user.username.as_str(), local_part, user.email.as_str()], new_password, field)
}

/// The password policy, with `context` (the account's names) refused as passwords.
pub(crate) fn check_password_rules(
    state: &AppState,
    context: &[&str],
    new_password: &SecretString,
    field: &str,
) -> Result<(), ApiError> {
    check_password(new_password.expose_secret(), state.config.password_policy, context)
        .map_err(|rule| ApiError::from(rule.at(field, Value::String("**********".into()))))
}
