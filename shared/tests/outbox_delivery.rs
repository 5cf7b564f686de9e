//! Outbox delivery against a real Postgres: sent exactly once, scrubbed after sending, kept
//! for a retry when the mailer fails.

use std::future::Future;
use std::pin::Pin;

use shared::adapters::file_mailer::FileMailer;
use shared::jobs::send_email::{Delivery, DeliveryError, deliver};
use shared::mail::Mail;
use shared::ports::{MailError, Mailer};
use shared::repo::outbox;
use sqlx::PgPool;

fn mail() -> Mail {
    Mail {
        to: "jane@example.com".into(),
        subject: "Verify your email address".into(),
        text: "http://localhost:3000/verify-email?token=secret-token".into(),
        html: "<a href=\"http://localhost:3000/verify-email?token=secret-token\">verify</a>".into(),
    }
}

#[derive(Debug)]
struct BrokenMailer;

impl Mailer for BrokenMailer {
    fn send<'a>(&'a self, _: &'a Mail, _: &'a str) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async { Err(MailError::Transport("SES throttled".into())) })
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mail_is_delivered_once_and_its_body_scrubbed(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("outbox-{}", uuid::Uuid::new_v4()));
    let mailer = FileMailer::new(&dir, "noreply@example.com");
    let id = outbox::insert_mail(&pool, &mail()).await.expect("queued");

    assert_eq!(deliver(&pool, &mailer, id).await.expect("first"), Delivery::Sent);
    assert_eq!(deliver(&pool, &mailer, id).await.expect("second"), Delivery::Skipped);

    assert_eq!(std::fs::read_dir(&dir).expect("mail dir").count(), 1);
    let payload: serde_json::Value =
        sqlx::query_scalar("select payload from outbox where id = $1").bind(id).fetch_one(&pool).await.expect("row");
    assert!(!payload.to_string().contains("secret-token"), "{payload}");
    assert_eq!(payload["to"], "jane@example.com");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_failed_delivery_stays_queued_with_the_error(pool: PgPool) {
    let id = outbox::insert_mail(&pool, &mail()).await.expect("queued");

    let outcome = deliver(&pool, &BrokenMailer, id).await;

    assert!(matches!(outcome, Err(DeliveryError::Mail(_))));
    let (sent, attempts, error): (Option<chrono::DateTime<chrono::Utc>>, i32, Option<String>) =
        sqlx::query_as("select sent_at, attempts, last_error from outbox where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(sent.is_none());
    assert_eq!(attempts, 1);
    assert_eq!(error.as_deref(), Some("mail could not be sent: SES throttled"));
}
