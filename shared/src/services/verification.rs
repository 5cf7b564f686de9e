//! `POST /auth/verify-email` and `POST /auth/resend-verification`.

use serde_json::json;

use super::outbox_mail::Unsolicited;
use super::uniform_latency::{ADDRESS_LOOKUP_FLOOR, no_sooner_than};
use super::{Caller, TokenUse, outbox_mail};
use crate::AppState;
use crate::error::ApiError;
use crate::repo::one_time_tokens::{self, Purpose};
use crate::repo::{registration_holds, users};
use crate::security::tokens;
use crate::security::validation::Email;

use super::registration::queue_verification_mail;

/// The one answer `resend-verification` gives, whether or not the account exists.
pub const RESEND_REPLY: &str =
    "If an account with that email exists and is not yet verified, a verification email has been sent.";

/// `verify-email`'s answer for a used token (seed text).
pub const VERIFIED_REPLY: &str = "Email verified successfully";

/// `verify-email`'s answer for an unknown, expired or used token (seed text).
pub const INVALID_TOKEN_REPLY: &str = "Invalid or expired verification token";

/// Confirms an email address with the token from the mail. Single use: a second use is
/// [`TokenUse::Invalid`].
pub async fn verify_email(state: &AppState, token: &str, caller: &Caller) -> Result<TokenUse, ApiError> {
    let token = &tokens::clean(token);
    if !tokens::is_well_formed(token) {
        return Ok(TokenUse::Invalid);
    }
    let hash = tokens::hash(token);
    let Some(user_id) = one_time_tokens::peek(&state.db, &hash, Purpose::VerifyEmail).await? else {
        return Ok(TokenUse::Invalid);
    };
    let mut tx = state.db.begin().await?;
    // User row first, then the token, the order every writer of both uses (a resend replacing
    // this link locks them so), so the two never deadlock.
    users::lock_for_update(&mut *tx, user_id).await?;
    if one_time_tokens::consume(&mut *tx, &hash, Purpose::VerifyEmail).await?.is_none() {
        return Ok(TokenUse::Invalid);
    }
    users::mark_verified(&mut *tx, user_id).await?;
    // The address is proven: its registrations' holds have nothing left to stand in for.
    registration_holds::release(&mut *tx, user_id).await?;
    caller.audit(&mut *tx, "verify_email", Some(user_id), true, json!({})).await?;
    tx.commit().await?;
    state.metrics.count(crate::ports::Metric::Verified);
    Ok(TokenUse::Accepted(()))
}

/// Sends a new verification link (voiding the previous one) if the account exists and is not
/// verified yet. The caller answers [`RESEND_REPLY`] in every case, no sooner than
/// [`ADDRESS_LOOKUP_FLOOR`] whichever it was.
pub async fn resend(state: &AppState, email: &Email) -> Result<(), ApiError> {
    no_sooner_than(ADDRESS_LOOKUP_FLOOR, mail_new_link(state, email)).await
}

async fn mail_new_link(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let Some(user) = users::find_by_email(&state.db, email.as_str()).await? else { return Ok(()) };
    if user.is_verified || !user.is_active {
        return Ok(());
    }
    if !outbox_mail::within_recipient_budget(state, Unsolicited::Verification, &user.email).await? {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    let outbox_id = queue_verification_mail(state, &mut tx, &user).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(())
}
