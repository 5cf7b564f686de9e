//! `GET /api/v1/users/me/export`: the GDPR data export, one JSON document offered as a download.
//!
//! Only the caller's own rows are read (every query is keyed by their id). Secrets never appear:
//! no password hash (only whether one is set) and no refresh-token digests.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use shared::AppState;
use shared::error::ApiResult;
use shared::http::CurrentUser;
use shared::repo::export::{AuditRecord, IdentityRecord, LinkRecord, SessionRecord};
use shared::repo::mfa::FactorView;
use shared::repo::user_details::UserDetails;
use shared::services::Caller;
use shared::services::export::{self, AccountData};
use shared::time::{now_rfc3339, rfc3339};
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/users/me/export", get(export_me))
}

/// `Content-Disposition` of the export: browsers save it instead of showing it.
const ATTACHMENT: &str = "attachment; filename=\"account-export.json\"";

/// Everything stored about the caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountExport {
    exported_at: String,
    profile: ExportProfile,
    identities: Vec<ExportIdentity>,
    /// Every session, ended ones included, newest first.
    sessions: Vec<ExportSession>,
    /// Set while an account deletion is scheduled.
    pending_deletion: Option<PendingDeletion>,
    /// Mailed links that still work, newest first; an email change's shows the new address.
    live_links: Vec<ExportLink>,
    /// Newest first, at most 10,000.
    audit_events: Vec<ExportAuditEvent>,
    /// Second factors, oldest first: type and dates, never the secret or recovery codes.
    mfa_factors: Vec<ExportFactor>,
}

/// A second factor of the caller's.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportFactor {
    /// `totp`.
    #[serde(rename = "type")]
    kind: String,
    created_at: String,
    /// `None` while its enrolment is unfinished.
    activated_at: Option<String>,
    last_used_at: Option<String>,
}

impl From<FactorView> for ExportFactor {
    fn from(factor: FactorView) -> Self {
        Self {
            kind: factor.kind,
            created_at: rfc3339(factor.created_at),
            activated_at: factor.activated_at.map(rfc3339),
            last_used_at: factor.last_used_at.map(rfc3339),
        }
    }
}

/// The account row, without the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportProfile {
    id: Uuid,
    email: String,
    username: String,
    is_verified: bool,
    is_superuser: bool,
    is_active: bool,
    created_at: String,
    password_changed_at: Option<String>,
    deletion_requested_at: Option<String>,
    deletion_scheduled_for: Option<String>,
    has_password: bool,
}

/// A linked Google/Apple identity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportIdentity {
    provider: String,
    subject: String,
    email: String,
    created_at: String,
}

/// A session, without its tokens.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportSession {
    id: Uuid,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    revoke_reason: Option<String>,
    device_info: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
}

/// A scheduled account deletion.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PendingDeletion {
    requested_at: Option<String>,
    scheduled_for: String,
}

/// A mailed link that still works (never the token itself).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportLink {
    purpose: String,
    email: Option<String>,
    created_at: String,
    expires_at: String,
}

impl From<LinkRecord> for ExportLink {
    fn from(link: LinkRecord) -> Self {
        Self {
            purpose: link.purpose,
            email: link.email,
            created_at: rfc3339(link.created_at),
            expires_at: rfc3339(link.expires_at),
        }
    }
}

/// An audit event about the caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportAuditEvent {
    at: String,
    event: String,
    ip: Option<String>,
    user_agent: Option<String>,
    success: bool,
    #[schema(value_type = Object)]
    details: Value,
}

impl From<&UserDetails> for ExportProfile {
    fn from(user: &UserDetails) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            username: user.username.clone(),
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            is_active: user.is_active,
            created_at: rfc3339(user.created_at),
            password_changed_at: user.password_changed_at.map(rfc3339),
            deletion_requested_at: user.deletion_requested_at.map(rfc3339),
            deletion_scheduled_for: user.deletion_scheduled_for.map(rfc3339),
            has_password: user.has_password,
        }
    }
}

impl From<IdentityRecord> for ExportIdentity {
    fn from(identity: IdentityRecord) -> Self {
        Self {
            provider: identity.provider,
            subject: identity.subject,
            email: identity.email,
            created_at: rfc3339(identity.created_at),
        }
    }
}

impl From<SessionRecord> for ExportSession {
    fn from(session: SessionRecord) -> Self {
        Self {
            id: session.id,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            revoked_at: session.revoked_at.map(rfc3339),
            revoke_reason: session.revoke_reason,
            device_info: session.device_info,
            ip_address: session.ip_address,
            user_agent: session.user_agent,
        }
    }
}

impl From<AuditRecord> for ExportAuditEvent {
    fn from(event: AuditRecord) -> Self {
        Self {
            at: rfc3339(event.at),
            event: event.event,
            ip: event.ip,
            user_agent: event.user_agent,
            success: event.success,
            details: event.details,
        }
    }
}

impl From<AccountData> for AccountExport {
    fn from(data: AccountData) -> Self {
        let pending_deletion = data.profile.deletion_scheduled_for.map(|scheduled_for| PendingDeletion {
            requested_at: data.profile.deletion_requested_at.map(rfc3339),
            scheduled_for: rfc3339(scheduled_for),
        });
        Self {
            exported_at: now_rfc3339(),
            profile: ExportProfile::from(&data.profile),
            identities: data.identities.into_iter().map(ExportIdentity::from).collect(),
            sessions: data.sessions.into_iter().map(ExportSession::from).collect(),
            pending_deletion,
            live_links: data.live_links.into_iter().map(ExportLink::from).collect(),
            audit_events: data.audit_events.into_iter().map(ExportAuditEvent::from).collect(),
            mfa_factors: data.mfa_factors.into_iter().map(ExportFactor::from).collect(),
        }
    }
}

/// Downloads everything stored about the signed-in user (GDPR right of access).
#[utoipa::path(
    get,
    path = "/api/v1/users/me/export",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AccountExport, description = "Sent as an attachment, `account-export.json`"),
        (status = 401, description = "Not authenticated")
    )
)]
pub(crate) async fn export_me(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    let data = export::export_account(&state, current.user.id, &caller).await?;
    Ok(([(header::CONTENT_DISPOSITION, ATTACHMENT)], Json(AccountExport::from(data))))
}
