//! Stand-in for `MAIL_BACKEND=ses` in binaries built without the `ses` feature: every send
//! fails, so mail stays queued in the outbox (nothing is lost) and the failure is visible in the
//! logs and on the row.

use std::future::Future;
use std::pin::Pin;

use crate::mail::Mail;
use crate::ports::{MailError, Mailer};

/// Refuses every mail with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct UnavailableMailer;

impl Mailer for UnavailableMailer {
    fn send<'a>(&'a self, _: &'a Mail, _: &'a str) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async {
            Err(MailError::Transport(
                "the SES mail backend needs the `ses` feature, which this binary was built without".into(),
            ))
        })
    }
}
