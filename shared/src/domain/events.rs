//! Auth events for other systems: what happened to an account, published to EventBridge (a file
//! per event locally) so that a CRM, a data warehouse or a welcome-mail service can react without
//! polling. They are written to the outbox in the transaction of the change (a rolled-back change
//! publishes nothing) and sent at least once; `event_id` is stable across retries, for consumers
//! to drop duplicates. No event carries a password, token, code, IP address or user agent.
//!
//! Most events are the successful audit entries of the same change, translated by
//! [`from_audit`]; the schemas are in `docs/events/`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Version of every event's schema; a change that could break a consumer raises it.
pub const SCHEMA_VERSION: u32 = 1;

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An account was created by registration (not by a registration of a taken address).
    UserRegistered,
    /// An account's address was verified.
    UserVerified,
    /// A session was opened (`aal`, `amr` say how).
    UserLogin,
    /// One or more sessions were ended before their time (logout, revocation, reuse detected).
    SessionRevoked,
    /// The owner changed the password.
    PasswordChanged,
    /// The password was reset through a mailed link.
    PasswordReset,
    /// The account's address changed (or an earlier change was undone).
    EmailChanged,
    /// A deletion was confirmed; the account will be purged at `scheduled_for`.
    AccountDeletionScheduled,
    /// A pending deletion was cancelled.
    AccountDeletionCancelled,
    /// The account and its data were erased.
    AccountPurged,
    /// A second factor was turned on.
    MfaEnabled,
    /// The second factor was turned off (by the owner, or by an administrator's reset).
    MfaDisabled,
}

impl EventType {
    /// Every kind, for documentation and tests.
    pub const ALL: [Self; 12] = [
        Self::UserRegistered,
        Self::UserVerified,
        Self::UserLogin,
        Self::SessionRevoked,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::EmailChanged,
        Self::AccountDeletionScheduled,
        Self::AccountDeletionCancelled,
        Self::AccountPurged,
        Self::MfaEnabled,
        Self::MfaDisabled,
    ];

    /// The wire name (EventBridge `detail-type`, the `type` field).
    pub const fn name(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::UserVerified => "user.verified",
            Self::UserLogin => "user.login",
            Self::SessionRevoked => "session.revoked",
            Self::PasswordChanged => "password.changed",
            Self::PasswordReset => "password.reset",
            Self::EmailChanged => "email.changed",
            Self::AccountDeletionScheduled => "account.deletion_scheduled",
            Self::AccountDeletionCancelled => "account.deletion_cancelled",
            Self::AccountPurged => "account.purged",
            Self::MfaEnabled => "mfa.enabled",
            Self::MfaDisabled => "mfa.disabled",
        }
    }
}

/// An event as stored in the outbox and published (EventBridge's `detail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthEvent {
    /// Stable across retries: consumers de-duplicate on it.
    pub event_id: Uuid,
    /// [`EventType::name`].
    #[serde(rename = "type")]
    pub kind: String,
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// When the change was made (read in its transaction, before the commit).
    pub occurred_at: DateTime<Utc>,
    /// The account concerned.
    pub user_id: Uuid,
    /// What else a consumer needs; per type, in `docs/events/`.
    pub data: Value,
}

impl AuthEvent {
    /// A new event of `kind` about `user_id`, now.
    pub fn new(kind: EventType, user_id: Uuid, data: Value, now: DateTime<Utc>) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            kind: kind.name().to_owned(),
            version: SCHEMA_VERSION,
            occurred_at: now,
            user_id,
            data,
        }
    }
}

