//! What SES reports back about delivered mail: a bounce or a complaint, read from the
//! notification SES publishes to the stack's SNS topic (a configuration set's event, or an
//! identity's notification; delivered raw or in SNS's envelope) and handed to the worker through
//! the jobs queue.
//!
//! A permanent ("hard") bounce or a complaint makes the address undeliverable; a transient or
//! undetermined bounce (a full mailbox, a greylisting server) does not, since SES has already
//! retried it and the next mail may well arrive.

use serde::Deserialize;
use serde_json::Value;

/// Why an address no longer gets mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undeliverable {
    /// SES could not deliver, and will never be able to (no such mailbox or domain).
    Bounce,
    /// The recipient marked a mail as spam.
    Complaint,
}

impl Undeliverable {
    /// The stored and shown name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }
}

/// One notification, as far as this service acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailFeedback {
    /// These addresses get no more mail.
    Undeliverable {
        /// Bounce or complaint.
        reason: Undeliverable,
        /// SES's bounce type and subtype, or the complaint's feedback type (no address).
        detail: String,
        /// The recipients concerned, lowercased.
        addresses: Vec<String>,
    },
    /// A transient (full mailbox, greylisting) or undetermined bounce: logged, nothing marked.
    SoftBounce {
        /// SES's bounce type and subtype.
        detail: String,
    },
    /// Another event type the topic carries (a delivery, say): nothing to do.
    Ignored,
}

/// A queue message that is not an SES notification either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an SES notification: {0}")]
pub struct NotFeedback(pub String);

