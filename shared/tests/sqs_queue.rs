//! The SQS queue adapter against moto's SQS (scripts/test starts moto and sets AWS_ENDPOINT_URL):
//! a sent message arrives on the real queue in the documented format, and depth is reported.
#![cfg(feature = "sqs")]

use shared::adapters::sqs::SqsQueue;
use shared::jobs::message::{Envelope, Job};
use shared::ports::{Queue, QueueError};

async fn sqs() -> aws_sdk_sqs::Client {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let config = shared::adapters::aws_env::sdk_config(None);
    aws_sdk_sqs::Client::new(&config)
}

async fn new_queue(client: &aws_sdk_sqs::Client) -> String {
    let name = format!("jobs-{}", uuid::Uuid::new_v4().simple());
    client.create_queue().queue_name(name).send().await.expect("create queue").queue_url().expect("url").to_owned()
}

#[tokio::test]
async fn a_sent_job_arrives_on_the_queue_in_the_documented_format() {
    let client = sqs().await;
    let (url, dlq) = (new_queue(&client).await, new_queue(&client).await);
    let queue = SqsQueue::new(url.clone(), Some(dlq));
    let message = Envelope::new(Job::SendEmail { outbox_id: uuid::Uuid::new_v4() }).queued_by(Some("req-1".into()));

    queue.send(&message).await.expect("sent");
    let depth = queue.depth().await.expect("depth");
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");

    assert_eq!((depth.pending, depth.dead_letter), (1, Some(0)));
    let bodies: Vec<&str> = received.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(Envelope::decode(bodies[0]), Ok(message));
}

#[tokio::test]
async fn an_unknown_queue_is_an_error_not_a_panic() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("moto");
    let queue = SqsQueue::new(format!("{endpoint}/123456789012/no-such-queue-{}", uuid::Uuid::new_v4().simple()), None);

    let sent = queue.send(&Envelope::new(Job::RunTask { task_id: uuid::Uuid::new_v4() })).await;

    assert!(matches!(sent, Err(QueueError::Unavailable(_))), "{sent:?}");
}

#[tokio::test]
async fn a_queue_that_never_answers_costs_a_request_at_most_two_seconds() {
    // Accepts connections and never answers, like an endpoint without a route back.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let _accepting = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let config = test_support::test_config(&[]);
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(test_support::UNUSED_DATABASE_URL).expect("lazy");
    let endpoint = format!("http://{address}");
    let queue = SqsQueue::new(format!("{endpoint}/123456789012/jobs"), None).with_endpoint_url(endpoint);
    let state = shared::AppState::with_pool(config, pool).with_queue(std::sync::Arc::new(queue));

    let started = std::time::Instant::now();
    let queued = shared::jobs::enqueue(&state, Job::SendEmail { outbox_id: uuid::Uuid::new_v4() }).await;

    assert!(matches!(queued, Err(QueueError::Unavailable(_))), "{queued:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
}
