//! Queue a templated mail in the caller's transaction; hand it to the job queue after commit.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::jobs::message::Job;
use crate::mail::templates::{Template, render};
use crate::repo::{one_time_tokens, outbox};
use crate::security::tokens;

/// Issues a one-time token for `user_id` (voiding older ones of the same purpose) and queues
/// the mail carrying its link, both inside `tx`. Returns the outbox id to deliver after commit.
pub(crate) async fn queue_token_mail(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user: (Uuid, &str, &str),
    purpose: one_time_tokens::Purpose,
    template: Template,
    link_path: &str,
    valid_for: chrono::Duration,
) -> Result<Uuid, ApiError> {
    let (user_id, email, username) = user;
    let token = tokens::issue().map_err(|error| ApiError::Internal(error.into()))?;
    let expires_at: DateTime<Utc> = Utc::now() + valid_for;
    one_time_tokens::replace(tx, user_id, purpose, &token.hash, expires_at).await?;
    let link = format!("{}/{link_path}?token={}", state.config.frontend_url, token.secret);
    let hours = valid_for.num_hours().to_string();
    let mail = render(
        template,
        email,
        &[
            ("username", username),
            ("project_name", &state.config.project_name),
            ("link", &link),
            ("valid_hours", &hours),
        ],
    )
    .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(outbox::insert_mail(&mut *tx, &mail).await?)
}

/// Queues a notice without a link (e.g. "your password was changed") inside `tx`.
pub(crate) async fn queue_notice(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    to: (&str, &str),
    template: Template,
) -> Result<Uuid, ApiError> {
    queue_notice_with(state, tx, to, template, &[]).await
}

/// Queues a notice with template values beyond the username and project name inside `tx`.
pub(crate) async fn queue_notice_with(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    to: (&str, &str),
    template: Template,
    extra: &[(&str, &str)],
) -> Result<Uuid, ApiError> {
    let (email, username) = to;
    let mut values = vec![("username", username), ("project_name", state.config.project_name.as_str())];
    values.extend_from_slice(extra);
    let mail = render(template, email, &values).map_err(|error| ApiError::Internal(error.into()))?;
    Ok(outbox::insert_mail(&mut *tx, &mail).await?)
}

/// Queues the delivery of a committed outbox mail (the worker sends it). When the queue cannot
/// be reached the failure is logged and the outbox sweep queues it later: the request that
/// caused the mail has already succeeded, and the mail is safe in the outbox.
pub(crate) async fn queue_delivery(state: &AppState, outbox_id: Uuid) {
    if let Err(error) = crate::jobs::enqueue(state, Job::SendEmail { outbox_id }).await {
        tracing::warn!(%outbox_id, error = %error, "could not queue the mail; the outbox sweep retries it");
    }
}
