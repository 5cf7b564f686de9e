//! The closed list of machine-readable error codes, each with the one status it answers with.
//!
//! Clients branch on `code`, not on the message (the messages are the seed's prose and may be
//! reworded), so a code must mean one thing: one status, one situation. The OpenAPI document lists
//! these values as an enum.

use http::StatusCode;
use serde::Serialize;

/// A stable error code, serialized in snake_case (`invalid_credentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400: understood and refused.
    /// The username belongs to another account (or a pending registration).
    UsernameExists,
    /// The address is registered through another sign-in method.
    EmailExists,
    /// A login address that is malformed or at a disposable domain.
    InvalidEmailFormat,
    /// The account is deactivated.
    InactiveUser,
    /// An OAuth-only account has no password to change.
    OauthUser,
    /// The current password given to change-password is wrong.
    IncorrectPassword,
    /// The action needs the account's password, and the account has none (it signs in through
    /// Google/Apple or a mailed link, or has not accepted its invitation yet).
    PasswordNotSet,
    /// The action would leave the service without an active superuser.
    LastSuperuser,
    /// The OAuth provider is not configured on this deployment.
    ProviderNotConfigured,
    /// The identity provider's token did not verify.
    InvalidOauthToken,
    /// The identity provider's token lacks a subject or an address.
    InvalidOauthUserInfo,
    /// A session id in the path that is not a UUID.
    InvalidSessionId,
    /// An invitation token that is unknown, expired, used, or of an account that already has a
    /// password.
    InvalidInvitation,
    /// A second-factor code (TOTP or recovery code) that is wrong, malformed or already used.
    InvalidMfaCode,

    // 401: missing or invalid credentials.
    /// No Bearer token.
    NotAuthenticated,
    /// A Bearer token that is malformed, expired, or of an ended session.
    InvalidToken,
    /// Wrong email or password.
    InvalidCredentials,
    /// The password is right but the address is not verified yet.
    EmailNotVerified,
    /// A passwordless sign-in link or code that is unknown, expired, used, or wrong.
    InvalidMagicLink,
    /// No refresh cookie.
    MissingRefreshToken,
    /// A refresh cookie that is unknown, expired, revoked or replayed.
    InvalidRefreshToken,
    /// An `mfa_token` that is unknown, expired, used, or of a sign-in a password reset ended.
    InvalidMfaToken,

    // 403: authenticated, or not, but not allowed.
    /// The route is for superusers.
    NotSuperuser,
    /// A credentialed request sent by another site's page.
    CrossSiteRequest,
    /// A WebSocket handshake from an origin not in the allowed list.
    ForbiddenOrigin,
    /// The action needs a session whose second factor was checked (recently, for some actions).
    MfaRequired,

    // 404: no such object, or one the caller may not see.
    /// Nothing is published here (the `.well-known` documents when tokens use a shared secret).
    NotFound,
    /// No such user.
    UserNotFound,
    /// No such live session of the caller's.
    SessionNotFound,
    /// No such task.
    TaskNotFound,
    /// No such second factor of the caller's.
    MfaFactorNotFound,

    // 409: the object's state forbids it.
    /// The task has already started or finished.
    TaskNotCancellable,
    /// The account has accepted its invitation (or never had one): there is nothing to re-send.
    InvitationNotPending,
    /// The account already has an active TOTP factor (remove it first to enrol another).
    MfaAlreadyEnabled,

    // 413.
    /// The body is over the size limit.
    PayloadTooLarge,

    // 422.
    /// The body, path or query failed validation (the body is FastAPI's list of field errors).
    ValidationError,

    // 429: slow down.
    /// Over a per-client request rate limit.
    OverRequestRateLimit,
    /// Inside an account's (or address's) back-off after failed passwords.
    LoginBackoff,
    /// The session or account already has as many WebSockets open as allowed.
    TooManyConnections,
    /// Inside an account's back-off after wrong second-factor codes.
    MfaBackoff,

    // 500 and 503.
    /// A bug or an unexpected failure; the body carries the request id to find the log line.
    InternalError,
    /// The database is unreachable or busy; retry.
    ServiceUnavailable,
    /// The job queue refused the job; retry.
    QueueUnavailable,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [Self; 43] = [
        Self::UsernameExists,
        Self::EmailExists,
        Self::InvalidEmailFormat,
        Self::InactiveUser,
        Self::OauthUser,
        Self::IncorrectPassword,
        Self::PasswordNotSet,
        Self::LastSuperuser,
        Self::ProviderNotConfigured,
        Self::InvalidOauthToken,
        Self::InvalidOauthUserInfo,
        Self::InvalidSessionId,
        Self::InvalidInvitation,
        Self::InvalidMfaCode,
        Self::NotAuthenticated,
        Self::InvalidToken,
        Self::InvalidCredentials,
        Self::EmailNotVerified,
        Self::InvalidMagicLink,
        Self::MissingRefreshToken,
        Self::InvalidRefreshToken,
        Self::InvalidMfaToken,
        Self::NotSuperuser,
        Self::CrossSiteRequest,
        Self::ForbiddenOrigin,
        Self::MfaRequired,
        Self::NotFound,
        Self::UserNotFound,
        Self::SessionNotFound,
        Self::TaskNotFound,
        Self::MfaFactorNotFound,
        Self::TaskNotCancellable,
        Self::InvitationNotPending,
        Self::MfaAlreadyEnabled,
        Self::PayloadTooLarge,
        Self::ValidationError,
        Self::OverRequestRateLimit,
        Self::LoginBackoff,
        Self::TooManyConnections,
        Self::MfaBackoff,
        Self::InternalError,
        Self::ServiceUnavailable,
        Self::QueueUnavailable,
    ];

    /// The status every answer with this code has.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::UsernameExists
            | Self::EmailExists
            | Self::InvalidEmailFormat
            | Self::InactiveUser
            | Self::OauthUser
            | Self::IncorrectPassword
            | Self::PasswordNotSet
            | Self::LastSuperuser
            | Self::ProviderNotConfigured
            | Self::InvalidOauthToken
            | Self::InvalidOauthUserInfo
            | Self::InvalidSessionId
            | Self::InvalidInvitation
            | Self::InvalidMfaCode => StatusCode::BAD_REQUEST,
            Self::NotAuthenticated
            | Self::InvalidToken
            | Self::InvalidCredentials
            | Self::EmailNotVerified
            | Self::InvalidMagicLink
            | Self::MissingRefreshToken
            | Self::InvalidRefreshToken
            | Self::InvalidMfaToken => StatusCode::UNAUTHORIZED,
            Self::NotSuperuser | Self::CrossSiteRequest | Self::ForbiddenOrigin | Self::MfaRequired => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound
            | Self::UserNotFound
            | Self::SessionNotFound
            | Self::TaskNotFound
            | Self::MfaFactorNotFound => StatusCode::NOT_FOUND,
            Self::TaskNotCancellable | Self::InvitationNotPending | Self::MfaAlreadyEnabled => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ValidationError => StatusCode::UNPROCESSABLE_ENTITY,
            Self::OverRequestRateLimit | Self::LoginBackoff | Self::TooManyConnections | Self::MfaBackoff => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable | Self::QueueUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The wire form, for places that build a body by hand (the WebSocket handshake).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsernameExists => "username_exists",
            Self::EmailExists => "email_exists",
            Self::InvalidEmailFormat => "invalid_email_format",
            Self::InactiveUser => "inactive_user",
            Self::OauthUser => "oauth_user",
            Self::IncorrectPassword => "incorrect_password",
            Self::PasswordNotSet => "password_not_set",
            Self::LastSuperuser => "last_superuser",
            Self::ProviderNotConfigured => "provider_not_configured",
            Self::InvalidOauthToken => "invalid_oauth_token",
            Self::InvalidOauthUserInfo => "invalid_oauth_user_info",
            Self::InvalidSessionId => "invalid_session_id",
            Self::InvalidInvitation => "invalid_invitation",
            Self::InvalidMfaCode => "invalid_mfa_code",
            Self::InvalidMfaToken => "invalid_mfa_token",
            Self::MfaRequired => "mfa_required",
            Self::MfaFactorNotFound => "mfa_factor_not_found",
            Self::MfaAlreadyEnabled => "mfa_already_enabled",
            Self::MfaBackoff => "mfa_backoff",
            Self::NotAuthenticated => "not_authenticated",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailNotVerified => "email_not_verified",
            Self::InvalidMagicLink => "invalid_magic_link",
            Self::MissingRefreshToken => "missing_refresh_token",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::NotSuperuser => "not_superuser",
            Self::CrossSiteRequest => "cross_site_request",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::NotFound => "not_found",
            Self::UserNotFound => "user_not_found",
            Self::SessionNotFound => "session_not_found",
            Self::TaskNotFound => "task_not_found",
            Self::TaskNotCancellable => "task_not_cancellable",
            Self::InvitationNotPending => "invitation_not_pending",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ValidationError => "validation_error",
            Self::OverRequestRateLimit => "over_request_rate_limit",
            Self::LoginBackoff => "login_backoff",
            Self::TooManyConnections => "too_many_connections",
            Self::InternalError => "internal_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::QueueUnavailable => "queue_unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_wire_form_is_the_serialized_form_and_each_is_unique() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).expect("serialize"), serde_json::json!(code.as_str()));
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{code}");
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn the_documented_enum_is_every_code() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(ErrorCode::schema()).expect("schema");
        let documented: HashSet<String> =
            serde_json::from_value(schema["enum"].clone()).expect("the schema is a string enum");
        let listed: HashSet<String> = ErrorCode::ALL.iter().map(|code| code.as_str().to_owned()).collect();
        assert_eq!(documented, listed, "ErrorCode::ALL must list every variant");
    }
}
