//! Local all-in-one server: every function's routes under one base URL, so the whole API runs on a
//! laptop without Lambda or API Gateway. Queued jobs run on an in-process worker and the
//! scheduled jobs on a local ticker; WebSockets go through an in-process hub.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use shared::adapters::local_ws::LocalHub;

/// mimalloc rather than the system allocator: the devserver serves many requests at once on
/// several threads, where glibc's allocator took 7% of its CPU time (infra/bench/tuning.md). The
/// Lambda functions, one request at a time, keep the system allocator and their smaller zips.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // Mail and tasks go through an in-process queue drained by a background worker, as on AWS.
    let defaults = [("QUEUE_BACKEND", "local")];
    let state = shared::startup::state_or_exit_with_defaults(
        shared::startup::Needs::SigningKey,
        &defaults,
        shared::telemetry::LogWriter::Background,
    )
    .await;
    let port = port_or_exit();
    let hub = Arc::new(LocalHub::default());
    // Sockets live in this process: rows left by an earlier run are connections that are gone.
    if let Err(error) = shared::repo::ws_connections::forget_all(&state.db).await {
        tracing::warn!(%error, "could not clear WebSocket connections of an earlier run");
    }
    let routes = devserver::routes(&state, hub.clone());
    let scheduler = tokio::spawn(devserver::run_scheduler(state.clone(), hub));
    let worker = tokio::spawn(devserver::run_local_worker(state.clone()));
    let app = shared::http::finish(routes, state);

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            shared::telemetry::flush();
            eprintln!("devserver: cannot listen on {address}: {error}");
            std::process::exit(1);
        }
    };
    tracing::info!("serving on http://{address} (API docs at http://{address}/docs)");
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await;
    scheduler.abort();
    worker.abort();
    if let Err(error) = served {
        shared::telemetry::flush();
        eprintln!("devserver: {error}");
        std::process::exit(1);
    }
    tracing::info!("devserver stopped");
    shared::telemetry::flush();
}

fn port_or_exit() -> u16 {
    match std::env::var("PORT") {
        Err(_) => 8000,
        Ok(raw) => raw.trim().parse().ok().filter(|port| *port != 0).unwrap_or_else(|| {
            shared::telemetry::flush();
            eprintln!("configuration error: PORT must be a port number from 1 to 65535, not {raw:?}");
            std::process::exit(2);
        }),
    }
}

/// Resolves on Ctrl-C or SIGTERM, letting in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
