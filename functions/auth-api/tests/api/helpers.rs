//! Test harness: the real auth and users routers (users for `/users/me` and the admin calls the
//! auth tests check with) as a [`test_support::TestApp`] around a fresh, migrated database per
//! test, with mail written to a private directory; accounts made through the JSON API.

use axum::Router;
use shared::AppState;
use test_support::Routes;

pub(crate) use test_support::{Accounts, PASSWORD, TestResponse, json_request, token_in};

/// The routes under test: the auth function's, with the users function's beside them.
pub(crate) struct AuthApi;

impl Routes for AuthApi {
    fn routes(state: &AppState) -> Router<AppState> {
        auth_api::routes(state).merge(users_api::routes(state))
    }
}

/// The auth and users routers around a test database, rate limits off unless a test turns them on.
pub(crate) type TestApp = test_support::TestApp<AuthApi>;
