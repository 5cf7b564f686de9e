"""API Gateway on 127.0.0.1: the HTTP API (payload 2.0) and the WebSocket API of the template.

Why: on AWS a request reaches a function only through its route, as an HTTP API v2 event, and
the function's answer reaches the client only through API Gateway's reading of it (cookies,
base64 bodies, its own 404/500/503 bodies, CORS). Doing the same here means a route the
template gets wrong, an event field a function misreads, or an answer API Gateway would mangle
shows up before a deploy.

- HTTP: routes as the template declares them (the most specific path wins, as in HTTP APIs);
  an unknown route is `404 {"message":"Not Found"}` without invoking anything; a function error
  or timeout is `500 {"message":"Internal Server Error"}`; CORS preflights are answered from the
  template's CorsConfiguration and the function's own CORS headers are replaced, as API Gateway
  does when an API has a CORS configuration.
- WebSocket: the paths of the template's API mappings for the WebSocket API (the seed's
  `/api/v1/ws/demo` and `/api/v1/ws`) reach it; `$connect` decides the upgrade, each message is
  `$default` (or the route its `action` names), `$disconnect` follows the close, and the
  functions push through `/{stage}/@connections/{id}` on the same port (POST, GET, DELETE);
  a broken handshake is refused before `$connect`, and a binary frame closes the connection
  with 1003, a frame over 32 KB with 1009, as API Gateway's quotas do.
- API Gateway's integration timeouts: no answer within 30 s (WebSocket: 29 s) is
  `503 {"message":"Service Unavailable"}`; the function runs on until its own timeout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Callable

from aiohttp import WSCloseCode, WSMsgType, web

# Lambda's synchronous invocation payload limit: a larger event never reaches the function.
MAX_EVENT_BYTES = 6 * 1024 * 1024
# What HTTP APIs pass as text; any other body (forms included) arrives base64-encoded.
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
# API Gateway's integration timeouts: HTTP APIs give up after 30 s, WebSocket APIs after 29 s.
HTTP_TIMEOUT = 30.0
WS_TIMEOUT = 29.0
# WebSocket API quotas: a frame over 32 KB closes the connection with 1009 (browsers send each
# message as one frame, so a message is held to that here), as a binary frame does with 1003.
WS_FRAME_BYTES = 32 * 1024
WS_MESSAGE_BYTES = 128 * 1024
ACCOUNT_ID = "123456789012"
# For the aiohttp server: API Gateway hands a compressed body to the function as it came.
SERVER_OPTIONS = {"auto_decompress": False}


def gateway_error(status: int, message: str, reason: str | None = None) -> web.Response:
    headers = {"apigw-requestid": request_id()}
    if reason:
        # Not sent by API Gateway: tells the local developer why, without changing the body.
        headers["x-lambda-local-error"] = reason[:300].replace("\n", " ")
    return web.Response(text=json.dumps({"message": message}, separators=(",", ":")), status=status, headers=headers, content_type="application/json")


def request_id() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode().rstrip("=")[:14] + "="


def request_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


@dataclass
class Route:
    key: str
    method: str
    segments: list[str]
    function: str

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        params: dict[str, str] = {}
        for index, pattern in enumerate(self.segments):
            if pattern.startswith("{") and pattern.endswith("+}"):
                params[pattern[1:-2]] = "/".join(segments[index:])
                return params if index < len(segments) else None
            if index >= len(segments):
                return None
            if pattern.startswith("{") and pattern.endswith("}"):
                if not segments[index]:
                    return None
                params[pattern[1:-1]] = segments[index]
            elif pattern != segments[index]:
                return None
        return params if len(segments) == len(self.segments) else None

    def specificity(self) -> tuple:
        # Any route without a greedy parameter beats every greedy one; then literal segments beat
        # parameters, position by position; then a method beats ANY.
        greedy = any(s.endswith("+}") for s in self.segments)
        return (not greedy,) + tuple(0 if s.startswith("{") else 1 for s in self.segments) + (self.method != "ANY",)


def split_path(path: str) -> list[str]:
    """Segments as HTTP APIs match them: a trailing slash is an empty last segment, so
    `/api/v1/users/me/` is not `/api/v1/users/me`."""
    return path[1:].split("/") if path not in ("", "/") else []


@dataclass
class Connection:
    id: str
    socket: web.WebSocketResponse
    connected_at: int
    source_ip: str
    user_agent: str
    last_active: float = field(default_factory=time.time)


class Gateway:
    """The aiohttp application in front of the functions."""

    def __init__(self, stack, invoke: Callable, record: Callable[[str, int], None]):
        self.stack = stack
        self.invoke = invoke  # async (function logical id, event, trigger) -> runtime.Outcome
        self.record = record  # (route key, status) for the hit list
        self.routes = [Route(r.key, r.method, split_path(r.path), r.function) for r in stack.http_routes]
        self.routes.sort(key=Route.specificity, reverse=True)
        self.connections: dict[str, Connection] = {}
        self.api_id = "local"
        self.domain = "127.0.0.1"

    def application(self) -> web.Application:
        app = web.Application(client_max_size=10 * 1024 * 1024)  # HTTP APIs take 10 MB bodies
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_shutdown.append(self.close_connections)
        return app

    # -------------------------------------------------------------------- dispatch

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in self.stack.ws_paths and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        stage = f"/{self.stack.ws_stage}/@connections/"
        if path.startswith(stage):
            return await self.management(request, path[len(stage):])
        if request.method == "OPTIONS" and self.stack.cors and "Access-Control-Request-Method" in request.headers:
            return self.preflight(request)
        return await self.http(request)

    # -------------------------------------------------------------------- HTTP API

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        segments = split_path(path)
        for route in self.routes:
            params = route.match(method, segments)
            if params is not None:
                return route, params
        return None

    async def http_event(self, request: web.Request, route: Route, params: dict[str, str]) -> dict:
        now = time.time()
        body = await request.read()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            name = name.lower()
            if name == "cookie":
                continue
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        source_ip = request.remote or "127.0.0.1"
        headers["x-forwarded-for"] = f"{headers['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in headers else source_ip
        headers["x-forwarded-proto"] = request.scheme
        headers["x-forwarded-port"] = str(listening_port(request))
        headers["x-amzn-trace-id"] = f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"
        cookies = [c.strip() for value in request.headers.getall("Cookie", []) for c in value.split(";") if c.strip()]
        query: dict[str, str] = {}
        for name, value in request.query.items():
            query[name] = f"{query[name]},{value}" if name in query else value
        content_type = request.headers.get("Content-Type", "").lower()
        is_text = not body or (content_type.startswith(TEXT_TYPES) and _utf8(body))
        host = request.host.split(":")[0]
        raw_path = request.raw_path.split("?", 1)[0]
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": request.rel_url.raw_query_string,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": self.api_id,
                "domainName": request.host,
                "domainPrefix": host.split(".")[0],
                "http": {
                    "method": request.method,
                    "path": raw_path,
                    "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                    "sourceIp": source_ip,
                    "userAgent": request.headers.get("User-Agent", ""),
                },
                "requestId": request_id(),
                "routeKey": route.key,
                "stage": "$default",
                "time": request_time(now),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": not is_text,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        if body:
            event["body"] = body.decode() if is_text else base64.b64encode(body).decode()
        return event

    async def http(self, request: web.Request) -> web.StreamResponse:
        found = self.find(request.method, request.path)
        if found is None:
            self.record(f"{request.method} {request.path} (no route)", 404)
            return gateway_error(404, "Not Found")
        route, params = found
        event = await self.http_event(request, route, params)
        if len(json.dumps(event)) > MAX_EVENT_BYTES:
            self.record(route.key, 413)
            return gateway_error(413, "Request Entity Too Large", "the event exceeds Lambda's 6 MB payload")
        outcome = await self.invoke(route.function, event, f"http:{route.key}", HTTP_TIMEOUT)
        if not outcome.ok and not isinstance(outcome.payload, dict):
            outcome.payload = {"errorType": "Unhandled", "errorMessage": str(outcome.payload)}
        if not outcome.ok and outcome.payload.get("errorType") == "Gateway.Timeout":
            self.record(route.key, 503)
            return gateway_error(503, "Service Unavailable", f"no answer within {HTTP_TIMEOUT:.0f} s")
        if not outcome.ok:
            self.record(route.key, 500)
            reason = f"{self.stack.functions[route.function].binary}: {outcome.payload.get('errorType')}: {outcome.payload.get('errorMessage')}"
            if outcome.payload.get("lastLine"):
                reason += f" ({outcome.payload['lastLine']})"
            return gateway_error(500, "Internal Server Error", reason)
        response = self.http_response(outcome.payload, event["requestContext"]["requestId"])
        self.apply_cors(request, response)
        self.record(route.key, response.status)
        return response

    @staticmethod
    def http_response(payload: Any, apigw_request_id: str) -> web.Response:
        """API Gateway's reading of a payload 2.0 answer."""
        if not isinstance(payload, dict) or "statusCode" not in payload:
            # No statusCode: API Gateway answers 200 with the answer as a JSON body.
            return web.Response(status=200, text=json.dumps(payload), content_type="application/json")
        try:
            status = int(payload["statusCode"])
        except (TypeError, ValueError):
            return gateway_error(500, "Internal Server Error", "statusCode is not a number")
        body = payload.get("body") or ""
        raw = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
        response = web.Response(status=status, body=raw)
        response.headers.popall("Content-Type", None)
        for name, value in (payload.get("headers") or {}).items():
            response.headers[name] = str(value)
        for cookie in payload.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        response.headers["apigw-requestid"] = apigw_request_id
        response.headers.setdefault("Date", formatdate(usegmt=True))
        return response

    def allowed_origin(self, request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        cors = self.stack.cors
        if not origin or not cors:
            return None
        return origin if origin in cors.allow_origins or "*" in cors.allow_origins else None

    def apply_cors(self, request: web.Request, response: web.StreamResponse) -> None:
        cors = self.stack.cors
        if not cors:
            return
        for name in list(response.headers):
            if name.lower().startswith("access-control-"):
                response.headers.popall(name, None)
        origin = self.allowed_origin(request)
        if origin is None:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        if cors.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
        if cors.expose_headers:
            response.headers["Access-Control-Expose-Headers"] = ",".join(cors.expose_headers)
        response.headers.add("Vary", "Origin")

    def preflight(self, request: web.Request) -> web.Response:
        cors = self.stack.cors
        response = web.Response(status=204, headers={"apigw-requestid": request_id()})
        origin = self.allowed_origin(request)
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        asked = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
        self.record("OPTIONS (CORS preflight)", 204)
        if origin is None or method not in cors.allow_methods or any(h not in cors.allow_headers for h in asked):
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ",".join(cors.allow_methods)
        if cors.allow_headers:
            response.headers["Access-Control-Allow-Headers"] = ",".join(cors.allow_headers)
        if cors.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
        if cors.max_age is not None:
            response.headers["Access-Control-Max-Age"] = str(cors.max_age)
        return response

    # -------------------------------------------------------------------- WebSocket API

    def ws_event(self, connection_id: str, route_key: str, request: web.Request | None, extra: dict) -> dict:
        now = time.time()
        connection = self.connections.get(connection_id)
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id(),
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.stack.ws_stage,
            "connectedAt": connection.connected_at if connection else int(now * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": (connection.source_ip if connection else request.remote) or "127.0.0.1",
                         "userAgent": connection.user_agent if connection else request.headers.get("User-Agent", "")},
            "requestId": request_id(),
            "domainName": self.domain,
            "connectionId": connection_id,
            "apiId": self.api_id,
        }
        if event_type == "MESSAGE":
            context["messageId"] = request_id()
        event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
        if request is not None:
            headers = {name: value for name, value in request.headers.items()}
            event["headers"] = headers
            event["multiValueHeaders"] = {name: request.headers.getall(name) for name in headers}
            if request.query:
                event["queryStringParameters"] = dict(request.query)
                event["multiValueQueryStringParameters"] = {k: request.query.getall(k) for k in request.query}
        event.update(extra)
        return event

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        # The probe accepts the protocols offered, so aiohttp does not log them (browsers send
        # the access token as one).
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if not web.WebSocketResponse(protocols=offered).can_prepare(request).ok:
            # API Gateway refuses a broken handshake before `$connect` runs.
            self.record("WS (bad handshake)", 400)
            return gateway_error(400, "Bad Request")
        connect = self.stack.ws_routes.get("$connect")
        connection_id = secrets.token_urlsafe(12)
        self.domain = request.host
        event = self.ws_event(connection_id, "$connect", request, {})
        protocols = ()
        if connect:
            outcome = await self.invoke(connect, event, "ws:$connect", WS_TIMEOUT)
            status = int(outcome.payload.get("statusCode", 200)) if outcome.ok and isinstance(outcome.payload, dict) else (200 if outcome.ok else 500)
            if status >= 300:
                self.record("WS $connect", status)
                return gateway_error(status, "Forbidden" if status == 403 else "Internal Server Error" if status >= 500 else "Unauthorized")
            headers = {k.lower(): v for k, v in ((outcome.payload or {}).get("headers") or {}).items()} if isinstance(outcome.payload, dict) else {}
            if "sec-websocket-protocol" in headers:
                protocols = (headers["sec-websocket-protocol"],)
        self.record("WS $connect", 101)
        # aiohttp refuses a message of max_msg_size itself; API Gateway takes a frame of 32 KB.
        socket = web.WebSocketResponse(protocols=protocols, max_msg_size=WS_FRAME_BYTES + 1)
        status_code, reason = 1000, "Client closed"
        closed_with: int | None = None  # the code the gateway itself closed the connection with
        in_flight: set[asyncio.Task] = set()
        try:
            # Inside the `try`: `$connect` has run, so a client gone before the upgrade
            # completes still gets its `$disconnect`.
            await socket.prepare(request)
            self.connections[connection_id] = Connection(connection_id, socket, int(time.time() * 1000), request.remote or "127.0.0.1", request.headers.get("User-Agent", ""))
            async for message in socket:
                if message.type == WSMsgType.BINARY:
                    closed_with = WSCloseCode.UNSUPPORTED_DATA
                    await socket.close(code=closed_with, message=b"Binary frames are not supported")
                    break
                if message.type == WSMsgType.ERROR:  # aiohttp refused the frame and closed
                    closed_with = getattr(message.data, "code", WSCloseCode.ABNORMAL_CLOSURE)
                    break
                if message.type != WSMsgType.TEXT:
                    continue
                self.connections[connection_id].last_active = time.time()
                # Each message is its own invocation, as on AWS: a slow one holds up no other.
                task = asyncio.create_task(self.ws_message(socket, connection_id, message.data))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            status_code = int(closed_with or socket.close_code or status_code)
        finally:
            disconnect = self.stack.ws_routes.get("$disconnect")
            event = self.ws_event(connection_id, "$disconnect", None, {})
            event["requestContext"]["disconnectStatusCode"] = status_code
            event["requestContext"]["disconnectReason"] = reason
            self.connections.pop(connection_id, None)
            if disconnect:
                outcome = await self.invoke(disconnect, event, "ws:$disconnect")
                self.record("WS $disconnect", 200 if outcome.ok else 500)
        return socket

    async def ws_message(self, socket: web.WebSocketResponse, connection_id: str, data: str) -> None:
        route_key = "$default"
        try:
            action = json.loads(data).get("action")
            # A message never selects `$connect` or `$disconnect`: those are API Gateway's own.
            if isinstance(action, str) and not action.startswith("$") and action in self.stack.ws_routes:
                route_key = action
        except (ValueError, AttributeError):
            pass
        function = self.stack.ws_routes.get(route_key)
        if function is None:
            await socket.send_str(json.dumps({"message": "Forbidden", "connectionId": connection_id, "requestId": request_id()}))
            return
        event = self.ws_event(connection_id, route_key, None, {"body": data})
        outcome = await self.invoke(function, event, f"ws:{route_key}", WS_TIMEOUT)
        self.record(f"WS {route_key}", 200 if outcome.ok else 500)
        if not outcome.ok and not socket.closed:
            await socket.send_str(json.dumps({"message": "Internal server error", "connectionId": connection_id, "requestId": request_id()}))

    async def close_connections(self, _app: web.Application) -> None:
        """On shutdown: API Gateway's 1001 to every open connection."""
        closing = [connection.socket.close(code=1001, message=b"Going away") for connection in list(self.connections.values())]
        if closing:
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 2)

    async def management(self, request: web.Request, connection_id: str) -> web.Response:
        """The Management API: what `post_to_connection`, `get_connection` and
        `delete_connection` reach (unsigned here; AWS checks the caller's IAM policy)."""
        connection = self.connections.get(urllib.parse.unquote(connection_id))
        route = f"@connections {request.method}"
        if connection is None or connection.socket.closed:
            self.record(route, 410)
            return gone()
        if request.method == "POST":
            data = await request.read()
            if len(data) > WS_MESSAGE_BYTES:
                self.record(route, 413)
                return web.json_response({"message": "Message too long"}, status=413, headers={"x-amzn-ErrorType": "PayloadTooLargeException"})
            try:
                await connection.socket.send_str(data.decode("utf-8", "replace"))
            except ConnectionResetError:  # the client left before its socket noticed
                self.record(route, 410)
                return gone()
            self.record(route, 200)
            return web.Response(status=200)
        self.record(route, 200)
        if request.method == "DELETE":
            asyncio.create_task(connection.socket.close(code=1000, message=b"Going away"))
            return web.Response(status=204)
        if request.method == "GET":
            return web.json_response({
                "connectedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(connection.connected_at / 1000)),
                "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                "lastActiveAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(connection.last_active)),
            })
        return gateway_error(405, "Method Not Allowed")


def gone() -> web.Response:
    """The Management API's answer for a connection that is no longer open."""
    return web.json_response({"message": None}, status=410, headers={"x-amzn-ErrorType": "GoneException"})


def listening_port(request: web.Request) -> int:
    """The port the client reached (API Gateway's listener), from the socket, not the Host header."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname[1] if sockname else 80


def _utf8(body: bytes) -> bool:
    try:
        body.decode()
        return True
    except UnicodeDecodeError:
        return False
