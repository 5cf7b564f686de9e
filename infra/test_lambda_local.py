"""The local Lambda stack's parts (infra/lambda-local): what it reads from the template, the
events its API Gateway builds and how it reads the answers, and what its SQS poller deletes.
infra/lambda-local/run drives the whole stack with the function binaries (scripts/test --full).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import sys
import time
import unittest
import uuid
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambda-local"))
import gateway  # noqa: E402
import rehearsal  # noqa: E402
import runtime  # noqa: E402
import sources  # noqa: E402
import stack  # noqa: E402
from aiohttp import WSMsgType  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

MOTO = os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1")


def a_stack(routes, cors=None):
    functions = {name: SimpleNamespace(binary=name.lower()) for name in {r.function for r in routes} | {"Ws"}}
    return stack.Stack(
        name="test", functions=functions, http_routes=routes, ws_routes={"$connect": "Ws", "$default": "Ws", "$disconnect": "Ws"},
        ws_stage="prod", ws_paths=["/api/v1/ws"], event_sources=[], schedules=[], cors=cors, parameters={},
    )


ROUTES = [
    stack.HttpRoute("GET", "/api/v1/tasks/{id}", "Tasks"),
    stack.HttpRoute("GET", "/api/v1/tasks/status", "Tasks"),
    stack.HttpRoute("POST", "/api/v1/auth/login", "Auth"),
    stack.HttpRoute("GET", "/files/{proxy+}", "Files"),
]
CORS = stack.Cors(["https://app.example.com"], ["GET", "POST"], ["authorization", "content-type"], ["x-request-id"], True, 600)


class Routing(unittest.TestCase):
    def setUp(self):
        self.gateway = gateway.Gateway(a_stack(ROUTES), invoke=None, record=lambda *_: None)

    def test_the_most_specific_route_wins(self):
        route, params = self.gateway.find("GET", "/api/v1/tasks/status")
        self.assertEqual((route.key, params), ("GET /api/v1/tasks/status", {}))
        route, params = self.gateway.find("GET", "/api/v1/tasks/42")
        self.assertEqual((route.key, params), ("GET /api/v1/tasks/{id}", {"id": "42"}))

    def test_method_path_and_trailing_slash_must_match(self):
        self.assertIsNone(self.gateway.find("GET", "/api/v1/tasks/status/"))
        self.assertIsNone(self.gateway.find("GET", "/api/v1/tasks//"))
        self.assertIsNone(self.gateway.find("DELETE", "/api/v1/tasks/42"))
        self.assertIsNone(self.gateway.find("GET", "/api/v1/tasks/42/more"))
        self.assertIsNone(self.gateway.find("GET", "/api/v1/tasks"))

    def test_a_greedy_parameter_takes_the_rest_of_the_path_but_loses_to_any_other_match(self):
        route, params = self.gateway.find("GET", "/files/a/b/c")
        self.assertEqual(params, {"proxy": "a/b/c"})
        routes = [stack.HttpRoute("GET", "/{proxy+}", "Any"), stack.HttpRoute("GET", "/{section}/{id}", "Pair")]
        route, _ = gateway.Gateway(a_stack(routes), invoke=None, record=lambda *_: None).find("GET", "/files/7")
        self.assertEqual(route.function, "Pair")


class Answers(unittest.TestCase):
    def test_cookies_headers_and_base64_bodies_are_read_as_api_gateway_does(self):
        response = gateway.Gateway.http_response(
            {"statusCode": 201, "headers": {"content-type": "image/png"}, "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
             "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}, "id")
        self.assertEqual(response.status, 201)
        self.assertEqual(response.headers.getall("Set-Cookie"), ["a=1; Path=/", "b=2; HttpOnly"])
        self.assertEqual(response.headers.getall("Content-Type"), ["image/png"])
        self.assertEqual(response.body, b"\x89PNG")

    def test_an_answer_without_status_code_is_a_200_with_the_answer_as_json(self):
        response = gateway.Gateway.http_response({"hello": "world"}, "id")
        self.assertEqual((response.status, json.loads(response.text)), (200, {"hello": "world"}))

    def test_a_status_code_that_is_not_a_number_is_api_gateways_500(self):
        response = gateway.Gateway.http_response({"statusCode": "soon"}, "id")
        self.assertEqual((response.status, response.text), (500, '{"message":"Internal Server Error"}'))


class Events(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.events = []
        self.answer = runtime.Outcome(True, {"statusCode": 200, "headers": {"access-control-allow-origin": "*"}, "body": "ok"}, 1, None)

        async def invoke(function, event, trigger, wait=None):
            self.events.append((function, event, trigger))
            return self.answer

        self.gateway = gateway.Gateway(a_stack(ROUTES, CORS), invoke, record=lambda *_: None)
        server = TestServer(self.gateway.application())
        await server.start_server(**gateway.SERVER_OPTIONS)  # as main.py runs it
        self.client = TestClient(server)
        await self.client.start_server()

    async def asyncTearDown(self):
        await self.client.close()

    async def test_an_http_api_v2_event_carries_the_request(self):
        response = await self.client.get(
            "/api/v1/tasks/7?a=1&a=2&b=x%20y%23z", headers={"Cookie": "refresh_token=abc; other=1", "X-Custom": "yes"}
        )
        self.assertEqual(response.status, 200)
        function, event, trigger = self.events[0]
        self.assertEqual((function, trigger), ("Tasks", "http:GET /api/v1/tasks/{id}"))
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "GET /api/v1/tasks/{id}")
        self.assertEqual(event["rawPath"], "/api/v1/tasks/7")
        self.assertEqual(event["rawQueryString"], "a=1&a=2&b=x%20y%23z", "raw, as lambda_http builds its URI from it")
        self.assertEqual(event["queryStringParameters"], {"a": "1,2", "b": "x y#z"})
        self.assertEqual(event["cookies"], ["refresh_token=abc", "other=1"])
        self.assertNotIn("cookie", event["headers"])
        self.assertEqual(event["headers"]["x-custom"], "yes")
        self.assertEqual(event["pathParameters"], {"id": "7"})
        self.assertEqual(event["requestContext"]["http"]["sourceIp"], "127.0.0.1")
        self.assertEqual(event["requestContext"]["http"]["method"], "GET")
        self.assertEqual(event["requestContext"]["stage"], "$default")
        self.assertFalse(event["isBase64Encoded"])

    async def test_json_passes_as_text_and_forms_and_binary_bodies_as_base64(self):
        await self.client.post("/api/v1/auth/login", data='{"a": 1}', headers={"Content-Type": "Application/JSON; charset=utf-8"})
        await self.client.post("/api/v1/auth/login", data="username=a&password=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
        await self.client.post("/api/v1/auth/login", data=b"\xff\x00", headers={"Content-Type": "application/octet-stream"})
        text, form, binary = (event for _, event, _ in self.events)
        self.assertEqual((text["body"], text["isBase64Encoded"]), ('{"a": 1}', False))
        self.assertEqual((base64.b64decode(form["body"]), form["isBase64Encoded"]), (b"username=a&password=b", True))
        self.assertEqual((base64.b64decode(binary["body"]), binary["isBase64Encoded"]), (b"\xff\x00", True))

    async def test_a_compressed_body_reaches_the_function_as_it_came(self):
        compressed = gzip.compress(b'{"a": 1}')
        await self.client.post("/api/v1/auth/login", data=compressed, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        [(_, event, _)] = self.events
        self.assertEqual(event["headers"]["content-encoding"], "gzip")
        self.assertEqual((base64.b64decode(event["body"]), event["isBase64Encoded"]), (compressed, True))

    async def test_an_unknown_route_is_api_gateways_404_and_invokes_nothing(self):
        response = await self.client.get("/api/v1/nowhere")
        self.assertEqual((response.status, await response.text()), (404, '{"message":"Not Found"}'))
        self.assertEqual(self.events, [])

    async def test_a_failed_invocation_is_api_gateways_500_with_the_reason_in_a_local_header(self):
        self.answer = runtime.Outcome(False, {"errorType": "Runtime.ExitError", "errorMessage": "exit status 2", "lastLine": "configuration error: X"}, 0, None)
        response = await self.client.get("/api/v1/tasks/status")
        self.assertEqual((response.status, await response.text()), (500, '{"message":"Internal Server Error"}'))
        self.assertIn("configuration error: X", response.headers["x-lambda-local-error"])

    async def test_cors_comes_from_the_template_not_from_the_function(self):
        preflight = await self.client.options("/api/v1/auth/login", headers={
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(preflight.status, 204)
        self.assertEqual(preflight.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertEqual(preflight.headers["Access-Control-Max-Age"], "600")
        self.assertEqual(self.events, [], "API Gateway answers preflights itself")
        stranger = await self.client.options("/api/v1/auth/login", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertNotIn("Access-Control-Allow-Origin", stranger.headers)
        answer = await self.client.get("/api/v1/tasks/status", headers={"Origin": "https://evil.example"})
        self.assertNotIn("Access-Control-Allow-Origin", answer.headers, "the function's '*' is replaced")
        answer = await self.client.get("/api/v1/tasks/status", headers={"Origin": "https://app.example.com"})
        self.assertEqual(answer.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertEqual(answer.headers["Access-Control-Expose-Headers"], "x-request-id")

    async def test_websocket_connect_messages_pushes_and_disconnect(self):
        pushed = []

        async def invoke(function, event, trigger, wait=None):
            self.events.append((function, event, trigger))
            context = event["requestContext"]
            if context["routeKey"] == "$default":
                # the function pushes through the Management API, as the ws function does
                response = await self.client.post(f"/prod/@connections/{context['connectionId']}", data=b"pong")
                pushed.append(response.status)
            return runtime.Outcome(True, {"statusCode": 200}, 1, None)

        self.gateway.invoke = invoke
        async with self.client.ws_connect("/api/v1/ws?token=t") as socket:
            await socket.send_str('{"type":"ping"}')
            self.assertEqual(await socket.receive_str(), "pong")
        for _ in range(100):
            if len(self.events) == 3:
                break
            await asyncio.sleep(0.05)
        self.assertEqual([trigger for _, _, trigger in self.events], ["ws:$connect", "ws:$default", "ws:$disconnect"])
        connect, message, disconnect = (event for _, event, _ in self.events)
        self.assertEqual([e["requestContext"]["eventType"] for e in (connect, message, disconnect)], ["CONNECT", "MESSAGE", "DISCONNECT"])
        self.assertEqual(connect["queryStringParameters"], {"token": "t"})
        self.assertEqual(message["body"], '{"type":"ping"}')
        self.assertEqual(pushed, [200])
        gone = await self.client.post(f"/prod/@connections/{connect['requestContext']['connectionId']}", data=b"late")
        self.assertEqual((gone.status, gone.headers["x-amzn-ErrorType"]), (410, "GoneException"))

    async def test_a_broken_handshake_is_refused_before_connect_runs(self):
        response = await self.client.get("/api/v1/ws", headers={"Upgrade": "websocket", "Authorization": "Bearer t"})
        self.assertEqual(response.status, 400)
        self.assertEqual(self.events, [], "no $connect, so no connection to leak")

    async def test_binary_and_oversized_frames_close_the_connection_as_api_gateway_does(self):
        cases = (("binary", lambda socket: socket.send_bytes(b"\x00"), 1003),
                 ("over 32 KB", lambda socket: socket.send_str("x" * (gateway.WS_FRAME_BYTES + 1)), 1009))
        for name, send, code in cases:
            with self.subTest(name):
                self.events.clear()
                async with self.client.ws_connect("/api/v1/ws") as socket:
                    await send(socket)
                    message = await socket.receive(timeout=5)
                    self.assertEqual((message.type, message.data), (WSMsgType.CLOSE, code))
                for _ in range(100):
                    if len(self.events) == 2:
                        break
                    await asyncio.sleep(0.05)
                self.assertEqual([trigger for _, _, trigger in self.events], ["ws:$connect", "ws:$disconnect"], "the frame reaches no function")
                self.assertEqual(self.events[1][1]["requestContext"]["disconnectStatusCode"], code)

    async def test_a_frame_of_32_kb_passes_and_offered_protocols_are_not_logged(self):
        token = "secret.jwt.token"
        # $connect selects the token, as the ws function does; nothing may log it on the way.
        self.answer = runtime.Outcome(True, {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": token}}, 1, None)
        with self.assertNoLogs("aiohttp.websocket"):
            async with self.client.ws_connect("/api/v1/ws", protocols=("bearer", token)) as socket:
                await socket.send_str("x" * gateway.WS_FRAME_BYTES)
                for _ in range(100):
                    if len(self.events) == 2:
                        break
                    await asyncio.sleep(0.05)
        self.assertEqual(self.events[1][2], "ws:$default")
        self.assertEqual(len(self.events[1][1]["body"]), gateway.WS_FRAME_BYTES)

    async def test_a_message_cannot_select_a_reserved_route(self):
        async with self.client.ws_connect("/api/v1/ws") as socket:
            await socket.send_str('{"action":"$disconnect"}')
            for _ in range(100):
                if len(self.events) == 2:
                    break
                await asyncio.sleep(0.05)
        self.assertEqual(self.events[1][2], "ws:$default")
        self.assertEqual(self.events[1][1]["requestContext"]["eventType"], "MESSAGE")

    async def test_a_refused_connect_refuses_the_upgrade_with_its_status(self):
        self.answer = runtime.Outcome(True, {"statusCode": 401, "body": "{}"}, 1, None)
        response = await self.client.get("/api/v1/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
        self.assertEqual(response.status, 401)


FAKE_FUNCTION = """#!/usr/bin/env python3
# A function binary stand-in: speaks the Runtime API; the event says what to do.
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
if os.environ.get("FAIL_INIT"):
    print("configuration error: " + os.environ["FAIL_INIT"], flush=True)
    sys.exit(2)
