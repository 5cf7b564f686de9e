//! Second factors (TOTP): `POST /auth/mfa/totp/enroll`, `POST /auth/mfa/totp/verify`,
//! `GET /auth/mfa/factors`, `DELETE /auth/mfa/totp/{id}`, and `POST /auth/mfa/challenge`, which
//! completes a sign-in that answered `mfa_required` or raises the caller's session (step-up).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::AppState;
use shared::error::{ApiError, ApiResult, FieldError};
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{AppJson, CurrentUser, IdPath, cross_site, rate_limit};
use shared::services::Caller;
use shared::services::mfa::{self, Proof, RemovalConfirmation};
use shared::time::rfc3339;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::login::{TokenResponse, signed_in};
use crate::responses::Message;

/// Code checks count against the login limit (a code guessed here is a password guessed there);
/// the challenge can set the session cookie, so another site's page may not send it.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let challenge = Router::new()
        .route("/api/v1/auth/mfa/challenge", post(challenge))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), cross_site::refuse));
    let factors = Router::new()
        .route("/api/v1/auth/mfa/totp/enroll", post(enroll))
        .route("/api/v1/auth/mfa/factors", get(list_factors))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default));
    Router::new()
        .merge(challenge)
        .route("/api/v1/auth/mfa/totp/verify", post(verify))
        .route("/api/v1/auth/mfa/totp/{id}", delete(remove))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.login))
        .merge(factors)
}

/// A new TOTP secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnrollResponse {
    /// Verify it with `POST /auth/mfa/totp/verify`.
    factor_id: Uuid,
    /// Base32 (RFC 4648, no padding), 160 bits.
    secret: String,
    /// `otpauth://totp/…` for a QR code (SHA-1, 6 digits, 30 s).
    otpauth_uri: String,
}

/// Starts a TOTP enrolment: a secret for the authenticator app, active once a code from it is
/// verified. Replaces an unfinished enrolment.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/totp/enroll",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, body = EnrollResponse),
        (status = 401, description = "Not authenticated"),
        (status = 409, description = "A TOTP factor is already active (`mfa_already_enabled`)"),
        (status = 429, description = "Too many requests")
    )
)]
pub(crate) async fn enroll(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
) -> ApiResult<Json<EnrollResponse>> {
    let enrolment = mfa::enroll(&state, &current.user, &caller).await?;
    Ok(Json(EnrollResponse {
        factor_id: enrolment.factor_id,
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
    }))
}

/// `{factor_id, code}`: the first code of an enrolment.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct VerifyBody {
    factor_id: Uuid,
    /// Six digits.
    #[schema(pattern = "^[0-9]{6}$")]
    code: String,
}

/// The recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecoveryCodes {
    /// Ten single-use codes (`xxxxx-xxxxx`), each a way in if the authenticator is lost.
    recovery_codes: Vec<String>,
}

/// Activates an enrolment with a code from the app; answers the recovery codes once and mails
/// the owner a notice.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/totp/verify",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = VerifyBody,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 400, description = "Wrong or reused code (`invalid_mfa_code`)"),
        (status = 401, description = "Not authenticated"),
        (status = 404, description = "No such enrolment of the caller's (`mfa_factor_not_found`)"),
        (status = 409, description = "A TOTP factor is already active"),
        (status = 422, description = "Missing fields"),
        (status = 429, description = "Too many requests")
    )
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
    AppJson(body): AppJson<VerifyBody>,
) -> ApiResult<Json<RecoveryCodes>> {
    let recovery_codes = mfa::verify_enrolment(&state, &current.user, body.factor_id, &body.code, &caller).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// A factor, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FactorResponse {
    id: Uuid,
    /// `totp`.
    #[serde(rename = "type")]
    kind: String,
    /// `verified` (active) or `unverified` (enrolment unfinished).
    #[schema(pattern = "^(verified|unverified)$")]
    status: &'static str,
    created_at: String,
    last_used_at: Option<String>,
}

/// The caller's factors.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FactorList {
    factors: Vec<FactorResponse>,
    /// Unused recovery codes of the active factor.
    recovery_codes_left: i64,
}

/// Lists the caller's second factors (no secrets).
#[utoipa::path(
    get,
    path = "/api/v1/auth/mfa/factors",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, body = FactorList),
        (status = 401, description = "Not authenticated"),
        (status = 429, description = "Too many requests")
    )
)]
pub(crate) async fn list_factors(State(state): State<AppState>, current: CurrentUser) -> ApiResult<Json<FactorList>> {
    let list = mfa::list(&state, current.user.id).await?;
    let factors = list
        .factors
        .into_iter()
        .map(|factor| FactorResponse {
            id: factor.id,
            kind: factor.kind,
            status: if factor.activated_at.is_some() { "verified" } else { "unverified" },
            created_at: rfc3339(factor.created_at),
            last_used_at: factor.last_used_at.map(rfc3339),
        })
        .collect();
    Ok(Json(FactorList { factors, recovery_codes_left: list.recovery_codes_left }))
}

