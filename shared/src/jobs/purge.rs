//! `purge-deleted-accounts`: hard-deletes the accounts whose grace period ended, with all their
//! dependent rows, and writes one audit entry per account that holds no personal data, and the
//! `account.purged` event (its id only) for other systems to erase their copies.

use std::time::Instant;

use serde_json::json;

use super::{BATCH_SIZE, JobError, Report, outbox_sweep, time_left};
use crate::AppState;
use crate::domain::events::{AuthEvent, EventType};
use crate::repo::audit::{self, AuditEvent};
use crate::repo::deletion::{self as repo, Purged};

/// Writes the audit entry and the `account.purged` event of a purged account; `by` says what
/// purged it (`scheduled`: the grace period ended; `operator`: the operator's `purge-now`).
pub(crate) async fn announce(tx: &mut sqlx::PgConnection, account: &Purged, by: &str) -> Result<(), sqlx::Error> {
    // No id, address or name: the entry proves that a purge happened and when it was due.
    let entry = AuditEvent {
        event: "account_purged",
        user_id: None,
        ip: None,
        user_agent: None,
        success: true,
        details: json!({
            "requested_at": account.deletion_requested_at,
            "scheduled_for": account.deletion_scheduled_for,
            "by": by,
        }),
    };
    let purged = AuthEvent::new(EventType::AccountPurged, account.id, json!({}), chrono::Utc::now());
    audit::record(&mut *tx, &entry, Some(&purged)).await
}

/// Purges due accounts in batches until none is left or the deadline is near.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    report.add("accounts_purged", 0);
    loop {
        if !time_left(stop_at) {
            report.complete = false;
            return Ok(());
        }
        let mut tx = state.db.begin().await?;
        let purged = repo::purge_due(&mut tx, BATCH_SIZE, outbox_sweep::GIVE_UP_HOURS).await?;
        for account in &purged {
            announce(&mut tx, account, "scheduled").await?;
        }
        tx.commit().await?;
        report.add("accounts_purged", purged.len() as u64);
        if (purged.len() as i64) < BATCH_SIZE {
            return Ok(());
        }
    }
}