while True:
    with urllib.request.urlopen(api + "next") as answer:
        request_id, event = answer.headers["Lambda-Runtime-Aws-Request-Id"], json.load(answer)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        print("dying", flush=True)
        os._exit(event["exit"])
    if event.get("skip"):
        continue  # asks for the next event without answering this one
    body = json.dumps({"pid": os.getpid(), "echo": event, "padding": "x" * event.get("bytes", 0)}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).close()
    except OSError as refused:  # the Runtime API refused the answer; a runtime logs it and goes on
        print(f"response refused: {refused}", flush=True)
"""


class Environments(unittest.IsolatedAsyncioTestCase):
    """runtime.py with a stand-in function binary (a Python script speaking the Runtime API)."""

    async def asyncSetUp(self):
        import tempfile

        self.folder = tempfile.TemporaryDirectory()
        self.binary = Path(self.folder.name) / "bootstrap"
        self.binary.write_text(FAKE_FUNCTION)
        self.binary.chmod(0o755)
        self.lines = []

    async def asyncTearDown(self):
        self.function.stop()
        await self.function.stopped()
        self.folder.cleanup()

    def start(self, timeout=5, limit=2, **environment):
        spec = stack.Function("Fake", "fake", "stack-Fake", timeout, 128, {"PYTHONUNBUFFERED": "1", **environment}, limit)
        self.function = runtime.LocalFunction(spec, self.binary, {"PATH": os.environ["PATH"]}, self.lines.append)
        asyncio.get_running_loop().create_task(self.function.watch_deadlines())

    async def test_a_cold_start_then_warm_invocations_in_the_same_environment(self):
        self.start()
        first = await self.function.invoke({"n": 1}, wait=20)
        second = await self.function.invoke({"n": 2}, wait=20)
        self.assertTrue(first.ok and second.ok)
        self.assertIsNotNone(first.init_ms)
        self.assertIsNone(second.init_ms, "warm: no init")
        self.assertEqual(first.payload["pid"], second.payload["pid"])
        self.assertEqual(second.payload["echo"], {"n": 2})

    async def test_busy_environments_scale_out_up_to_the_limit(self):
        self.start(limit=2)
        outcomes = await asyncio.gather(*(self.function.invoke({"sleep": 0.5}, wait=20) for _ in range(4)))
        self.assertTrue(all(o.ok for o in outcomes))
        self.assertEqual(len({o.payload["pid"] for o in outcomes}), 2)

    async def test_a_failed_init_fails_the_invocation_with_the_functions_last_words(self):
        self.start(FAIL_INIT="QUEUE_URL is required")
        outcome = await self.function.invoke({}, wait=20)
        self.assertFalse(outcome.ok)
        self.assertEqual(outcome.payload["errorType"], "Runtime.ExitError")
        self.assertIn("QUEUE_URL is required", outcome.payload["lastLine"])
        self.assertTrue(any("exited during init" in line for line in self.lines))

    async def test_a_crash_mid_invocation_fails_it_and_the_next_one_gets_a_new_environment(self):
        self.start()
        crashed = await self.function.invoke({"exit": 3}, wait=20)
        self.assertEqual((crashed.ok, crashed.payload["errorType"], crashed.payload["lastLine"]), (False, "Runtime.ExitError", "dying"))
        after = await self.function.invoke({"n": 1}, wait=20)
        self.assertTrue(after.ok, after.payload)

    async def test_an_invocation_past_the_timeout_is_stopped_with_its_environment(self):
        self.start(timeout=1, limit=1)  # one environment: the next invocation needs it back
        slow = await self.function.invoke({"sleep": 30}, wait=20)
        self.assertEqual((slow.ok, slow.payload["errorType"]), (False, "Sandbox.Timedout"))
        after = await self.function.invoke({"n": 1}, wait=20)
        self.assertTrue(after.ok, after.payload)

    async def test_a_caller_that_gives_up_drops_an_invocation_that_has_not_started(self):
        self.start(limit=1)
        busy = asyncio.ensure_future(self.function.invoke({"sleep": 1.5}, wait=20))
        await asyncio.sleep(0.5)
        dropped = await self.function.invoke({"exit": 1}, wait=0.2)
        self.assertEqual(dropped.payload["errorType"], "Gateway.Timeout")
        busy = await busy
        after = await self.function.invoke({"n": 2}, wait=20)
        self.assertEqual(after.payload["pid"], busy.payload["pid"], "the dropped invocation (an exit) never ran")

    async def test_a_response_over_lambdas_limit_fails_the_invocation(self):
        self.start(limit=1)
        too_large = await self.function.invoke({"bytes": runtime.MAX_RESPONSE_BYTES}, wait=20)
        self.assertEqual((too_large.ok, too_large.payload["errorType"]), (False, "Function.ResponseSizeTooLarge"))
        after = await self.function.invoke({"n": 1}, wait=20)
        self.assertTrue(after.ok, after.payload)

    async def test_an_invocation_the_runtime_moves_on_from_fails_instead_of_hanging(self):
        self.start(limit=1)
        unanswered = await self.function.invoke({"skip": True}, wait=20)
        self.assertEqual((unanswered.ok, unanswered.payload["errorType"]), (False, "Runtime.NoResponse"))


class Deletions(unittest.TestCase):
    MESSAGES = [{"MessageId": "m1"}, {"MessageId": "m2"}, {"MessageId": "m3"}]

    def outcome(self, ok, payload):
        return runtime.Outcome(ok, payload, 1, None)

    def test_success_deletes_the_batch_and_an_error_deletes_nothing(self):
        self.assertEqual(sources.to_delete(self.MESSAGES, self.outcome(True, None), True), self.MESSAGES)
        self.assertEqual(sources.to_delete(self.MESSAGES, self.outcome(True, {"batchItemFailures": []}), True), self.MESSAGES)
        self.assertEqual(sources.to_delete(self.MESSAGES, self.outcome(False, {"errorType": "x"}), True), [])

    def test_reported_failures_stay_and_a_malformed_report_keeps_the_batch(self):
        answer = self.outcome(True, {"batchItemFailures": [{"itemIdentifier": "m2"}]})
        self.assertEqual([m["MessageId"] for m in sources.to_delete(self.MESSAGES, answer, True)], ["m1", "m3"])
        unknown = self.outcome(True, {"batchItemFailures": [{"itemIdentifier": "elsewhere"}]})
        self.assertEqual(sources.to_delete(self.MESSAGES, unknown, True), [])
        self.assertEqual(sources.to_delete(self.MESSAGES, self.outcome(True, {"batchItemFailures": "m2"}), True), [])

    def test_without_item_failure_reports_a_successful_answer_deletes_everything(self):
        answer = self.outcome(True, {"batchItemFailures": [{"itemIdentifier": "m2"}]})
        self.assertEqual(sources.to_delete(self.MESSAGES, answer, False), self.MESSAGES)


class Settings(unittest.TestCase):
    """What becomes of a developer's settings: parameters, local overrides, or named as ignored."""

    def test_every_setting_the_functions_read_is_known(self):
        names = stack.app_settings()
        self.assertGreater(len(names), 80)
        self.assertTrue({"WS_MAX_CONNECTIONS_PER_USER", "REFRESH_REUSE_GRACE_SECONDS", "HSTS_MAX_AGE_SECONDS"} <= names)

    def test_settings_no_function_gets_are_named_and_the_rest_are_not(self):
        given = {"WS_MAX_CONNECTIONS_PER_USER": "3", "ACCOUNT_DELETION_REMINDER_DAYS": "3", "LOG_LEVEL": " ",
                 "FRONTEND_URL": "http://localhost:3000", "ENABLE_RATE_LIMITING": "false", "FROM_EMAIL": "a@example.com",
                 "FROM_NAME": "A", "JWT_SECRET": "s", "SMTP_HOST": "smtp.example.com", "PATH": "/bin"}
        _, overrides, ignored = stack.parameters_and_overrides(given, 8000)
        self.assertEqual(ignored, ["ACCOUNT_DELETION_REMINDER_DAYS", "WS_MAX_CONNECTIONS_PER_USER"],
                         "unset on AWS too; parameters, overrides, the secret's keys and the seed's unused settings are not named")
        self.assertEqual(overrides["RATE_LIMIT_ENABLED"], "false", "the seed's name counts under ours")

    def test_seed_names_become_parameters_and_keys_keep_their_lines(self):
        pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
        given, _, _ = stack.parameters_and_overrides(
            {"FROM_EMAIL": " noreply@example.com", "FROM_NAME": "Your App, Inc.", "FIRST_SUPERUSER": "root@example.com",
             "MAIL_FROM": "", "JWT_PREVIOUS_PRIVATE_KEY": pem}, 8000)
        self.assertEqual(given["MailFrom"], '"Your App, Inc." <noreply@example.com>', "quoted, as the functions parse it")
        self.assertEqual(given["FirstSuperuserEmail"], "root@example.com")
        self.assertEqual(given["JwtPreviousPrivateKey"], pem.strip().replace("\n", "\\n"))
        self.assertEqual(stack.effective_settings({"JWT_SECRET": "ours", "SECRET_KEY": "seed"})["JWT_SECRET"], "ours")


