"""A deploy rehearsal without AWS: what CloudFormation would refuse, checked on this machine.

Why: cfn-lint and `sam validate --lint` passed on a template whose first deploy would have
stopped four times in a row (functions the Rules section does not allow, a route ending in "/",
schedule names shared by every stack of the account, an RDS Proxy init query Postgres rejects).
Those are rules of the services, not of the template's schema. This module applies them:

- `transform` runs SAM's own translator the way CloudFormation does at deploy time, with the
  stack's parameters (list parameters as lists);
- `rule_function_problems` and `rule_failures` check the Rules section: only rule functions, and
  the assertions hold (or fail) for given parameters, evaluated as CloudFormation would;
- `route_problems` and `name_problems` check the transformed template's HTTP routes and the
  names that must be unique per account and region;
- `create_stack` creates the transformed template in moto's CloudFormation, with stand-ins for
  the resource types moto does not model, and returns the stack's final status.

infra/test_rehearsal.py runs them against the dev profile and against every optional feature,
with two stacks side by side (scripts/test). Needs the venv (SAM translator, boto3, moto).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import time
import zipfile
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ARTIFACT_BUCKET = "rehearsal-artifacts"

# The functions CloudFormation accepts inside Rules; any other (Fn::Join, Fn::If, Fn::Sub, ...)
# makes it reject the change set: "Following functions are not supported in the Rules block".
RULE_FUNCTIONS = {
    "Ref",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
}

# Properties that name a resource within the whole account and region: two stacks of this
# template (dev and prod) can live side by side only if each such name includes the stack name.
ACCOUNT_WIDE_NAMES = {
    "AWS::ApiGatewayV2::Api": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::RDS::DBProxy": "DBProxyName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
}
# Name properties that are scoped to a parent resource, or are the user's own value.
SCOPED_NAMES = {"StageName", "TargetGroupName", "DomainName", "HostedZoneName"}


def function_folders() -> list[str]:
    """The crates under functions/: one Lambda function each, so what the template and the
    transformed stacks must have, counted without reading the template."""
    return sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "Cargo.toml").is_file())


def load_template(path: Path = ROOT / "template.yaml") -> dict:
    return load_template_text(path.read_text())


def load_template_text(text: str) -> dict:
    """A template with its short-form tags (!Ref, !Sub, ...) read as the long forms."""
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(text)


def parameter_values(template: dict, given: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter's value as CloudFormation sees it: given or default, lists as lists."""
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            continue
        is_list = spec["Type"] == "CommaDelimitedList" or spec["Type"].startswith("List<")
        values[name] = value.split(",") if is_list else value
    return values


