//! The GDPR data export: one download holding exactly the caller's data and no secrets.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

const EXPORT: &str = "/api/v1/users/me/export";

async fn session_ids(db: &PgPool, user_id: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("select id from sessions where user_id = $1 order by created_at desc, id")
        .bind(user_id)
        .fetch_all(db)
        .await
        .expect("sessions")
}

async fn link_identity(db: &PgPool, user_id: Uuid, subject: &str, email: &str) {
    sqlx::query("insert into oauth_identities (provider, subject, user_id, email) values ('google', $1, $2, $3)")
        .bind(subject)
        .bind(user_id)
        .bind(email)
        .execute(db)
        .await
        .expect("identity");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_holds_exactly_the_callers_data(db: PgPool) {
    let app = TestApp::new(db.clone());
    let alice = app.signed_in_user("alice@example.com", "alice_a").await;
    app.signed_in_user("bob@example.com", "bobby_b").await;
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status, StatusCode::OK);
    let (alice_id, bob_id) = (app.user_id("alice@example.com").await, app.user_id("bob@example.com").await);
    link_identity(&db, alice_id, "google-sub-alice", "alice@gmail.example").await;
    link_identity(&db, bob_id, "google-sub-bob", "bob@gmail.example").await;
    let alice_events: i64 = sqlx::query_scalar("select count(*) from audit_log where user_id = $1")
        .bind(alice_id)
        .fetch_one(&db)
        .await
        .expect("count");

    let response = app.get_as(&alice, EXPORT).await;

    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(response.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"account-export.json\"");
    assert_eq!(response.headers[header::CACHE_CONTROL], "no-store");
    let export = &response.body;
    assert!(export["exported_at"].as_str().expect("exported_at").ends_with('Z'));
    assert_eq!(export["profile"]["id"], json!(alice_id));
    assert_eq!(export["profile"]["email"], "alice@example.com");
    assert_eq!(export["profile"]["username"], "alice_a");
    assert_eq!(export["profile"]["has_password"], true);
    assert!(export["profile"]["password_changed_at"].is_string());
    assert_eq!(export["pending_deletion"], Value::Null);
    assert_eq!(
        export["identities"],
        json!([{"provider": "google", "subject": "google-sub-alice", "email": "alice@gmail.example",
                "created_at": export["identities"][0]["created_at"]}])
    );
    let exported_sessions: Vec<Value> =
        export["sessions"].as_array().expect("sessions").iter().map(|s| s["id"].clone()).collect();
    let stored_sessions: Vec<Value> = session_ids(&db, alice_id).await.into_iter().map(|id| json!(id)).collect();
    assert_eq!(exported_sessions, stored_sessions);
    assert_eq!(exported_sessions.len(), 2);
    let session = &export["sessions"][0];
    for field in [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "revoke_reason",
        "device_info",
        "ip_address",
        "user_agent",
    ] {
        assert!(session.get(field).is_some(), "session lacks {field}");
    }
    let events = export["audit_events"].as_array().expect("audit events");
    assert_eq!(events.len() as i64, alice_events);
    assert!(events.iter().any(|e| e["event"] == "register"));
    assert!(events.iter().any(|e| e["event"] == "login"));
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().expect("at")).collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first: {times:?}");

    let text = export.to_string();
    for foreign in ["bob@example.com", "bobby_b", "google-sub-bob", "bob@gmail.example", &bob_id.to_string()] {
        assert!(!text.contains(foreign), "the export leaks {foreign}");
    }
    for id in session_ids(&db, bob_id).await {
        assert!(!text.contains(&id.to_string()), "the export leaks bob's session {id}");
    }
    let digests: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from refresh_tokens").fetch_all(&db).await.expect("hashes");
    for digest in digests {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&hex), "a refresh-token digest is exported");
    }
    for secret in ["token_hash", "password_hash", "$argon2", PASSWORD] {
        assert!(!text.contains(secret), "the export contains {secret}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_shows_ended_sessions_and_a_pending_deletion(db: PgPool) {
    let app = TestApp::new(db.clone());
    let token = app.signed_in_user("alice@example.com", "alice_a").await;
    let alice_id = app.user_id("alice@example.com").await;
    sqlx::query(
        "insert into sessions (user_id, created_at, expires_at, revoked_at, revoke_reason, ip_address, user_agent)
         values ($1, now() - interval '40 days', now() - interval '10 days', now() - interval '20 days', 'logout',
                 '203.0.113.9', 'Old Browser')",
    )
    .bind(alice_id)
    .execute(&db)
    .await
    .expect("old session");
    sqlx::query(
        "update users set deletion_requested_at = now(), deletion_scheduled_for = now() + interval '7 days'
          where id = $1",
    )
    .bind(alice_id)
    .execute(&db)
    .await
    .expect("schedule deletion");

    let export = app.get_as(&token, EXPORT).await.body;

    let sessions = export["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let old = &sessions[1];
    assert_eq!(old["revoke_reason"], "logout");
    assert_eq!(old["ip_address"], "203.0.113.9");
    assert_eq!(old["user_agent"], "Old Browser");
    assert!(old["revoked_at"].is_string());
    let pending = &export["pending_deletion"];
    assert!(pending["requested_at"].is_string());
    assert_eq!(pending["scheduled_for"], export["profile"]["deletion_scheduled_for"]);
    assert_eq!(export["identities"], json!([]));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_needs_a_token_and_is_itself_audited(db: PgPool) {
    let app = TestApp::new(db.clone());
    let token = app.signed_in_user("alice@example.com", "alice_a").await;

    let anonymous = app.call("GET", EXPORT, None, None).await;
    let first = app.get_as(&token, EXPORT).await;
    let second = app.get_as(&token, EXPORT).await;

    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(first.status, StatusCode::OK);
    let events = |body: &Value| -> Vec<String> {
        body["audit_events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["event"].as_str().expect("event").into())
            .collect()
    };
    assert!(!events(&first.body).contains(&"account_exported".to_owned()));
    assert_eq!(events(&second.body)[0], "account_exported", "the earlier export is on record");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_leaves_out_the_address_of_whoever_failed_to_sign_in(db: PgPool) {
    let app = TestApp::new(db.clone());
    let token = app.signed_in_user("alice@example.com", "alice_a").await;
    let alice = app.user_id("alice@example.com").await;
    sqlx::query(
        "insert into audit_log (event, user_id, ip, user_agent, success, details)
         values ('login', $1, '203.0.113.9', 'GuessBot/2', false, '{\"reason\": \"bad_credentials\"}')",
    )
    .bind(alice)
    .execute(&db)
    .await
    .expect("failed attempt");

    let export = app.get_as(&token, EXPORT).await;

    let text = export.body.to_string();
    assert!(text.contains("bad_credentials"), "the attempt itself is listed");
    assert!(!text.contains("203.0.113.9") && !text.contains("GuessBot"), "{text}");
}

/// `POST path` with a JSON body, arriving from `ip` with user agent `agent`.
fn post_from(ip: &str, agent: &str, path: &str, body: &Value) -> Request<Body> {
    let mut request = json_request("POST", path, body);
    request.extensions_mut().insert(ConnectInfo(format!("{ip}:443").parse::<SocketAddr>().expect("address")));
    request.headers_mut().insert(header::USER_AGENT, agent.parse().expect("header"));
    request
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_leaves_out_the_address_of_whoever_clicked_a_mailed_link(db: PgPool) {
    const ALICE: &str = "alice@example.com";
    const NEW_PASSWORD: &str = "An0ther-Passw0rd!";
    // Whoever opens the mailed links: a mail scanner, someone the mail was forwarded to.
    let (clicker_ip, clicker_agent) = ("203.0.113.77", "LinkScanner/3.1");
    let (owner_ip, owner_agent) = ("198.51.100.5", "AliceBrowser/1.0");
    let app = TestApp::new(db);
    let click = |path: &str, body: Value| app.send(post_from(clicker_ip, clicker_agent, path, &body));
    // Someone else registered Alice's address; she verifies it and takes the account over.
    let registered =
        click("/api/v1/auth/register", json!({"email": ALICE, "username": "alice_a", "password": PASSWORD}));
    assert_eq!(registered.await.status, StatusCode::CREATED);
    let verified = click("/api/v1/auth/verify-email", json!({"token": app.last_mailed_token(ALICE)})).await;
    assert_eq!(verified.body["verified"], true, "{:?}", verified.body);
    app.post_json("/api/v1/auth/forgot-password", &json!({"email": ALICE})).await;
    let reset = click(
        "/api/v1/auth/reset-password",
        json!({"token": app.last_mailed_token(ALICE), "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(reset.body["password_reset"], true, "{:?}", reset.body);
    app.post_json("/api/v1/auth/request-deletion", &json!({"email": ALICE})).await;
    let confirmed = click("/api/v1/auth/confirm-deletion", json!({"token": app.last_mailed_token(ALICE)})).await;
    assert_eq!(confirmed.body["deletion_confirmed"], true, "{:?}", confirmed.body);
    let login = app
        .send(post_from(
            owner_ip,
            owner_agent,
            "/api/v1/auth/login",
            &json!({"email": ALICE, "password": NEW_PASSWORD}),
        ))
        .await;
    let token = login.body["access_token"].as_str().expect("signed in").to_owned();

    let export = app.get_as(&token, EXPORT).await;

    assert_eq!(export.status, StatusCode::OK);
    let events = export.body["audit_events"].as_array().expect("events");
    let listed = |name: &str| events.iter().find(|e| e["event"] == name).unwrap_or_else(|| panic!("{name} listed"));
    for link in ["register", "verify_email", "password_reset", "deletion_confirmed"] {
        assert_eq!((&listed(link)["ip"], &listed(link)["user_agent"]), (&Value::Null, &Value::Null), "{link}");
    }
    let text = export.body.to_string();
    assert!(!text.contains(clicker_ip) && !text.contains(clicker_agent), "the clicker is in the export: {text}");
    assert_eq!((&listed("login")["ip"], &listed("login")["user_agent"]), (&json!(owner_ip), &json!(owner_agent)));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn admin_actions_on_an_account_appear_in_its_export_and_its_audit_filter(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("alice@example.com", "alice_a").await;
    let alice = app.user_id("alice@example.com").await;
    let revoke = app.call("DELETE", &format!("/api/v1/admin/users/{alice}/sessions"), Some(&admin), None).await;
    assert_eq!(revoke.status, StatusCode::OK);
    // the revocation ended Alice's session: she signs in again to export
    let login = app.login("alice@example.com", PASSWORD).await;
    let token = login.body["access_token"].as_str().expect("token").to_owned();

    let export = app.get_as(&token, EXPORT).await;
    let filtered =
        app.get_as(&admin, &format!("/api/v1/admin/audit-log?user_id={alice}&event=admin_sessions_revoked")).await;

    let events = export.body["audit_events"].as_array().expect("events");
    let by_admin =
        events.iter().find(|e| e["event"] == "admin_sessions_revoked").expect("the admin action is exported");
    assert_eq!((by_admin["ip"].clone(), by_admin["user_agent"].clone()), (Value::Null, Value::Null));
    assert_eq!(filtered.body["total"], 1);
}
