//! The devserver binary as a user runs it: start-up configuration errors, and a real server on a
//! loopback port answering health checks from the test Postgres, then shutting down gracefully.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::rate_limit_window;

const TEST_SECRET: &str = "devserver-test-secret-0123456789abcdef";

fn devserver() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devserver"));
    // Auth events go to a directory of their own, never into the crate's `.local/`.
    let events_dir = std::env::temp_dir().join(format!("devserver-events-{}", std::process::id()));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("EVENTS_DIR", events_dir);
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Sends a GET over a fresh connection; returns the status code and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the devserver on a free port against `database_url` with `env` added, and waits until
/// it answers. The server stops when the returned guard drops.
fn start_devserver(database_url: &str, env: &[(&str, String)]) -> (Server, u16) {
    let port = free_port();
    let mut command = devserver();
    command.env("DATABASE_URL", database_url).env("JWT_SECRET", TEST_SECRET).env("PORT", port.to_string());
    for (name, value) in env {
        command.env(name, value);
    }
    let server = Server(command.stdout(Stdio::null()).spawn().expect("start devserver"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/api/v1/health/live").is_err() {
        assert!(Instant::now() < deadline, "devserver never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, port)
}

#[test]
fn missing_database_url_exits_with_one_line_naming_it() {
    let output = devserver().output().expect("run devserver");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("configuration error: DATABASE_URL"), "{stderr}");
}

#[test]
fn invalid_values_exit_with_one_line_naming_the_variable() {
    for (var, value) in
        [("PORT", "eighty"), ("RATE_LIMIT_ENABLED", "sometimes"), ("DB_MAX_CONNECTIONS", "-3"), ("JWT_SECRET", "short")]
    {
        let output = devserver()
            .env("DATABASE_URL", "postgres://u@127.0.0.1:1/db")
            .env("JWT_SECRET", TEST_SECRET)
            .env(var, value)
            .output()
            .expect("run");

        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}

#[test]
fn a_missing_signing_key_exits_with_one_line_naming_it() {
    let output = devserver().env("DATABASE_URL", "postgres://u@127.0.0.1:1/db").output().expect("run");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim(), "configuration error: JWT_SECRET is required (or set JWT_PRIVATE_KEY)");
}

/// Creates a fresh database on the test server, migrated like `scripts/dev` does; returns its URL.
fn migrated_database() -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a test Postgres (run scripts/test)");
    let name = format!("devserver_{}", uuid::Uuid::new_v4().simple());
    let url = match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("DATABASE_URL has no database name: {server}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let admin = sqlx::PgPool::connect(&server).await.expect("connect to the test server");
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&admin).await.expect("create");
        let db = sqlx::PgPool::connect(&url).await.expect("connect to the new database");
        shared::MIGRATOR.run(&db).await.expect("migrate");
    });
    url
}

#[test]
fn serves_health_on_loopback_and_stops_gracefully_on_sigterm() {
    let database_url = migrated_database();
    let port = free_port();
    let child = devserver()
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", TEST_SECRET)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("start devserver");
    let mut server = Server(child);

    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        match http_get(port, "/api/v1/health/ready") {
            Ok(answer) => break answer,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(error) => panic!("devserver never answered: {error}"),
        }
    };
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""ready":true"#), "{body}");

    let (status, body) = http_get(port, "/api/v1/health/rate-limit").expect("rate-limit");
    assert_eq!(status, 200);
    assert!(body.contains(r#""client_ip":"127.0.0.1""#), "{body}");

    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let exit = server.0.wait().expect("wait");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}

#[test]
fn the_local_scheduler_purges_an_account_whose_grace_period_ended() {
    let database_url = migrated_database();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let db = runtime.block_on(sqlx::PgPool::connect(&database_url)).expect("connect");
    runtime
        .block_on(
            sqlx::query(
                "insert into users (email, username, deletion_requested_at, deletion_scheduled_for)
                 values ('gone@example.com', 'gone', now() - interval '8 days', now() - interval '1 minute')",
            )
            .execute(&db),
        )
        .expect("due account");
    let port = free_port();
    let child = devserver()
        .env("DATABASE_URL", &database_url)
        .env("JWT_SECRET", TEST_SECRET)
        .env("PORT", port.to_string())
        .env("SCHEDULER_INTERVAL_SECONDS", "1")
        .env("MAIL_DIR", std::env::temp_dir().join(format!("devserver-mail-{port}")))
        .stdout(Stdio::null())
        .spawn()
        .expect("start devserver");
    let _server = Server(child);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: i64 = runtime
            .block_on(sqlx::query_scalar("select count(*) from users where email = 'gone@example.com'").fetch_one(&db))
            .expect("count");
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the ticker never purged the account");
        std::thread::sleep(Duration::from_millis(200));
    }
    let purged: i64 = runtime
        .block_on(sqlx::query_scalar("select count(*) from audit_log where event = 'account_purged'").fetch_one(&db))
        .expect("audit");
    assert_eq!(purged, 1);
}

