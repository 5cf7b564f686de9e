//! Administrator actions on other accounts: changing the `is_active`/`is_superuser`/`is_verified`
//! flags and ending every session of an account.
//!
//! The one invariant is that the service always keeps an active superuser: otherwise nobody could
//! ever administer it again without database access. The check and the update run in one
//! transaction that first locks the rows of all active superusers, so concurrent demotions are
//! serialised and cannot together remove the last one.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Caller;
use crate::AppState;
use crate::domain::pagination::{Page, Pagination};
use crate::error::{ApiError, ErrorCode};
use crate::repo::audit::{self, AuditEntry, AuditFilter};
use crate::repo::user_details::{self, UserDetails, UserFilter};
use crate::repo::{one_time_tokens, sessions};

/// Why sessions ended by a deactivation are revoked (shown in the session's export).
pub const DEACTIVATED_REASON: &str = "admin_deactivated";
/// Why sessions ended by `DELETE /admin/users/{id}/sessions` are revoked.
pub const REVOKED_BY_ADMIN_REASON: &str = "admin_revoked";

/// One page of the accounts that match `filter`, newest first.
pub async fn list_users(
    state: &AppState,
    filter: &UserFilter,
    request: Pagination,
) -> Result<Page<UserDetails>, ApiError> {
    let total = user_details::count(&state.db, filter).await?;
    let items = user_details::list(&state.db, filter, request.limit(), request.offset()).await?;
    Ok(Page { items, total, request })
}

/// One account, or the 404 `User not found`.
pub async fn find_user(state: &AppState, id: Uuid) -> Result<UserDetails, ApiError> {
    user_details::find(&state.db, id).await?.ok_or_else(user_not_found)
}

/// One page of the audit entries that match `filter`, newest first.
pub async fn audit_log(
    state: &AppState,
    filter: &AuditFilter,
    request: Pagination,
) -> Result<Page<AuditEntry>, ApiError> {
    let total = audit::count(&state.db, filter).await?;
    let items = audit::list(&state.db, filter, request.limit(), request.offset()).await?;
    Ok(Page { items, total, request })
}

/// Requested flag changes; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagChanges {
    /// Enable or disable sign-in.
    pub is_active: Option<bool>,
    /// Grant or withdraw administrator rights.
    pub is_superuser: Option<bool>,
    /// Mark the email address confirmed or not.
    pub is_verified: Option<bool>,
}

impl FlagChanges {
    /// Only the changes that differ from `user`'s current flags, so a repeated request records
    /// nothing and revokes nothing.
    fn effective(self, user: &UserDetails) -> Self {
        let differs = |wanted: Option<bool>, current: bool| wanted.filter(|value| *value != current);
        Self {
            is_active: differs(self.is_active, user.is_active),
            is_superuser: differs(self.is_superuser, user.is_superuser),
            is_verified: differs(self.is_verified, user.is_verified),
        }
    }

    fn is_empty(self) -> bool {
        self == Self::default()
    }

    /// The changes as the audit log records them: `{"is_active": false}`.
    fn to_json(self) -> Value {
        let fields =
            [("is_active", self.is_active), ("is_superuser", self.is_superuser), ("is_verified", self.is_verified)];
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(name, value)| Some((name.to_owned(), json!(value?))))
                .collect::<Map<_, _>>(),
        )
    }
}

/// 404 for an account id that does not exist.
pub fn user_not_found() -> ApiError {
    ApiError::refused(ErrorCode::UserNotFound, "User not found")
}

/// 400 when a change would leave no active superuser.
pub fn last_superuser() -> ApiError {
    ApiError::refused(ErrorCode::LastSuperuser, "Cannot remove the last active superuser")
}

/// Whether `target` losing its active-superuser status leaves nobody with it.
fn removes_last_active_superuser(active_superusers: &[Uuid], target: Uuid, target_stays: bool) -> bool {
    !target_stays && active_superusers.contains(&target) && active_superusers.len() <= 1
}

/// Applies `changes` to account `target` on behalf of superuser `admin_id`, returning the account
/// as it is afterwards. Deactivating an account revokes all its sessions in the same transaction,
/// so its access tokens stop working on the next request.
pub async fn update_user(
    state: &AppState,
    admin_id: Uuid,
    target: Uuid,
    changes: FlagChanges,
    caller: &Caller,
) -> Result<UserDetails, ApiError> {
    let mut tx = state.db.begin().await?;
    let superusers = user_details::lock_active_superusers(&mut *tx).await?;
    if !superusers.contains(&admin_id) {
        // demoted or deactivated by someone else since the request was authenticated
        return Err(ApiError::not_enough_permissions());
    }
    let current = user_details::find_for_update(&mut *tx, target).await?.ok_or_else(user_not_found)?;
    let changes = changes.effective(&current);
    if changes.is_empty() {
        tx.rollback().await?;
        return Ok(current);
    }

    // An unverified account cannot sign in, so it does not count as an administrator either.
    let stays = changes.is_active.unwrap_or(current.is_active)
        && changes.is_superuser.unwrap_or(current.is_superuser)
        && changes.is_verified.unwrap_or(current.is_verified);
    if removes_last_active_superuser(&superusers, target, stays) {
        tx.rollback().await?;
        let details = json!({"target_user_id": target, "changes": changes.to_json(), "reason": "last_superuser"});
        caller.audit(&state.db, "admin_user_updated", Some(admin_id), false, details).await?;
        return Err(last_superuser());
    }

    let updated =
        user_details::update_flags(&mut *tx, target, changes.is_active, changes.is_superuser, changes.is_verified)
            .await?
            .ok_or_else(user_not_found)?;
    let revoked = if changes.is_active == Some(false) {
        one_time_tokens::void_account_links(&mut *tx, target).await?;
        sessions::revoke_all_except(&mut *tx, target, None, DEACTIVATED_REASON).await?
    } else {
        0
    };
    let details = json!({"target_user_id": target, "changes": changes.to_json(), "sessions_revoked": revoked});
    caller.audit(&mut *tx, "admin_user_updated", Some(admin_id), true, details).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Ends every session of account `target` on behalf of superuser `admin_id`; returns how many.
pub async fn revoke_sessions(state: &AppState, admin_id: Uuid, target: Uuid, caller: &Caller) -> Result<u64, ApiError> {
    let mut tx = state.db.begin().await?;
    user_details::find(&mut *tx, target).await?.ok_or_else(user_not_found)?;
    let revoked = sessions::revoke_all_except(&mut *tx, target, None, REVOKED_BY_ADMIN_REASON).await?;
    let details = json!({"target_user_id": target, "revoked": revoked});
    caller.audit(&mut *tx, "admin_sessions_revoked", Some(admin_id), true, details).await?;
    tx.commit().await?;
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_active_superuser_cannot_lose_the_status() {
        let only = Uuid::new_v4();
        assert!(removes_last_active_superuser(&[only], only, false));
        assert!(!removes_last_active_superuser(&[only], only, true));
    }

    #[test]
    fn a_superuser_can_lose_the_status_while_another_remains() {
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!removes_last_active_superuser(&[first, second], first, false));
    }

    #[test]
    fn changes_to_ordinary_accounts_never_trip_the_rule() {
        let (admin, other) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!removes_last_active_superuser(&[admin], other, false));
    }

    #[test]
    fn changes_are_recorded_by_name_and_only_when_set() {
        let changes = FlagChanges { is_active: Some(false), is_superuser: None, is_verified: Some(true) };
        assert_eq!(changes.to_json(), json!({"is_active": false, "is_verified": true}));
        assert!(FlagChanges::default().is_empty());
    }
}
