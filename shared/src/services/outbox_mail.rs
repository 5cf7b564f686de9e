//! Queue a templated mail in the caller's transaction; hand it to the job queue after commit.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::jobs::message::Job;
use crate::mail::templates::{Template, render};
use crate::repo::{one_time_tokens, outbox, rate_limits};
use crate::security::server_key::Purpose;
use crate::security::tokens;

/// Mail anyone can have sent to an address by typing it; each kind has its own budget per
/// recipient (`RATE_LIMIT_MAIL_PER_RECIPIENT`), so a flood from many client addresses cannot
/// fill one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsolicited {
    /// A verification link (registration, resend-verification).
    Verification,
    /// The notice that someone tried to register with the address.
    RegistrationNotice,
    /// A reset-password link.
    PasswordReset,
    /// A confirm-deletion link.
    DeletionConfirmation,
    /// A confirm-email-change link, or the notice to the owner of an address already taken.
    EmailChange,
    /// A passwordless sign-in link and code.
    MagicLink,
}

impl Unsolicited {
    fn name(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::RegistrationNotice => "registration_notice",
            Self::PasswordReset => "password_reset",
            Self::DeletionConfirmation => "deletion_confirmation",
            Self::EmailChange => "email_change",
            Self::MagicLink => "magic_link",
        }
    }
}

/// Counts one mail of `kind` to `recipient` and tells whether it may be sent. Past the budget the
/// caller sends nothing and answers as if it had: the answer must not tell the flood apart.
/// Always true with `RATE_LIMIT_ENABLED=false`.
pub(crate) async fn within_recipient_budget(
    state: &AppState,
    kind: Unsolicited,
    recipient: &str,
) -> Result<bool, ApiError> {
    if !state.config.rate_limit_enabled {
        return Ok(true);
    }
    let limit = state.config.rate_limits.mail_per_recipient;
    let recipient = recipient.to_lowercase();
    let digest = match &state.config.jwt {
        Some(keys) => keys.server_key().digest(Purpose::MailRecipient, recipient.as_bytes()),
        None => tokens::hash(&recipient),
    };
    let now = Utc::now();
    let count =
        rate_limits::hit(&state.db, &limit.recipient_key(kind.name(), &digest), limit.window_start(now)).await?;
    let allowed = limit.decide(count, now).allowed;
    if !allowed {
        tracing::info!(kind = kind.name(), "unsolicited mail over the recipient's budget; not sent");
    }
    Ok(allowed)
}

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
    let link = new_link(state, link_path, valid_for)?;
    one_time_tokens::replace(tx, user_id, purpose, &link.token.hash, link.expires_at).await?;
    queue_link_mail(state, tx, (email, username), template, &link, &[]).await
}

/// A fresh one-time token and the front-end link that carries it; the caller stores the token.
pub(crate) struct Link {
    /// The token: its secret goes into the link, its digest into `one_time_tokens`.
    pub(crate) token: tokens::IssuedToken,
    /// `{FRONTEND_URL}/{path}?token=…`.
    pub(crate) url: String,
    /// When the token stops working.
    pub(crate) expires_at: DateTime<Utc>,
    /// How long it works, for the mail's text.
    pub(crate) valid_for: chrono::Duration,
}

/// Issues a token for a link to `link_path` on the front end, valid for `valid_for`.
pub(crate) fn new_link(state: &AppState, link_path: &str, valid_for: chrono::Duration) -> Result<Link, ApiError> {
    let token = tokens::issue()?;
    let url = format!("{}/{link_path}?token={}", state.config.frontend_url, token.secret);
    Ok(Link { token, url, expires_at: Utc::now() + valid_for, valid_for })
}

/// Queues the mail carrying `link` to `to` inside `tx`, with `extra` template values beside the
/// link, its validity in hours, the username and the project name.
pub(crate) async fn queue_link_mail(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    to: (&str, &str),
    template: Template,
    link: &Link,
    extra: &[(&str, &str)],
) -> Result<Uuid, ApiError> {
    let hours = link.valid_for.num_hours().to_string();
    let mut values = vec![("link", link.url.as_str()), ("valid_hours", hours.as_str())];
    values.extend_from_slice(extra);
    queue_notice_with(state, tx, to, template, &values).await
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
    let mail = render(template, email, &values)?;
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
