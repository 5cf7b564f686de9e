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
    configuration_set: Option<String>,
    endpoint_url: Option<String>,
    client: OnceLock<Client>,
}

impl SesMailer {
    /// A mailer sending as `from` (an SES-verified identity). Does no I/O.
    pub fn new(from: impl Into<String>) -> Self {
        Self { from: from.into(), configuration_set: None, endpoint_url: None, client: OnceLock::new() }
    }

    /// Sends with SES configuration set `name`, whose event destinations learn of each mail's
    /// bounces and complaints.
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name;
        self
    }

    /// Talks to `endpoint_url` instead of the endpoint the environment configures (tests read
    /// what the mailer sends).
    pub fn with_endpoint_url(mut self, endpoint_url: impl Into<String>) -> Self {
        self.endpoint_url = Some(endpoint_url.into());
        self
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&super::aws_env::sdk_config(self.endpoint_url.as_deref())))
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
                .set_configuration_set_name(self.configuration_set.clone())
                .send()
                .await
                .map_err(|error| MailError::Transport(super::aws_env::describe(&error)))?;
            Ok(())
        })
    }
}