/// The event an audit entry announces, if any: successful changes to an account (and a refresh
/// token's reuse, which ends its session). Administrators' entries name the administrator as
/// their user; the event names the account acted on.
pub fn from_audit(
    event: &str,
    success: bool,
    user_id: Option<Uuid>,
    details: &Value,
    now: DateTime<Utc>,
) -> Option<AuthEvent> {
    let field = |name: &str| details.get(name).cloned().unwrap_or(Value::Null);
    let target = || details.get("target_user_id").and_then(Value::as_str).and_then(|id| id.parse().ok());
    let (kind, user, data) = match (event, success) {
        ("register", true) => (EventType::UserRegistered, user_id?, json!({})),
        ("verify_email", true) => (EventType::UserVerified, user_id?, json!({})),
        // The first step of a sign-in that still needs a second factor opens no session.
        ("login", true) if details.get("session_id").is_some() => (
            EventType::UserLogin,
            user_id?,
            json!({"session_id": field("session_id"), "aal": field("aal"), "amr": field("amr")}),
        ),
        ("logout", true) => {
            (EventType::SessionRevoked, user_id?, json!({"session_id": field("session_id"), "reason": "logout"}))
        }
        ("session_revoked", true) => (
            EventType::SessionRevoked,
            user_id?,
            json!({"session_id": field("session_id"), "reason": "revoked_by_user"}),
        ),
        ("sessions_revoked", true) if count(details, "revoked_count") > 0 => (
            EventType::SessionRevoked,
            user_id?,
            json!({"revoked_count": field("revoked_count"), "reason": "revoked_by_user"}),
        ),
        // A failure for the caller, but the session it ended is a change worth announcing.
        ("refresh_token_reuse", _) if details.get("session_revoked") == Some(&Value::Bool(true)) => (
            EventType::SessionRevoked,
            user_id?,
            json!({"session_id": field("session_id"), "reason": "refresh_token_reuse"}),
        ),
        ("admin_sessions_revoked", true) if count(details, "revoked") > 0 => (
            EventType::SessionRevoked,
            target()?,
            json!({"revoked_count": field("revoked"), "reason": "revoked_by_admin"}),
        ),
        ("operator_sessions_revoked", true) if count(details, "revoked") > 0 => (
            EventType::SessionRevoked,
            user_id?,
            json!({"revoked_count": field("revoked"), "reason": "revoked_by_operator"}),
        ),
        ("operator_superuser_created", true) => (EventType::UserRegistered, user_id?, json!({})),
        ("password_change", true) => (EventType::PasswordChanged, user_id?, json!({})),
        ("password_reset", true) => (EventType::PasswordReset, user_id?, json!({})),
        ("email_change", true) => (EventType::EmailChanged, user_id?, json!({"undone": false})),
        ("email_change_undone", true) => (EventType::EmailChanged, user_id?, json!({"undone": true})),
        ("deletion_confirmed", true) => {
            (EventType::AccountDeletionScheduled, user_id?, json!({"scheduled_for": field("scheduled_for")}))
        }
        // Only a confirmed deletion was announced as scheduled; cancelling a mere request changes
        // nothing another system knows of.
        ("deletion_cancelled", true) if details.get("was_confirmed") == Some(&Value::Bool(true)) => {
            (EventType::AccountDeletionCancelled, user_id?, json!({}))
        }
        ("mfa_enabled", true) => (EventType::MfaEnabled, user_id?, json!({"factor_type": "totp"})),
        ("mfa_disabled", true) => (EventType::MfaDisabled, user_id?, json!({"by": "user"})),
        ("admin_mfa_reset", true) if details.get("had_active_factor") == Some(&Value::Bool(true)) => {
            (EventType::MfaDisabled, target()?, json!({"by": "admin"}))
        }
        _ => return None,
    };
    Some(AuthEvent::new(kind, user, data, now))
}

/// A count in `details`, 0 when absent.
fn count(details: &Value, name: &str) -> u64 {
    details.get(name).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successful_changes_become_events_and_attempts_do_not() {
        let (user, now) = (Uuid::new_v4(), Utc::now());
        let login = from_audit("login", true, Some(user), &json!({"session_id": "s", "aal": "aal1"}), now);
        assert_eq!(login.map(|event| (event.kind, event.user_id)), Some(("user.login".to_owned(), user)));
        assert_eq!(from_audit("login", false, Some(user), &json!({"reason": "bad_credentials"}), now), None);
        assert_eq!(from_audit("login", true, Some(user), &json!({"mfa_required": true}), now), None);
        assert_eq!(from_audit("register", false, Some(user), &json!({"reason": "email_exists"}), now), None);
        assert_eq!(from_audit("account_exported", true, Some(user), &json!({}), now), None);
        let unconfirmed = json!({"was_confirmed": false});
        assert_eq!(from_audit("deletion_cancelled", true, Some(user), &unconfirmed, now), None);
        let already_revoked = json!({"session_id": "s", "session_revoked": false});
        assert_eq!(from_audit("refresh_token_reuse", false, Some(user), &already_revoked, now), None);
        let revoked = json!({"session_id": "s", "session_revoked": true});
        assert!(from_audit("refresh_token_reuse", false, Some(user), &revoked, now).is_some());
    }

    #[test]
    fn an_administrators_action_is_about_the_account_acted_on() {
        let (admin, target) = (Uuid::new_v4(), Uuid::new_v4());
        let details = json!({"target_user_id": target, "revoked": 2});
        let event = from_audit("admin_sessions_revoked", true, Some(admin), &details, Utc::now()).expect("event");
        assert_eq!((event.user_id, event.data["revoked_count"].clone()), (target, json!(2)));
        let details = json!({"target_user_id": target, "had_active_factor": true});
        let reset = from_audit("admin_mfa_reset", true, Some(admin), &details, Utc::now());
        assert_eq!(reset.map(|event| (event.kind, event.user_id)), Some(("mfa.disabled".to_owned(), target)));
        let unfinished = json!({"target_user_id": target, "had_active_factor": false});
        assert_eq!(from_audit("admin_mfa_reset", true, Some(admin), &unfinished, Utc::now()), None);
        let nothing = json!({"target_user_id": target, "revoked": 0});
        assert_eq!(from_audit("admin_sessions_revoked", true, Some(admin), &nothing, Utc::now()), None);
    }

    #[test]
    fn every_type_has_a_schema_in_the_docs() {
        for kind in EventType::ALL {
            let path = format!("{}/../docs/events/{}.schema.json", env!("CARGO_MANIFEST_DIR"), kind.name());
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path}")))
                    .unwrap_or_else(|_| panic!("{path} is not JSON"));
            assert_eq!(schema["properties"]["type"]["const"], kind.name(), "{path}");
        }
    }
}
