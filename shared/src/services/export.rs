//! The GDPR data export (right of access): everything stored about the caller in one document.
//!
//! All reads run in one repeatable-read transaction, so the parts agree with each other even
//! while the account is in use. The export itself is recorded in the audit log.

use serde_json::json;
use uuid::Uuid;

use super::Caller;
use crate::AppState;
use crate::error::ApiError;
use crate::repo::export::{self, AuditRecord, IdentityRecord, LinkRecord, SessionRecord};
use crate::repo::mfa::{self, FactorView};
use crate::repo::user_details::{self, UserDetails};

/// At most this many audit events are exported (the newest); enough for any real account while
/// keeping the document, and the Lambda response, bounded.
pub const MAX_AUDIT_EVENTS: i64 = 10_000;

/// The stored data of one account.
#[derive(Debug, Clone)]
pub struct AccountData {
    /// The account row (without the password hash).
    pub profile: UserDetails,
    /// Linked Google/Apple identities.
    pub identities: Vec<IdentityRecord>,
    /// Every session, ended ones included, newest first.
    pub sessions: Vec<SessionRecord>,
    /// Mailed links that still work (an email change's new address among them), newest first.
    pub live_links: Vec<LinkRecord>,
    /// The newest audit events about the account, newest first.
    pub audit_events: Vec<AuditRecord>,
    /// Second factors (type and dates; never the secret), oldest first.
    pub mfa_factors: Vec<FactorView>,
}

/// Reads everything stored about `user_id`. A 404 if the account vanished meanwhile.
pub async fn export_account(state: &AppState, user_id: Uuid, caller: &Caller) -> Result<AccountData, ApiError> {
    let mut tx = state.db.begin_with("begin isolation level repeatable read").await?;
    let profile = user_details::find(&mut *tx, user_id).await?.ok_or_else(super::admin::user_not_found)?;
    let identities = export::identities(&mut *tx, user_id).await?;
    let sessions = export::sessions(&mut *tx, user_id).await?;
    let live_links = export::live_links(&mut *tx, user_id).await?;
    let audit_events = export::audit_events(&mut *tx, user_id, MAX_AUDIT_EVENTS).await?;
    let mfa_factors = mfa::list_factors(&mut *tx, user_id).await?;
    caller.audit(&mut *tx, "account_exported", Some(user_id), true, json!({})).await?;
    tx.commit().await?;
    Ok(AccountData { profile, identities, sessions, live_links, audit_events, mfa_factors })
}
