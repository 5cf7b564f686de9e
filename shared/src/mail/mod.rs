//! Outgoing mail: templates rendered from files in `templates/mail/`, and the message type the
//! [`crate::ports::Mailer`] port delivers.

pub mod templates;

/// A rendered message, ready for any mailer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}