def transform(template: dict, given: Mapping[str, str], stack_name: str) -> dict:
    """The CloudFormation template SAM's transform makes of `template` at deploy time."""
    from samtranslator.translator.transform import transform as sam_transform

    # The translator warns about usage metrics it collects for AWS; there is nowhere to send them.
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)

    class NoManagedPolicies:
        """The template attaches its own policies, never AWS managed ones by name."""

        def load(self) -> dict:
            return {}

    local = copy.deepcopy(template)
    for resource in local["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            # `sam deploy` uploads each folder and passes its S3 location instead.
            properties["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{properties['CodeUri']}.zip"
    values = parameter_values(local, given)
    values.update(
        {
            "AWS::StackName": stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
    )
    return sam_transform(local, values, NoManagedPolicies())


def function_names(node: Any) -> set[str]:
    """Every intrinsic function (and Ref) used anywhere in `node`."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                found.add(key)
            found |= function_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= function_names(item)
    return found


def rule_function_problems(template: dict) -> list[str]:
    problems = []
    for name, rule in template.get("Rules", {}).items():
        parts = [rule.get("RuleCondition")] + [assertion.get("Assert") for assertion in rule.get("Assertions", [])]
        for function in sorted(function_names(parts) - RULE_FUNCTIONS):
            problems.append(f"rule {name} uses {function}, which CloudFormation does not allow in Rules")
    return problems


def evaluate(node: Any, values: Mapping[str, Any]) -> Any:
    """A rule expression's value, with the semantics CloudFormation documents for rule functions."""
    if isinstance(node, list):
        return [evaluate(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    (function, argument), = node.items()
    if function == "Ref":
        return values.get(argument, "")
    args = evaluate(argument, values)
    match function:
        case "Fn::Equals":
            return args[0] == args[1]
        case "Fn::Not":
            return not args[0]
        case "Fn::And":
            return all(args)
        case "Fn::Or":
            return any(args)
        case "Fn::Contains":
            return args[1] in args[0]
        case "Fn::EachMemberEquals":
            return all(member == args[1] for member in args[0])
        case "Fn::EachMemberIn":
            return all(member in args[1] for member in args[0])
    raise ValueError(f"cannot evaluate {function} in a rule")


def rule_failures(template: dict, given: Mapping[str, str]) -> list[str]:
    """The AssertDescription of every assertion that fails for these parameters."""
    values = parameter_values(template, given)
    failures = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], values):
            continue
        for assertion in rule.get("Assertions", []):
            if not evaluate(assertion["Assert"], values):
                failures.append(assertion.get("AssertDescription", "an assertion failed"))
    return failures


def http_routes(transformed: dict) -> list[str]:
    """Every path of every HTTP API in the transformed template."""
    paths = []
    for resource in transformed["Resources"].values():
        if resource["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in resource.get("Properties", {}):
            paths.extend(resource["Properties"]["Body"].get("paths", {}))
    return paths


def route_problems(transformed: dict) -> list[str]:
    """HTTP APIs reject a route path ending in "/" (other than "/" itself)."""
    return [
        f"route {path} ends in '/', which HTTP APIs reject (API Gateway already matches it without the slash)"
        for path in http_routes(transformed)
        if path != "/" and path.endswith("/")
    ]


def mentions_stack_name(value: Any) -> bool:
    text = json.dumps(value)
    return '"AWS::StackName"' in text or "${AWS::StackName}" in text


def name_problems(transformed: dict) -> list[str]:
    """Account-wide names that do not include the stack name, set by us or implicitly by SAM.

    A name property of a kind in ACCOUNT_WIDE_NAMES must mention the stack name. Of any other
    kind, a literal string in a property ending in "Name" is reported too (a name this module does
    not know yet); a Ref there points at another resource or at the user's own value.
    """
    problems = []
    for logical_id, resource in sorted(transformed["Resources"].items()):
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in ACCOUNT_WIDE_NAMES:
            named = {key: properties[key] for key in [ACCOUNT_WIDE_NAMES[kind]] if key in properties}
        else:
            named = {key: value for key, value in properties.items() if key.endswith("Name") and key not in SCOPED_NAMES and isinstance(value, str)}
        if kind == "AWS::ApiGatewayV2::Api" and "Body" in properties and "Name" not in properties:
            # An API defined by an OpenAPI body takes its name from the body's title.
            named["Body.info.title"] = properties["Body"].get("info", {}).get("title")
        for key, value in named.items():
            if not mentions_stack_name(value):
                problems.append(f"{logical_id} ({kind}) {key} {json.dumps(value)} does not include the stack name")
    return problems


# ---------------------------------------------------------------------------------------- moto


def stand_ins(transformed: dict, supported: set[str]) -> dict:
    """The template with each resource moto does not model replaced by an SNS topic.

    A stand-in keeps the resource's Condition and DependsOn, and carries every reference its
    properties held as tags, so moto still resolves them (a Ref to a missing parameter or resource
    fails the stack as it would on AWS). A topic's Ref is an ARN, as for most replaced types, and
    a GetAtt of a stand-in becomes its Ref plus the attribute's name.
    """
    template = copy.deepcopy(transformed)
    replaced = {key for key, resource in template["Resources"].items() if resource["Type"] not in supported}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            if list(node) == ["Fn::GetAtt"]:
                target, attribute = node["Fn::GetAtt"] if isinstance(node["Fn::GetAtt"], list) else node["Fn::GetAtt"].split(".", 1)
                if target in replaced:
                    return {"Fn::Join": ["", [{"Ref": target}, f"/{attribute}"]]}
            if list(node) == ["Fn::Sub"] and isinstance(node["Fn::Sub"], str):
                pattern = r"\$\{(\w+)\.(\w+)\}"
                return {"Fn::Sub": re.sub(pattern, lambda m: f"${{{m[1]}}}/{m[2]}" if m[1] in replaced else m[0], node["Fn::Sub"])}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    def references(node: Any) -> list[Any]:
        if isinstance(node, dict):
            if len(node) == 1 and next(iter(node)) in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select"):
                return [node]
            return [found for value in node.values() for found in references(value)]
        if isinstance(node, list):
            return [found for item in node for found in references(item)]
        return []

    template = rewrite(template)
    template.pop("Rules", None)
    for logical_id in replaced:
        original = template["Resources"][logical_id]
        refs = references(original.get("Properties", {}))
        tags = [{"Key": f"reference-{index}", "Value": {"Fn::Join": ["|", [ref]]}} for index, ref in enumerate(refs)]
        stand_in = {"Type": "AWS::SNS::Topic", "Properties": {"Tags": tags}}
        for key in ("Condition", "DependsOn"):
            if key in original:
                stand_in[key] = original[key]
        template["Resources"][logical_id] = stand_in
    return template


def moto_supported_types() -> set[str]:
    from moto.cloudformation.parsing import get_model_map

    return set(get_model_map())


def upload_artifacts(s3, template: dict) -> None:
    """One small zip at each function's code location, where `sam deploy` would have put it."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("bootstrap", "#!/bin/sh\n")
    try:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            code = resource["Properties"]["Code"]
            s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=archive.getvalue())


def create_stack(session, stack_name: str, transformed: dict, given: Mapping[str, str], timeout: float = 60) -> dict:
    """Creates the stack in moto (stand-ins included) and returns its description once settled."""
    template = stand_ins(transformed, moto_supported_types())
    upload_artifacts(session.client("s3"), template)
    cloudformation = session.client("cloudformation")
    try:
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in given.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    except Exception as error:  # moto creates resources inside the call and raises their errors
        # A name another stack already holds surfaces here, as ResourceAlreadyExists or similar.
        return {"StackName": stack_name, "StackStatus": "CREATE_FAILED", "StackStatusReason": str(error)}
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.2)
