//! Builds the RFC 5322 bytes of a mail (multipart/alternative: plain text + HTML). Shared by the
//! file mailer and SES's raw-message API, so both deliver exactly the same message.

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

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
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(readable(&mail.text)))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(readable(&mail.html))),
        )
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// Longest line RFC 5322 allows, in octets (without CRLF).
const MAX_LINE_OCTETS: usize = 998;

/// Keeps bodies unencoded (7bit for ASCII, 8bit otherwise) so links stay intact and `.eml`
/// files stay readable; lettre would switch to quoted-printable at 76 characters and split the
/// token links. Falls back to lettre's encoding only for lines RFC 5322 does not allow.
fn readable(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n");
    if crlf.split("\r\n").any(|line| line.len() > MAX_LINE_OCTETS) || crlf.contains('\0') {
        return Body::new(text.to_owned());
    }
    let encoding = if crlf.is_ascii() { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::EightBit };
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}
