//! `GET /admin/audit-log`: the security audit log, newest first, filtered and paginated.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::AppState;
use shared::domain::pagination::Pagination;
use shared::error::ApiResult;
use shared::http::{AppQuery, Superuser};
use shared::repo::audit::{AuditEntry, AuditFilter};
use shared::services::admin;
use shared::time::rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditLogEntry {
    id: i64,
    at: String,
    event: String,
    /// The account concerned; for `admin_*` events, the acting administrator.
    user_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    success: bool,
    #[schema(value_type = Object)]
    details: Value,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            at: rfc3339(entry.at),
            event: entry.event,
            user_id: entry.user_id,
            ip: entry.ip,
            user_agent: entry.user_agent,
            success: entry.success,
            details: entry.details,
        }
    }
}

/// One page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditLogPage {
    items: Vec<AuditLogEntry>,
    /// Matching events on all pages.
    total: i64,
    page: i64,
    size: i64,
}

/// Filters and page of `GET /admin/audit-log`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditLogQuery {
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    size: Option<i64>,
    /// Only events of this account.
    user_id: Option<Uuid>,
    /// Only this event name (exact match).
    event: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339, exclusive).
    until: Option<DateTime<Utc>>,
}

/// Lists audit events, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit-log",
    tag = "admin",
    security(("bearer" = [])),
    params(AuditLogQuery),
    responses(
        (status = 200, body = AuditLogPage),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Invalid query parameter")
    )
)]
pub(crate) async fn audit_log(
    State(state): State<AppState>,
    _admin: Superuser,
    AppQuery(query): AppQuery<AuditLogQuery>,
) -> ApiResult<Json<AuditLogPage>> {
    let pagination = Pagination::new(query.page, query.size)?;
    let filter = AuditFilter {
        user_id: query.user_id,
        event: query.event.filter(|event| !event.is_empty()),
        since: query.since,
        until: query.until,
    };
    let page = admin::audit_log(&state, &filter, pagination).await?;
    Ok(Json(AuditLogPage {
        items: page.items.into_iter().map(AuditLogEntry::from).collect(),
        total: page.total,
        page: page.request.page,
        size: page.request.size,
    }))
}