/// Sends a POST with a JSON body over a fresh connection; returns the status code and body.
fn http_post_json(port: u16, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_json(port, "POST", path, None, body)
}

/// Sends a request with a Bearer token over a fresh connection; returns the status and body.
fn http_with_token(port: u16, method: &str, path: &str, token: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_json(port, method, path, Some(token), body)
}

/// Sends one JSON request (optionally with a Bearer token) on a fresh connection.
fn http_json(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let authorization = token.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[test]
fn the_verification_mail_arrives_through_the_local_queue() {
    let database_url = migrated_database();
    let mail_dir = std::env::temp_dir().join(format!("devserver-queue-mail-{}", uuid::Uuid::new_v4()));
    let env = [("MAIL_DIR", mail_dir.display().to_string()), ("SCHEDULER_INTERVAL_SECONDS", "0".to_owned())];
    let (_server, port) = start_devserver(&database_url, &env);
    let deadline = Instant::now() + Duration::from_secs(20);

    let (status, body) = http_post_json(
        port,
        "/api/v1/auth/register",
        r#"{"email":"jane@example.com","username":"jane","password":"Str0ng-Passw0rd!"}"#,
    )
    .expect("register");

    assert_eq!(status, 201, "{body}");
    let mail = loop {
        let found = std::fs::read_dir(&mail_dir).ok().and_then(|mut entries| entries.next()).and_then(Result::ok);
        if let Some(entry) = found {
            break std::fs::read_to_string(entry.path()).expect("mail");
        }
        assert!(Instant::now() < deadline, "no mail arrived through the local queue");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(mail.contains("verify-email?token="), "{mail}");
    let _ = std::fs::remove_dir_all(&mail_dir);
}

#[test]
fn a_task_submitted_through_the_api_reaches_success_on_the_local_worker() {
    let database_url = migrated_database();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let db = sqlx::PgPool::connect(&database_url).await.expect("connect");
        let hash =
            shared::security::password::hash(secrecy::SecretString::from("Str0ng-Passw0rd!")).await.expect("hash");
        sqlx::query(
            "insert into users (email, username, password_hash, is_verified, is_superuser)
             values ('boss@example.com', 'boss', $1, true, true)",
        )
        .bind(hash)
        .execute(&db)
        .await
        .expect("superuser");
    });
    let (_server, port) = start_devserver(&database_url, &[("SCHEDULER_INTERVAL_SECONDS", "0".to_owned())]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, login) =
        http_post_json(port, "/api/v1/auth/login", r#"{"email":"boss@example.com","password":"Str0ng-Passw0rd!"}"#)
            .expect("login");
    assert_eq!(status, 200, "{login}");
    let login: serde_json::Value = serde_json::from_str(&login).expect("json");
    let token = login["access_token"].as_str().expect("token");

    let (status, submitted) = http_with_token(
        port,
        "POST",
        "/api/v1/tasks",
        token,
        r#"{"task_name":"process_data","kwargs":{"data":[1,2,3]}}"#,
    )
    .expect("submit");

    assert_eq!(status, 202, "{submitted}");
    let submitted: serde_json::Value = serde_json::from_str(&submitted).expect("json");
    let task_id = submitted["task_id"].as_str().expect("task id");
    let task = loop {
        let (status, body) =
            http_with_token(port, "GET", &format!("/api/v1/tasks/{task_id}"), token, "").expect("read");
        assert_eq!(status, 200, "{body}");
        let task: serde_json::Value = serde_json::from_str(&body).expect("json");
        if task["status"] == "SUCCESS" {
            break task;
        }
        assert!(Instant::now() < deadline, "the task never finished: {task}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(task["result"]["count"], 3, "{task}");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts a devserver on a fresh database with the accounts `alice` and `bob` (ticking every
/// second, so ended sessions' sockets are closed quickly); returns it, its port, the database
/// URL and the two users' access tokens.
fn devserver_with_two_users() -> (Server, u16, String, String, String) {
    devserver_with_two_users_and(&[])
}

/// [`devserver_with_two_users`] with the settings `extra` on top.
fn devserver_with_two_users_and(extra: &[(&str, &str)]) -> (Server, u16, String, String, String) {
    let database_url = migrated_database();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let db = sqlx::PgPool::connect(&database_url).await.expect("connect");
        let hash =
            shared::security::password::hash(secrecy::SecretString::from("Str0ng-Passw0rd!")).await.expect("hash");
        for name in ["alice", "bob"] {
            sqlx::query("insert into users (email, username, password_hash, is_verified) values ($1, $2, $3, true)")
                .bind(format!("{name}@example.com"))
                .bind(name)
                .bind(&hash)
                .execute(&db)
                .await
                .expect("user");
        }
    });
    let mail_dir = std::env::temp_dir().join(format!("devserver-ws-mail-{}", uuid::Uuid::new_v4()));
    let mut env = vec![("SCHEDULER_INTERVAL_SECONDS", "1".to_owned()), ("MAIL_DIR", mail_dir.display().to_string())];
    env.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let (server, port) = start_devserver(&database_url, &env);
    let (alice, bob) = (log_in(port, "alice"), log_in(port, "bob"));
    (server, port, database_url, alice, bob)
}

/// Signs one of [`devserver_with_two_users`]' accounts in (a new session each time); returns
/// the access token.
fn log_in(port: u16, name: &str) -> String {
    let body = format!(r#"{{"email":"{name}@example.com","password":"Str0ng-Passw0rd!"}}"#);
    let (status, login) = http_post_json(port, "/api/v1/auth/login", &body).expect("login");
    assert_eq!(status, 200, "{login}");
    let login: serde_json::Value = serde_json::from_str(&login).expect("json");
    login["access_token"].as_str().expect("token").to_owned()
}

async fn open_socket(port: u16, token: &str) -> Socket {
    open_socket_at(port, "/api/v1/ws", token).await
}

async fn open_socket_at(port: u16, path: &str, token: &str) -> Socket {
    let url = format!("ws://127.0.0.1:{port}{path}?token={token}");
    let (socket, response) = tokio_tungstenite::connect_async(url).await.expect("handshake");
    assert_eq!(response.status(), 101);
    socket
}

async fn send_json(socket: &mut Socket, frame: serde_json::Value) {
    use futures_util::SinkExt;
    socket.send(tokio_tungstenite::tungstenite::Message::text(frame.to_string())).await.expect("send");
}

/// The next text frame, parsed; fails after 5 seconds.
async fn next_json(socket: &mut Socket) -> serde_json::Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("socket open")
            .expect("frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Asserts that no frame arrives within 300 ms.
async fn assert_silent(socket: &mut Socket) {
    use futures_util::StreamExt;
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), socket.next()).await {
        panic!("expected silence, got {frame:?}");
    }
}

#[test]
fn two_websocket_clients_echo_broadcast_and_talk_in_rooms() {
    let (_server, port, _, alice_token, bob_token) = devserver_with_two_users();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        use tokio_tungstenite::tungstenite::Error;
        let refused = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/ws")).await;
        let Err(Error::Http(response)) = refused else { panic!("a handshake without a token must fail with HTTP") };
        assert_eq!(response.status(), 401);
        let body: serde_json::Value =
            serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("json");
        assert_eq!(body, serde_json::json!({"detail": "Not authenticated", "code": "not_authenticated"}));
        let refused = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/ws?token=forged")).await;
        assert!(matches!(refused, Err(Error::Http(response)) if response.status() == 401));

        let mut alice = open_socket(port, &alice_token).await;
        // Bob uses the seed's path: the same handler and hub.
        let mut bob = open_socket_at(port, "/api/v1/ws/demo", &bob_token).await;

        send_json(&mut alice, serde_json::json!({"type": "echo", "message": "hi"})).await;
        let echo = next_json(&mut alice).await;
        assert_eq!((echo["type"].as_str(), echo["message"].as_str()), (Some("echo"), Some("hi")));

        send_json(&mut alice, serde_json::json!({"type": "status"})).await;
        let status = next_json(&mut alice).await;
        assert_eq!(status["type"], "status");
        assert_eq!(status["total_connections"], 2);
        assert_eq!(status["room_connections"], 2);
        let (code, body) = http_get(port, "/api/v1/ws/status").expect("status endpoint");
        assert_eq!(code, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["total_connections"], 2);

        send_json(&mut alice, serde_json::json!({"type": "broadcast", "message": "hello bob"})).await;
        let received = next_json(&mut bob).await;
        assert_eq!(received["type"], "broadcast");
        assert_eq!(received["message"], "hello bob");
        assert_eq!(received["sender"]["username"], "alice");
        assert_eq!(next_json(&mut alice).await["message"], "hello bob", "the sender is in the room too");

        send_json(&mut bob, serde_json::json!({"type": "join", "room": "lobby"})).await;
        let joined = next_json(&mut bob).await;
        assert_eq!((joined["type"].as_str(), joined["room"].as_str()), (Some("joined"), Some("lobby")));
        send_json(&mut bob, serde_json::json!({"type": "room_broadcast", "room": "lobby", "message": "psst"})).await;
        let whisper = next_json(&mut bob).await;
        assert_eq!((whisper["type"].as_str(), whisper["message"].as_str()), (Some("room_broadcast"), Some("psst")));
        assert_silent(&mut alice).await;

        send_json(&mut alice, serde_json::json!({"type": "room_broadcast", "room": "lobby", "message": "let me"}))
            .await;
        assert_eq!(next_json(&mut alice).await["type"], "error", "alice is not in the lobby");
        assert_silent(&mut bob).await;

        use futures_util::SinkExt;
        alice.send(tokio_tungstenite::tungstenite::Message::binary(vec![1, 2, 3])).await.expect("send");
        assert_eq!(next_json(&mut alice).await["type"], "error", "binary frames are refused with a frame");
        let huge = serde_json::json!({"type": "echo", "message": "x".repeat(shared::domain::ws::MAX_FRAME_BYTES)});
        send_json(&mut alice, huge).await;
        let too_large = next_json(&mut alice).await;
        assert!(too_large["message"].as_str().is_some_and(|m| m.starts_with("Message too large")), "{too_large}");
    });
}

