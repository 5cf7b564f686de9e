//! Sending one rendered mail.

use std::future::Future;
use std::pin::Pin;

use crate::mail::Mail;

/// Why a mail could not be handed over. Delivery is retried from the outbox, so callers record
/// the error instead of failing the request that caused the mail.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message could not be built (bad address, bad header).
    #[error("mail could not be built: {0}")]
    Build(String),
    /// The transport refused or failed (disk full, SES error, throttling).
    #[error("mail could not be sent: {0}")]
    Transport(String),
}

/// Delivers rendered mail. Implementations: [`crate::adapters::file_mailer::FileMailer`] locally,
/// SES in AWS.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends `mail`; `message_id` is stable across retries of the same outbox row.
    fn send<'a>(
        &'a self,
        mail: &'a Mail,
        message_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;
}
