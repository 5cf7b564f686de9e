//! Secrets Manager (`SECRETS_ARN`): JSON objects of settings (`{"JWT_SECRET": "…",
//! "DATABASE_URL": "…"}`) read once per cold start, so secrets never sit in the function's
//! environment variables. `SECRETS_ARN` may name several secrets, comma-separated (the stack's
//! settings, and the MFA key that no deploy may rewrite); they are read concurrently and a later
//! one's keys win. Behind the `secrets` feature.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use serde_json::Value;

/// Longest wait for the secret at start-up: an unreachable endpoint fails the cold start
/// clearly instead of hanging until the function times out.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the secret could not be used; start-up stops with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    /// Secrets Manager did not answer or refused (missing secret, no permission).
    #[error("SECRETS_ARN could not be read: {0}")]
    Unavailable(String),
    /// The secret is not a JSON object of strings.
    #[error("SECRETS_ARN must hold a JSON object of string values: {0}")]
    Invalid(String),
}

/// Reads every secret of a comma-separated list of ARNs, at once, and merges their settings.
pub async fn load_all(arns: &str) -> Result<HashMap<String, String>, SecretsError> {
    let arns = arns.split(',').map(str::trim).filter(|arn| !arn.is_empty());
    let loaded = futures_util::future::try_join_all(arns.map(load)).await?;
    Ok(loaded.into_iter().flatten().collect())
}

/// Reads secret `arn` and returns its settings.
pub async fn load(arn: &str) -> Result<HashMap<String, String>, SecretsError> {
    let fetch = async {
        Client::new(&super::aws_env::sdk_config(None))
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|error| SecretsError::Unavailable(super::aws_env::describe(&error)))
    };
    let answer = tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| SecretsError::Unavailable(format!("no answer within {FETCH_TIMEOUT:?}")))??;
    let text = answer.secret_string().ok_or_else(|| SecretsError::Invalid("the secret has no string value".into()))?;
    parse(text)
}

/// Parses the secret's JSON; numbers and booleans are accepted and turned into their text.
pub fn parse(text: &str) -> Result<HashMap<String, String>, SecretsError> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(SecretsError::Invalid("not a JSON object".into()));
    };
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Number(number) => Ok((key, number.to_string())),
            Value::Bool(flag) => Ok((key, flag.to_string())),
            _ => Err(SecretsError::Invalid(format!("{key} is not a string"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_object_becomes_settings() {
        let settings =
            parse(r#"{"JWT_SECRET": "s3cret", "DB_MAX_CONNECTIONS": 4, "COOKIE_SECURE": true}"#).expect("valid");
        assert_eq!(settings["JWT_SECRET"], "s3cret");
        assert_eq!(settings["DB_MAX_CONNECTIONS"], "4");
        assert_eq!(settings["COOKIE_SECURE"], "true");
    }

    #[test]
    fn anything_else_is_invalid_without_echoing_values() {
        for text in ["", "s3cret", "[]", r#"{"A": {"nested": "s3cret"}}"#, r#"{"A": null}"#] {
            let error = parse(text).expect_err(text);
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }
}
