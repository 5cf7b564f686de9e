//! Builds the RFC 5322 bytes of a mail (multipart/alternative: plain text + HTML). Shared by the
//! file mailer and SES's raw-message API, so both deliver exactly the same message.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use crate::mail::Mail;
use crate::ports::MailError;

/// Renders `mail` from `from` as RFC 5322 bytes with CRLF line endings.
pub fn to_rfc5322(mail: &Mail, from: &str, message_id: &str) -> Result<Vec<u8>, MailError> {
    let from: Mailbox = from.parse().map_err(|e| MailError::Build(format!("MAIL_FROM: {e}")))?;
    let to: Mailbox = mail.to.parse().map_err(|e| MailError::Build(format!("recipient: {e}")))?;
    let domain = from.email.domain().to_owned();
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{message_id}@{domain}>")))
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(message.formatted())
}
