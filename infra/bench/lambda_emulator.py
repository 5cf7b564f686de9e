"""A minimal AWS Lambda Runtime API, enough to start a function binary and time it.

A function built for Lambda asks `GET /2018-06-01/runtime/invocation/next` for its next event
and posts the result to `.../invocation/{id}/response` (or `/error`). Serving those from a local
server shows, without AWS, how long a binary takes from process start to its first `next` (its
init), to its first response (init plus the first invoke), and how its memory behaves over many
invocations. Loopback only; standard library only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Emulator:
    """Serves `event` `invocations` times, then holds the next `next` call until `close()`.

    Times are `time.perf_counter()` readings, comparable with the caller's own.
    """

    def __init__(self, event: bytes | list[bytes], invocations: int = 1, deadline_ms: int = 30_000):
        # one event for every invocation, or a list served in turn
        self.events = event if isinstance(event, list) else [event]
        self.served = 0
        self.remaining = invocations
        self.deadline_ms = deadline_ms
        self.first_next_at: float | None = None
        self.response_times: list[float] = []
        # when each event was handed out: with response_times, each invocation's duration
        self.handed_out_times: list[float] = []
        # how many responses had each statusCode ("ok" for responses without one)
        self.statuses: dict[str, int] = {}
        self.responses: list[bytes] = []
        self.errors: list[str] = []
        self.all_done = threading.Event()
        self.closing = threading.Event()
        self._lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404, b"{}")
                with emulator._lock:
                    if emulator.first_next_at is None:
                        emulator.first_next_at = time.perf_counter()
                    serve = emulator.remaining > 0
                    if serve:
                        emulator.remaining -= 1
                        event = emulator.events[emulator.served % len(emulator.events)]
                        emulator.served += 1
                if not serve:
                    emulator.all_done.set()
                    emulator.closing.wait()
                    return
                request_id = str(uuid.uuid4())
                deadline = int(time.time() * 1000) + emulator.deadline_ms
                with emulator._lock:
                    emulator.handed_out_times.append(time.perf_counter())
                self._reply(
                    200,
                    event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                    },
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                now = time.perf_counter()
                if self.path.endswith("/response"):
                    status = response_status(body)
                    with emulator._lock:
                        emulator.response_times.append(now)
                        emulator.statuses[status] = emulator.statuses.get(status, 0) + 1
                        if len(emulator.responses) < 3:
                            emulator.responses.append(body)
                elif self.path.endswith("/error"):
                    with emulator._lock:
                        emulator.errors.append(body.decode(errors="replace")[:500])
                self._reply(202, b'{"status":"OK"}')

            def _reply(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def first_response(self) -> dict | None:
        return json.loads(self.responses[0]) if self.responses else None

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def response_status(body: bytes) -> str:
    """The `statusCode` of an HTTP function's response, or "ok" for other functions."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return "unparsable"
    return str(parsed.get("statusCode", "ok")) if isinstance(parsed, dict) else "ok"
