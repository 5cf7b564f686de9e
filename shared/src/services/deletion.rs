//! GDPR account deletion: request (mail a confirm link), confirm (schedule the purge after the
//! grace period), cancel and status. The purge itself and the reminders are scheduled jobs
//! (`crate::jobs`).
//!
//! Differences from the seed: cancel and status act only on the signed-in caller (the seed took
//! any email), a cancel voids an outstanding confirm link, and mails go through the outbox.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::outbox_mail::Unsolicited;
use super::uniform_latency::{ADDRESS_LOOKUP_FLOOR, no_sooner_than};
use super::{Caller, TokenUse, outbox_mail};
use crate::AppState;
use crate::domain::deletion::{self, DeletionState};
use crate::error::{ApiError, ErrorCode};
use crate::mail::templates::Template;
use crate::repo::deletion as repo;
use crate::repo::one_time_tokens::{self, Purpose};
use crate::repo::users::{self, User};
use crate::security::tokens;
use crate::security::validation::Email;

/// The one answer `request-deletion` gives, whether or not the account exists (seed text).
pub const REQUEST_REPLY: &str = "If an account with that email exists, a deletion confirmation link has been sent.";

/// 400 when the only active superuser confirms their own deletion: nobody could administer the
/// service afterwards. Another superuser has to exist first.
fn last_superuser() -> ApiError {
    ApiError::refused(
        ErrorCode::LastSuperuser,
        "The only active superuser cannot delete their account; make another superuser first.",
    )
}

/// `confirm-deletion`'s answer for an unknown, expired or used token (seed text).
pub const INVALID_TOKEN_REPLY: &str = "Invalid or expired deletion token. Please request a new one.";

/// Mails a confirm link to the account with this address, if there is an active one without a
/// confirmed deletion. The caller answers [`REQUEST_REPLY`] in every case, no sooner than
/// [`ADDRESS_LOOKUP_FLOOR`] whichever it was.
pub async fn request_by_email(state: &AppState, email: &Email, caller: &Caller) -> Result<(), ApiError> {
    no_sooner_than(ADDRESS_LOOKUP_FLOOR, async {
        match users::find_by_email(&state.db, email.as_str()).await? {
            Some(user) => request_for(state, &user, caller).await,
            None => Ok(()),
        }
    })
    .await
}

/// Mails a confirm link to `user` (a signed-in caller, or the owner of the address given).
/// Nothing is sent to a disabled account or one whose deletion is already confirmed.
pub async fn request_for(state: &AppState, user: &User, caller: &Caller) -> Result<(), ApiError> {
    if !user.is_active || repo::state(&state.db, user.id).await?.confirmed() {
        return Ok(());
    }
    if !outbox_mail::within_recipient_budget(state, Unsolicited::DeletionConfirmation, &user.email).await? {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    let outbox_id = outbox_mail::queue_token_mail(
        state,
        &mut tx,
        (user.id, &user.email, &user.username),
        Purpose::ConfirmDeletion,
        Template::ConfirmDeletion,
        "confirm-deletion",
        state.config.deletion_token_ttl,
    )
    .await?;
    repo::mark_requested(&mut *tx, user.id).await?;
    caller.audit(&mut *tx, "deletion_requested", Some(user.id), true, json!({})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(())
}

/// Confirms a deletion with the mailed token (single use) and schedules the purge
/// `DELETION_GRACE_DAYS` from now. Accepted with when the account will be deleted.
pub async fn confirm(state: &AppState, token: &str, caller: &Caller) -> Result<TokenUse<DateTime<Utc>>, ApiError> {
    let token = &tokens::clean(token);
    if !tokens::is_well_formed(token) {
        return Ok(TokenUse::Invalid);
    }
    let hash = tokens::hash(token);
    let Some(user_id) = one_time_tokens::peek(&state.db, &hash, Purpose::ConfirmDeletion).await? else {
        return Ok(TokenUse::Invalid);
    };
    let at = deletion::scheduled_for(Utc::now(), state.config.deletion_grace_days);
    let mut tx = state.db.begin().await?;
    // User row first, then the token: the order every writer of both uses, so none deadlock.
    users::lock_for_update(&mut *tx, user_id).await?;
    if one_time_tokens::consume(&mut *tx, &hash, Purpose::ConfirmDeletion).await?.is_none() {
        return Ok(TokenUse::Invalid);
    }
    if repo::is_last_superuser(&mut *tx, user_id).await? {
        return Err(last_superuser());
    }
    let Some(scheduled) = repo::schedule(&mut *tx, user_id, at).await? else { return Ok(TokenUse::Invalid) };
    let (email, username, at) = (scheduled.email, scheduled.username, scheduled.deletion_scheduled_for);
    let date = deletion::mail_date(at);
    let outbox_id = outbox_mail::queue_notice_with(
        state,
        &mut tx,
        (&email, &username),
        Template::DeletionScheduled,
        &[("deletion_date", &date)],
    )
    .await?;
    caller.audit(&mut *tx, "deletion_confirmed", Some(user_id), true, json!({"scheduled_for": at})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(TokenUse::Accepted(at))
}

/// Cancels the caller's pending deletion and voids any outstanding confirm link. Returns whether
/// anything was pending; a "cancelled" notice goes out when a confirmed deletion was stopped.
pub async fn cancel(state: &AppState, user: &User, caller: &Caller) -> Result<bool, ApiError> {
    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    let voided = one_time_tokens::void_unused(&mut *tx, user.id, Purpose::ConfirmDeletion).await?;
    let Some(previous) = repo::cancel(&mut *tx, user.id).await? else {
        tx.commit().await?;
        return Ok(voided > 0);
    };
    let outbox_id = if previous.confirmed() {
        let notice = (user.email.as_str(), user.username.as_str());
        Some(outbox_mail::queue_notice(state, &mut tx, notice, Template::DeletionCancelled).await?)
    } else {
        None
    };
    caller
        .audit(&mut *tx, "deletion_cancelled", Some(user.id), true, json!({"was_confirmed": previous.confirmed()}))
        .await?;
    tx.commit().await?;
    if let Some(outbox_id) = outbox_id {
        outbox_mail::queue_delivery(state, outbox_id).await;
    }
    Ok(true)
}

/// Where the caller's account stands in the deletion flow.
pub async fn status(state: &AppState, user: &User) -> Result<DeletionState, ApiError> {
    Ok(repo::state(&state.db, user.id).await?)
}
