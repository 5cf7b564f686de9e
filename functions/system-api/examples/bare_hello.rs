//! A bare `lambda_http` hello world: the yardstick `scripts/bench` holds every function's cold
//! init against. Same runtime flavour and release profile as the functions, and nothing else,
//! so the ratio shows what our own start-up (settings, state, lazy pool) costs on top.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async { Ok::<_, Error>(Response::new(Body::from("hello"))) })).await
}
