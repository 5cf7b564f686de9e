"""The measurements behind BENCHMARKS.md; scripts/bench prepares everything and calls this.

Five parts, each bounded in count and time, all on 127.0.0.1:
  1. artifact size: each function's `bootstrap` and its zip;
  2. cold start: each function binary under a local Runtime API (lambda_emulator.py) with a real
     event from tests/fixtures: process spawn -> first `next` (init) and -> first response,
     and the same for a bare lambda_http hello world, the yardstick for init;
  3. memory: resident set after init and after up to 10,000 invocations;
  3b. login: the peak resident memory one login adds and the warm login invocation time
     (the argon2id hash);
  4. warm latency and throughput through the devserver with wrk, at concurrency 1, 16 and 64,
     with production settings (rate limits on, request logs at info, JSON); a client past its
     limit, on a second devserver that keeps the seed's limits; and warm /users/me invocations
     of the users-api binary under the local Runtime API (the duration Lambda bills).

Usage: run.py CONFIG.json   (written by scripts/bench: paths, URLs, ports)
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from artifacts import zipped_size  # noqa: E402
from lambda_emulator import Emulator  # noqa: E402
from stats import percentile_nearest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
COLD_RUNS = 20
MEMORY_INVOCATIONS = 10_000
MEMORY_SECONDS = 60
WARM_SECONDS = 10
CONCURRENCY = (1, 16, 64)
BENCH_PASSWORD = "Bench-Password-1234"
# Production settings keep the rate limits on; the benchmark client is one address, so its
# limits are raised to this (scripts/bench passes the same to the devserver).
BENCH_LIMIT = "1000000000/minute"

# function -> (event fixture, what that first invocation does)
COLD_EVENTS = {
    "system-api": ("system-health-ready.json", "GET /api/v1/health/ready: first database connection and ping"),
    "auth-api": ("auth-login-unknown-user.json", "POST /api/v1/auth/login, unknown user: a query and one argon2id hash"),
    "users-api": ("users-me-without-token.json", "GET /api/v1/users/me without a token: 401"),
    "tasks-api": ("tasks-status-without-token.json", "GET /api/v1/tasks/status without a token: 401"),
    "worker": ("sqs-send-email.json", "one SQS message for a mail that does not exist: database lookup"),
    "scheduler": ("schedule-cleanup.json", "the cleanup-expired job: several batched deletes"),
    "ws": ("ws-connect.json", "$connect from an allowed origin with an invalid token: 401"),
    "migrate": ("migrate.json", "migrations already applied: the check only"),
}
# The yardstick for cold init: a bare lambda_http hello world (functions/system-api/examples),
# built like the functions and started under the same emulator with the same kind of event.
YARDSTICK = ("bare_hello", "users-me-without-token.json", "a bare lambda_http hello world: 200")
# A cheap event per function for the 10,000-invocation memory run (login would take minutes).
MEMORY_EVENTS = {**{name: event for name, (event, _) in COLD_EVENTS.items()}, "auth-api": "users-me-without-token.json"}


def summary(values: list[float]) -> dict:
    return {
        "runs": len(values),
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "p95": round(percentile_nearest(values, 95), 2),
    }


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def function_env(config: dict, name: str, runtime_api: str, rate_limit: bool, extra: dict | None = None) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{name}",
        # local settings (localhost front end, example.com sender): not a deployment
        "ENVIRONMENT": "development",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024" if name in ("auth-api", "migrate") else "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/bench-{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # every AWS call goes to the local moto server, never to AWS
        "AWS_ENDPOINT_URL": config["moto_url"],
        "DATABASE_URL": config["database_url"],
        "JWT_SECRET": config["jwt_secret"],
        "QUEUE_URL": config["queue_url"],
        "DLQ_URL": config["dlq_url"],
        "MAIL_FROM": "Bench <bench@example.com>",
        # the ws-connect fixture's Origin is allowed, so $connect gets as far as the token
        "BACKEND_CORS_ORIGINS": "https://app.example.com,http://localhost:3000",
        # The per-IP limits (5 logins, 100 requests a minute) would turn repeated fixture events
        # into 429s; cold starts keep the limiter (its upsert is part of a first request) and
        # start from an empty table, the repeated runs switch it off.
        "RATE_LIMIT_ENABLED": "true" if rate_limit else "false",
        "WS_CALLBACK_URL": config["moto_url"],
        "LOG_FORMAT": "json",
    }
    return {**env, **(extra or {})}


def start_function(config: dict, name: str, emulator: Emulator, rate_limit: bool = False,
                   extra: dict | None = None) -> tuple[subprocess.Popen, float]:
    binary = Path(config["lambda_dir"]) / name / "bootstrap"
    env = function_env(config, name, emulator.address, rate_limit, extra)
    started = time.perf_counter()
    process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, started


def stop(process: subprocess.Popen, emulator: Emulator) -> None:
    process.kill()
    process.wait()
    emulator.close()


def measure_sizes(config: dict) -> dict:
    sizes = {}
    for name in COLD_EVENTS:
        binary = (Path(config["lambda_dir"]) / name / "bootstrap").read_bytes()
        sizes[name] = {"binary_bytes": len(binary), "zip_bytes": zipped_size(binary)}
    return sizes


def measure_cold_start(config: dict, name: str, fixture: str, exercises: str) -> dict:
    event = (FIXTURES / fixture).read_bytes()
    inits, firsts, statuses, errors = [], [], set(), []
    for _ in range(COLD_RUNS):
        psql(config, "delete from rate_limits")
        emulator = Emulator(event, invocations=1)
        process, started = start_function(config, name, emulator, rate_limit=True)
        finished = emulator.all_done.wait(timeout=15)
        try:
            if not finished or emulator.first_next_at is None or not emulator.response_times:
                errors.append(f"no response in 15 s (exit {process.poll()}; errors {emulator.errors})")
                continue
            inits.append((emulator.first_next_at - started) * 1000)
            firsts.append((emulator.response_times[0] - started) * 1000)
            response = emulator.first_response() or {}
            statuses.add(str(response.get("statusCode", "ok" if not emulator.errors else "error")))
            errors.extend(emulator.errors)
        finally:
            stop(process, emulator)
    result = {"event": fixture, "exercises": exercises, "statuses": sorted(statuses), "errors": errors[:3]}
    if inits:
        result["init_ms"] = summary(inits)
        result["first_response_ms"] = summary(firsts)
    return result


def measure_memory(config: dict, name: str) -> dict:
    # after init: the process waits for its first event
    emulator = Emulator(b"{}", invocations=0)
    process, _ = start_function(config, name, emulator)
    try:
        emulator.all_done.wait(timeout=15)
        time.sleep(0.2)
        after_init = proc_status(process.pid)
    finally:
        stop(process, emulator)

    event = (FIXTURES / MEMORY_EVENTS[name]).read_bytes()
    emulator = Emulator(event, invocations=MEMORY_INVOCATIONS)
    process, started = start_function(config, name, emulator)
    try:
        emulator.all_done.wait(timeout=MEMORY_SECONDS)
        elapsed = time.perf_counter() - started
        served = len(emulator.response_times)
        after_many = proc_status(process.pid)
    finally:
        stop(process, emulator)
    return {
        "rss_after_init_kib": after_init["VmRSS"],
        "invocations": served,
        "invocations_event": MEMORY_EVENTS[name],
        "invocations_per_second": round(served / elapsed, 1) if elapsed else None,
        "rss_after_invocations_kib": after_many["VmRSS"],
        "peak_rss_kib": after_many["VmHWM"],
        "errors": emulator.errors[:3],
    }


def measure_login_memory(config: dict) -> dict:
    """Peak resident memory one login adds: the argon2id hash (m = 19 MiB)."""
    emulator = Emulator(b"{}", invocations=0)
    process, _ = start_function(config, "auth-api", emulator)
    emulator.all_done.wait(timeout=15)
    before = proc_status(process.pid)["VmHWM"]
    stop(process, emulator)

    emulator = Emulator((FIXTURES / "auth-login-unknown-user.json").read_bytes(), invocations=1)
    process, _ = start_function(config, "auth-api", emulator)
    emulator.all_done.wait(timeout=15)
    after = proc_status(process.pid)
    stop(process, emulator)
    return {"peak_before_kib": before, "peak_after_login_kib": after["VmHWM"], "rss_after_login_kib": after["VmRSS"],
            "login_peak_kib": after["VmHWM"] - before}


def measure_login_latency(config: dict, logins: int = 21) -> dict:
    """Warm auth-api invocations of a login (unknown user: one query and one argon2id hash),
    one after another in one process; the first is left out as the cold one. Each login names
    another address: repeated failures for one account meet its login back-off (an instant 429)."""
    template = json.loads((FIXTURES / "auth-login-unknown-user.json").read_text())
    events = []
    for n in range(logins):
        body = json.loads(template["body"])
        body["email"] = f"nobody{n}@example.com"
        events.append(json.dumps({**template, "body": json.dumps(body)}).encode())
    emulator = Emulator(events, invocations=logins)
    process, _ = start_function(config, "auth-api", emulator)
    try:
        emulator.all_done.wait(timeout=60)
    finally:
        stop(process, emulator)
    times = emulator.response_times
    gaps = [(later - earlier) * 1000 for earlier, later in zip(times, times[1:])]
    if not gaps:
        return {"logins": 0, "errors": emulator.errors[:3]}
    return {"logins": len(gaps), "statuses": emulator.statuses, **summary(gaps)}


WARM_INVOCATIONS = 2_000


def measure_warm_invocation(config: dict, access_token: str) -> dict:
    """Warm GET /users/me invocations of the users-api binary, one after another, with a valid
    token and production settings (rate limits on, the default limit raised for this client;
    logs at info): from the event handed out to the response posted, what Lambda bills. The
    first (cold) invocation is left out."""
    event = json.loads((FIXTURES / "users-me-without-token.json").read_text())
    event["headers"]["authorization"] = f"Bearer {access_token}"
    emulator = Emulator(json.dumps(event).encode(), invocations=WARM_INVOCATIONS + 1)
    extra = {"RATE_LIMIT_DEFAULT": BENCH_LIMIT, "LOG_LEVEL": "info"}
    process, _ = start_function(config, "users-api", emulator, rate_limit=True, extra=extra)
    try:
        emulator.all_done.wait(timeout=120)
    finally:
        stop(process, emulator)
    durations = [(done - given) * 1000 for given, done in zip(emulator.handed_out_times, emulator.response_times)][1:]
    if not durations:
        return {"invocations": 0, "errors": emulator.errors[:3]}
    return {"invocations": len(durations), "statuses": emulator.statuses, "errors": emulator.errors[:3],
            "p99": round(percentile_nearest(durations, 99), 3), **summary(durations)}


# ------------------------------------------------------------------------------------ warm


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def psql(config: dict, sql: str) -> str:
    result = subprocess.run(
        [config["psql"], config["database_url"], "-v", "ON_ERROR_STOP=1", "-qtAc", sql],
        capture_output=True, text=True, check=True,
    )
    return result.stdout.strip()


def register(config: dict, number: int) -> str:
    """A verified account `bench<number>@example.com` (created once)."""
    email = f"bench{number}@example.com"
    status, _, body = http("POST", f"{config['devserver_url']}/api/v1/auth/register",
                           {"email": email, "username": f"bench{number}", "password": BENCH_PASSWORD})
    if status not in (201, 400, 409):
        raise SystemExit(f"register failed: {status} {body}")
    psql(config, f"update users set is_verified = true where email = '{email}'")
    return email


def login(config: dict, email: str) -> str:
    status, _, body = http("POST", f"{config['devserver_url']}/api/v1/auth/login", {"email": email, "password": BENCH_PASSWORD})
    if status != 200:
        raise SystemExit(f"login failed: {status} {body}")
    return body["access_token"]


def prepare_warm(config: dict) -> dict:
    base = config["devserver_url"]
    email = register(config, 0)
    cookies = []
    access = None
    for _ in range(max(CONCURRENCY)):
        status, headers, body = http("POST", f"{base}/api/v1/auth/login", {"email": email, "password": BENCH_PASSWORD})
        if status != 200:
            raise SystemExit(f"login failed: {status} {body}")
        access = body["access_token"]
        cookie = headers.get("set-cookie") or headers.get("Set-Cookie") or ""
        cookies.append(cookie.split("refresh_token=", 1)[1].split(";", 1)[0])
    return {"email": email, "access_token": access, "cookies": cookies}


def add_sessions(config: dict, total: int) -> int:
    """Other users' live sessions, each with a refresh token, until `total` exist in all."""
    psql(config, """
        insert into users (email, username, is_verified)
        select 'load' || g || '@bench.example.com', 'load' || g, true from generate_series(1, 1000) g
        on conflict do nothing""")
    have = int(psql(config, "select count(*) from sessions where revoked_at is null"))
    missing = max(0, total - have)
    if missing:
        psql(config, f"""
            with created as (
                insert into sessions (user_id, expires_at)
                select (select id from users where email = 'load' || (1 + g % 1000) || '@bench.example.com'),
                       now() + interval '30 days'
                from generate_series(1, {missing}) g
                returning id)
            insert into refresh_tokens (token_hash, session_id)
            select sha256(convert_to(gen_random_uuid()::text, 'UTF8')), id from created""")
    psql(config, "analyze sessions; analyze refresh_tokens")
    return int(psql(config, "select count(*) from sessions where revoked_at is null"))


