//! Changing the account's email address, in two steps with a way back.
//!
//! 1. The signed-in user asks, proving the password again; the new address gets a link. The
//!    answer is the same whether or not the new address belongs to someone (that owner gets a
//!    notice instead), and costs the same, so the route does not tell who is registered.
//! 2. The link switches the address and marks it verified. Until then the old address stays in
//!    force for sign-in and mail. The old address is told, with an undo link.
//! 3. The undo link restores the old address, ends every session and mails a reset link: the
//!    change may have been made by someone who had the password or a session.

use secrecy::SecretString;
use serde_json::json;

use super::login::claim_password_attempt;
use super::outbox_mail::{self, Unsolicited};
use super::uniform_latency::{ADDRESS_LOOKUP_FLOOR, no_sooner_than};
use super::{Caller, TokenUse};
use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::mail::templates::Template;
use crate::repo::one_time_tokens::{self, Purpose};
use crate::repo::sessions;
use crate::repo::users::{self, Taken, User};
use crate::security::validation::{Email, RuleViolation};
use crate::security::{password, tokens};

/// The one answer to a change request, whether or not the new address is taken.
pub const REQUESTED_REPLY: &str = "If the new address can be used, a confirmation link has been sent to it. \
                                   Your current address stays in use until the link is opened.";

/// `confirm-email-change`'s answer when the address was switched.
pub const CHANGED_REPLY: &str = "Email address changed successfully.";

/// `confirm-email-change`'s answer for an unknown, expired or used token.
pub const INVALID_CHANGE_TOKEN_REPLY: &str = "Invalid or expired email change token.";

/// `undo-email-change`'s answer when the old address is back.
pub const UNDONE_REPLY: &str = "The email change was undone and every session was signed out. \
                                A link to choose a new password was mailed to the restored address.";

/// `undo-email-change`'s answer for an unknown, expired or used token.
pub const INVALID_UNDO_TOKEN_REPLY: &str = "Invalid or expired undo token.";

/// How long the link to the new address works.
const CONFIRM_VALID_FOR: chrono::Duration = chrono::Duration::hours(24);

/// How long the old address can undo the change.
const UNDO_VALID_FOR: chrono::Duration = chrono::Duration::hours(72);

/// Checks the password and mails the new address a confirmation link (or, when the address has
/// an account, its owner a notice). A newer request voids the older link either way.
pub async fn request(
    state: &AppState,
    user: &User,
    new_email: &str,
    password: SecretString,
    caller: &Caller,
) -> Result<(), ApiError> {
    let new_email = parse_new_address(new_email, user)?;
    let Some(stored) = user.password_hash.clone() else {
        return Err(ApiError::refused(
            ErrorCode::PasswordNotSet,
            "This account has no password to confirm the change with.",
        ));
    };
    // A stolen access token must not become a password oracle: same back-off as login.
    claim_password_attempt(state, user.id).await?;
    if !password::verify(password, stored).await? {
        caller
            .audit(&state.db, "email_change_requested", Some(user.id), false, json!({"reason": "bad_password"}))
            .await?;
        return Err(ApiError::refused(ErrorCode::IncorrectPassword, "Incorrect password"));
    }
    users::record_successful_login(&state.db, user.id, None).await?;
    no_sooner_than(ADDRESS_LOOKUP_FLOOR, mail_the_new_address(state, user, &new_email, caller)).await
}

/// The address syntax and domain rules of registration, and not the account's own address.
fn parse_new_address(raw: &str, user: &User) -> Result<Email, ApiError> {
    let invalid = |rule: RuleViolation| ApiError::from(vec![rule.at("new_email", json!(raw))]);
    let email = Email::parse(raw).map_err(invalid)?;
    if email.as_str() == user.email {
        return Err(invalid(RuleViolation::new("The new address is the account's current address")));
    }
    Ok(email)
}

async fn mail_the_new_address(
    state: &AppState,
    user: &User,
    new_email: &Email,
    caller: &Caller,
) -> Result<(), ApiError> {
    let owner = users::find_by_email(&state.db, new_email.as_str()).await?;
    let within_budget =
        outbox_mail::within_recipient_budget(state, Unsolicited::EmailChange, new_email.as_str()).await?;
    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    // Deactivated since the request was authenticated: deactivation voided the links, so add none.
    if !users::find_by_id(&mut *tx, user.id).await?.is_some_and(|now| now.is_active) {
        return Ok(());
    }
    // Both paths store a link for the new address, so the account's stored data (its export
    // lists live links) does not tell a taken address from a free one; a taken address's link
    // is never mailed, so nobody can use it.
    let link = outbox_mail::new_link(state, "confirm-email-change", CONFIRM_VALID_FOR)?;
    let (hash, expires_at) = (&link.token.hash, link.expires_at);
    one_time_tokens::replace_for_address(&mut tx, user.id, Purpose::ChangeEmail, hash, new_email.as_str(), expires_at)
        .await?;
    let outbox_id = match owner {
        Some(owner) if owner.is_active && within_budget => {
            let to = (owner.email.as_str(), owner.username.as_str());
            Some(outbox_mail::queue_notice(state, &mut tx, to, Template::EmailChangeAddressTaken).await?)
        }
        None if within_budget => {
            let to = (new_email.as_str(), user.username.as_str());
            Some(outbox_mail::queue_link_mail(state, &mut tx, to, Template::ConfirmEmailChange, &link, &[]).await?)
        }
        _ => None,
    };
    caller.audit(&mut *tx, "email_change_requested", Some(user.id), true, json!({})).await?;
    tx.commit().await?;
    if let Some(outbox_id) = outbox_id {
        outbox_mail::queue_delivery(state, outbox_id).await;
    }
    Ok(())
}