#[derive(Deserialize)]
struct Notification {
    #[serde(alias = "notificationType")]
    #[serde(rename = "eventType")]
    kind: String,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// The plain-text message SES publishes once when an event destination is created, to check it
/// can reach the topic.
const DESTINATION_CHECK: &str = "Successfully validated SNS topic for Amazon SES event publishing";

/// Reads a queue message body as an SES notification.
pub fn parse(body: &str) -> Result<MailFeedback, NotFeedback> {
    if body.trim_start().starts_with(DESTINATION_CHECK) {
        return Ok(MailFeedback::Ignored);
    }
    let value: Value = serde_json::from_str(body).map_err(|error| NotFeedback(error.to_string()))?;
    // SNS's own messages about the subscription, should one ever reach the queue.
    if matches!(value.get("Type").and_then(Value::as_str), Some("SubscriptionConfirmation" | "UnsubscribeConfirmation"))
    {
        return Ok(MailFeedback::Ignored);
    }
    // Without raw message delivery, SNS wraps the notification in its own envelope.
    let value = match (value.get("Type").and_then(Value::as_str), value.get("Message").and_then(Value::as_str)) {
        (Some("Notification"), Some(message)) => {
            serde_json::from_str(message).map_err(|error| NotFeedback(format!("SNS message: {error}")))?
        }
        _ => value,
    };
    let notification: Notification = serde_json::from_value(value).map_err(|error| NotFeedback(error.to_string()))?;
    match (notification.kind.as_str(), notification.bounce, notification.complaint) {
        ("Bounce", Some(bounce), _) if bounce.bounce_type == "Permanent" => Ok(MailFeedback::Undeliverable {
            reason: Undeliverable::Bounce,
            detail: format!("{}/{}", bounce.bounce_type, bounce.bounce_sub_type),
            addresses: addresses(&bounce.bounced_recipients),
        }),
        ("Bounce", Some(bounce), _) => {
            Ok(MailFeedback::SoftBounce { detail: format!("{}/{}", bounce.bounce_type, bounce.bounce_sub_type) })
        }
        // A recipient's mail provider saying a mail was wrongly taken for spam is no complaint.
        ("Complaint", _, Some(complaint)) if complaint.complaint_feedback_type.as_deref() == Some("not-spam") => {
            Ok(MailFeedback::Ignored)
        }
        ("Complaint", _, Some(complaint)) => Ok(MailFeedback::Undeliverable {
            reason: Undeliverable::Complaint,
            detail: complaint.complaint_feedback_type.unwrap_or_else(|| "complaint".into()),
            addresses: addresses(&complaint.complained_recipients),
        }),
        ("Bounce" | "Complaint", _, _) => Err(NotFeedback(format!("a {} without its details", notification.kind))),
        _ => Ok(MailFeedback::Ignored),
    }
}

/// The bare, lowercased addresses (SES may write `Name <address>`), without duplicates.
fn addresses(recipients: &[Recipient]) -> Vec<String> {
    let mut addresses: Vec<String> = recipients
        .iter()
        .map(|recipient| {
            let raw = recipient.email_address.trim();
            let bare = match (raw.rfind('<'), raw.rfind('>')) {
                (Some(open), Some(close)) if open < close => &raw[open + 1..close],
                _ => raw,
            };
            bare.trim().to_lowercase()
        })
        .filter(|address| address.contains('@'))
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bounce(kind: &str, bounce_type: &str, recipients: &[&str]) -> String {
        let recipients: Vec<_> = recipients.iter().map(|address| json!({"emailAddress": address})).collect();
        json!({kind: "Bounce", "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "bouncedRecipients": recipients}, "mail": {}})
            .to_string()
    }

    #[test]
    fn a_hard_bounce_marks_each_recipient_once_in_either_format() {
        for kind in ["eventType", "notificationType"] {
            let feedback = parse(&bounce(kind, "Permanent", &["Jane@Example.com", "Jane <jane@example.com>", "x@y.z"]));
            assert_eq!(
                feedback,
                Ok(MailFeedback::Undeliverable {
                    reason: Undeliverable::Bounce,
                    detail: "Permanent/General".into(),
                    addresses: vec!["jane@example.com".into(), "x@y.z".into()],
                })
            );
        }
    }

    #[test]
    fn soft_bounces_mark_nothing_and_other_events_are_ignored() {
        for kind in ["Transient", "Undetermined"] {
            let detail = format!("{kind}/General");
            assert_eq!(parse(&bounce("eventType", kind, &["a@b.c"])), Ok(MailFeedback::SoftBounce { detail }));
        }
        assert_eq!(parse(r#"{"eventType":"Delivery","delivery":{},"mail":{}}"#), Ok(MailFeedback::Ignored));
        let not_spam = json!({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "a@b.c"}], "complaintFeedbackType": "not-spam"}});
        assert_eq!(parse(&not_spam.to_string()), Ok(MailFeedback::Ignored));
    }

    #[test]
    fn ses_checking_its_destination_and_snss_subscription_messages_are_ignored() {
        assert_eq!(
            parse("Successfully validated SNS topic for Amazon SES event publishing."),
            Ok(MailFeedback::Ignored)
        );
        let confirmation = json!({"Type": "SubscriptionConfirmation", "Message": "You have chosen to subscribe", "SubscribeURL": "https://sns.invalid/"});
        assert_eq!(parse(&confirmation.to_string()), Ok(MailFeedback::Ignored));
    }

    #[test]
    fn a_complaint_inside_snss_envelope_is_read() {
        let complaint = json!({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "a@b.c"}], "complaintFeedbackType": "abuse"}});
        let envelope = json!({"Type": "Notification", "MessageId": "m", "Message": complaint.to_string()}).to_string();
        assert_eq!(
            parse(&envelope),
            Ok(MailFeedback::Undeliverable {
                reason: Undeliverable::Complaint,
                detail: "abuse".into(),
                addresses: vec!["a@b.c".into()]
            })
        );
    }

    #[test]
    fn anything_else_is_not_feedback() {
        for body in [
            "",
            "[]",
            "{}",
            r#"{"job":"send-email"}"#,
            r#"{"eventType":"Bounce"}"#,
            r#"{"Type":"Notification","Message":"x"}"#,
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
    }
}
