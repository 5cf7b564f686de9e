//! The AWS SDK configuration of a function, read from the variables Lambda sets.
//!
//! Not `aws-config`: its default chain (profiles, SSO, web identity through STS, IMDS, ECS) is
//! about 1 MB of code in every function, and on Lambda its first link, the environment, is the
//! one that always answers. Local runs and tests set the same variables (`AWS_ENDPOINT_URL`
//! pointing at moto).

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_types::SdkConfig;
use aws_types::region::Region;

/// The configuration every SDK client here is built from: region, credentials and endpoint from
/// the environment; retries and the connect timeout are the SDK's defaults for the latest
/// behaviour version (each SDK crate's `behavior-version-latest` feature). `endpoint_url`
/// overrides `AWS_ENDPOINT_URL`.
pub fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let mut builder = SdkConfig::builder();
    builder.set_region(var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).map(Region::new));
    builder.set_credentials_provider(Some(SharedCredentialsProvider::new(EnvironmentCredentials)));
    builder.set_endpoint_url(endpoint_url.map(str::to_owned).or_else(|| var("AWS_ENDPOINT_URL")));
    builder.build()
}

/// An SDK error as one readable line: its chain of causes, each once (`service error:
/// ResourceNotFoundException: Secrets Manager can't find the specified secret.`, `dispatch
/// failure: io error: …: Connection refused (os error 111)`). Not `DisplayErrorContext`, which
/// appends a `Debug` dump of the error and of the raw HTTP response (headers, body): kilobytes on
/// the start-up line, in logs and in the outbox's `last_error`.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        // The SDK's operation error and the modelled error it wraps print the same text.
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The execution role's keys, which Lambda puts in the environment for the instance's life.
/// Read on each request for credentials (the SDK caches them), like the SDK's own provider.
#[derive(Debug)]
struct EnvironmentCredentials;

impl EnvironmentCredentials {
    fn load() -> Result<Credentials, CredentialsError> {
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(key), Some(secret)) => {
                Ok(Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment"))
            }
            _ => Err(CredentialsError::not_loaded("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")),
        }
    }
}

impl ProvideCredentials for EnvironmentCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Self::load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    #[test]
    fn an_error_is_described_by_its_causes_each_once_without_debug_output() {
        let inner = Layer { text: "NotFound: no such secret", source: None };
        let same = Layer { text: "NotFound: no such secret", source: Some(Box::new(inner)) };
        let outer = Layer { text: "service error", source: Some(Box::new(same)) };

        assert_eq!(describe(&outer), "service error: NotFound: no such secret");
    }
}
