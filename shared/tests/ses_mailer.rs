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

/// A stand-in for SES's endpoint that records each request's form body and accepts it.
async fn recording_ses() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::sync::{Arc, Mutex};
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let recorded = recorded.clone();
        async move {
            recorded.lock().expect("lock").push(body);
            (
                [("content-type", "text/xml")],
                "<SendRawEmailResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\"><SendRawEmailResult>\
                 <MessageId>m-1</MessageId></SendRawEmailResult><ResponseMetadata><RequestId>r-1</RequestId>\
                 </ResponseMetadata></SendRawEmailResponse>",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), bodies)
}

#[tokio::test]
async fn mail_goes_out_with_the_configuration_set_that_reports_bounces() {
    let (endpoint, bodies) = recording_ses().await;

    SesMailer::new("noreply@verified.example")
        .with_configuration_set(Some("auth-feedback".into()))
        .with_endpoint_url(&endpoint)
        .send(&mail(), "message-3")
        .await
        .expect("sent with the set");
    SesMailer::new("noreply@verified.example")
        .with_endpoint_url(&endpoint)
        .send(&mail(), "message-4")
        .await
        .expect("sent");

    let bodies = bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies[0].contains("Action=SendRawEmail") && bodies[0].contains("ConfigurationSetName=auth-feedback"),
        "{}",
        bodies[0]
    );
    assert!(!bodies[1].contains("ConfigurationSetName"), "no set configured, none sent");
}
