//! Routes that take an email address and answer the same whatever it is (forgot-password,
//! resend-verification, request-deletion by email) must not give the account away by their
//! timing either: for a registered address they write a token and a mail and queue it, for an
//! unknown one they only look it up. Padding both to one floor makes them indistinguishable as
//! long as the real work stays below it (on Lambda: a few milliseconds of Postgres and one SQS
//! call).

use std::future::Future;
use std::time::Duration;

/// How long an address-lookup route takes at least. Well above the mail path's usual cost and
/// short enough for a person to notice nothing.
pub const ADDRESS_LOOKUP_FLOOR: Duration = Duration::from_millis(250);

/// Runs `work` and returns its output no sooner than `floor` after the start.
pub async fn no_sooner_than<F: Future>(floor: Duration, work: F) -> F::Output {
    let started = tokio::time::Instant::now();
    let output = work.await;
    tokio::time::sleep_until(started + floor).await;
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quick_work_waits_for_the_floor_and_slow_work_does_not_wait_longer() {
        let started = tokio::time::Instant::now();
        assert_eq!(no_sooner_than(Duration::from_millis(250), async { 7 }).await, 7);
        assert_eq!(started.elapsed(), Duration::from_millis(250));

        let started = tokio::time::Instant::now();
        no_sooner_than(Duration::from_millis(250), tokio::time::sleep(Duration::from_millis(400))).await;
        assert_eq!(started.elapsed(), Duration::from_millis(400));
    }
}
