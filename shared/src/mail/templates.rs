//! Mail templates: one subject, text and HTML file per message kind, compiled into the binary.
//!
//! Placeholders are `{{name}}`. Values are HTML-escaped in the HTML part, so a username cannot
//! inject markup into a mail. A placeholder without a value is an error, not an empty string.

use super::Mail;

/// The messages the service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Link to confirm a new account's email address.
    VerifyEmail,
    /// Link to choose a new password.
    ResetPassword,
    /// Notice that the password changed (no link).
    PasswordChanged,
    /// Link to confirm an account-deletion request.
    ConfirmDeletion,
    /// Notice that the account will be purged on `deletion_date`.
    DeletionScheduled,
    /// Reminder `days_left` days before the purge.
    DeletionReminder,
    /// Notice that a pending deletion was cancelled.
    DeletionCancelled,
    /// Notice to an account's owner that someone tried to register with its address; the
    /// registration itself answers as if it succeeded, so the address is not revealed.
    AccountExists,
    /// Link, mailed to the new address, that confirms an email change.
    ConfirmEmailChange,
    /// Notice to an address's owner that another account asked to move to it; nothing changed.
    EmailChangeAddressTaken,
    /// Notice to the old address that the account moved to `new_email`, with an undo link.
    EmailChanged,
    /// Passwordless sign-in: a link and a 6-digit `code`, valid `valid_minutes`.
    MagicLink,
    /// An administrator created an account: a link to choose its password, valid `valid_days`.
    Invitation,
    /// Notice that two-factor authentication was turned on.
    MfaEnabled,
    /// Notice that the owner removed their TOTP factor.
    MfaDisabled,
    /// Notice that an administrator removed the account's second factors and signed it out.
    MfaReset,
    /// Notice that a recovery code was used to sign in; `codes_left` remain.
    RecoveryCodeUsed,
}

/// The files of one template, by its file stem.
macro_rules! files {
    ($stem:literal) => {
        Files {
            subject: include_str!(concat!("../../templates/mail/", $stem, ".subject")),
            text: include_str!(concat!("../../templates/mail/", $stem, ".txt")),
            html: include_str!(concat!("../../templates/mail/", $stem, ".html")),
        }
    };
}

struct Files {
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

impl Template {
    fn files(self) -> Files {
        match self {
            Self::VerifyEmail => files!("verify_email"),
            Self::ResetPassword => files!("reset_password"),
            Self::PasswordChanged => files!("password_changed"),
            Self::ConfirmDeletion => files!("confirm_deletion"),
            Self::DeletionScheduled => files!("deletion_scheduled"),
            Self::DeletionReminder => files!("deletion_reminder"),
            Self::DeletionCancelled => files!("deletion_cancelled"),
            Self::AccountExists => files!("account_exists"),
            Self::ConfirmEmailChange => files!("confirm_email_change"),
            Self::EmailChangeAddressTaken => files!("email_change_address_taken"),
            Self::EmailChanged => files!("email_changed"),
            Self::MagicLink => files!("magic_link"),
            Self::Invitation => files!("invitation"),
            Self::MfaEnabled => files!("mfa_enabled"),
            Self::MfaDisabled => files!("mfa_disabled"),
            Self::MfaReset => files!("mfa_reset"),
            Self::RecoveryCodeUsed => files!("recovery_code_used"),
        }
    }
}

/// A template referenced a placeholder no value was given for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("mail template placeholder {{{{{0}}}}} has no value")]
pub struct MissingValue(pub String);

/// Renders `template` for `to` with `values` (`(name, value)` pairs).
pub fn render(template: Template, to: &str, values: &[(&str, &str)]) -> Result<Mail, MissingValue> {
    let files = template.files();
    Ok(Mail {
        to: to.to_owned(),
        subject: fill(files.subject.trim(), values, false)?,
        text: fill(files.text, values, false)?,
        html: fill(files.html, values, true)?,
    })
}

fn fill(source: &str, values: &[(&str, &str)], html: bool) -> Result<String, MissingValue> {
    let mut out = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = after[..end].trim();
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| MissingValue(name.to_owned()))?;
        if html {
            escape_html(value, &mut out);
        } else {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(username: &str) -> Vec<(&'static str, &str)> {
        vec![
            ("username", username),
            ("project_name", "Serverless Auth"),
            ("link", "http://localhost:3000/verify-email?token=abc"),
            ("valid_hours", "24"),
        ]
    }

    #[test]
    fn verify_email_renders_every_part_with_the_link() {
        let mail = render(Template::VerifyEmail, "jane@example.com", &values("jane")).expect("renders");
        assert_eq!(mail.subject, "Verify your email address");
        assert!(mail.text.contains("http://localhost:3000/verify-email?token=abc"));
        assert!(mail.html.contains(r#"href="http://localhost:3000/verify-email?token=abc""#));
        assert!(!mail.text.contains("{{") && !mail.html.contains("{{"));
    }

    #[test]
    fn values_are_escaped_in_html_but_not_in_text() {
        let mail = render(Template::VerifyEmail, "x@example.com", &values("<b>jane</b>")).expect("renders");
        assert!(mail.html.contains("&lt;b&gt;jane&lt;/b&gt;"));
        assert!(mail.text.contains("<b>jane</b>"));
    }

    #[test]
    fn deletion_mails_render_their_date_and_days() {
        let values = [
            ("username", "jane"),
            ("project_name", "Serverless Auth"),
            ("deletion_date", "2026-12-03 14:00 UTC"),
            ("days_left", "3"),
        ];
        for template in [Template::DeletionScheduled, Template::DeletionReminder, Template::DeletionCancelled] {
            let mail = render(template, "jane@example.com", &values).expect("renders");
            assert!(!mail.text.contains("{{") && !mail.html.contains("{{") && !mail.subject.contains("{{"));
        }
        let reminder = render(Template::DeletionReminder, "jane@example.com", &values).expect("renders");
        assert_eq!(reminder.subject, "Reminder: your account will be deleted in 3 day(s)");
        assert!(reminder.text.contains("2026-12-03 14:00 UTC"));
    }

    #[test]
    fn the_account_exists_notice_needs_only_the_name_and_project() {
        let mail = render(Template::AccountExists, "jane@example.com", &values("jane")[..2]).expect("renders");
        assert_eq!(mail.subject, "Someone tried to register with your email address");
        assert!(mail.text.contains("Hello jane,") && !mail.html.contains("{{"));
    }

    #[test]
    fn a_missing_value_is_an_error() {
        let error = render(Template::VerifyEmail, "x@example.com", &[("username", "jane")]).expect_err("missing");
        assert_eq!(error, MissingValue("project_name".into()));
    }
}
