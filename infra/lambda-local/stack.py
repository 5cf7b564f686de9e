"""What the local Lambda stack runs, read from template.yaml the way a deploy reads it.

Why: a route the template sends to the wrong function, or a setting missing from one function's
environment, only shows once the template itself decides what runs. So nothing here is written
down twice: SAM's own transform turns the template into CloudFormation (with the local stack
parameters), moto's CloudFormation creates it (queues with their redrive policy, the functions
with their resolved environments), and this module reads the result back:

- `describe` returns the functions (binary, timeout, environment), the HTTP routes and the
  WebSocket routes with the function each one reaches, the SQS event sources and the schedules;
- references that only make sense on AWS get local values, and only these: the secrets (moto's
  CloudFormation has no Secrets Manager model, so they are created here from the template's
  `GenerateSecretString`), and the WebSocket API's callback URL (the local gateway).
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
import secrets
import string
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import deploy  # noqa: E402  (infra/deploy.py: the settings scripts/deploy maps to parameters)
import rehearsal  # noqa: E402  (infra/rehearsal.py: SAM's transform and moto stacks)

ROOT = rehearsal.ROOT

# Settings a developer gives scripts/dev that the template takes as stack parameters: the ones
# scripts/deploy maps (but the custom domain's, which need Route 53 and ACM), and the ones only
# a local run sets from its environment.
DEPLOY_ONLY = {"DOMAIN_NAME", "CERTIFICATE_ARN", "HOSTED_ZONE_ID", "WS_DOMAIN_NAME", "WS_CERTIFICATE_ARN"}
SETTING_TO_PARAMETER = {
    **{setting: parameter for setting, parameter in deploy.ENV_TO_PARAMETER.items() if setting not in DEPLOY_ONLY},
    "ENVIRONMENT": "Environment",
    "BACKEND_CORS_ORIGINS": "CorsOrigins",
    "JWT_PRIVATE_KEY": "JwtPrivateKey",
    "JWT_PREVIOUS_PRIVATE_KEY": "JwtPreviousPrivateKey",
    "MAGIC_LINK_ENABLED": "MagicLinkEnabled",
    "DELETION_GRACE_DAYS": "DeletionGraceDays",
}

# Settings that are not template parameters but that local runs need; each is added to every
# function's environment on top of what the template gives it, and the stack says so at start.
# MAIL_BACKEND/MAIL_DIR: mail goes to files instead of SES. RATE_LIMIT_ENABLED: test suites
# sign in more often than the default limits allow from one address. COOKIE_SECURE: the local
# gateway speaks plain HTTP, where a `Secure` refresh cookie would never come back (so it is
# false unless set).
LOCAL_OVERRIDES = ("MAIL_BACKEND", "MAIL_DIR", "RATE_LIMIT_ENABLED", "COOKIE_SECURE")

# Settings the stack carries in its secret (replacing the generated values; main.py).
IN_THE_SECRET = ("JWT_SECRET", "MFA_ENCRYPTION_KEY")

# Parameters that carry a PEM key, whose lines a parameter value cannot hold.
KEY_PARAMETERS = ("JwtPrivateKey", "JwtPreviousPrivateKey")


@functools.cache
def config_source() -> str:
    """The functions' config module, which knows every setting and the seed's names for them."""
    return (ROOT / "shared" / "src" / "config.rs").read_text()


def _rust_const(name: str) -> str:
    return config_source().split(f"pub const {name}", 1)[1].split("];", 1)[0]


def app_settings() -> set[str]:
    """Every setting the functions read: the quoted upper-case names in the config module, found
    as that module's own test finds them for the README, so a new setting needs no list here."""
    names = {n for n in config_source().split('"')[1::2] if len(n) > 2 and re.fullmatch(r"[A-Z][A-Z0-9_]*", n)}
    return names - {"INFO", "WARNING", "AWS_LAMBDA_FUNCTION_NAME"}


def seed_aliases() -> dict[str, str]:
    """Our setting -> the seed's name for it, from the config module's `SEED_ALIASES`."""
    return dict(re.findall(r'\("([A-Z0-9_]+)",\s*"([A-Z0-9_]+)"\)', _rust_const("SEED_ALIASES")))


