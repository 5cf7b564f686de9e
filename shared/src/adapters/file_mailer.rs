//! The local mailer: one `.eml` file per message in `MAIL_DIR`, readable with any mail client
//! or `cat`. Files are written to a temporary name and renamed, so a reader never sees half a mail.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use super::mime::to_rfc5322;
use crate::mail::Mail;
use crate::ports::{MailError, Mailer};

/// Writes mail into a directory.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: String,
}

impl FileMailer {
    /// A mailer writing into `dir` (created on first send) with sender `from`.
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self { dir: dir.into(), from: from.into() }
    }
}

impl Mailer for FileMailer {
    fn send<'a>(
        &'a self,
        mail: &'a Mail,
        message_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async move {
            let bytes = to_rfc5322(mail, &self.from, message_id)?;
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
            let name = format!("{stamp}-{message_id}.eml");
            let transport = |e: std::io::Error| MailError::Transport(e.to_string());
            tokio::fs::create_dir_all(&self.dir).await.map_err(transport)?;
            let partial = self.dir.join(format!(".{name}.partial"));
            tokio::fs::write(&partial, bytes).await.map_err(transport)?;
            tokio::fs::rename(&partial, self.dir.join(name)).await.map_err(transport)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A realistic token: long enough to push the link past 76 characters.
    const TOKEN: &str = "q2Vt3Jx9Lr0aB7yK_d-8fGhUe1WsZcPoNmIvTlRkQjA";

    #[tokio::test]
    async fn writes_one_rfc5322_file_with_both_parts() {
        let dir = std::env::temp_dir().join(format!("file-mailer-{}", uuid::Uuid::new_v4()));
        let mailer = FileMailer::new(&dir, "Serverless Auth <noreply@example.com>");
        let mail = Mail {
            to: "jane@example.com".into(),
            subject: "Verify your email address".into(),
            text: format!("Open this link:\nhttp://localhost:3000/verify-email?token={TOKEN}\n"),
            html: format!("<p><a href=\"http://localhost:3000/verify-email?token={TOKEN}\">Verify</a></p>"),
        };

        mailer.send(&mail, "4f1c0e7e-1").await.expect("sent");

        let files: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
        assert_eq!(files.len(), 1);
        let eml = std::fs::read_to_string(&files[0]).expect("read");
        assert!(eml.contains("To: jane@example.com\r\n"), "{eml}");
        assert!(eml.contains("Subject: Verify your email address\r\n"));
        assert!(eml.contains("Message-ID: <4f1c0e7e-1@example.com>\r\n"));
        assert!(eml.contains("multipart/alternative"));
        assert!(eml.contains("text/plain") && eml.contains("text/html"));
        assert!(eml.contains(&format!("http://localhost:3000/verify-email?token={TOKEN}\r\n")), "links stay unbroken");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[tokio::test]
    async fn a_bad_recipient_is_a_build_error() {
        let mailer = FileMailer::new(std::env::temp_dir(), "noreply@example.com");
        let mail = Mail { to: "not an address".into(), subject: "s".into(), text: "t".into(), html: "h".into() };
        assert!(matches!(mailer.send(&mail, "id").await, Err(MailError::Build(_))));
    }
}
