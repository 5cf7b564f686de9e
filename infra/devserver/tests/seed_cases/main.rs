//! The FastAPI template's own black-box HTTP tests, ported one for one against every function's
//! routes under one app (as the devserver serves them) and a real Postgres. Each module is one
//! of the template's test files; each test is named after the template's test.
//!
//! A test asserts the template's expectation, unless the README's "Differences from the seed"
//! table lists a deliberate difference that applies: then it asserts what this port does and
//! names the table's row in a comment. No case is skipped: `scripts/test` prints how many ran.

mod account_deletion;
mod api_auth;
mod api_users;
mod celery;
mod cors;
mod email_verification;
mod health;
mod main_app;
mod oauth;
mod optional_features;
mod password_change;
mod password_reset;
mod rate_limiting;
mod refresh_token;
mod support;
mod validation;
