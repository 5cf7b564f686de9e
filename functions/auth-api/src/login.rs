//! `POST /api/v1/auth/login`: form (`username` = email, `password`, as OAuth2 password flow
//! clients and the seed send it; URL-encoded or multipart, as a browser's `FormData` is) or JSON
//! (`email`, `password`).

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::AppState;
use shared::error::{ApiError, ApiResult, FieldError};
use shared::http::{AppJson, body, cookies, cross_site, rate_limit};
use shared::services::Caller;
use shared::services::login::{self, Credentials, SignIn};
use utoipa::ToSchema;

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), cross_site::refuse))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.login))
}

/// JSON login body; `username` is accepted in place of `email` for seed clients.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    #[serde(alias = "username")]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// A form login, as OAuth2 password-flow clients and the seed send it (URL-encoded or multipart);
/// documentation only: the fields are read by [`form_credentials`].
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "describes the form in the OpenAPI document; never built")]
pub(crate) struct LoginForm {
    /// The account's email address.
    #[schema(example = "jane@example.com")]
    username: String,
    #[schema(value_type = String, format = Password)]
    password: String,
    /// `password` when sent.
    #[schema(pattern = "^password$")]
    grant_type: Option<String>,
    /// Accepted and unused.
    scope: Option<String>,
    /// Accepted and unused.
    client_id: Option<String>,
    /// Accepted and unused.
    #[schema(value_type = Option<String>, format = Password)]
    client_secret: Option<String>,
}

/// Most fields a login form may have (`username`, `password`, `grant_type`, `scope`,
/// `client_id`, `client_secret`); a form with many more is not a login.
const MAX_FORM_FIELDS: usize = 16;

/// A form login (OAuth2 password flow) from its fields: the email in `username`, `password`, and
/// `grant_type` that must be `password` when sent. `scope`, `client_id` and `client_secret` are
/// accepted and unused, as in the seed. Each missing field is its own 422 entry.
fn form_credentials(fields: Vec<(String, String)>) -> Result<Credentials, ApiError> {
    if fields.len() > MAX_FORM_FIELDS {
        return Err(ApiError::field("too_many_fields", vec![json!("body")], "Too many form fields", Value::Null));
    }
    let mut fields = fields;
    let mut take = |name: &str| fields.iter().position(|(key, _)| key == name).map(|at| fields.swap_remove(at).1);
    let (username, password, grant_type) = (take("username"), take("password"), take("grant_type"));
    if let Some(grant_type) = grant_type.as_deref().filter(|grant| !grant.is_empty() && *grant != "password") {
        return Err(wrong_grant_type(grant_type));
    }
    match (username, password) {
        (Some(email), Some(password)) => Ok(Credentials { email, password: SecretString::from(password) }),
        (username, password) => {
            let missing = [("username", username.is_none()), ("password", password.is_none())];
            Err(ApiError::Validation(
                missing
                    .into_iter()
                    .filter(|(_, is_missing)| *is_missing)
                    .map(|(name, _)| {
                        FieldError::new("missing", vec![json!("body"), json!(name)], "Field required", Value::Null)
                    })
                    .collect(),
            ))
        }
    }
}

/// The text fields of a multipart form.
async fn multipart_fields(request: Request, state: &AppState) -> Result<Vec<(String, String)>, ApiError> {
    let unreadable = || ApiError::field("body_read", vec![json!("body")], "Could not read the form", Value::Null);
    // Over the body limit is a 413, as for every other body.
    let refused = |status: StatusCode| {
        if status == StatusCode::PAYLOAD_TOO_LARGE { ApiError::PayloadTooLarge } else { unreadable() }
    };
    let mut multipart =
        Multipart::from_request(request, state).await.map_err(|rejection| refused(rejection.status()))?;
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|error| refused(error.status()))? {
        if fields.len() > MAX_FORM_FIELDS {
            break;
        }
        let name = field.name().unwrap_or_default().to_owned();
        // UTF-8 as browsers send it; `text()` would link a whole charset library for nothing.
        let bytes = field.bytes().await.map_err(|error| refused(error.status()))?;
        let value = String::from_utf8(bytes.to_vec()).map_err(|_| unreadable())?;
        fields.push((name, value));
    }
    Ok(fields)
}