/// Switches the account to the address the token was mailed to, marks it verified, voids the
/// links mailed to the old address and mails that address an undo link.
pub async fn confirm(state: &AppState, token: &str, caller: &Caller) -> Result<TokenUse, ApiError> {
    let Some(hash) = well_formed(token) else { return Ok(TokenUse::Invalid) };
    let Some((user_id, new_email)) = one_time_tokens::peek_with_address(&state.db, &hash, Purpose::ChangeEmail).await?
    else {
        return Ok(TokenUse::Invalid);
    };
    let mut tx = state.db.begin().await?;
    // User row first, then the token, the order every writer of both uses.
    users::lock_for_update(&mut *tx, user_id).await?;
    let Some(old) = users::find_by_id(&mut *tx, user_id).await?.filter(|user| user.is_active) else {
        return Ok(TokenUse::Invalid);
    };
    if one_time_tokens::consume(&mut *tx, &hash, Purpose::ChangeEmail).await?.is_none() {
        return Ok(TokenUse::Invalid);
    }
    if let Err(Taken::Email | Taken::Username) = users::set_verified_email(&mut *tx, user_id, &new_email).await? {
        // Someone registered the address since the request; the transaction is dropped, so
        // nothing changed. The caller holds the link, so they may learn the address is taken.
        return Err(address_taken());
    }
    one_time_tokens::void_account_links(&mut *tx, user_id).await?;
    one_time_tokens::void_unused(&mut *tx, user_id, Purpose::VerifyEmail).await?;
    let undo = outbox_mail::new_link(state, "undo-email-change", UNDO_VALID_FOR)?;
    one_time_tokens::add_for_address(
        &mut *tx,
        user_id,
        Purpose::UndoEmailChange,
        &undo.token.hash,
        &old.email,
        undo.expires_at,
    )
    .await?;
    let to = (old.email.as_str(), old.username.as_str());
    let extra = [("new_email", new_email.as_str())];
    let outbox_id = outbox_mail::queue_link_mail(state, &mut tx, to, Template::EmailChanged, &undo, &extra).await?;
    caller.audit(&mut *tx, "email_change", Some(user_id), true, json!({})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(TokenUse::Accepted(()))
}

/// Puts the old address back, ends every session of the account and mails the restored address
/// a reset-password link: whoever made the change may know the password.
///
/// Undo links of changes made after this one's die with it, or whoever made those changes could
/// undo the undo. An unverified account registered meanwhile with the old address is removed:
/// its owner never proved the mailbox, and the undo link just did.
pub async fn undo(state: &AppState, token: &str, caller: &Caller) -> Result<TokenUse, ApiError> {
    let Some(hash) = well_formed(token) else { return Ok(TokenUse::Invalid) };
    let Some((user_id, old_email)) =
        one_time_tokens::peek_with_address(&state.db, &hash, Purpose::UndoEmailChange).await?
    else {
        return Ok(TokenUse::Invalid);
    };
    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user_id).await?;
    let Some(user) = users::find_by_id(&mut *tx, user_id).await?.filter(|user| user.is_active) else {
        return Ok(TokenUse::Invalid);
    };
    if one_time_tokens::consume(&mut *tx, &hash, Purpose::UndoEmailChange).await?.is_none() {
        return Ok(TokenUse::Invalid);
    }
    one_time_tokens::void_later_undo_links(&mut *tx, user_id, &hash).await?;
    let squatters = users::delete_unverified_with_email(&mut *tx, &old_email, user_id).await?;
    if let Err(Taken::Email | Taken::Username) = users::set_verified_email(&mut *tx, user_id, &old_email).await? {
        return Err(address_taken());
    }
    sessions::revoke_all_except(&mut *tx, user_id, None, "email_change_undone").await?;
    // A pending change, reset or sign-in link of whoever made the change dies with it.
    one_time_tokens::void_account_links(&mut *tx, user_id).await?;
    let outbox_id = outbox_mail::queue_token_mail(
        state,
        &mut tx,
        (user_id, &old_email, &user.username),
        Purpose::ResetPassword,
        Template::ResetPassword,
        "reset-password",
        state.config.password_reset_token_ttl,
    )
    .await?;
    let details = json!({"unverified_accounts_removed": squatters});
    caller.audit(&mut *tx, "email_change_undone", Some(user_id), true, details).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(TokenUse::Accepted(()))
}

fn well_formed(token: &str) -> Option<tokens::TokenHash> {
    let token = tokens::clean(token);
    tokens::is_well_formed(&token).then(|| tokens::hash(&token))
}

fn address_taken() -> ApiError {
    ApiError::refused(ErrorCode::EmailExists, "This email address already belongs to another account.")
}