def wrk(config: dict, path: str, concurrency: int, env: dict, one_thread_per_connection: bool = False,
        base_url: str | None = None, expect_refusals: bool = False) -> dict:
    out = Path(config["work_dir"]) / "wrk-result.json"
    out.unlink(missing_ok=True)
    threads = concurrency if one_thread_per_connection else min(concurrency, 2)
    command = [
        config["wrk"], f"-t{threads}", f"-c{concurrency}", f"-d{WARM_SECONDS}s", "--timeout", "5s",
        "-s", str(ROOT / "infra" / "bench" / "wrk.lua"), (base_url or config["devserver_url"]) + path,
    ]
    subprocess.run(command, env={**os.environ, **env, "BENCH_OUT": str(out)}, check=True,
                   stdout=subprocess.DEVNULL, timeout=WARM_SECONDS + 60)
    raw = json.loads(out.read_text())
    seconds = raw["duration_us"] / 1e6
    # wrk counts every non-2xx answer as a "status" error; a refusal scenario expects them all
    refused = raw["errors"]["status"] if expect_refusals else 0
    errors = sum(raw["errors"].values()) - refused
    return {
        "refused": refused,
        "concurrency": concurrency,
        "requests": raw["requests"],
        "requests_per_second": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 3),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 3),
        "errors": errors,
        "error_detail": raw["errors"],
    }


