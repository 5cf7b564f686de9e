//! Test harness: the real users router, with the auth router beside it to register, verify and
//! sign callers in, as a [`test_support::TestApp`] around a fresh, migrated database per test.

use axum::Router;
use shared::AppState;
use test_support::Routes;

pub(crate) use test_support::{Accounts, PASSWORD, TestResponse, json_request};

/// The routes under test: the users function's, and the auth function's that callers sign in with.
pub(crate) struct UsersApi;

impl Routes for UsersApi {
    fn routes(state: &AppState) -> Router<AppState> {
        users_api::routes(state).merge(auth_api::routes(state))
    }
}

/// The users and auth routers around a test database, rate limits off.
pub(crate) type TestApp = test_support::TestApp<UsersApi>;
