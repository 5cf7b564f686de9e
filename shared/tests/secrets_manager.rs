//! Loading settings from Secrets Manager against moto (scripts/test starts moto and sets
//! AWS_ENDPOINT_URL): the secret's JSON becomes settings; a missing secret is a clear error.
#![cfg(feature = "secrets")]

use shared::adapters::secrets_manager::{SecretsError, load, load_all};

async fn client() -> aws_sdk_secretsmanager::Client {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let config = shared::adapters::aws_env::sdk_config(None);
    aws_sdk_secretsmanager::Client::new(&config)
}

#[tokio::test]
async fn the_secrets_json_becomes_settings() {
    let client = client().await;
    let created = client
        .create_secret()
        .name(format!("serverless-auth-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(r#"{"JWT_SECRET": "from-secrets-manager-0123456789abcdef", "DB_MAX_CONNECTIONS": 3}"#)
        .send()
        .await
        .expect("create secret");

    let settings = load(created.arn().expect("arn")).await.expect("loaded");

    assert_eq!(settings["JWT_SECRET"], "from-secrets-manager-0123456789abcdef");
    assert_eq!(settings["DB_MAX_CONNECTIONS"], "3");
}

async fn secret(client: &aws_sdk_secretsmanager::Client, json: &str) -> String {
    let created = client
        .create_secret()
        .name(format!("serverless-auth-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(json)
        .send()
        .await
        .expect("create secret");
    created.arn().expect("arn").to_owned()
}

#[tokio::test]
async fn several_secrets_merge_and_a_later_one_wins() {
    let client = client().await;
    let settings = secret(&client, r#"{"JWT_SECRET": "generated-0123456789abcdef", "LOG_LEVEL": "info"}"#).await;
    let mfa_key =
        secret(&client, r#"{"MFA_ENCRYPTION_KEY": "k-0123456789abcdef0123456789abcdef", "LOG_LEVEL": "debug"}"#).await;

    let merged = load_all(&format!("{settings}, {mfa_key}")).await.expect("loaded");

    assert_eq!(merged["JWT_SECRET"], "generated-0123456789abcdef");
    assert_eq!(merged["MFA_ENCRYPTION_KEY"], "k-0123456789abcdef0123456789abcdef");
    assert_eq!(merged["LOG_LEVEL"], "debug");
    let one_missing =
        load_all(&format!("{settings},arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")).await;
    assert!(matches!(one_missing, Err(SecretsError::Unavailable(_))), "{one_missing:?}");
}

#[tokio::test]
async fn a_missing_or_malformed_secret_is_a_clear_error() {
    let client = client().await;
    let missing = load("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf").await;
    let created = client
        .create_secret()
        .name(format!("serverless-auth-bad-{}", uuid::Uuid::new_v4().simple()))
        .secret_string("not json at all")
        .send()
        .await
        .expect("create secret");
    let malformed = load(created.arn().expect("arn")).await;

    assert!(matches!(missing, Err(SecretsError::Unavailable(_))), "{missing:?}");
    assert!(matches!(malformed, Err(SecretsError::Invalid(_))), "{malformed:?}");
}