def effective_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ`'s settings as the functions read them: trimmed, blank ones unset, and a seed-named
    setting under our name where ours is unset (`FROM_NAME` joins `FROM_EMAIL` into `MAIL_FROM`)."""
    settings = {name: value.strip() for name, value in environ.items() if value.strip()}
    for ours, seed in seed_aliases().items():
        if ours not in settings and seed in settings:
            settings[ours] = settings[seed]
            if seed == "FROM_EMAIL" and "FROM_NAME" in settings:
                # Quoted where the name needs it ("Your App, Inc."), as the functions join them.
                settings[ours] = email.utils.formataddr((settings["FROM_NAME"], settings[seed]))
    return settings


def ignored_settings(environ: Mapping[str, str]) -> list[str]:
    """The app settings in `environ` that reach no function: the template does not set them, so
    on AWS they are unset too, and the stack says so instead of quietly applying them."""
    taken = {*SETTING_TO_PARAMETER, *LOCAL_OVERRIDES, *IN_THE_SECRET}
    taken |= {seed for ours, seed in seed_aliases().items() if ours in taken} | {"FROM_NAME"}
    not_ours = set(re.findall(r'"([A-Z0-9_]+)"', _rust_const("IGNORED_SEED_SETTINGS")))
    return sorted(name for name in app_settings() - taken - not_ours if environ.get(name, "").strip())


INTEGRATION_ARN = re.compile(r"\$\{(\w+)\.Arn\}")
EXECUTE_API_URL = re.compile(r"^https://[^/]+\.execute-api\.[^/]+/(?P<stage>[^/]+)/?$")


@dataclass
class Function:
    logical_id: str
    binary: str  # the crate under functions/, which is also the binary's name
    name: str  # the deployed function name (AWS_LAMBDA_FUNCTION_NAME)
    timeout: int
    memory: int
    environment: dict[str, str]
    reserved_concurrency: int | None = None


@dataclass
class HttpRoute:
    method: str  # upper case, or ANY
    path: str  # /api/v1/users/{id}
    function: str  # logical id

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class EventSource:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass
class Schedule:
    name: str
    function: str
    expression: str
    payload: Any


@dataclass
class Cors:
    allow_origins: list[str]
    allow_methods: list[str]
    allow_headers: list[str]
    expose_headers: list[str]
    allow_credentials: bool
    max_age: int | None


@dataclass
class Stack:
    name: str
    functions: dict[str, Function]
    http_routes: list[HttpRoute]
    ws_routes: dict[str, str]  # route key ($connect, ...) -> function logical id
    ws_stage: str
    ws_paths: list[str]  # where the WebSocket API is reached (/api/v1/ws, ...)
    event_sources: list[EventSource]
    schedules: list[Schedule]
    cors: Cors | None
    parameters: dict[str, str]
    overrides: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ parameters


def parameters_and_overrides(settings: Mapping[str, str], port: int) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The stack parameters, the local overrides and the ignored settings for `settings` (the
    environment; seed names count under ours, as the functions read them)."""
    ignored = ignored_settings(settings)
    settings = effective_settings(settings)
    local = f"http://localhost:{port}"
    given = {
        "Environment": "development",
        "CorsOrigins": f"{local},http://127.0.0.1:{port}",
        "FrontendUrl": local,
        "MailFrom": "Serverless Auth <noreply@example.com>",
        # Reserved concurrency caps environments per function, as on AWS.
        "ReserveConcurrency": "true",
    }
    for setting, parameter in SETTING_TO_PARAMETER.items():
        value = settings.get(setting)
        if value:
            given[parameter] = value.replace("\r\n", "\n").replace("\n", "\\n") if parameter in KEY_PARAMETERS else value
    overrides = {"COOKIE_SECURE": "false"}
    overrides.update({name: settings[name] for name in LOCAL_OVERRIDES if name in settings})
    return given, overrides, ignored


# ------------------------------------------------------------------------------ moto


def moto_without_docker(endpoint: str) -> None:
    """moto's Lambda would run functions in Docker; only their configuration is needed here."""
    body = json.dumps({"lambda": {"use_docker": False}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST"), timeout=10).close()


def _sub(text: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\$\{([\w:]+)\}", lambda m: values.get(m[1], m[0]), text)


def generated_secret(spec: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """The value Secrets Manager would generate for a `GenerateSecretString` (JSON-safe)."""
    template = spec.get("SecretStringTemplate", "{}")
    if isinstance(template, dict) and "Fn::Sub" in template:
        template = _sub(template["Fn::Sub"], values)
    document = json.loads(template)
    alphabet = string.ascii_letters + string.digits
    length = int(spec.get("PasswordLength", 32))
    document[spec["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(length))
    return json.dumps(document)


def create_secrets(session, stack_name: str, transformed: dict, values: Mapping[str, str]) -> dict[str, str]:
    """Creates each template secret in moto's Secrets Manager; returns logical id -> ARN."""
    client = session.client("secretsmanager")
    arns = {}
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::SecretsManager::Secret":
            continue
        spec = resource["Properties"].get("GenerateSecretString")
        value = generated_secret(spec, values) if spec else resource["Properties"].get("SecretString", "{}")
        arns[logical_id] = client.create_secret(Name=f"{stack_name}-{logical_id}", SecretString=value)["ARN"]
    return arns


def deploy(session, stack_name: str, template_path: Path, given: Mapping[str, str]) -> tuple[dict, dict, dict]:
    """Transforms and creates the stack in moto; returns the template, the transformed one and
    the stack's resources by logical id. Raises with CloudFormation's reason when it fails."""
    template = rehearsal.load_template(template_path)
    transformed = rehearsal.transform(template, given, stack_name)
    stack = rehearsal.create_stack(session, stack_name, transformed, given)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"the template did not deploy: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    paginator = session.client("cloudformation").get_paginator("list_stack_resources")
    resources = {r["LogicalResourceId"]: r for page in paginator.paginate(StackName=stack_name) for r in page["StackResourceSummaries"]}
    return template, transformed, resources


# ------------------------------------------------------------------------------ reading it back


def _logical_id(node: Any) -> str | None:
    """The resource a `Ref`, `Fn::GetAtt` or `${X.Arn}` substitution points at."""
    if isinstance(node, dict):
        if "Ref" in node:
            return node["Ref"]
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else target.split(".", 1)[0]
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            match = INTEGRATION_ARN.search(text)
            return match[1] if match else None
    return None


def condition(name: str, values: Mapping[str, str], conditions: Mapping[str, Any]) -> bool:
    """A template condition's value; conditions may name other conditions."""

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and list(node) == ["Condition"]:
            return condition(node["Condition"], values, conditions)
        if isinstance(node, dict):
            return {key: resolve(item) for key, item in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return bool(rehearsal.evaluate(resolve(conditions[name]), values))


def _number(value: Any, values: Mapping[str, str], conditions: Mapping[str, Any]) -> int | None:
    """A numeric property: literal, `Ref` to a parameter, or `Fn::If` on a template condition
    (`AWS::NoValue` is None)."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        value = when_true if condition(name, values, conditions) else when_false
    if isinstance(value, dict) and "Ref" in value:
        value = None if value["Ref"] == "AWS::NoValue" else values.get(value["Ref"])
    return None if value in (None, "") else int(value)


def http_routes(transformed: dict) -> list[HttpRoute]:
    routes = []
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::ApiGatewayV2::Api" or "Body" not in resource["Properties"]:
            continue
        for path, operations in resource["Properties"]["Body"].get("paths", {}).items():
            for method, operation in operations.items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                if not integration:
                    continue
                function = _logical_id(integration["uri"])
                method = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                routes.append(HttpRoute(method, path, function))
    return sorted(routes, key=lambda route: route.key)


def ws_routes(transformed: dict) -> tuple[dict[str, str], str, list[str]]:
    resources = transformed["Resources"]
    integrations = {
        logical_id: _logical_id(r["Properties"]["IntegrationUri"])
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
    }
    routes = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        target = resource["Properties"].get("Target", {})
        text = target.get("Fn::Sub", "") if isinstance(target, dict) else str(target)
        match = re.search(r"integrations/\$\{(\w+)\}", text)
        if match and integrations.get(match[1]):
            routes[resource["Properties"]["RouteKey"]] = integrations[match[1]]
    apis = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api" and r["Properties"].get("ProtocolType") == "WEBSOCKET"}
    stages = [r["Properties"]["StageName"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage" and _logical_id(r["Properties"]["ApiId"]) in apis]
    # The paths its custom-domain mappings serve it at, whether or not this stack has the domain.
    paths = sorted(
        "/" + r["Properties"]["ApiMappingKey"].strip("/")
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::ApiMapping" and _logical_id(r["Properties"]["ApiId"]) in apis and r["Properties"].get("ApiMappingKey")
    )
    return routes, (stages[0] if stages else "prod"), paths


def cors(transformed: dict, given: Mapping[str, str]) -> Cors | None:
    """The HTTP API's CORS configuration, which SAM moves into the OpenAPI body."""
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::ApiGatewayV2::Api":
            continue
        config = resource["Properties"].get("Body", {}).get("x-amazon-apigateway-cors")
        if not config:
            continue
        origins = config.get("allowOrigins", [])
        if isinstance(origins, dict) and "Ref" in origins:
            origins = given.get(origins["Ref"], "").split(",")
        return Cors(
            allow_origins=[origin.strip() for origin in origins],
            allow_methods=[m.upper() for m in config.get("allowMethods", [])],
            allow_headers=[h.lower() for h in config.get("allowHeaders", [])],
            expose_headers=[h.lower() for h in config.get("exposeHeaders", [])],
            allow_credentials=bool(config.get("allowCredentials", False)),
            max_age=config.get("maxAge"),
        )
    return None


def describe(session, stack_name: str, template_path: Path, given: Mapping[str, str], gateway_url: str) -> Stack:
    """Deploys the template into moto and reads back what the local stack runs."""
    template, transformed, resources = deploy(session, stack_name, template_path, given)
    values = rehearsal.parameter_values(template, given)
    flat = {key: ",".join(value) if isinstance(value, list) else value for key, value in values.items()}
    conditions = transformed.get("Conditions", {})
    secret_arns = create_secrets(session, stack_name, transformed, flat)
    # Physical ids of the stand-ins moto made for the secrets -> the secrets' real ARNs.
    replacements = {resources[logical_id]["PhysicalResourceId"]: arn for logical_id, arn in secret_arns.items() if logical_id in resources}

    lambda_client = session.client("lambda")
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        physical = resources[logical_id]["PhysicalResourceId"]
        config = lambda_client.get_function_configuration(FunctionName=physical)
        environment = {}
        for key, value in config.get("Environment", {}).get("Variables", {}).items():
            value = str(value)
            for stand_in, arn in replacements.items():
                value = value.replace(stand_in, arn)
            callback = EXECUTE_API_URL.match(value)
            if callback:
                value = f"{gateway_url}/{callback['stage']}"
            environment[key] = value
        properties = transformed["Resources"][logical_id]["Properties"]
        functions[logical_id] = Function(
            logical_id=logical_id,
            binary=Path(resource["Properties"]["CodeUri"]).name,
            name=config["FunctionName"],
            timeout=int(config.get("Timeout") or 3),
            memory=int(config.get("MemorySize") or 128),
            environment=environment,
            reserved_concurrency=_number(properties.get("ReservedConcurrentExecutions"), flat, conditions),
        )

    # moto's Lambda would consume the queues itself through these mappings (and throw the
    # messages away); the local poller (sources.py) does instead, with the function binaries.
    for mapping in lambda_client.list_event_source_mappings()["EventSourceMappings"]:
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    sqs = session.client("sqs")
    event_sources = []
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resource["Properties"]
        queue = _logical_id(properties["EventSourceArn"])
        url = resources[queue]["PhysicalResourceId"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        event_sources.append(
            EventSource(
                function=_logical_id(properties["FunctionName"]),
                queue_url=url,
                queue_arn=arn,
                batch_size=int(properties.get("BatchSize", 10)),
                batching_window=int(properties.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
                maximum_concurrency=_number(properties.get("ScalingConfig", {}).get("MaximumConcurrency"), flat, conditions),
            )
        )

    schedules = []
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = resource["Properties"]["Target"]
        payload = json.loads(target["Input"]) if "Input" in target else {}
        schedules.append(Schedule(logical_id, _logical_id(target["Arn"]), resource["Properties"]["ScheduleExpression"], payload))

    routes, stage, paths = ws_routes(transformed)
    return Stack(
        name=stack_name,
        functions=functions,
        http_routes=http_routes(transformed),
        ws_routes=routes,
        ws_stage=stage,
        ws_paths=paths,
        event_sources=event_sources,
        schedules=sorted(schedules, key=lambda s: s.name),
        cors=cors(transformed, flat),
        parameters=dict(given),
    )
