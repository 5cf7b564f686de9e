//! Database faults against the real routers and the real connection pool, with a TCP proxy
//! between the service and Postgres that the tests can cut, slow down or stall:
//!
//! - down, then back: every request answers a clear 503 while it is down, and the first requests
//!   after it is back succeed, with no restart;
//! - slow: a burst larger than the pool gets answers within the acquire timeout plus the query
//!   time, never more connections than the pool's maximum, and full service once it is fast again;
//! - stalled (a connection that stops answering in the middle of a query, after the pool handed
//!   it out): every request ends with a 503 at the request deadline instead of hanging, and the
//!   service recovers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::AppState;
use shared::adapters::local_ws::LocalHub;
use sqlx::PgPool;
use test_support::{JWT_SECRET, PASSWORD, request, send, temp_mail_dir, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy in front of Postgres. `cut` closes every open connection and refuses new ones
/// until `restore`; `delay` holds each forwarded chunk that long (in both directions);
/// `stall_on` swallows, from then on, every message to Postgres that contains the given bytes
/// (a query's text), leaving its connection open and silent.
struct Proxy {
    port: u16,
    faults: Arc<Faults>,
    up: watch::Sender<bool>,
}

#[derive(Default)]
struct Faults {
    delay_ms: AtomicU64,
    stall_on: std::sync::Mutex<Option<Vec<u8>>>,
}

impl Faults {
    fn stalls(&self, chunk: &[u8]) -> bool {
        let pattern = self.stall_on.lock().expect("lock");
        pattern.as_ref().is_some_and(|pattern| chunk.windows(pattern.len()).any(|window| window == pattern))
    }
}

impl Proxy {
    async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let faults = Arc::new(Faults::default());
        let (up, _) = watch::channel(true);
        let (shared_faults, state) = (faults.clone(), up.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*state.borrow() {
                    continue; // dropped: the connection is refused
                }
                tokio::spawn(forward(client, upstream_port, shared_faults.clone(), state.subscribe()));
            }
        });
        Self { port, faults, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }

    fn delay(&self, delay: Duration) {
        self.faults.delay_ms.store(u64::try_from(delay.as_millis()).expect("fits"), Ordering::SeqCst);
    }

    fn stall_on(&self, query_text: Option<&str>) {
        *self.faults.stall_on.lock().expect("lock") = query_text.map(|text| text.as_bytes().to_vec());
    }
}

async fn forward(client: TcpStream, upstream_port: u16, faults: Arc<Faults>, mut up: watch::Receiver<bool>) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { return };
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let pump =
        |mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, to_postgres: bool| {
            let faults = faults.clone();
            async move {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let read = from.read(&mut buffer).await.unwrap_or(0);
                    if read == 0 {
                        return;
                    }
                    if to_postgres && faults.stalls(&buffer[..read]) {
                        std::future::pending::<()>().await;
                    }
                    let delay = faults.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    if to.write_all(&buffer[..read]).await.is_err() {
                        return;
                    }
                }
            }
        };
    tokio::select! {
        () = pump(client_read, upstream_write, true) => {}
        () = pump(upstream_read, client_write, false) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

/// The devserver's routers on a pool that reaches the test database through `proxy`.
fn app(db: &PgPool, proxy: &Proxy, extra: &[(&str, &str)]) -> axum::Router {
    let options = db.connect_options();
    let url = format!(
        "postgres://{}@127.0.0.1:{}/{}",
        options.get_username(),
        proxy.port,
        options.get_database().expect("test database")
    );
    let mail_dir = temp_mail_dir().display().to_string();
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("RATE_LIMIT_ENABLED", "false"),
        ("MAIL_DIR", &mail_dir),
    ];
    vars.extend_from_slice(extra);
    let state = AppState::new(test_config(&vars));
    shared::http::finish(devserver::routes(&state, Arc::new(LocalHub::default())), state)
}

/// A verified account with a known password, written directly.
async fn insert_account(db: &PgPool) {
    let hash = shared::security::password::hash(SecretString::from(PASSWORD)).await.expect("hash");
    sqlx::query(
        "insert into users (email, username, password_hash, is_verified) values ('jane@example.com', 'jane', $1, true)",
    )
    .bind(hash)
    .execute(db)
    .await
    .expect("account");
}

struct Answer {
    status: StatusCode,
    body: Value,
    took: Duration,
}

async fn call(app: &axum::Router, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    let request = request(method, path, token, body.as_ref());
    let started = Instant::now();
    let response = send(app.clone(), request).await;
    Answer { status: response.status, body: response.body, took: started.elapsed() }
}

async fn login(app: &axum::Router) -> Answer {
    call(app, "POST", "/api/v1/auth/login", None, Some(json!({"email": "jane@example.com", "password": PASSWORD})))
        .await
}

/// Readiness, login and an authenticated read: the three kinds of database use (ping, writes in
/// a transaction, the per-request session check).
async fn probe(app: &axum::Router, token: &str) -> [Answer; 3] {
    [
        call(app, "GET", "/api/v1/health/ready", None, None).await,
        login(app).await,
        call(app, "GET", "/api/v1/users/me", Some(token), None).await,
    ]
}

fn statuses(answers: &[Answer]) -> Vec<StatusCode> {
    answers.iter().map(|answer| answer.status).collect()
}