/// FastAPI's 422 for a form `grant_type` other than `password`.
fn wrong_grant_type(given: &str) -> ApiError {
    ApiError::field(
        "string_pattern_mismatch",
        vec![json!("body"), json!("grant_type")],
        "String should match pattern '^password$'",
        json!(given),
    )
}

/// Successful login or refresh.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI…", "token_type": "bearer", "expires_in": 900}))]
pub(crate) struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

/// What a sign-in answers: tokens, or the second step it still needs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "describes the answer in the OpenAPI document; never built")]
pub(crate) enum SignInResponse {
    /// Signed in.
    Token(TokenResponse),
    /// A second factor is needed (`POST /api/v1/auth/mfa/challenge`).
    MfaRequired(MfaRequired),
}

impl TokenResponse {
    pub(crate) fn bearer(access_token: String, expires_in: i64) -> Self {
        Self { access_token, token_type: "bearer", expires_in }
    }
}

/// The answer of a sign-in whose account has a second factor: no session yet, and the token
/// that `POST /auth/mfa/challenge` completes it with.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MfaRequired {
    /// Always `true`.
    mfa_required: bool,
    /// Single use, valid 5 minutes.
    mfa_token: String,
    /// The factor types that can complete it (`totp`).
    factors: Vec<&'static str>,
}

/// The answer of every route that signs in (password, mailed link or code, Google/Apple,
/// accepted invitation, second factor): the access token in the body and the refresh token in
/// its cookie, or, for an account with a second factor, `mfa_required` and no session.
pub(crate) fn signed_in(state: &AppState, sign_in: SignIn) -> Response {
    match sign_in {
        SignIn::Session(success) => {
            let body = TokenResponse::bearer(success.access_token, success.expires_in);
            let cookie = cookies::set_refresh(&state.config, &success.refresh_token);
            ([(header::SET_COOKIE, cookie)], Json(body)).into_response()
        }
        SignIn::SecondFactorRequired(challenge) => {
            Json(MfaRequired { mfa_required: true, mfa_token: challenge.mfa_token, factors: challenge.factors })
                .into_response()
        }
    }
}

/// Either body format, decided by `Content-Type`.
pub(crate) struct LoginInput(Credentials);

impl FromRequest<AppState> for LoginInput {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let media_type = body::media_type(request.headers());
        if media_type == "application/x-www-form-urlencoded" {
            let Form(fields) = Form::<Vec<(String, String)>>::from_request(request, state)
                .await
                .map_err(|rejection| body::not_read(rejection.status(), rejection.body_text()))?;
            return form_credentials(fields).map(Self).map_err(IntoResponse::into_response);
        }
        if media_type == "multipart/form-data" {
            let fields = multipart_fields(request, state).await.map_err(IntoResponse::into_response)?;
            return form_credentials(fields).map(Self).map_err(IntoResponse::into_response);
        }
        let AppJson(body) = AppJson::<LoginBody>::from_request(request, state).await?;
        Ok(Self(Credentials { email: body.email, password: body.password }))
    }
}

/// Signs in: returns an access token and sets the `refresh_token` cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body(
        description = "JSON `{email, password}`, or the OAuth2 password-flow form with `username` (the email) and `password`",
        content(
            (LoginBody = "application/json", example = json!({"email": "jane@example.com", "password": "Str0ng-Passw0rd!"})),
            (LoginForm = "application/x-www-form-urlencoded"),
            (LoginForm = "multipart/form-data")
        )
    ),
    responses(
        (status = 200, description = "Signed in, or (account with a second factor) `mfa_required` with the token to complete it", body = SignInResponse),
        (status = 400, description = "Invalid email format (malformed or disposable address), or Inactive user"),
        (status = 401, description = "Invalid email or password / email not verified"),
        (status = 403, description = "Cross-site request refused (another site's page sent it)"),
        (status = 422, description = "Missing fields, or a form grant_type other than password"),
        (status = 429, description = "Too many requests or login back-off")
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    caller: Caller,
    LoginInput(credentials): LoginInput,
) -> ApiResult<Response> {
    let success = login::login(&state, credentials, &caller).await?;
    Ok(signed_in(&state, success))
}