@unittest.skipUnless(MOTO, "needs moto (scripts/test provides it)")
class FromTheTemplate(unittest.TestCase):
    """The template deployed into moto and read back, as `scripts/dev --lambda` does."""

    @classmethod
    def setUpClass(cls):
        import boto3

        stack.moto_without_docker(os.environ["AWS_ENDPOINT_URL"])
        cls.session = boto3.session.Session(region_name="us-east-1")
        given, cls.overrides, cls.ignored = stack.parameters_and_overrides(
            {"DATABASE_URL": "postgres://u@127.0.0.1:5/db", "RATE_LIMIT_ENABLED": "false", "QUEUE_BACKEND": "inline"}, 8000)
        cls.stack = stack.describe(cls.session, f"local-{uuid.uuid4().hex[:8]}", stack.ROOT / "template.yaml", given, "http://127.0.0.1:8000")

    def test_every_function_route_schedule_and_queue_of_the_template(self):
        binaries = sorted(f.binary for f in self.stack.functions.values())
        self.assertEqual(binaries, rehearsal.function_folders())
        transformed = rehearsal.transform(rehearsal.load_template(), self.stack.parameters, "routes")
        self.assertEqual(sorted({r.path for r in self.stack.http_routes}), sorted(set(rehearsal.http_routes(transformed))))
        self.assertEqual(len(self.stack.http_routes), sum(1 for line in (stack.ROOT / "template.yaml").read_text().splitlines() if "Type: HttpApi," in line))
        self.assertEqual(set(self.stack.ws_routes), {"$connect", "$default", "$disconnect"})
        self.assertEqual({self.stack.functions[f].binary for f in self.stack.ws_routes.values()}, {"ws"})
        [source] = self.stack.event_sources
        self.assertEqual((self.stack.functions[source.function].binary, source.batch_size, source.report_batch_item_failures), ("worker", 1, True))
        self.assertEqual({self.stack.functions[s.function].binary for s in self.stack.schedules}, {"scheduler"})
        self.assertTrue(all("job" in s.payload for s in self.stack.schedules))
        self.assertEqual(self.stack.ws_paths, ["/api/v1/ws", "/api/v1/ws/demo"])

    def test_reserved_concurrency_and_the_pollers_cap_come_from_the_templates_conditions(self):
        reserved = {f.binary: f.reserved_concurrency for f in self.stack.functions.values()}
        self.assertEqual((reserved["worker"], reserved["scheduler"], reserved["auth-api"]), (5, 4, None))
        self.assertEqual(self.stack.event_sources[0].maximum_concurrency, reserved["worker"])

    def test_functions_get_the_templates_environment_with_local_values_for_aws_references(self):
        ws = next(f for f in self.stack.functions.values() if f.binary == "ws")
        self.assertEqual(ws.environment["WS_CALLBACK_URL"], "http://127.0.0.1:8000/prod")
        worker = next(f for f in self.stack.functions.values() if f.binary == "worker")
        self.assertIn("SES_CONFIGURATION_SET", worker.environment)
        users = next(f for f in self.stack.functions.values() if f.binary == "users-api")
        self.assertNotIn("SES_CONFIGURATION_SET", users.environment, "only what the template gives that function")
        secrets = self.session.client("secretsmanager")
        values = {}
        for arn in users.environment["SECRETS_ARN"].split(","):
            values.update(json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]))
        self.assertEqual(values["DATABASE_URL"], "postgres://u@127.0.0.1:5/db")
        self.assertEqual(len(values["JWT_SECRET"]), 64)
        self.assertEqual(len(values["MFA_ENCRYPTION_KEY"]), 64)

    def test_settings_the_template_does_not_take_are_named(self):
        self.assertEqual(self.overrides, {"COOKIE_SECURE": "false", "RATE_LIMIT_ENABLED": "false"})
        self.assertEqual(self.ignored, ["QUEUE_BACKEND"])