fn pg_port(db: &PgPool) -> u16 {
    db.connect_options().get_port()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn with_the_database_cut_every_request_is_a_503_and_service_resumes_without_a_restart(db: PgPool) {
    insert_account(&db).await;
    let proxy = Proxy::start(pg_port(&db)).await;
    let app = app(&db, &proxy, &[("DB_ACQUIRE_TIMEOUT_MS", "500")]);
    let token = login(&app).await.body["access_token"].as_str().expect("signed in").to_owned();
    assert_eq!(statuses(&probe(&app, &token).await), [StatusCode::OK; 3]);

    let mut faults = 0;
    for round in 0..3 {
        proxy.cut();
        for answer in probe(&app, &token).await {
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "round {round}: {}", answer.body);
            let explained = answer.body["code"] == "service_unavailable"
                || answer.body["detail"]["components"]["database"]["ready"] == false;
            assert!(explained, "round {round}: {}", answer.body);
            assert!(answer.took < Duration::from_secs(2), "round {round}: a 503 took {:?}", answer.took);
            faults += 1;
        }

        proxy.restore();
        let back = probe(&app, &token).await;
        assert_eq!(statuses(&back), [StatusCode::OK; 3], "round {round}: the first requests after recovery");
    }
    println!("faults injected: database cut {faults} times across 3 outages, every first request after it succeeded");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_slow_database_gives_bounded_answers_without_piling_up_connections(db: PgPool) {
    const POOL: usize = 4;
    const BURST: usize = 40;
    const ACQUIRE: Duration = Duration::from_millis(1000);
    const DELAY: Duration = Duration::from_millis(150);
    insert_account(&db).await;
    let proxy = Proxy::start(pg_port(&db)).await;
    let app = app(&db, &proxy, &[("DB_MAX_CONNECTIONS", "4"), ("DB_ACQUIRE_TIMEOUT_MS", "1000")]);
    let token = login(&app).await.body["access_token"].as_str().expect("signed in").to_owned();

    proxy.delay(DELAY);
    let database = db.connect_options().get_database().expect("name").to_owned();
    let watcher = {
        let (db, database) = (db.clone(), database.clone());
        tokio::spawn(async move {
            let mut most = 0i64;
            for _ in 0..40 {
                let open: i64 = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity where datname = $1 and application_name = 'serverless-auth'",
                )
                .bind(&database)
                .fetch_one(&db)
                .await
                .expect("activity");
                most = most.max(open);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            most
        })
    };
    let burst = (0..BURST).map(|_| call(&app, "GET", "/api/v1/users/me", Some(&token), None));
    let answers = futures_util::future::join_all(burst).await;
    let most_connections = watcher.await.expect("watcher");

    let served = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    let shed = answers.iter().filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE).count();
    let slowest = answers.iter().map(|a| a.took).max().expect("answers");
    assert_eq!(served + shed, BURST, "only 200 or 503: {:?}", statuses(&answers));
    assert!(served >= POOL, "the pool kept serving at its pace: {served} served");
    // Waiting for a connection is bounded by the acquire timeout; a request that got one spends
    // a few round trips of the proxy's delay on top (connect, session check).
    let bound = ACQUIRE + DELAY * 2 * 8;
    assert!(slowest <= bound, "slowest answer {slowest:?} (bound {bound:?})");
    assert!(most_connections <= POOL as i64, "{most_connections} connections for a pool of {POOL}");

    proxy.delay(Duration::ZERO);
    let after =
        futures_util::future::join_all((0..BURST).map(|_| call(&app, "GET", "/api/v1/users/me", Some(&token), None)))
            .await;
    assert!(after.iter().all(|a| a.status == StatusCode::OK), "{:?}", statuses(&after));
    println!(
        "faults injected: {BURST} requests against a database slowed by {DELAY:?} per chunk: {served} served, {shed} shed \
         with 503, slowest {slowest:.2?}, at most {most_connections} connections (pool {POOL})"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stalled_database_ends_requests_at_the_deadline_and_service_resumes(db: PgPool) {
    const BURST: usize = 8;
    const DEADLINE: Duration = Duration::from_millis(1500);
    insert_account(&db).await;
    let proxy = Proxy::start(pg_port(&db)).await;
    let app = app(&db, &proxy, &[("DB_ACQUIRE_TIMEOUT_MS", "500"), ("REQUEST_TIMEOUT_MS", "1500")]);
    let token = login(&app).await.body["access_token"].as_str().expect("signed in").to_owned();

    // The session check every authenticated request makes goes unanswered: the connection was
    // handed out and is healthy as far as the pool knows, then its query gets no reply.
    proxy.stall_on(Some("from sessions s join users u"));
    let burst = (0..BURST).map(|_| call(&app, "GET", "/api/v1/users/me", Some(&token), None));
    let answers = futures_util::future::join_all(burst).await;

    for answer in &answers {
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.body);
        assert!(answer.took < DEADLINE + Duration::from_millis(500), "took {:?}", answer.took);
    }
    proxy.stall_on(None);
    let back = call(&app, "GET", "/api/v1/users/me", Some(&token), None).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    proxy.cut(); // the stalled connections Postgres still holds, so the test database can go
    println!("faults injected: {BURST} requests against a stalled database, all 503 within {DEADLINE:?}, then served");
}
