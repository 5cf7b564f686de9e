//! The SES adapter against moto's SES (scripts/test starts moto and sets AWS_ENDPOINT_URL).
#![cfg(feature = "aws")]

use shared::adapters::ses::SesMailer;
use shared::mail::Mail;
use shared::ports::{MailError, Mailer};

async fn ses() -> aws_sdk_ses::Client {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let config = shared::adapters::aws_env::sdk_config(None);
    aws_sdk_ses::Client::new(&config)
}

async fn sent_so_far(client: &aws_sdk_ses::Client) -> f64 {
    client.get_send_quota().send().await.expect("quota").sent_last24_hours()
}

fn mail() -> Mail {
    Mail {
        to: "jane@example.com".into(),
        subject: "Verify your email address".into(),
        text: "http://localhost:3000/verify-email?token=abc".into(),
        html: "<a href=\"http://localhost:3000/verify-email?token=abc\">verify</a>".into(),
    }
}

#[tokio::test]
async fn a_verified_sender_delivers_through_ses() {
    let client = ses().await;
    client.verify_email_identity().email_address("noreply@verified.example").send().await.expect("verify identity");
    let before = sent_so_far(&client).await;

    SesMailer::new("Serverless Auth <noreply@verified.example>").send(&mail(), "message-1").await.expect("sent");

    assert_eq!(sent_so_far(&client).await, before + 1.0);
}

#[tokio::test]
async fn an_unverified_sender_is_a_transport_error() {
    let mailer = SesMailer::new("noreply@unverified.example");

    let outcome = mailer.send(&mail(), "message-2").await;

    assert!(matches!(outcome, Err(MailError::Transport(_))), "{outcome:?}");
}
