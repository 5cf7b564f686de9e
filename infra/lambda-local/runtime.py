"""Lambda execution environments on 127.0.0.1: each one a function binary and its own Runtime API.

Why: the functions are built for Lambda's Runtime API (`GET /2018-06-01/runtime/invocation/next`,
then `POST .../{id}/response` or `/error`), so running them as they run on AWS means serving that
API, not calling their code some other way. Like Lambda, an environment starts on the first
invocation that finds none idle (a cold start, its init time reported), runs one invocation at
a time, stays warm afterwards, is killed when an invocation outlives the function's timeout,
and is replaced when its process exits. Reserved concurrency caps the environments; without it
a local cap stands in for the account's concurrency.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

PREFIX = "/2018-06-01/runtime"
LOCAL_CONCURRENCY = 4  # environments per function when the template reserves none
# Lambda's limit on a synchronous invocation's response: a larger one fails the invocation.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


@dataclass
class Outcome:
    """What one invocation came to: the function's response, or its error as Lambda reports it."""

    ok: bool
    payload: Any  # the parsed response, or {"errorType", "errorMessage"}
    duration_ms: float
    init_ms: float | None  # set on the invocation that started the environment


class Invocation:
    def __init__(self, event: Any):
        self.id = str(uuid.uuid4())
        self.body = json.dumps(event).encode()
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.handed_out_at: float | None = None

    def settle(self, outcome: Outcome) -> None:
        if not self.future.done():
            self.future.set_result(outcome)


def failure(error_type: str, message: str, last_line: str | None = None, duration_ms: float = 0) -> Outcome:
    payload = {"errorType": error_type, "errorMessage": message}
    if last_line:
        payload["lastLine"] = last_line
    return Outcome(False, payload, duration_ms, None)


