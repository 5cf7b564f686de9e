//! The cold-start check of every function crate's `tests/startup.rs` (each crate hands in its own
//! binary, which only it can name through `CARGO_BIN_EXE_<name>`): a Lambda binary whose secret
//! (`SECRETS_ARN`) cannot be read must stop its cold start within seconds, with a non-zero exit
//! and one clear line naming the cause, instead of hanging until the function times out or
//! starting without its settings.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How Secrets Manager fails, and the words the start-up line must contain for it.
struct Case {
    name: &'static str,
    endpoint: String,
    cause: &'static str,
}

/// The secret read may take its own timeout (5 s) plus process start; more is a hang.
const WITHIN: Duration = Duration::from_secs(10);

/// Runs `binary` once per way of failing (in parallel) and checks each cold start.
pub fn every_secrets_failure_stops_the_cold_start_with_one_clear_line(binary: &str) {
    let moto = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    // Accepts connections (the kernel completes the handshake) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a silent endpoint");
    let silent_url = format!("http://{}", silent.local_addr().expect("address"));
    let cases = [
        Case { name: "nothing listening", endpoint: "http://127.0.0.1:1".into(), cause: "Connection refused" },
        Case { name: "no answer", endpoint: silent_url, cause: "no answer within 5s" },
        Case { name: "secret missing", endpoint: moto, cause: "ResourceNotFoundException" },
    ];

    let problems: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = cases.iter().map(|case| scope.spawn(move || cold_start(binary, case))).collect();
        runs.into_iter().filter_map(|run| run.join().expect("the check itself panicked").err()).collect()
    });
    drop(silent);
    assert!(problems.is_empty(), "{binary}:\n{}", problems.join("\n"));
    let name = binary.rsplit('/').next().unwrap_or(binary);
    eprintln!("faults injected: {} unreadable-secret cold starts of {name}, each stopped with one line", cases.len());
}

/// Starts `binary` against the failing endpoint; `Err` says what was wrong with its cold start.
fn cold_start(binary: &str, case: &Case) -> Result<(), String> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &case.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("SECRETS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {binary}: {error}"))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            break status;
        }
        if started.elapsed() > WITHIN * 2 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{}: still starting after {:?}", case.name, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    child.stderr.take().map(|mut pipe| pipe.read_to_string(&mut stderr));
    let line = stderr.trim_end();

    let fail = |problem: &str| Err(format!("{}: {problem} ({status}, after {elapsed:?}, stderr: {line})", case.name));
    if status.code() != Some(2) {
        return fail("exit status is not 2");
    }
    if elapsed > WITHIN {
        return fail("too slow");
    }
    if line.is_empty() || line.contains('\n') {
        return fail("not exactly one line on stderr");
    }
    if !line.starts_with("configuration error: SECRETS_ARN could not be read: ") {
        return fail("the line does not name SECRETS_ARN");
    }
    if !line.contains(case.cause) {
        return fail(&format!("the line does not name the cause ({})", case.cause));
    }
    // Readable: the cause chain, not a dump of the SDK's error structs and the raw response.
    if line.len() > 300 || line.contains("ErrorMetadata") || line.contains("Failure(") {
        return fail("the line is not readable: it carries the SDK's debug dump");
    }
    Ok(())
}