@unittest.skipUnless(MOTO, "needs moto (scripts/test provides it)")
class Redrive(unittest.IsolatedAsyncioTestCase):
    async def test_a_message_that_keeps_failing_moves_to_the_dead_letter_queue(self):
        import asyncio

        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1")
        name = f"redrive-{uuid.uuid4().hex[:8]}"
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName=name, Attributes={
            "VisibilityTimeout": "1", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody='{"job":"fails"}')
        receives = []

        async def invoke(function, event, trigger, wait=None):
            receives.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
            return runtime.Outcome(True, {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}, 1, None)

        source = stack.EventSource("Worker", queue, "arn:aws:sqs:us-east-1:123456789012:" + name, 1, 0, True, 1)
        poller = sources.SqsPoller(sqs, source, invoke, log=lambda _: None)
        tasks = poller.tasks()
        deadline = time.monotonic() + 20
        moved = []
        while not moved and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            moved = (await asyncio.to_thread(sqs.receive_message, QueueUrl=dlq, WaitTimeSeconds=0)).get("Messages", [])
        for task in tasks:
            task.cancel()
        self.assertEqual(receives, ["1", "2"], "delivered maxReceiveCount times, then redriven")
        self.assertEqual([m["Body"] for m in moved], ['{"job":"fails"}'])


if __name__ == "__main__":
    unittest.main()
