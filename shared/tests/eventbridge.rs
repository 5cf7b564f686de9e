//! The EventBridge sink against moto (scripts/test starts moto and sets AWS_ENDPOINT_URL): a rule
//! on a bus sends the published events to an SQS queue, where they arrive as EventBridge events
//! with our `source`, `detail-type` and `detail`.
#![cfg(all(feature = "events", feature = "sqs"))]

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use shared::adapters::eventbridge::EventBridgeSink;
use shared::domain::events::{AuthEvent, EventType};
use shared::ports::EventSink;
use uuid::Uuid;

fn config() -> aws_types::SdkConfig {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    shared::adapters::aws_env::sdk_config(None)
}

/// A bus of its own with a rule sending `source`'s events to a new queue; returns the bus name
/// and the queue URL.
async fn bus_to_queue(source: &str) -> (String, String) {
    let config = config();
    let (events, sqs) = (aws_sdk_eventbridge::Client::new(&config), aws_sdk_sqs::Client::new(&config));
    let name = format!("auth-{}", Uuid::new_v4().simple());
    events.create_event_bus().name(&name).send().await.expect("bus");
    let url = sqs.create_queue().queue_name(&name).send().await.expect("queue").queue_url().expect("url").to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes");
    let arn = attributes
        .attributes()
        .and_then(|all| all.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("arn");
    events
        .put_rule()
        .name(&name)
        .event_bus_name(&name)
        .event_pattern(json!({"source": [source]}).to_string())
        .send()
        .await
        .expect("rule");
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().expect("target");
    events.put_targets().rule(&name).event_bus_name(&name).targets(target).send().await.expect("target");
    (name, url)
}

async fn received(url: &str, want: usize) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&config());
    let mut bodies = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while bodies.len() < want && Instant::now() < until {
        let answer = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
        bodies.extend(
            answer
                .messages()
                .iter()
                .filter_map(|message| message.body())
                .map(|body| serde_json::from_str::<Value>(body).expect("an EventBridge event")),
        );
    }
    bodies
}

#[tokio::test]
async fn published_events_reach_a_rules_target_with_their_type_and_id() {
    let source = format!("serverless-auth-test-{}", Uuid::new_v4().simple());
    let (bus, url) = bus_to_queue(&source).await;
    let sink = EventBridgeSink::new(bus, source.clone());
    let user = Uuid::new_v4();
    let events = [
        AuthEvent::new(EventType::UserRegistered, user, json!({}), Utc::now()),
        AuthEvent::new(
            EventType::UserLogin,
            user,
            json!({"session_id": Uuid::new_v4(), "aal": "aal1", "amr": ["pwd"]}),
            Utc::now(),
        ),
    ];

    let accepted = sink.put(&events).await.expect("published");

    assert_eq!(accepted, [true, true]);
    let mut arrived = received(&url, 2).await;
    arrived.sort_by_key(|event| event["detail"]["type"].as_str().map(str::to_owned));
    let seen: Vec<(Value, Value, Value)> = arrived
        .iter()
        .map(|event| (event["source"].clone(), event["detail-type"].clone(), event["detail"]["event_id"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(source), json!("user.login"), json!(events[1].event_id)),
            (json!(source), json!("user.registered"), json!(events[0].event_id)),
        ]
    );
    assert_eq!(arrived[0]["detail"]["user_id"], json!(user));
}

#[tokio::test]
async fn an_unreachable_bus_is_an_error_not_a_panic() {
    let sink = EventBridgeSink::new(format!("no-such-bus-{}", Uuid::new_v4().simple()), "serverless-auth");
    let event = AuthEvent::new(EventType::UserVerified, Uuid::new_v4(), json!({}), Utc::now());

    let answer = sink.put(std::slice::from_ref(&event)).await;

    // moto refuses the entry (or the call): either way nothing counts as published.
    assert!(answer.as_ref().map_or(true, |accepted| accepted == &[false]), "{answer:?}");
}
