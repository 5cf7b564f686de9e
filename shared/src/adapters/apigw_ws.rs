//! Pushing to API Gateway WebSocket connections through the Management API (`@connections`),
//! behind the `ws` feature. The endpoint is the API's own (`https://{domain}/{stage}`), known
//! from the event, so one client is made per endpoint and kept for the instance's life.

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use std::sync::OnceLock;

use crate::ports::{PublishError, PublishFuture, Publisher};

/// Sends frames to connections of one WebSocket API stage.
#[derive(Debug)]
pub struct ApiGatewayPublisher {
    endpoint: String,
    client: OnceLock<Client>,
}

impl ApiGatewayPublisher {
    /// A publisher for the stage at `endpoint` (`https://{domain}/{stage}`). Does no I/O.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self { endpoint: endpoint.into(), client: OnceLock::new() }
    }

    /// The endpoint this publisher talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&super::aws_env::sdk_config(Some(&self.endpoint))))
    }
}

/// API Gateway answers 410 for a connection that closed.
fn classify<E: std::error::Error + 'static, R: std::fmt::Debug>(error: &SdkError<E, R>, gone: bool) -> PublishError {
    if gone { PublishError::Gone } else { PublishError::Failed(DisplayErrorContext(error).to_string()) }
}

impl Publisher for ApiGatewayPublisher {
    fn send<'a>(&'a self, connection_id: &'a str, frame: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            let sent = self
                .client()
                .post_to_connection()
                .connection_id(connection_id)
                .data(Blob::new(frame.as_bytes()))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(error) => {
                    let gone = error.as_service_error().is_some_and(|e| e.is_gone_exception());
                    Err(classify(&error, gone))
                }
            }
        })
    }

    fn close<'a>(&'a self, connection_id: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            let closed = self.client().delete_connection().connection_id(connection_id).send().await;
            match closed {
                Ok(_) => Ok(()),
                Err(error) => {
                    let gone = error.as_service_error().is_some_and(|e| e.is_gone_exception());
                    Err(classify(&error, gone))
                }
            }
        })
    }
}
