//! What the operator's commands (`migrate revoke-sessions`, `purge-now`, `create-superuser`) do
//! to accounts: the same rules and the same audit trail and auth events as the API's changes,
//! with no caller address (the entries say `operator` instead).

use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::domain::events::from_audit;
use crate::jobs::{outbox_sweep, purge};
use crate::repo::audit::{self, AuditEvent};
use crate::repo::deletion::{self, PurgeNow};
use crate::repo::{sessions, users};

/// Why the operator's sessions end: shown in `GET /auth/sessions` history and the audit log.
pub const REVOKED_BY_OPERATOR_REASON: &str = "revoked_by_operator";

/// The user agent recorded on the operator's audit entries.
const OPERATOR: &str = "operator";

/// Ends every session of the account with `email` (already normalised); `None` when there is no
/// such account, else how many sessions ended. Access tokens stop working at their next check.
pub async fn revoke_sessions(state: &AppState, email: &str) -> Result<Option<u64>, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    let Some(user) = users::find_flags_by_email(&mut *tx, email).await? else {
        return Ok(None);
    };
    let revoked = sessions::revoke_all_except(&mut *tx, user.id, None, REVOKED_BY_OPERATOR_REASON).await?;
    record(&mut tx, "operator_sessions_revoked", user.id, json!({ "revoked": revoked })).await?;
    tx.commit().await?;
    Ok(Some(revoked))
}

/// Purges the account with `email` now, grace period or not, as the scheduled purge would.
pub async fn purge_now(state: &AppState, email: &str) -> Result<PurgeNow, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    let outcome = deletion::purge_now(&mut tx, email, outbox_sweep::GIVE_UP_HOURS).await?;
    match &outcome {
        PurgeNow::Purged(account) => {
            purge::announce(&mut tx, account, OPERATOR).await?;
            tx.commit().await?;
        }
        PurgeNow::NotFound | PurgeNow::LastSuperuser => tx.rollback().await?,
    }
    Ok(outcome)
}

/// What [`create_superuser`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuperuserCreation {
    /// Created, audited and announced.
    Created(Uuid),
    /// A superuser has that address already; nothing changed.
    AlreadySuperuser,
    /// An ordinary account has that address: it is never promoted this way (a superuser can,
    /// through the admin API).
    OrdinaryAccount,
    /// Another account has that username.
    UsernameTaken,
}

/// Creates a verified superuser, its audit entry and its `user.registered` event in one
/// transaction, so none exists without the others.
pub async fn create_superuser(
    state: &AppState,
    email: &str,
    username: &str,
    password_hash: &str,
) -> Result<SuperuserCreation, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    if let Some(existing) = users::find_flags_by_email(&mut *tx, email).await? {
        return Ok(if existing.is_superuser {
            SuperuserCreation::AlreadySuperuser
        } else {
            SuperuserCreation::OrdinaryAccount
        });
    }
    let Some(id) = users::insert_superuser(&mut *tx, email, username, password_hash).await? else {
        // The insert met a unique constraint: the username (the address was checked above,
        // unless it was registered this instant, which the next run reports).
        return Ok(SuperuserCreation::UsernameTaken);
    };
    record(&mut tx, "operator_superuser_created", id, json!({})).await?;
    tx.commit().await?;
    Ok(SuperuserCreation::Created(id))
}

async fn record(
    tx: &mut sqlx::PgConnection,
    event: &'static str,
    user_id: Uuid,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let announced = from_audit(event, true, Some(user_id), &details, chrono::Utc::now());
    let entry =
        AuditEvent { event, user_id: Some(user_id), ip: None, user_agent: Some(OPERATOR), success: true, details };
    audit::record(&mut *tx, &entry, announced.as_ref()).await
}
