//! The connections kept aside for session lookups, against a real Postgres: a lookup's
//! connection is reused by the next one without going back through the pool, lookups wait for
//! their own permits no longer than for the pool, and a failed lookup's connection is not kept.

use std::time::Duration;

use shared::db::KeptConnections;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn backend_pid(connection: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("select pg_backend_pid()").fetch_one(connection).await.expect("pid")
}

fn pool(options: PgPoolOptions, connect: PgConnectOptions) -> PgPool {
    options.max_connections(4).acquire_timeout(Duration::from_millis(300)).connect_lazy_with(connect)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_next_lookup_reuses_the_connection_the_last_one_kept(options: PgPoolOptions, connect: PgConnectOptions) {
    let pool = pool(options, connect);
    let kept = KeptConnections::for_pool_of(4);
    let mut first = kept.take(&pool).await.expect("first");
    let pid = backend_pid(&mut first.connection).await;
    kept.keep(first);
    for _ in 0..5 {
        let mut again = kept.take(&pool).await.expect("again");
        assert_eq!(backend_pid(&mut again.connection).await, pid, "the kept connection is reused");
        kept.keep(again);
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn lookups_wait_for_a_permit_no_longer_than_for_the_pool(options: PgPoolOptions, connect: PgConnectOptions) {
    let pool = pool(options, connect);
    let kept = KeptConnections::for_pool_of(2); // one permit
    let held = kept.take(&pool).await.expect("first");
    let started = std::time::Instant::now();
    let waited = kept.take(&pool).await;
    assert!(matches!(waited, Err(sqlx::Error::PoolTimedOut)), "{:?}", waited.err());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    drop(held);
    assert!(kept.take(&pool).await.is_ok(), "a dropped lookup frees its permit");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_connection_that_is_not_kept_goes_back_to_the_pool(options: PgPoolOptions, connect: PgConnectOptions) {
    let pool = pool(options, connect);
    let kept = KeptConnections::for_pool_of(4);
    let mut taken = kept.take(&pool).await.expect("take");
    backend_pid(&mut taken.connection).await;
    drop(taken); // a failed lookup: not kept
    // The pool takes it back in a task of its own, after its ping.
    for _ in 0..50 {
        if pool.num_idle() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pool.num_idle(), 1, "the dropped connection went back into the pool");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_pool_of_one_keeps_nothing_aside(options: PgPoolOptions, connect: PgConnectOptions) {
    let pool = options.max_connections(1).acquire_timeout(Duration::from_millis(300)).connect_lazy_with(connect);
    let kept = KeptConnections::for_pool_of(1);
    let mut taken = kept.take(&pool).await.expect("take");
    backend_pid(&mut taken.connection).await;
    kept.keep(taken);
    // The one connection is back in the pool for the request's other queries.
    let mut other = pool.acquire().await.expect("the pool's only connection is free again");
    backend_pid(&mut other).await;
}