#[test]
fn the_token_may_come_as_the_subprotocol_and_a_revoked_session_loses_its_socket() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_server, port, database_url, alice_token, bob_token) = devserver_with_two_users();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut request = format!("ws://127.0.0.1:{port}/api/v1/ws").into_client_request().expect("request");
        request.headers_mut().insert("sec-websocket-protocol", alice_token.parse().expect("header"));
        let (mut alice, response) = tokio_tungstenite::connect_async(request).await.expect("handshake");
        assert_eq!(response.headers()["sec-websocket-protocol"], alice_token.as_str());
        let mut bob = open_socket(port, &bob_token).await;
        send_json(&mut alice, serde_json::json!({"type": "echo", "message": "ready"})).await;
        assert_eq!(next_json(&mut alice).await["message"], "ready");

        let db = sqlx::PgPool::connect(&database_url).await.expect("connect");
        sqlx::query(
            "update sessions set revoked_at = now() where user_id = (select id from users where username = 'alice')",
        )
        .execute(&db)
        .await
        .expect("revoke");

        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match alice.next().await {
                    Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break None,
                }
            }
        })
        .await
        .expect("the ticker closes the revoked session's socket within a few ticks");
        assert_eq!(closed, Some(1008), "closed with a policy-violation frame");

        send_json(&mut bob, serde_json::json!({"type": "status"})).await;
        let status = next_json(&mut bob).await;
        assert_eq!(status["total_connections"], 1, "{status}");
    });
}

