//! The server-side session limits (`shared::db::SESSION_LIMITS`) are in force on the pool's
//! connections, and they end what they promise to end.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use test_support::test_config;

fn pool() -> PgPool {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at Postgres (run scripts/test)");
    let config = test_config(&[("DATABASE_URL", &url)]);
    shared::db::lazy_pool(&config)
}

#[tokio::test]
async fn every_session_carries_the_limits() {
    let pool = pool();
    for (name, value) in shared::db::SESSION_LIMITS {
        let shown: String =
            sqlx::query_scalar("select current_setting($1)").bind(name).fetch_one(&pool).await.expect("setting");
        assert_eq!(shown, value, "{name}");
    }
}

#[tokio::test]
async fn a_transaction_left_open_loses_its_lock() {
    let pool = pool();
    sqlx::query("create table if not exists session_limit_probe (id int primary key)")
        .execute(&pool)
        .await
        .expect("table");
    sqlx::query("insert into session_limit_probe values (1) on conflict do nothing").execute(&pool).await.expect("row");

    // A request that locks a row and is then abandoned with its transaction open.
    let mut holder = pool.acquire().await.expect("connection");
    sqlx::query("begin").execute(&mut *holder).await.expect("begin");
    sqlx::query("select 1 from session_limit_probe where id = 1 for update").execute(&mut *holder).await.expect("lock");

    // Another request waits at most lock_timeout, then gets an error instead of hanging.
    let started = Instant::now();
    let blocked = sqlx::query("select 1 from session_limit_probe where id = 1 for update").execute(&pool).await;
    let error = blocked.expect_err("the second locker was not stopped");
    assert!(started.elapsed() < Duration::from_secs(8), "waited {:?}", started.elapsed());
    // ... which a request answers as 503 (retry), not as a 500.
    assert_eq!(shared::ApiError::from(error).status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // After idle_in_transaction_session_timeout the server ends the abandoned session.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let locked = sqlx::query("select 1 from session_limit_probe where id = 1 for update nowait").execute(&pool).await;
    assert!(locked.is_ok(), "the abandoned transaction still holds its lock: {locked:?}");
    holder.close_on_drop();
}