/// What removing an active factor is confirmed with.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct RemoveBody {
    /// The account's password (required when it has one).
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// A current code (required instead when the account has no password).
    #[schema(pattern = "^[0-9]{6}$")]
    code: Option<String>,
}

/// Removes one of the caller's factors. An active one needs a session whose second factor was
/// checked in the last 10 minutes (`POST /auth/mfa/challenge` with a code and the Bearer token),
/// and the password, or a current code for an account without one; the owner is mailed.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/mfa/totp/{id}",
    tag = "mfa",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Factor id")),
    request_body(content = Option<RemoveBody>, description = "Needed for an active factor; an unfinished enrolment is removed without a body"),
    responses(
        (status = 200, body = Message),
        (status = 400, description = "Wrong password (`incorrect_password`) or code (`invalid_mfa_code`)"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "No second factor checked in the last 10 minutes (`mfa_required`)"),
        (status = 404, description = "No such factor of the caller's"),
        (status = 422, description = "Malformed id or body"),
        (status = 429, description = "Too many requests, or a back-off after wrong passwords or codes")
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
    IdPath(factor_id): IdPath,
    body: Option<AppJson<RemoveBody>>,
) -> ApiResult<Json<Message>> {
    let AppJson(body) = body.unwrap_or_default();
    let confirmation = RemovalConfirmation { password: body.password, code: body.code };
    mfa::remove(&state, &current, factor_id, confirmation, &caller).await?;
    Ok(Json(Message::new("MFA factor removed")))
}

/// `POST /auth/mfa/challenge`: the `mfa_token` of a sign-in (or a Bearer token for a step-up)
/// and either a TOTP `code` or a `recovery_code`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChallengeBody {
    /// From a sign-in that answered `mfa_required`; without it, the Bearer token's session is
    /// raised instead.
    mfa_token: Option<String>,
    /// Six digits from the authenticator app.
    #[schema(pattern = "^[0-9]{6}$")]
    code: Option<String>,
    /// One of the recovery codes (`xxxxx-xxxxx`).
    recovery_code: Option<String>,
}

impl DropsControlCharacters for ChallengeBody {
    const FIELDS: &'static [&'static str] = &["mfa_token", "code", "recovery_code"];
}

impl ChallengeBody {
    fn proof(code: Option<String>, recovery_code: Option<String>) -> Result<Proof, ApiError> {
        match (code, recovery_code) {
            (Some(code), None) => Ok(Proof::Totp(code)),
            (None, Some(recovery_code)) => Ok(Proof::RecoveryCode(recovery_code)),
            (code, _) => {
                let (kind, message) = if code.is_some() {
                    ("extra_forbidden", "Send either code or recovery_code, not both")
                } else {
                    ("missing", "Field required")
                };
                let field = if code.is_some() { "recovery_code" } else { "code" };
                Err(ApiError::Validation(vec![FieldError::new(
                    kind,
                    vec![json!("body"), json!(field)],
                    message,
                    Value::Null,
                )]))
            }
        }
    }
}

/// Completes a sign-in with its `mfa_token` and a second factor (an access token and the
/// `refresh_token` cookie, as login answers), or, with a Bearer token and no `mfa_token`, raises
/// the caller's session to `aal2` and answers a new access token. Wrong codes are counted per
/// account; after 5, further tries get 429 with `Retry-After`, growing like the login back-off.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/challenge",
    tag = "mfa",
    security((), ("bearer" = [])),
    request_body(
        content = ChallengeBody,
        example = json!({"mfa_token": "Yx1…", "code": "123456"})
    ),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Wrong, reused or malformed code (`invalid_mfa_code`)"),
        (status = 401, description = "Unknown, expired or used `mfa_token` (`invalid_mfa_token`), or no Bearer token for a step-up"),
        (status = 403, description = "Cross-site request refused"),
        (status = 404, description = "Step-up for an account without an active factor"),
        (status = 422, description = "Neither or both of code and recovery_code"),
        (status = 429, description = "Too many requests, or the back-off after wrong codes (`mfa_backoff`)")
    )
)]
pub(crate) async fn challenge(
    State(state): State<AppState>,
    caller: Caller,
    current: Result<CurrentUser, ApiError>,
    CleanedJson(body): CleanedJson<ChallengeBody>,
) -> ApiResult<Response> {
    let proof = ChallengeBody::proof(body.code, body.recovery_code)?;
    // With an mfa_token the Bearer token plays no part: a stale one the client still sends
    // must not fail the sign-in.
    if let Some(mfa_token) = body.mfa_token {
        let success = mfa::complete_sign_in(&state, &mfa_token, proof, &caller).await?;
        return Ok(signed_in(&state, shared::services::login::SignIn::Session(success)));
    }
    let (access_token, expires_in) = mfa::step_up(&state, &current?, proof, &caller).await?;
    Ok(Json(TokenResponse::bearer(access_token, expires_in)).into_response())
}