#[test]
fn a_seed_env_starts_the_server_and_the_log_names_the_seed_settings_read_and_ignored() {
    let database_url = migrated_database();
    let port = free_port();
    let child = devserver()
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("SECRET_KEY", TEST_SECRET)
        .env("RATE_LIMIT_LOGIN", "7/minute")
        .env("SMTP_HOST", "smtp.gmail.com")
        .env("ENABLE_CELERY", "true")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start devserver");
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/api/v1/health/live").is_err() {
        assert!(Instant::now() < deadline, "devserver never answered");
        std::thread::sleep(Duration::from_millis(100));
    }

    let (status, body) = http_get(port, "/api/v1/health/rate-limit").expect("rate-limit");
    assert_eq!(status, 200, "{body}");
    let limits: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(limits["limits"]["login"]["limit"], 7, "{body}");

    let _ = server.0.kill();
    let mut logs = String::new();
    server.0.stdout.take().expect("piped").read_to_string(&mut logs).expect("read logs");
    let line = |needle: &str| logs.lines().filter(|line| line.contains(needle)).count();
    assert_eq!(line("read the seed's setting names: SECRET_KEY as JWT_SECRET"), 1, "{logs}");
    assert_eq!(line("ignored the seed's settings that mean nothing here: SMTP_HOST, ENABLE_CELERY"), 1, "{logs}");
}

