//! SES's bounce and complaint reports: the worker marks the addresses undeliverable (so their
//! mail is dropped, not sent), and a superuser can let mail go to an address again once its owner
//! has fixed the mailbox.

use serde_json::json;
use uuid::Uuid;

use super::Caller;
use super::admin::user_not_found;
use crate::AppState;
use crate::domain::mail_feedback::{MailFeedback, Undeliverable};
use crate::error::{ApiError, ErrorCode};
use crate::ports::Metric;
use crate::repo::{undeliverable, user_details};

/// Acts on one notification from SES.
pub async fn record(state: &AppState, feedback: &MailFeedback) -> Result<(), sqlx::Error> {
    match feedback {
        MailFeedback::Undeliverable { reason, detail, addresses } => {
            let new = undeliverable::mark(&state.db, addresses, reason.name(), detail).await?;
            let metric = match reason {
                Undeliverable::Bounce => Metric::MailBounced,
                Undeliverable::Complaint => Metric::MailComplained,
            };
            for _ in addresses {
                state.metrics.count(metric);
            }
            // No address in the log: the admin user view shows which account is concerned.
            tracing::info!(
                reason = reason.name(),
                detail,
                addresses = addresses.len(),
                new,
                "mail reported undeliverable"
            );
        }
        MailFeedback::SoftBounce { detail } => {
            tracing::info!(detail, "soft bounce reported; the address stays deliverable");
        }
        MailFeedback::Ignored => {}
    }
    Ok(())
}

/// Lets mail go to account `target`'s address again, on behalf of superuser `admin_id`.
pub async fn clear_by_admin(state: &AppState, admin_id: Uuid, target: Uuid, caller: &Caller) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let user = user_details::find(&mut *tx, target).await?.ok_or_else(user_not_found)?;
    if !undeliverable::clear(&mut *tx, &user.email).await? {
        return Err(ApiError::refused(ErrorCode::NotFound, "The address is not marked undeliverable"));
    }
    caller
        .audit(&mut *tx, "admin_undeliverable_cleared", Some(admin_id), true, json!({ "target_user_id": target }))
        .await?;
    tx.commit().await?;
    Ok(())
}
