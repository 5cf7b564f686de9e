//! The worker binary's cold start: a secret that cannot be read stops it at once with one clear
//! line (scripts/test points AWS_ENDPOINT_URL at moto, where the secret does not exist).

use std::process::Command;

#[test]
fn an_unreadable_secret_stops_the_cold_start_with_one_clear_line() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("SECRETS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
        .output()
        .expect("run the worker");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("configuration error: SECRETS_ARN could not be read"), "{stderr}");
}

#[test]
fn an_unreachable_secrets_service_fails_within_seconds() {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("SECRETS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:any-AbCdEf")
        .output()
        .expect("run the worker");

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("configuration error: SECRETS_ARN could not be read"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