def measure_warm(config: dict) -> dict:
    state = prepare_warm(config)
    bearer = {"BENCH_AUTH": f"Bearer {state['access_token']}"}
    # one account per connection, as real sign-ins are: parallel attempts on one account meet
    # its login back-off (429) by design
    bodies = Path(config["work_dir"]) / "login-bodies.txt"
    emails = [register(config, n) for n in range(1, max(CONCURRENCY) + 1)]
    bodies.write_text("".join(json.dumps({"email": e, "password": BENCH_PASSWORD}) + "\n" for e in emails))
    login = {"BENCH_METHOD": "POST", "BENCH_BODIES": str(bodies)}
    results = {}
    scenarios = [
        ("GET /api/v1/health/simple", "/api/v1/health/simple", {}),
        ("GET /api/v1/users/me", "/api/v1/users/me", bearer),
        ("POST /api/v1/auth/login", "/api/v1/auth/login", login),
    ]
    for title, path, env in scenarios:
        per_connection = "BENCH_BODIES" in env
        if not per_connection:
            wrk(config, path, 64, env)  # warm-up: the pool's connections, the first leases
        results[title] = [wrk(config, path, c, env, one_thread_per_connection=per_connection) for c in CONCURRENCY]

    # The same client, past its limit: a second devserver on the same database keeps the seed's
    # limits (100 requests a minute). Its refusals should cost less than a served request and
    # write nothing: the WAL position is read before and after.
    status, _, body = http("GET", config["limited_url"] + "/api/v1/users/me", headers={"Authorization": bearer["BENCH_AUTH"]})
    for _ in range(200):  # past the seed's 100 a minute, unless an earlier run already is
        if status == 429:
            break
        status, _, body = http("GET", config["limited_url"] + "/api/v1/users/me", headers={"Authorization": bearer["BENCH_AUTH"]})
    if status != 429:
        raise SystemExit(f"the seed-limited devserver does not refuse: {status} {body}")
    wal_before = psql(config, "select pg_current_wal_lsn()")
    refused = [wrk(config, "/api/v1/users/me", c, bearer, base_url=config["limited_url"], expect_refusals=True)
               for c in (16, 64)]
    wal_bytes = int(float(psql(config, f"select pg_wal_lsn_diff(pg_current_wal_lsn(), '{wal_before}')")))
    total = sum(run["requests"] for run in refused)
    refused[0]["wal_bytes"] = wal_bytes
    refused[0]["wal_bytes_per_request"] = round(wal_bytes / total, 3) if total else None
    results["GET /api/v1/users/me past its limit (429)"] = refused

    cookies_file = Path(config["work_dir"]) / "refresh-cookies.txt"
    for label, total in (("1 session", 1), ("10,000 sessions", 10_000)):
        if total > 1:
            sessions = add_sessions(config, total)
        else:
            sessions = int(psql(config, "select count(*) from sessions where revoked_at is null"))
        runs = []
        for c in CONCURRENCY:
            # fresh sessions for each run: every connection follows its own rotating cookie
            cookies = prepare_warm(config)["cookies"][:c]
            cookies_file.write_text("\n".join(cookies) + "\n")
            runs.append(wrk(config, "/api/v1/auth/refresh", c, {"BENCH_COOKIES": str(cookies_file)}, one_thread_per_connection=True))
        results[f"POST /api/v1/auth/refresh ({label})"] = runs
        results[f"POST /api/v1/auth/refresh ({label})"][0]["sessions_in_database"] = sessions
    return results, state["email"]


