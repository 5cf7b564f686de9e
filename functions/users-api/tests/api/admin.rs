//! The superuser API: listing, search and filters over a few hundred accounts, flag changes with
//! the last-superuser rule, session revocation, the audit log, and who may call any of it.

use http::{StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

/// 300 accounts `u001@bulk.test` … `u300@bulk.test`, usernames `Member001` …, `u001` newest.
/// Even numbers are verified, multiples of 3 inactive, multiples of 10 pending deletion.
async fn insert_bulk_users(db: &PgPool) {
    sqlx::query(
        "insert into users (email, username, is_verified, is_active, created_at, deletion_requested_at,
                            deletion_scheduled_for)
         select 'u' || lpad(i::text, 3, '0') || '@bulk.test', 'Member' || lpad(i::text, 3, '0'),
                i % 2 = 0, i % 3 <> 0, now() - make_interval(days => 1, secs => i),
                case when i % 10 = 0 then now() end,
                case when i % 10 = 0 then now() + interval '7 days' end
           from generate_series(1, 300) as i",
    )
    .execute(db)
    .await
    .expect("bulk insert");
}

fn emails(page: &TestResponse) -> Vec<String> {
    page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

fn bulk_email(i: u32) -> String {
    format!("u{i:03}@bulk.test")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_user_list_paginates_newest_first_to_a_partial_last_page(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    insert_bulk_users(&db).await;

    let first = app.get_as(&admin, "/api/v1/admin/users?search=bulk.test").await;
    let second = app.get_as(&admin, "/api/v1/admin/users?search=bulk.test&page=2&size=20").await;
    let last = app.get_as(&admin, "/api/v1/admin/users?search=bulk.test&page=43&size=7").await;
    let past = app.get_as(&admin, "/api/v1/admin/users?search=bulk.test&page=44&size=7").await;
    let everyone = app.get_as(&admin, "/api/v1/admin/users?size=100&page=4").await;

    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(
        (first.body["total"].clone(), first.body["page"].clone(), first.body["size"].clone()),
        (json!(300), json!(1), json!(20))
    );
    assert_eq!(emails(&first), (1..=20).map(bulk_email).collect::<Vec<_>>());
    assert_eq!(emails(&second), (21..=40).map(bulk_email).collect::<Vec<_>>());
    assert_eq!(emails(&last), (295..=300).map(bulk_email).collect::<Vec<_>>(), "300 = 42 × 7 + 6");
    assert_eq!(last.body["total"], 300);
    assert_eq!(past.status, StatusCode::OK);
    assert_eq!(past.body["items"], json!([]));
    assert_eq!(past.body["total"], 300);
    assert_eq!(everyone.body["total"], 301, "the admin too");
    assert_eq!(emails(&everyone), vec![bulk_email(300)], "page 4 of 100 holds the oldest account only");
    let newest = app.get_as(&admin, "/api/v1/admin/users?size=1").await;
    assert_eq!(emails(&newest), vec!["boss@example.com".to_owned()]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_admin_user_carries_the_lifecycle_and_security_fields(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    insert_bulk_users(&db).await;

    let page = app.get_as(&admin, "/api/v1/admin/users?search=u010@").await;

    let user = &page.body["items"][0];
    assert_eq!(page.body["total"], 1);
    assert_eq!(user["username"], "Member010");
    assert_eq!(user["is_verified"], true);
    assert_eq!(user["has_password"], false);
    assert_eq!(user["failed_login_count"], 0);
    assert_eq!(user["locked_until"], Value::Null);
    assert!(user["deletion_requested_at"].as_str().expect("requested").ends_with('Z'));
    assert!(user["deletion_scheduled_for"].as_str().expect("scheduled").ends_with('Z'));
    for field in ["id", "email", "is_superuser", "is_active", "created_at", "updated_at", "password_changed_at"] {
        assert!(user.get(field).is_some(), "{field} missing");
    }
    assert!(user.get("password_hash").is_none());
    assert_eq!(user["email_undeliverable"], Value::Null);
    let one = app.get_as(&admin, &format!("/api/v1/admin/users/{}", user["id"].as_str().expect("id"))).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(&one.body, user);
    let me = app.get_as(&admin, &format!("/api/v1/admin/users/{}", app.user_id("boss@example.com").await)).await;
    assert_eq!(me.body["has_password"], true);
    assert!(me.body["password_changed_at"].is_string());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn search_is_case_insensitive_and_takes_like_wildcards_literally(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    insert_bulk_users(&db).await;
    sqlx::query(
        "insert into users (email, username) values
            ('a_b@odd.test', 'odd1'), ('axb@odd.test', 'odd2'), ('c@odd.test', 'hundred%'),
            ('d@odd.test', 'hundredx'), ('e@odd.test', 'back\\slash'), ('f@odd.test', 'backslash')",
    )
    .execute(&db)
    .await
    .expect("odd users");
    let total = |response: &TestResponse| response.body["total"].clone();

    let by_username = app.get_as(&admin, "/api/v1/admin/users?search=mEmBeR007").await;
    let by_email = app.get_as(&admin, "/api/v1/admin/users?search=U007%40BULK").await;
    let prefix = app.get_as(&admin, "/api/v1/admin/users?search=member00").await;
    let underscore = app.get_as(&admin, "/api/v1/admin/users?search=a_b").await;
    let percent = app.get_as(&admin, "/api/v1/admin/users?search=%25").await;
    let backslash = app.get_as(&admin, "/api/v1/admin/users?search=k%5Cs").await;
    let nothing = app.get_as(&admin, "/api/v1/admin/users?search=no-such-account").await;

    assert_eq!(emails(&by_username), vec![bulk_email(7)]);
    assert_eq!(emails(&by_email), vec![bulk_email(7)]);
    assert_eq!(total(&prefix), 9);
    assert_eq!(emails(&underscore), vec!["a_b@odd.test".to_owned()], "_ is not a wildcard");
    assert_eq!(emails(&percent), vec!["c@odd.test".to_owned()], "% is not a wildcard");
    assert_eq!(emails(&backslash), vec!["e@odd.test".to_owned()], "\\ is not an escape");
    assert_eq!((total(&nothing), nothing.body["items"].clone()), (json!(0), json!([])));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn filters_combine_with_each_other_and_with_search(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    insert_bulk_users(&db).await;
    let total = |query: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let response = app.get_as(&admin, &format!("/api/v1/admin/users?{query}")).await;
            assert_eq!(response.status, StatusCode::OK, "{query}: {:?}", response.body);
            response.body["total"].as_i64().expect("total")
        }
    };

    assert_eq!(total("search=bulk&is_verified=true").await, 150);
    assert_eq!(total("search=bulk&is_active=false").await, 100);
    assert_eq!(total("search=bulk&is_verified=true&is_active=false").await, 50);
    assert_eq!(total("search=bulk&pending_deletion=true").await, 30);
    assert_eq!(total("search=bulk&pending_deletion=false").await, 270);
    assert_eq!(total("pending_deletion=true&is_active=false&is_verified=true").await, 10);
    assert_eq!(total("is_superuser=true").await, 1);
    assert_eq!(total("is_superuser=false&is_verified=false").await, 150);
    let page = app.get_as(&admin, "/api/v1/admin/users?search=bulk&is_active=false&size=3").await;
    assert_eq!(emails(&page), vec![bulk_email(3), bulk_email(6), bulk_email(9)]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_query_values_are_fastapi_style_422s(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    let cases = [
        ("/api/v1/admin/users?size=101", "size", "less_than_equal"),
        ("/api/v1/admin/users?size=0", "size", "greater_than_equal"),
        ("/api/v1/admin/users?page=0", "page", "greater_than_equal"),
        ("/api/v1/admin/users?page=-1", "page", "greater_than_equal"),
        ("/api/v1/admin/users?page=99999999999999999999", "page", "int_parsing"),
        ("/api/v1/admin/users?size=abc", "size", "int_parsing"),
        ("/api/v1/admin/users?page=", "page", "int_parsing"),
        ("/api/v1/admin/users?is_active=maybe", "is_active", "bool_parsing"),
        ("/api/v1/admin/users?pending_deletion=2", "pending_deletion", "bool_parsing"),
        ("/api/v1/admin/audit-log?size=1000", "size", "less_than_equal"),
        ("/api/v1/admin/audit-log?user_id=nope", "user_id", "uuid_parsing"),
        ("/api/v1/admin/audit-log?since=yesterday", "since", "datetime_parsing"),
        ("/api/v1/admin/users?search=ja%00ne", "search", "string_pattern_mismatch"),
        ("/api/v1/admin/audit-log?event=login%00", "event", "string_pattern_mismatch"),
    ];
    for (path, field, kind) in cases {
        let response = app.get_as(&admin, path).await;

        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {:?}", response.body);
        let error = &response.body["detail"][0];
        assert_eq!(error["loc"], json!(["query", field]), "{path}");
        assert_eq!(error["type"], kind, "{path}");
        assert!(error["msg"].is_string() && error.get("input").is_some(), "{path}");
    }
    let at_most = app.get_as(&admin, "/api/v1/admin/users?size=100").await;
    assert_eq!(at_most.status, StatusCode::OK);
    let far = app.get_as(&admin, &format!("/api/v1/admin/users?size=100&page={}", i64::MAX)).await;
    assert_eq!(
        (far.status, far.body["items"].clone(), far.body["total"].clone()),
        (StatusCode::OK, json!([]), json!(1))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn admin_routes_refuse_ordinary_users_with_403_and_strangers_with_401(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_superuser("boss@example.com", "boss").await;
    let jane = app.signed_in_user("jane@example.com", "jane").await;
    let boss_id = app.user_id("boss@example.com").await;
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/admin/users".into(), None),
        ("GET", format!("/api/v1/admin/users/{boss_id}"), None),
        ("PATCH", format!("/api/v1/admin/users/{boss_id}"), Some(json!({"is_superuser": false}))),
        ("DELETE", format!("/api/v1/admin/users/{boss_id}/sessions"), None),
        ("DELETE", format!("/api/v1/admin/users/{boss_id}/undeliverable"), None),
        ("GET", "/api/v1/admin/audit-log".into(), None),
        ("GET", "/api/v1/admin/users/not-a-uuid".into(), None),
    ];
    for (method, path, body) in &routes {
        let ordinary = app.call(method, path, Some(&jane), body.as_ref()).await;
        let anonymous = app.call(method, path, None, body.as_ref()).await;

        assert_eq!(ordinary.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(ordinary.body, json!({"detail": "Not enough permissions", "code": "not_superuser"}));
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(anonymous.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    let untouched: bool = sqlx::query_scalar("select is_superuser from users where id = $1")
        .bind(boss_id)
        .fetch_one(&app.state.db)
        .await
        .expect("flag");
    assert!(untouched);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reading_an_unknown_or_malformed_id(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;

    let unknown = app.get_as(&admin, &format!("/api/v1/admin/users/{}", Uuid::new_v4())).await;
    let malformed = app.get_as(&admin, "/api/v1/admin/users/12345").await;

    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, json!({"detail": "User not found", "code": "user_not_found"}));
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.body["detail"][0]["loc"], json!(["path", "id"]));
    assert_eq!(malformed.body["detail"][0]["type"], "uuid_parsing");
    assert_eq!(malformed.body["detail"][0]["input"], "12345");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deactivating_a_user_ends_their_sessions_at_once(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    let jane = app.signed_in_user("jane@example.com", "jane").await;
    assert_eq!(app.login("jane@example.com", PASSWORD).await.status, StatusCode::OK);
    let jane_id = app.user_id("jane@example.com").await;
    assert_eq!(app.get_me(&jane).await.status, StatusCode::OK);

    let response = app.patch_user(&admin, jane_id, &json!({"is_active": false})).await;

    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.body["is_active"], false);
    assert_eq!(response.body["email"], "jane@example.com");
    assert_eq!(app.get_me(&jane).await.status, StatusCode::UNAUTHORIZED);
    let reasons: Vec<Option<String>> = sqlx::query_scalar("select revoke_reason from sessions where user_id = $1")
        .bind(jane_id)
        .fetch_all(&db)
        .await
        .expect("sessions");
    assert_eq!(reasons, vec![Some("admin_deactivated".to_owned()); 2]);
    let (admin_id, details): (Option<Uuid>, Value) =
        sqlx::query_as("select user_id, details from audit_log where event = 'admin_user_updated'")
            .fetch_one(&db)
            .await
            .expect("audit");
    assert_eq!(admin_id, Some(app.user_id("boss@example.com").await), "the admin is the actor");
    assert_eq!(details, json!({"target_user_id": jane_id, "changes": {"is_active": false}, "sessions_revoked": 2}));

    let reactivated = app.patch_user(&admin, jane_id, &json!({"is_active": true, "is_verified": true})).await;
    assert_eq!(reactivated.body["is_active"], true);
    assert_eq!(app.get_me(&jane).await.status, StatusCode::UNAUTHORIZED, "revoked sessions stay revoked");
    assert_eq!(app.login("jane@example.com", PASSWORD).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_last_active_superuser_cannot_demote_or_deactivate_themselves(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("jane@example.com", "jane").await;
    let (boss_id, jane_id) = (app.user_id("boss@example.com").await, app.user_id("jane@example.com").await);
    // an inactive superuser does not count
    sqlx::query(
        "insert into users (email, username, is_superuser, is_active) values ('old@example.com', 'old', true, false)",
    )
    .execute(&db)
    .await
    .expect("inactive superuser");

    let demote = app.patch_user(&admin, boss_id, &json!({"is_superuser": false})).await;
    let deactivate = app.patch_user(&admin, boss_id, &json!({"is_active": false})).await;

    let refused = json!({"detail": "Cannot remove the last active superuser", "code": "last_superuser"});
    assert_eq!((demote.status, &demote.body), (StatusCode::BAD_REQUEST, &refused));
    assert_eq!((deactivate.status, &deactivate.body), (StatusCode::BAD_REQUEST, &refused));
    assert_eq!(app.get_as(&admin, "/api/v1/admin/users?size=1").await.status, StatusCode::OK, "still an admin");

    let promoted = app.patch_user(&admin, jane_id, &json!({"is_superuser": true})).await;
    let stepped_down = app.patch_user(&admin, boss_id, &json!({"is_superuser": false})).await;

    assert_eq!(promoted.body["is_superuser"], true);
    assert_eq!(stepped_down.status, StatusCode::OK, "{:?}", stepped_down.body);
    assert_eq!(stepped_down.body["is_superuser"], false);
    assert_eq!(app.get_as(&admin, "/api/v1/admin/users").await.status, StatusCode::FORBIDDEN);
    let failures: i64 =
        sqlx::query_scalar("select count(*) from audit_log where event = 'admin_user_updated' and not success")
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(failures, 2, "refused attempts are audited");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_demotions_of_the_last_two_superusers_leave_one(db: PgPool) {
    let app = TestApp::new(db.clone());
    let boss = app.signed_in_superuser("boss@example.com", "boss").await;
    let jane = app.signed_in_superuser("jane@example.com", "jane").await;
    let (boss_id, jane_id) = (app.user_id("boss@example.com").await, app.user_id("jane@example.com").await);

    let demote = json!({"is_superuser": false});

    let (first, second) =
        tokio::join!(app.patch_user(&boss, boss_id, &demote), app.patch_user(&jane, jane_id, &demote));

    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
    let left: i64 = sqlx::query_scalar("select count(*) from users where is_superuser and is_active")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(left, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn patch_rejects_unknown_ids_and_fields_and_treats_an_empty_body_as_a_no_op(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("jane@example.com", "jane").await;
    let jane_id = app.user_id("jane@example.com").await;

    let unknown = app.patch_user(&admin, Uuid::new_v4(), &json!({"is_active": false})).await;
    let extra = app.patch_user(&admin, jane_id, &json!({"is_active": false, "email": "x@example.com"})).await;
    let wrong_type = app.patch_user(&admin, jane_id, &json!({"is_active": "no"})).await;
    let malformed = app.patch_user(&admin, "nope", &json!({})).await;
    let empty = app.patch_user(&admin, jane_id, &json!({})).await;
    let same = app.patch_user(&admin, jane_id, &json!({"is_active": true})).await;

    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["code"], "user_not_found");
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(extra.body["detail"][0]["type"], "extra_forbidden");
    assert_eq!(extra.body["detail"][0]["loc"], json!(["body", "email"]));
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.body["detail"][0]["loc"], json!(["path", "id"]));
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["is_active"], true);
    assert_eq!(same.status, StatusCode::OK);
    let audited: i64 = sqlx::query_scalar("select count(*) from audit_log where event like 'admin_%'")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(audited, 0, "nothing changed, nothing recorded");
    let still_active: bool = sqlx::query_scalar("select is_active from users where id = $1")
        .bind(jane_id)
        .fetch_one(&db)
        .await
        .expect("flag");
    assert!(still_active);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn revoking_a_users_sessions_counts_them_and_kills_their_tokens(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    let jane = app.signed_in_user("jane@example.com", "jane").await;
    let second = app.login("jane@example.com", PASSWORD).await;
    let second = second.body["access_token"].as_str().expect("token").to_owned();
    let jane_id = app.user_id("jane@example.com").await;
    let path = format!("/api/v1/admin/users/{jane_id}/sessions");

    let response = app.call("DELETE", &path, Some(&admin), None).await;
    let again = app.call("DELETE", &path, Some(&admin), None).await;
    let unknown =
        app.call("DELETE", &format!("/api/v1/admin/users/{}/sessions", Uuid::new_v4()), Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.body, json!({"detail": "Sessions revoked", "revoked": 2}));
    assert_eq!(app.get_me(&jane).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_me(&second).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_me(&admin).await.status, StatusCode::OK, "the admin's own session is untouched");
    assert_eq!(again.body["revoked"], 0);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["code"], "user_not_found");
    let details: Vec<Value> = sqlx::query_scalar(
        "select details from audit_log where event = 'admin_sessions_revoked' and user_id = $1 order by id",
    )
    .bind(app.user_id("boss@example.com").await)
    .fetch_all(&db)
    .await
    .expect("audit");
    assert_eq!(details[0], json!({"target_user_id": jane_id, "revoked": 2}));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_audit_log_filters_by_user_event_and_time_and_paginates_newest_first(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("jane@example.com", "jane").await;
    let jane_id = app.user_id("jane@example.com").await;
    // 25 probe events for jane at 2024-01-01T00:00:01Z … :25Z, and 5 for nobody
    sqlx::query(
        "insert into audit_log (event, user_id, success, at, details)
         select 'probe', case when i <= 25 then $1 end, true,
                timestamptz '2024-01-01T00:00:00Z' + make_interval(secs => i), jsonb_build_object('i', i)
           from generate_series(1, 30) as i",
    )
    .bind(jane_id)
    .execute(&db)
    .await
    .expect("probes");
    let get = |query: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let response = app.get_as(&admin, &format!("/api/v1/admin/audit-log?{query}")).await;
            assert_eq!(response.status, StatusCode::OK, "{query}: {:?}", response.body);
            response
        }
    };
    let numbers = |page: &TestResponse| -> Vec<i64> {
        page.body["items"].as_array().expect("items").iter().map(|e| e["details"]["i"].as_i64().expect("i")).collect()
    };

    let by_jane = get(format!("user_id={jane_id}&size=100")).await;
    let probes = get(format!("user_id={jane_id}&event=probe&size=10")).await;
    let third = get(format!("user_id={jane_id}&event=probe&size=10&page=3")).await;
    let since = get("event=probe&since=2024-01-01T00:00:10Z".to_owned()).await;
    let window = get("event=probe&since=2024-01-01T00:00:10Z&until=2024-01-01T00:00:20Z&size=100".to_owned()).await;
    let logins = get("event=login".to_owned()).await;
    let everything = get("size=5".to_owned()).await;

    let jane_events: i64 = sqlx::query_scalar("select count(*) from audit_log where user_id = $1")
        .bind(jane_id)
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(by_jane.body["total"], jane_events);
    assert!(by_jane.body["items"].as_array().expect("items").iter().all(|e| e["user_id"] == json!(jane_id)));
    assert_eq!(probes.body["total"], 25);
    assert_eq!(numbers(&probes), (16..=25).rev().collect::<Vec<_>>(), "newest first");
    assert_eq!(numbers(&third), (1..=5).rev().collect::<Vec<_>>(), "partial last page");
    assert_eq!(since.body["total"], 21, "since is inclusive");
    assert_eq!(numbers(&window), (10..=19).rev().collect::<Vec<_>>(), "until is exclusive");
    assert_eq!(logins.body["total"], 2);
    assert!(logins.body["items"].as_array().expect("items").iter().all(|e| e["event"] == "login"));
    let entry = &everything.body["items"][0];
    for field in ["id", "at", "event", "user_id", "ip", "user_agent", "success", "details"] {
        assert!(entry.get(field).is_some(), "{field} missing from {entry}");
    }
    assert_ne!(entry["event"], "probe", "real events are newer than the 2024 probes");
    assert_eq!(everything.body["size"], 5);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivation_voids_outstanding_reset_and_deletion_links(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("jane@example.com", "jane").await;
    let jane_id = app.user_id("jane@example.com").await;
    let links = app.mailed_account_links("jane@example.com").await;

    assert_eq!(app.patch_user(&admin, jane_id, &json!({"is_active": false})).await.status, StatusCode::OK);
    assert_eq!(app.patch_user(&admin, jane_id, &json!({"is_active": true})).await.status, StatusCode::OK);

    // Reactivated, the account must not be taken over with a link mailed before the deactivation.
    app.assert_account_links_are_dead(links).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_undeliverable_address_shows_in_the_admin_view_until_a_superuser_clears_it(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("jane@example.com", "jane").await;
    let jane = app.user_id("jane@example.com").await;
    let bounced = ["Jane@Example.com".to_owned()];
    shared::repo::undeliverable::mark(&db, &bounced, "bounce", "Permanent/General").await.expect("marked");
    let path = format!("/api/v1/admin/users/{jane}");

    let flagged = app.get_as(&admin, &path).await;
    let listed = app.get_as(&admin, "/api/v1/admin/users?search=jane@").await;
    let cleared = app.call("DELETE", &format!("{path}/undeliverable"), Some(&admin), None).await;
    let again = app.call("DELETE", &format!("{path}/undeliverable"), Some(&admin), None).await;
    let unknown =
        app.call("DELETE", &format!("/api/v1/admin/users/{}/undeliverable", Uuid::new_v4()), Some(&admin), None).await;
    let after = app.get_as(&admin, &path).await;

    assert_eq!(flagged.body["email_undeliverable"], "bounce");
    assert_eq!(listed.body["items"][0]["email_undeliverable"], "bounce");
    assert_eq!(cleared.status, StatusCode::OK, "{:?}", cleared.body);
    assert_eq!(cleared.body, json!({"detail": "Mail will be sent to the address again"}));
    assert_eq!((again.status, again.body["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));
    assert_eq!((unknown.status, unknown.body["code"].clone()), (StatusCode::NOT_FOUND, json!("user_not_found")));
    assert_eq!(after.body["email_undeliverable"], Value::Null);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where event = 'admin_undeliverable_cleared' and details->>'target_user_id' = $1",
    )
    .bind(jane.to_string())
    .fetch_one(&db)
    .await
    .expect("audit");
    assert_eq!(audited, 1);
}
