//! The `worker` binary's cold start when Secrets Manager cannot be reached (nothing listening, no
//! answer) or the secret is missing: it exits with status 2 within seconds and one clear line on
//! stderr naming the cause. The checks are shared by every function's `tests/startup.rs`.

use test_support::cold_start;

#[test]
fn an_unreadable_secret_stops_the_cold_start_within_seconds_with_one_clear_line() {
    cold_start::every_secrets_failure_stops_the_cold_start_with_one_clear_line(env!("CARGO_BIN_EXE_worker"));
}