# ------------------------------------------------------------------------------------ main


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(), "rustc": rustc, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    parts = set(config.get("parts", ["size", "cold", "memory", "login", "warm"]))
    results: dict = {"machine": machine(), "config": {k: config[k] for k in ("profile_note",) if k in config}}
    if "size" in parts:
        print("== artifact sizes", file=sys.stderr)
        results["sizes"] = measure_sizes(config)
    if "cold" in parts:
        results["cold_start"] = {}
        for name, (fixture, exercises) in COLD_EVENTS.items():
            print(f"== cold start: {name}", file=sys.stderr)
            results["cold_start"][name] = measure_cold_start(config, name, fixture, exercises)
        print("== cold start: the yardstick, a bare lambda_http hello world", file=sys.stderr)
        results["cold_start_yardstick"] = measure_cold_start(config, *YARDSTICK)
    if "memory" in parts:
        results["memory"] = {}
        for name in COLD_EVENTS:
            print(f"== memory: {name}", file=sys.stderr)
            results["memory"][name] = measure_memory(config, name)
    if "login" in parts:
        print("== login: argon2id memory and warm invocation time", file=sys.stderr)
        results["login_memory"] = measure_login_memory(config)
        results["login_latency_ms"] = measure_login_latency(config)
    save(config, results)
    if "warm" in parts:
        print("== warm latency and throughput (devserver, wrk)", file=sys.stderr)
        results["warm"], email = measure_warm(config)
        save(config, results)
        # a fresh token: the refresh runs' logins evicted the earlier sessions of this account
        access_token = login(config, email)
        print("== warm /users/me invocations (users-api, local Runtime API)", file=sys.stderr)
        results["warm_invocation_ms"] = measure_warm_invocation(config, access_token)
        save(config, results)
    return 0


def save(config: dict, results: dict) -> None:
    """Written after each long part, so a failure later keeps what was measured."""
    Path(config["results"]).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1]))
