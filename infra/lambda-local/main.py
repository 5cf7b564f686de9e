"""The deployed shape on 127.0.0.1: every request through the function binaries, routed by the
template. Started by `scripts/dev --lambda`; tests start it through scripts/lib.sh.

    python infra/lambda-local/main.py --port 8000 --bin-dir target/debug --work .local/lambda

Settings come from the environment, as for scripts/dev: the ones the template takes as stack
parameters (DATABASE_URL, FRONTEND_URL, FIRST_SUPERUSER_EMAIL, ...) become parameters, the
generated secrets' keys (JWT_SECRET, MFA_ENCRYPTION_KEY) replace the generated values when set,
MAIL_BACKEND/MAIL_DIR/RATE_LIMIT_ENABLED are added to every function, and any other app setting
is reported as ignored, because the template would not pass it either.

Steps: start moto, deploy the template into it (stack.py), run the migrate function once (as
scripts/deploy does after a deploy), then serve the HTTP and WebSocket APIs on `--port`
(gateway.py), poll the SQS event sources and run the schedules (sources.py). It writes
`routes.json` (each route key and the statuses it answered) and `invocations.jsonl` (one line
per invocation: function, cold start, init and duration) into `--work`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.config
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway as gateway_module  # noqa: E402
import runtime  # noqa: E402
import sources  # noqa: E402
import stack as stack_module  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class LocalStack:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.routes: dict[str, dict[str, int]] = {}
        self.functions: dict[str, runtime.LocalFunction] = {}
        self.invocations = open(self.work / "invocations.jsonl", "a", buffering=1)  # noqa: SIM115 (open for the stack's life)
        self.moto: subprocess.Popen | None = None

    def say(self, line: str) -> None:
        print(f"lambda-local: {line}", flush=True)

    def function_log(self, binary: str, line: str) -> None:
        print(f"[{binary}] {line}", flush=True)

    def record(self, key: str, status: int) -> None:
        statuses = self.routes.setdefault(key, {})
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        temporary = self.work / "routes.json.tmp"
        temporary.write_text(json.dumps(self.routes, indent=1, sort_keys=True))
        temporary.replace(self.work / "routes.json")

    async def invoke(self, logical_id: str, event, trigger: str = "", wait: float | None = None) -> runtime.Outcome:
        function = self.functions[logical_id]
        outcome = await function.invoke(event, wait)
        line = {"function": function.spec.binary, "trigger": trigger, "ok": outcome.ok, "duration_ms": round(outcome.duration_ms, 1)}
        if outcome.init_ms is not None:
            line["init_ms"] = round(outcome.init_ms, 1)
            self.say(f"{function.spec.binary}: cold start, init {outcome.init_ms:.0f} ms")
        if not outcome.ok:
            line["error"] = outcome.payload
            self.say(f"{function.spec.binary}: invocation failed: {outcome.payload}")
        self.invocations.write(json.dumps(line) + "\n")
        return outcome

    def start_moto(self) -> str:
        port = free_port()
        moto_server = Path(sys.executable).parent / "moto_server"
        log = open(self.work / "moto.log", "w")  # noqa: SIM115
        self.moto = subprocess.Popen(
            [str(moto_server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, preexec_fn=runtime.die_with_parent
        )
        if not wait_for_port(port, 30):
            raise RuntimeError(f"moto did not start (log: {self.work / 'moto.log'})")
        return f"http://127.0.0.1:{port}"

    def replace_generated_keys(self, session, stack, settings: dict[str, str]) -> None:
        """JWT_SECRET / MFA_ENCRYPTION_KEY from the settings replace the generated values, as a
        hand edit of the secret would (docs/deploy.md): tokens and TOTP secrets then survive a
        restart of the local stack."""
        client = session.client("secretsmanager")
        arns = {arn for f in stack.functions.values() for arn in f.environment.get("SECRETS_ARN", "").split(",") if arn}
        for arn in sorted(arns):
            value = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
            changed = {key: settings[key] for key in value if key in settings and key in stack_module.IN_THE_SECRET}
            if changed:
                client.put_secret_value(SecretId=arn, SecretString=json.dumps({**value, **changed}))

    def write_description(self, stack) -> None:
        """stack.json: what runs, for the checks and for a curious developer (no secrets)."""
        description = {
            "functions": {f.binary: {"name": f.name, "timeout": f.timeout, "memory": f.memory, "settings": sorted(f.environment)} for f in stack.functions.values()},
            "http_routes": [{"key": r.key, "method": r.method, "path": r.path, "function": stack.functions[r.function].binary} for r in stack.http_routes],
            "ws_routes": {key: stack.functions[f].binary for key, f in stack.ws_routes.items()},
            "event_sources": [{"queue": s.queue_arn, "function": stack.functions[s.function].binary, "batch_size": s.batch_size,
                               "batching_window": s.batching_window, "report_batch_item_failures": s.report_batch_item_failures,
                               "maximum_concurrency": s.maximum_concurrency} for s in stack.event_sources],
            "schedules": [{"name": s.name, "function": stack.functions[s.function].binary, "expression": s.expression, "payload": s.payload} for s in stack.schedules],
        }
        (self.work / "stack.json").write_text(json.dumps(description, indent=1))

    async def run(self) -> int:
        args = self.args
        # Until the stack is up, SIGTERM (scripts/dev's Ctrl-C, a test giving up) cancels the
        # start like Ctrl-C does, and `close()` stops what was started; once it is up, both
        # signals stop it in order (below).
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        started = time.monotonic()
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                probe.bind(("127.0.0.1", args.port))
            except OSError:
                raise RuntimeError(f"port {args.port} is taken; stop what listens there or set PORT") from None
        endpoint = self.start_moto()
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
        os.environ.pop("AWS_PROFILE", None)
        stack_module.moto_without_docker(endpoint)
        session = boto3.session.Session(region_name="us-east-1")
        given, overrides, ignored = stack_module.parameters_and_overrides(os.environ, args.port)
        gateway_url = f"http://127.0.0.1:{args.port}"
        stack = await asyncio.to_thread(stack_module.describe, session, args.stack_name, Path(args.template), given, gateway_url)
        self.replace_generated_keys(session, stack, stack_module.effective_settings(os.environ))
        self.write_description(stack)
        deployed = time.monotonic()
        self.say(f"deployed {args.template} into moto in {deployed - started:.1f} s: {len(stack.functions)} functions, "
                 f"{len(stack.http_routes)} HTTP routes, {len(stack.ws_routes)} WebSocket routes, "
                 f"{len(stack.event_sources)} SQS event source(s), {len(stack.schedules)} schedules")
        if overrides:
            self.say("local settings added to every function: " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())))
        if ignored:
            self.say("ignored (the template does not set them, so neither does AWS): " + ", ".join(ignored))

        base = runtime.base_environment(endpoint)
        for logical_id, spec in stack.functions.items():
            binary = Path(args.bin_dir) / spec.binary
            if not binary.is_file():
                raise RuntimeError(f"{binary} is missing: build the functions first (cargo build -p {spec.binary})")
            function = runtime.LocalFunction(spec, binary, base, lambda line, name=spec.binary: self.function_log(name, line))
            function.environment.update(overrides)
            self.functions[logical_id] = function
            asyncio.create_task(function.watch_deadlines())

        migrate = next((key for key, f in stack.functions.items() if f.binary == "migrate"), None)
        if migrate:
            outcome = await self.invoke(migrate, {}, "deploy")
            if not outcome.ok:
                raise RuntimeError(f"the migrate function failed: {outcome.payload}")
            self.say(f"migrate: {json.dumps(outcome.payload)[:300]}")

        gateway = gateway_module.Gateway(stack, self.invoke, self.record)
        runner = web.AppRunner(gateway.application(), access_log=None, handle_signals=False, shutdown_timeout=3, **gateway_module.SERVER_OPTIONS)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()

        # Few retries and short connects: moto is local, and a stop must not wait out backoffs.
        sqs = session.client("sqs", config=botocore.config.Config(connect_timeout=2, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}))
        tasks = []
        for source in stack.event_sources:
            poller = sources.SqsPoller(sqs, source, self.invoke, self.say)
            tasks.extend(poller.tasks())
        for index, schedule in enumerate(stack.schedules):
            tasks.append(asyncio.create_task(sources.run_schedule(schedule, self.invoke, self.say, args.schedule_seconds, args.schedule_seconds + index)))
        self.say(f"ready in {time.monotonic() - started:.1f} s on {gateway_url} (WebSocket: ws://127.0.0.1:{args.port}/api/v1/ws)")
        (self.work / "ready").write_text(json.dumps({"seconds": round(time.monotonic() - started, 2), "deploy_seconds": round(deployed - started, 2)}))

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.say("stopping")
        for task in tasks:
            task.cancel()
        # Requests in flight finish and open WebSockets close (1001) before the functions stop.
        try:
            await asyncio.wait_for(runner.cleanup(), 5)
        except asyncio.TimeoutError:
            pass
        for function in self.functions.values():
            function.stop()
        await asyncio.gather(*(function.stopped() for function in self.functions.values()))
        return 0

    def close(self) -> None:
        for function in self.functions.values():
            function.stop()
        if self.moto and self.moto.poll() is None:
            self.moto.terminate()
            try:
                self.moto.wait(5)
            except subprocess.TimeoutExpired:
                self.moto.kill()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bin-dir", required=True, help="where the function binaries are (target/debug)")
    parser.add_argument("--work", required=True, help="folder for moto's log, routes.json and invocations.jsonl")
    parser.add_argument("--template", default=str(stack_module.ROOT / "template.yaml"))
    parser.add_argument("--stack-name", default="serverless-auth-local")
    parser.add_argument("--schedule-seconds", type=float, default=60.0, help="how often each schedule runs locally")
    args = parser.parse_args(argv)
    local = LocalStack(args)
    try:
        return asyncio.run(local.run())
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("lambda-local: stopped while starting", file=sys.stderr, flush=True)
        return 130
    except RuntimeError as error:
        print(f"lambda-local: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        local.close()


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Exits without joining the poller's threads, which may sit in a receive call for a second
    # (or in retries, when moto went first): every process the stack started is stopped by now.
    os._exit(status)
