"""Every route of the template, called through the local Lambda stack: each must reach a function
that serves it. Then the paths that are not HTTP: mail through SQS and the worker, the WebSocket
API with its pushes, and every schedule.

    python infra/lambda-local/check.py BASE_URL WORK_DIR MAIL_DIR [--routes-only]

WORK_DIR is the stack's `--work` folder: `stack.json` names the routes, `routes.json` and
`invocations.jsonl` show what ran. A route fails when its answer is a 5xx, or is the answer of a
function that does not have it (its router's `{"detail":"Not Found"}` 404 or its 405), which is
what a template entry that points at the wrong function gives. Exits 1 naming every failure.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import aiohttp

SUPERUSER = ("admin@example.com", "Admin-Passw0rd-2026!")
PASSWORD = "Str0ng-Passw0rd!"
PATIENCE = 30.0
# Requests that end the caller's session or account run last, so the rest keep their token.
LAST = ("POST /api/v1/auth/logout", "DELETE /api/v1/auth/sessions")
ROUTER_NOT_FOUND = {"detail": "Not Found"}
ROUTER_NOT_ALLOWED = {"detail": "Method Not Allowed"}


class Failures(list):
    def add(self, what: str) -> None:
        print(f"FAIL {what}", flush=True)
        self.append(what)


def call(base: str, method: str, path: str, token: str | None = None, body: object = None, form: dict | None = None):
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, answer_headers = error.code, error.read(), error.headers
    try:
        parsed = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        parsed = raw.decode("utf-8", "replace")
    return status, parsed, answer_headers


def mailed_token(mail_dir: Path, recipient: str, link_path: str) -> str:
    deadline = time.monotonic() + PATIENCE
    pattern = re.compile(re.escape(link_path) + r"\?token=([\w.~%-]+)")
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if recipient not in str(message.get("to", "")).lower():
                continue
            part = message.get_body(preferencelist=("plain",))
            match = pattern.search(part.get_content() if part else "")
            if match:
                return urllib.parse.unquote(match[1])
        time.sleep(0.2)
    raise AssertionError(f"no mail to {recipient} with a {link_path} link in {mail_dir} after {PATIENCE:.0f} s")


def sign_in(base: str, username: str, password: str) -> str:
    status, answer, _ = call(base, "POST", "/api/v1/auth/login", form={"username": username, "password": password})
    if status != 200:
        raise AssertionError(f"login as {username}: {status} {answer}")
    return answer["access_token"]


def a_verified_user(base: str, mail_dir: Path) -> tuple[str, str]:
    """Registers, verifies through the mailed link (SQS, worker, file mailer), signs in."""
    name = f"lambda_{uuid.uuid4().hex[:8]}"
    address = f"{name}@example.com"
    status, answer, _ = call(base, "POST", "/api/v1/auth/register", body={"email": address, "username": name, "password": PASSWORD})
    if status != 201:
        raise AssertionError(f"register: {status} {answer}")
    token = mailed_token(mail_dir, address, "/verify-email")
    status, answer, _ = call(base, "POST", "/api/v1/auth/verify-email", body={"token": token})
    if status != 200:
        raise AssertionError(f"verify-email: {status} {answer}")
    return name, sign_in(base, address, PASSWORD)


def check_routes(base: str, routes: list[dict], user_token: str | None, admin_token: str | None, failures: Failures) -> None:
    ordered = sorted(routes, key=lambda r: (r["key"] in LAST, r["key"]))
    for route in ordered:
        path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), route["path"])
        token = admin_token if "/admin/" in path else user_token
        body = {} if route["method"] in ("POST", "PUT", "PATCH") else None
        status, answer, headers = call(base, route["method"], path, token=token, body=body)
        reason = headers.get("x-lambda-local-error")
        if status >= 500:
            failures.add(f"{route['key']} -> {route['function']}: {status} {answer}" + (f" ({reason})" if reason else ""))
        elif status == 404 and answer == ROUTER_NOT_FOUND or status == 405 and answer == ROUTER_NOT_ALLOWED:
            failures.add(f"{route['key']}: the template sends it to {route['function']}, which does not serve it ({status} {answer})")


async def check_websocket(base: str, token: str, failures: Failures) -> None:
    url = base.replace("http://", "ws://") + "/api/v1/ws?token=" + urllib.parse.quote(token)
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(base.replace("http://", "ws://") + "/api/v1/ws"):
                failures.add("WebSocket without a token: the upgrade went through")
        except aiohttp.WSServerHandshakeError as refused:
            if refused.status != 401:
                failures.add(f"WebSocket without a token: expected 401 before the upgrade, got {refused.status}")
        async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=10)) as socket:
            await socket.send_str(json.dumps({"type": "echo", "message": "hi"}))
            reply = await asyncio.wait_for(socket.receive_json(), PATIENCE)
            if reply.get("type") != "echo" or reply.get("message") != "hi":
                failures.add(f"WebSocket echo: pushed back {reply}")
            await socket.send_str(json.dumps({"type": "join", "room": "lobby"}))
            reply = await asyncio.wait_for(socket.receive_json(), PATIENCE)
            if reply.get("type") != "joined":
                failures.add(f"WebSocket join: pushed back {reply}")


def wait_for(what: str, check, failures: Failures) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    failures.add(f"gave up waiting for {what}")


def invocations(work: Path) -> list[dict]:
    path = work / "invocations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("work", type=Path)
    parser.add_argument("mail_dir", type=Path)
    parser.add_argument("--routes-only", action="store_true", help="only the HTTP routes (the mutation tests)")
    args = parser.parse_args(argv)
    stack = json.loads((args.work / "stack.json").read_text())
    failures = Failures()
    started = time.monotonic()

    user_token = admin_token = None
    try:
        _, user_token = a_verified_user(args.base, args.mail_dir)
        print("mail: registration -> SQS -> worker -> file mailer: delivered; verified and signed in", flush=True)
    except AssertionError as error:
        failures.add(f"a verified user: {error}")
    try:
        admin_token = sign_in(args.base, *SUPERUSER)
    except AssertionError as error:
        failures.add(f"the superuser: {error}")

    if not args.routes_only and user_token:
        try:
            asyncio.run(check_websocket(args.base, user_token, failures))
        except (aiohttp.ClientError, asyncio.TimeoutError, AssertionError) as error:
            failures.add(f"WebSocket: {error!r}")

    check_routes(args.base, stack["http_routes"], user_token, admin_token, failures)
    print(f"routes: {len(stack['http_routes'])} called", flush=True)

    if not args.routes_only:
        routes_hit = lambda: json.loads((args.work / "routes.json").read_text())  # noqa: E731
        wait_for("$disconnect after the WebSocket closed", lambda: "WS $disconnect" in routes_hit(), failures)
        hit = routes_hit()
        for key in ["WS $connect", "WS $default", "WS $disconnect", "@connections POST"] + [r["key"] for r in stack["http_routes"]]:
            if key not in hit:
                failures.add(f"{key} was never reached")
        names = {s["name"] for s in stack["schedules"]}
        wait_for(f"every schedule to run ({', '.join(sorted(names))})",
                 lambda: names <= {i["trigger"].removeprefix("schedule:") for i in invocations(args.work) if i["ok"]}, failures)
        print(f"schedules: {len(names)} ran", flush=True)

    print(f"checked in {time.monotonic() - started:.1f} s: {len(failures)} failure(s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
