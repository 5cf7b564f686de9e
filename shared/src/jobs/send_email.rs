//! Delivers one outbox mail exactly once: the row is locked while sending and marked sent in
//! the same transaction, so a concurrent deliverer skips it and a failure leaves it for a retry.
//! Mail to an address SES reported undeliverable is closed unsent instead.

use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::{MailError, Mailer};
use crate::repo::{outbox, undeliverable};

/// Longest wait for the mail service; past it the attempt counts as failed and the row stays
/// queued, so a stalled provider cannot hold a request (and its pooled connection) for long.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a delivery attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The mail was handed to the mailer and marked sent.
    Sent,
    /// Already sent, or being sent by someone else: nothing to do.
    Skipped,
    /// SES reported the address undeliverable (a hard bounce or a complaint): the mail was closed
    /// unsent, since sending would only hurt the account's reputation.
    Dropped,
}

/// Why delivery failed; the row stays unsent.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Reading or updating the outbox failed.
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The mailer refused the mail (recorded on the row).
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// Sends outbox mail `id` through `mailer`.
pub async fn deliver(db: &PgPool, mailer: &dyn Mailer, id: Uuid) -> Result<Delivery, DeliveryError> {
    let mut tx = db.begin().await?;
    let Some(mail) = outbox::lock_unsent_mail(&mut tx, id).await? else {
        return Ok(Delivery::Skipped);
    };
    if let Some(reason) = undeliverable::reason(&mut *tx, &mail.to).await? {
        outbox::mark_dropped(&mut *tx, id, &format!("the address is undeliverable ({reason})")).await?;
        tx.commit().await?;
        return Ok(Delivery::Dropped);
    }
    let sent = match tokio::time::timeout(SEND_TIMEOUT, mailer.send(&mail, &id.to_string())).await {
        Ok(result) => result,
        Err(_elapsed) => Err(MailError::Transport(format!("no answer from the mail service within {SEND_TIMEOUT:?}"))),
    };
    if let Err(error) = sent {
        outbox::record_failure(&mut *tx, id, &error.to_string()).await?;
        tx.commit().await?;
        return Err(error.into());
    }
    outbox::mark_sent(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(Delivery::Sent)
}
