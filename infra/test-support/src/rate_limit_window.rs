//! For the tests and harnesses that turn rate limits on.

/// Rate-limit windows are fixed and aligned to the clock, and every window (minute, hour, day)
/// starts on a minute; a test that counts requests against a limit fails if it straddles a
/// boundary, so it starts with at least 15 s left in the current minute.
pub fn leave_room_in_the_rate_limit_window() {
    let into_minute =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() % 60_000;
    if into_minute > 45_000 {
        let to_next_minute = u64::try_from(60_000 - into_minute).expect("under a minute");
        std::thread::sleep(std::time::Duration::from_millis(to_next_minute + 100));
    }
}