/// Opens a socket at `path`; a refused handshake gives its HTTP status and JSON body.
async fn try_socket(port: u16, path: &str, token: &str) -> Result<Socket, (u16, serde_json::Value)> {
    use tokio_tungstenite::tungstenite::Error;
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}?token={token}")).await {
        Ok((socket, _)) => Ok(socket),
        Err(Error::Http(response)) => {
            let body = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("the handshake failed without an HTTP answer: {other}"),
    }
}

#[track_caller]
fn assert_too_many_connections(refused: &(u16, serde_json::Value)) {
    assert_eq!(refused.0, 429, "{refused:?}");
    assert_eq!(refused.1["code"], "too_many_connections", "{refused:?}");
}

#[test]
fn sockets_over_the_session_or_user_cap_are_refused_with_429() {
    let caps = [("WS_MAX_CONNECTIONS_PER_SESSION", "2"), ("WS_MAX_CONNECTIONS_PER_USER", "3")];
    let (_server, port, _, alice, bob) = devserver_with_two_users_and(&caps);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // Six handshakes of one session at once: exactly the cap gets through.
        let attempts = futures_util::future::join_all((0..6).map(|_| try_socket(port, "/api/v1/ws", &alice))).await;
        let (mut open, mut refused) = (Vec::new(), Vec::new());
        for attempt in attempts {
            match attempt {
                Ok(socket) => open.push(socket),
                Err(answer) => refused.push(answer),
            }
        }
        assert_eq!((open.len(), refused.len()), (2, 4), "{refused:?}");
        refused.iter().for_each(assert_too_many_connections);

        // A closed socket frees its place once the server has seen the close.
        let mut closed = open.pop().expect("an open socket");
        closed.close(None).await.expect("close");
        let deadline = Instant::now() + Duration::from_secs(5);
        let reopened = loop {
            match try_socket(port, "/api/v1/ws", &alice).await {
                Ok(socket) => break socket,
                Err(answer) => assert_too_many_connections(&answer),
            }
            assert!(Instant::now() < deadline, "the closed socket's place was never freed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };

        // A second session of alice: the user's cap (3) is reached before its own (2), on the
        // seed's path too.
        let alice_again = log_in(port, "alice");
        let third = try_socket(port, "/api/v1/ws/demo", &alice_again).await.map_err(|answer| format!("{answer:?}"));
        let fourth = try_socket(port, "/api/v1/ws/demo", &alice_again).await.map(drop);
        assert!(third.is_ok(), "{:?}", third.map(drop));
        assert_too_many_connections(&fourth.expect_err("over the user's cap"));

        // Another user has caps of their own.
        let bobs = (open_socket(port, &bob).await, open_socket(port, &bob).await);
        drop((open, reopened, third, bobs));
    });
}

#[test]
fn sockets_of_one_session_share_one_frame_budget() {
    let (_server, port, _, alice, bob) = devserver_with_two_users();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (mut first, mut second) = (open_socket(port, &alice).await, open_socket(port, &alice).await);
        let mut other_user = open_socket(port, &bob).await;
        rate_limit_window::leave_room_in_the_rate_limit_window();

        for _ in 0..120 {
            send_json(&mut first, serde_json::json!({"type": "echo", "message": "x"})).await;
        }
        for _ in 0..120 {
            assert_eq!(next_json(&mut first).await["type"], "echo");
        }
        send_json(&mut second, serde_json::json!({"type": "echo", "message": "more"})).await;
        send_json(&mut other_user, serde_json::json!({"type": "echo", "message": "mine"})).await;

        let refused = next_json(&mut second).await;
        assert_eq!(refused["type"], "error", "a second socket of the session buys no more frames: {refused}");
        assert!(refused["message"].as_str().is_some_and(|m| m.starts_with("Too many messages")), "{refused}");
        assert_eq!(next_json(&mut other_user).await["message"], "mine", "another session has its own budget");
    });
}
