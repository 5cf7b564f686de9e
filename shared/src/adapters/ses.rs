//! Amazon SES mail delivery (`MAIL_BACKEND=ses`), behind the `ses` feature so functions that
//! never send mail do not carry the SDK.
//!
//! The SDK client is created on first send, not at cold start: most invocations send no mail,
//! and loading the SDK configuration reads the environment and sets up an HTTPS client. The
//! message is sent as raw MIME built by [`super::mime`], so SES delivers exactly what the file
//! mailer writes locally. `AWS_ENDPOINT_URL` (tests: moto) is honoured by the SDK itself.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_ses::Client;
use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;
use std::sync::OnceLock;

use super::mime::to_rfc5322;
use crate::mail::Mail;
use crate::ports::{MailError, Mailer};

/// Sends mail through SES's `SendRawEmail`.
#[derive(Debug)]
pub struct SesMailer {
    from: String,
    client: OnceLock<Client>,
}

impl SesMailer {
    /// A mailer sending as `from` (an SES-verified identity). Does no I/O.
    pub fn new(from: impl Into<String>) -> Self {
        Self { from: from.into(), client: OnceLock::new() }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&super::aws_env::sdk_config(None)))
    }
}

impl Mailer for SesMailer {
    fn send<'a>(
        &'a self,
        mail: &'a Mail,
        message_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async move {
            let bytes = to_rfc5322(mail, &self.from, message_id)?;
            let raw =
                RawMessage::builder().data(Blob::new(bytes)).build().map_err(|e| MailError::Build(e.to_string()))?;
            self.client()
                .send_raw_email()
                .raw_message(raw)
                .send()
                .await
                .map_err(|error| MailError::Transport(super::aws_env::describe(&error)))?;
            Ok(())
        })
    }
}