class Environment:
    """One process of one function, with the Runtime API it polls."""

    def __init__(self, function: "LocalFunction"):
        self.function = function
        self.process: asyncio.subprocess.Process | None = None
        self.runner: web.AppRunner | None = None
        self.current: Invocation | None = None
        self.idle = False
        self.dead = asyncio.Event()
        self.started_at = time.monotonic()
        self.init_ms: float | None = None  # until the first `next`
        self.init_reported = False
        self.log_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.watcher: asyncio.Task | None = None  # done once the process is gone and cleaned up

    async def start(self, binary: Path, environment: dict[str, str]) -> None:
        # Room for a response over Lambda's limit, so it fails the invocation as Lambda does
        # instead of being refused here; past this the runtime's `next` settles it (below).
        app = web.Application(client_max_size=2 * MAX_RESPONSE_BYTES)
        app.router.add_get(f"{PREFIX}/invocation/next", self.next)
        app.router.add_post(f"{PREFIX}/invocation/{{id}}/response", self.response)
        app.router.add_post(f"{PREFIX}/invocation/{{id}}/error", self.error)
        app.router.add_post(f"{PREFIX}/init/error", self.init_error)
        # A `next` whose process died is cancelled with its connection instead of waiting on.
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        env = {**environment, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}", "AWS_LAMBDA_LOG_STREAM_NAME": stream}
        self.started_at = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            str(binary),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        reader = asyncio.create_task(self._copy_output())
        self.watcher = asyncio.create_task(self._watch(reader))

    async def _copy_output(self) -> None:
        """Copies the process's output line by line (however long a line), keeping the last few."""
        assert self.process and self.process.stdout
        pending = b""
        while chunk := await self.process.stdout.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._line(raw)
        if pending:
            self._line(pending)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        self.log_tail.append(line)
        self.function.log(line)

    async def _watch(self, reader: asyncio.Task) -> None:
        assert self.process
        status = await self.process.wait()
        # The last words are in log_tail before anyone reads them (unless a child of the
        # function holds the pipe open).
        await asyncio.wait({reader}, timeout=1)
        self.dead.set()
        self.function.environment_ended(self, status)
        if self.runner:
            await self.runner.cleanup()

    def last_words(self) -> str:
        lines = [line for line in self.log_tail if line.strip()]
        return lines[-1] if lines else "(no output)"

    # -------------------------------------------------------------------- the Runtime API

    async def next(self, request: web.Request) -> web.StreamResponse:
        if self.init_ms is None:
            self.init_ms = (time.monotonic() - self.started_at) * 1000
        if self.current is not None:
            # The runtime moved on without an answer this API took (one too large to read, say):
            # the caller gets an error now instead of waiting for an answer that never comes.
            self._settle(self.current.id, False, {"errorType": "Runtime.NoResponse", "errorMessage": "the runtime asked for its next event without answering this one"})
        self.current = None
        self.idle = True
        try:
            invocation = await self._take()
        finally:
            self.idle = False
        if invocation is None:
            return web.Response(status=410)
        self.current = invocation
        invocation.handed_out_at = time.monotonic()
        deadline = int(time.time() * 1000) + self.function.spec.timeout * 1000
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.id,
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:us-east-1:123456789012:function:{self.function.spec.name}",
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            "Content-Type": "application/json",
        }
        return web.Response(body=invocation.body, headers=headers)

    async def _take(self) -> Invocation | None:
        """The next invocation nobody gave up on, or None once this environment is dead (an
        invocation taken at that moment goes back to the queue)."""
        while not self.dead.is_set():
            getter = asyncio.ensure_future(self.function.queue.get())
            died = asyncio.ensure_future(self.dead.wait())
            try:
                await asyncio.wait({getter, died}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # The process's connection closed (handler cancellation) right as work arrived.
                if getter.done() and not getter.cancelled():
                    self.function.give_back(getter.result())
                raise
            finally:
                died.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                invocation = getter.result()
                if self.dead.is_set():
                    self.function.give_back(invocation)
                    return None
                if not invocation.future.done():
                    return invocation
        return None

    def _settle(self, request_id: str, ok: bool, payload: Any) -> None:
        invocation = self.current
        if invocation is None or invocation.id != request_id or invocation.future.done():
            return
        started = invocation.handed_out_at or time.monotonic()
        init_ms = None
        if not self.init_reported:
            self.init_reported = True
            init_ms = self.init_ms
        invocation.settle(Outcome(ok, payload, (time.monotonic() - started) * 1000, init_ms))

    async def response(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = None
        if body is None or len(body) > MAX_RESPONSE_BYTES:
            size = f"{len(body)} bytes" if body is not None else f"over {2 * MAX_RESPONSE_BYTES} bytes"
            message = f"Response payload size ({size}) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            self._settle(request.match_info["id"], False, {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message})
            return web.Response(status=413, text=json.dumps({"errorType": "RequestEntityTooLarge", "errorMessage": message}))
        try:
            payload = json.loads(body) if body else None
        except json.JSONDecodeError:
            payload = body.decode("utf-8", "replace")
        self._settle(request.match_info["id"], True, payload)
        return web.Response(status=202, text='{"status":"OK"}')

    async def error(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            payload = {"errorType": "Unhandled", "errorMessage": body.decode("utf-8", "replace")}
        self._settle(request.match_info["id"], False, payload)
        return web.Response(status=202, text='{"status":"OK"}')

    async def init_error(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.log_tail.append(f"init error: {body.decode('utf-8', 'replace')}")
        return web.Response(status=202, text='{"status":"OK"}')

    def kill(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.kill()


class LocalFunction:
    """A function's environments and its queue of invocations."""

    def __init__(self, spec, binary: Path, base_environment: dict[str, str], log: Callable[[str], None]):
        self.spec = spec
        self.binary = binary
        self.environment = {
            **base_environment,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": str(binary.parent),
            "TZ": ":UTC",
        }
        self.limit = spec.reserved_concurrency or LOCAL_CONCURRENCY
        self.queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self.environments: list[Environment] = []
        self._log = log
        self.stopping = False

    def log(self, line: str) -> None:
        self._log(line)

    def _scale(self) -> None:
        """A cold start when invocations wait and no environment is idle, up to the limit."""
        if self.stopping:
            return
        idle = sum(1 for e in self.environments if e.idle)
        waiting = sum(1 for i in self.queue._queue if not i.future.done())  # noqa: SLF001
        if waiting > idle and len(self.environments) < self.limit:
            environment = Environment(self)
            self.environments.append(environment)
            asyncio.create_task(self._start(environment))

    async def _start(self, environment: Environment) -> None:
        try:
            await environment.start(self.binary, self.environment)
        except Exception as error:  # not executable, out of file descriptors, ...
            self.log(f"lambda-local: {self.spec.binary} could not start: {error}")
            environment.log_tail.append(f"could not start: {error}")
            environment.dead.set()
            self.environment_ended(environment, -1)
            if environment.runner:
                await environment.runner.cleanup()

    def give_back(self, invocation: Invocation) -> None:
        """An invocation an environment took but cannot run: first in line again."""
        if not invocation.future.done():
            self.queue._queue.appendleft(invocation)  # noqa: SLF001 (asyncio.Queue has no put-front)
            self.queue._wakeup_next(self.queue._getters)  # noqa: SLF001
            self._scale()

    def _fail_one_waiting(self, outcome: Outcome) -> None:
        while not self.queue.empty():
            waiting = self.queue.get_nowait()
            if not waiting.future.done():
                waiting.settle(outcome)
                return

    def environment_ended(self, environment: Environment, status: int) -> None:
        if environment in self.environments:
            self.environments.remove(environment)
        invocation = environment.current
        during_init = environment.init_ms is None
        reason = environment.last_words()
        if self.stopping:
            return
        if during_init:
            self.log(f"lambda-local: {self.spec.binary} exited during init (status {status}): {reason}")
            # Lambda fails the invocation that found the environment failing its init.
            self._fail_one_waiting(failure("Runtime.ExitError", f"init failed: exit status {status}", reason))
        elif invocation is not None:
            invocation.settle(failure("Runtime.ExitError", f"Runtime exited with error: exit status {status}", reason))
        self._scale()

    async def invoke(self, event: Any, wait: float | None = None) -> Outcome:
        """Runs one invocation. The function's timeout is enforced by `watch_deadlines`; `wait`
        bounds the caller's patience (API Gateway's integration timeout): past it the caller gets
        a timeout, and an invocation not handed out yet is dropped, one already running runs on."""
        invocation = Invocation(event)
        self.queue.put_nowait(invocation)
        self._scale()
        try:
            return await asyncio.wait_for(asyncio.shield(invocation.future), timeout=wait)
        except asyncio.TimeoutError:
            if invocation.handed_out_at is None:
                invocation.settle(failure("Gateway.Timeout", "not started in time"))
            return failure("Gateway.Timeout", f"no answer within {wait} s")

    async def watch_deadlines(self) -> None:
        """Kills an environment whose invocation has run past the function's timeout."""
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for environment in list(self.environments):
                invocation = environment.current
                if invocation and invocation.handed_out_at and not invocation.future.done() and now - invocation.handed_out_at > self.spec.timeout:
                    invocation.settle(failure("Sandbox.Timedout", f"Task timed out after {self.spec.timeout} seconds", duration_ms=self.spec.timeout * 1000))
                    self.log(f"lambda-local: {self.spec.binary} timed out after {self.spec.timeout} s; its environment is stopped")
                    environment.kill()

    def stop(self) -> None:
        self.stopping = True
        for environment in self.environments:
            environment.kill()

    async def stopped(self, patience: float = 3) -> None:
        """After `stop`: waits for the environments to be gone and cleaned up, so no process is
        left to the event loop's shutdown (which would warn about each one)."""
        watchers = [e.watcher for e in self.environments if e.watcher]
        if watchers:
            await asyncio.wait(watchers, timeout=patience)


def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up once here: between fork and exec (where die_with_parent runs) nothing may load.
PRCTL = _prctl()
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: the child gets SIGKILL when the stack's process dies, however it dies, so no
    function or moto outlives the stack (elsewhere this does nothing)."""
    if PRCTL is not None:
        PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def base_environment(aws_endpoint: str) -> dict[str, str]:
    """What every environment gets besides the template's variables: Lambda's own variables
    and, locally, moto's endpoint and its test credentials instead of a role's."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
