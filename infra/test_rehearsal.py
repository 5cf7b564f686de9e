"""The deploy rehearsal (infra/rehearsal.py): template.yaml transformed by SAM's translator, checked
against CloudFormation's and API Gateway's rules, created in moto's CloudFormation as two stacks
side by side, and the RDS Proxy's init query run against Postgres. Run by scripts/test, which
provides the venv, moto (AWS_ENDPOINT_URL) and Postgres (DATABASE_URL, PG_BIN).

Each check has a companion that feeds it the defect it exists for, so it cannot pass vacuously.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402
import invoke_migrate  # noqa: E402
import rehearsal  # noqa: E402

KEYS = deploy.ROOT / "shared" / "tests" / "keys"
DEV_ENVIRON = {"DATABASE_URL": "postgres://app:s3cret@db.acme.test:5432/app?sslmode=require", "MAIL_FROM": "Acme Dev <dev@mail.acme.dev>"}
# Every optional feature on: custom domain with DNS, VPC with an RDS Proxy, both sign-in
# providers, the superuser, an RSA key with a previous one, WebSocket access logs.
ALL_FEATURES_ENVIRON = {
    **DEV_ENVIRON,
    "CORS_ORIGINS": "https://app.acme.test,https://admin.acme.test",
    "FRONTEND_URL": "https://app.acme.test",
    "DOMAIN_NAME": "auth.acme.test",
    "CERTIFICATE_ARN": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000",
    "HOSTED_ZONE_ID": "Z0123456789ABC",
    "WS_DOMAIN_NAME": "ws.acme.test",
    "WS_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000001",
    "GOOGLE_CLIENT_ID": "1234-abc.apps.googleusercontent.com",
    "APPLE_CLIENT_ID": "test.acme.auth",
    "FIRST_SUPERUSER_EMAIL": "admin@acme.test",
    "FIRST_SUPERUSER_PASSWORD": "a long superuser password",
    "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem"),
    "JWT_PREVIOUS_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-other-private.pem"),
    "JWT_ISSUER": "https://auth.acme.test",
}
ALL_FEATURES_PROFILE = {
    "VpcSubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b",
    "VpcSecurityGroupIds": "sg-0a1b2c3d",
    "DbProxySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf",
    "DbProxyClusterId": "app-aurora",
    "WsAccessLogs": "true",
    "Tracing": "Active",
}


def dev_parameters():
    return deploy.parameters("dev", DEV_ENVIRON, False)


def all_features_parameters():
    return {**deploy.parameters("prod", ALL_FEATURES_ENVIRON, True), **ALL_FEATURES_PROFILE}


def jwt_authorizer_template():
    return rehearsal.load_template_text(deploy.render_jwt_authorizer((deploy.ROOT / "template.yaml").read_text()))


class Rules(unittest.TestCase):
    template = rehearsal.load_template()

    def test_rules_use_only_the_functions_cloudformation_allows_in_rules(self):
        self.assertEqual(rehearsal.rule_function_problems(self.template), [])
        transformed = rehearsal.transform(self.template, dev_parameters(), "serverless-auth-dev")
        self.assertEqual(rehearsal.rule_function_problems(transformed), [])

    def test_the_check_refuses_fn_join_in_a_rule(self):
        broken = copy.deepcopy(self.template)
        broken["Rules"]["VpcNeedsSecurityGroups"]["RuleCondition"] = {
            "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "VpcSubnetIds"}]}, ""]}]
        }
        self.assertEqual(
            rehearsal.rule_function_problems(broken),
            ["rule VpcNeedsSecurityGroups uses Fn::Join, which CloudFormation does not allow in Rules"],
        )

    def test_both_profiles_and_every_feature_pass_the_rules(self):
        self.assertEqual(rehearsal.rule_failures(self.template, dev_parameters()), [])
        self.assertEqual(rehearsal.rule_failures(self.template, deploy.parameters("prod", ALL_FEATURES_ENVIRON, False)), [])
        self.assertEqual(rehearsal.rule_failures(self.template, all_features_parameters()), [])

    def test_rules_refuse_half_configured_features(self):
        base = dev_parameters()
        cases = {
            "FirstSuperuserEmail needs FirstSuperuserPassword": {"FirstSuperuserEmail": "admin@acme.test"},
            "DomainName needs CertificateArn": {"DomainName": "auth.acme.test"},
            "WsDomainName needs WsCertificateArn": {"WsDomainName": "ws.acme.test"},
            "VpcSubnetIds needs VpcSecurityGroupIds": {"VpcSubnetIds": "subnet-1,subnet-2"},
            "The RDS Proxy runs in the VPC": {"DbProxySecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:x", "DbProxyInstanceId": "db"},
            "The RDS Proxy needs DbProxyClusterId or DbProxyInstanceId": {**ALL_FEATURES_PROFILE, "DbProxyClusterId": ""},
        }
        for expected, overrides in cases.items():
            with self.subTest(expected):
                failures = rehearsal.rule_failures(self.template, {**base, **overrides})
                self.assertEqual(len(failures), 1, failures)
                self.assertTrue(failures[0].startswith(expected), failures)

    def test_mail_from_has_no_default_that_ses_would_refuse(self):
        self.assertNotIn("Default", self.template["Parameters"]["MailFrom"])

    def test_front_end_and_origins_have_no_localhost_default(self):
        for name in ("FrontendUrl", "CorsOrigins"):
            self.assertNotIn("Default", self.template["Parameters"][name], name)


class TransformedTemplate(unittest.TestCase):
    template = rehearsal.load_template()

    @classmethod
    def setUpClass(cls):
        cls.variants = {
            "dev": rehearsal.transform(cls.template, dev_parameters(), "serverless-auth-dev"),
            "every feature": rehearsal.transform(cls.template, all_features_parameters(), "serverless-auth-prod"),
            "jwt authorizer": rehearsal.transform(jwt_authorizer_template(), all_features_parameters(), "serverless-auth-prod"),
        }

    def test_no_http_route_ends_in_a_slash(self):
        for name, transformed in self.variants.items():
            with self.subTest(name):
                self.assertEqual(rehearsal.route_problems(transformed), [])
                self.assertIn("/api/v1/health", rehearsal.http_routes(transformed))

    def test_the_check_refuses_a_route_ending_in_a_slash(self):
        broken = copy.deepcopy(self.template)
        events = broken["Resources"]["SystemApiFunction"]["Properties"]["Events"]
        events["HealthSlash"] = {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/api/v1/health/"}}
        transformed = rehearsal.transform(broken, dev_parameters(), "serverless-auth-dev")
        self.assertEqual(len(rehearsal.route_problems(transformed)), 1)

    def test_every_account_wide_name_includes_the_stack_name(self):
        for name, transformed in self.variants.items():
            with self.subTest(name):
                self.assertEqual(rehearsal.name_problems(transformed), [])
                kinds = {resource["Type"] for resource in transformed["Resources"].values()}
                self.assertIn("AWS::Scheduler::Schedule", kinds)

    def test_the_check_refuses_schedules_named_after_their_logical_ids(self):
        broken = copy.deepcopy(self.template)
        for event in broken["Resources"]["SchedulerFunction"]["Properties"]["Events"].values():
            event["Properties"].pop("OmitName", None)
        problems = rehearsal.name_problems(rehearsal.transform(broken, dev_parameters(), "serverless-auth-dev"))
        schedules = [event for event in self.template["Resources"]["SchedulerFunction"]["Properties"]["Events"].values() if event["Type"] == "ScheduleV2"]
        self.assertEqual(len(problems), len(schedules), problems)
        self.assertTrue(any("SchedulerFunctionOutboxSweep" in problem for problem in problems))

    def test_the_seeds_websocket_path_reaches_the_websocket_api_on_its_domain(self):
        resources = self.variants["every feature"]["Resources"]
        mappings = sorted(r["Properties"]["ApiMappingKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::ApiMapping" and r["Properties"]["ApiId"] == {"Ref": "WsApi"})
        self.assertEqual(mappings, ["api/v1/ws", "api/v1/ws/demo"])
        self.assertEqual(resources["WsDomain"]["Properties"]["DomainName"], {"Ref": "WsDomainName"})
        for name in ("WsDomain", "WsDemoMapping", "WsPathMapping"):
            self.assertEqual(resources[name]["Condition"], "HasWsDomain", "no domain, no mapping")

    def test_every_route_of_the_template_reaches_the_http_api(self):
        events = [
            event
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::Serverless::Function"
            for event in resource["Properties"].get("Events", {}).values()
            if event["Type"] == "HttpApi"
        ]
        transformed = self.variants["dev"]
        permissions = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::Permission" and "HttpApi" in json.dumps(r)]
        self.assertEqual(len(permissions), len(events))
        self.assertGreater(len(events), 40)

    def test_tracing_turns_on_for_every_function_with_a_role_that_may_send_segments(self):
        resources = self.variants["every feature"]["Resources"]
        functions = {name: r for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
        self.assertEqual(len(functions), len(rehearsal.function_folders()))
        sends_segments = {"Fn::If": ["TracesActively", {"Ref": "TracingPolicy"}, {"Ref": "AWS::NoValue"}]}
        for name, function in functions.items():
            with self.subTest(name):
                self.assertEqual(function["Properties"]["TracingConfig"], {"Mode": {"Ref": "Tracing"}})
                role = function["Properties"]["Role"]["Fn::GetAtt"][0]
                self.assertIn(sends_segments, resources[role]["Properties"]["ManagedPolicyArns"], role)
        policy = resources["TracingPolicy"]
        self.assertEqual(policy["Condition"], "TracesActively")
        actions = [action for statement in policy["Properties"]["PolicyDocument"]["Statement"] for action in statement["Action"]]
        self.assertEqual(sorted(actions), ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "write only")

    def test_ses_reports_bounces_and_complaints_through_sns_to_the_worker(self):
        resources = self.variants["dev"]["Resources"]
        destination = resources["MailFeedbackDestination"]["Properties"]
        self.assertEqual(destination["ConfigurationSetName"], {"Ref": "MailConfigurationSet"})
        self.assertEqual(sorted(destination["EventDestination"]["MatchingEventTypes"]), ["bounce", "complaint"])
        self.assertEqual(destination["EventDestination"]["SnsDestination"], {"TopicARN": {"Ref": "MailFeedbackTopic"}})
        subscription = resources["MailFeedbackSubscription"]["Properties"]
        self.assertEqual((subscription["Protocol"], subscription["RawMessageDelivery"]), ("sqs", True))
        self.assertEqual(subscription["Endpoint"], {"Fn::GetAtt": ["JobsQueue", "Arn"]})
        [statement] = resources["JobsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(statement["Condition"], {"ArnEquals": {"aws:SourceArn": {"Ref": "MailFeedbackTopic"}}}, "only that topic")
        worker = resources["WorkerFunction"]["Properties"]
        self.assertEqual(worker["Environment"]["Variables"]["SES_CONFIGURATION_SET"], {"Ref": "MailConfigurationSet"})
        statements = resources["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [send] = [statement for statement in statements if statement["Action"] == "ses:SendRawEmail"]
        self.assertTrue(any("configuration-set/${MailConfigurationSet}" in json.dumps(resource) for resource in send["Resource"]))
        for name in ("MailBounceRateAlarm", "MailComplaintRateAlarm"):
            self.assertEqual(resources[name]["Properties"]["Namespace"], "AWS/SES", name)


def seconds(pattern, path):
    """A number from Rust source, so the template and the code are held to one value."""
    match = re.search(pattern, (deploy.ROOT / path).read_text())
    assert match, f"{pattern} not found in {path}"
    return int(match[1])


class Timeouts(unittest.TestCase):
    template = rehearsal.load_template()

    def timeout(self, logical_id):
        properties = self.template["Resources"][logical_id]["Properties"]
        return properties.get("Timeout", self.template["Globals"]["Function"]["Timeout"])

    def test_functions_end_before_their_api_gateway_integration_gives_up(self):
        # WebSocket integrations wait at most 29 s, HTTP API integrations 30 s.
        self.assertLess(self.timeout("WsFunction"), 29)
        for logical_id, resource in self.template["Resources"].items():
            events = resource.get("Properties", {}).get("Events", {}).values()
            if any(event["Type"] == "HttpApi" for event in events):
                with self.subTest(logical_id):
                    self.assertLess(self.timeout(logical_id), 30)

    def test_a_worker_batch_never_hands_messages_back_behind_a_long_task(self):
        # The worker hands back a message that would start with less than MIN_TIME_PER_MESSAGE
        # left; every message of a batch must fit behind the longest task.
        min_time = seconds(r"MIN_TIME_PER_MESSAGE: Duration = Duration::from_secs\((\d+)\)", "functions/worker/src/lib.rs")
        longest_task = seconds(r"DURATION_SECONDS: \(i64, i64, i64\) = \(\d+, (\d+),", "shared/src/domain/tasks/arguments.rs")
        jobs = self.template["Resources"]["WorkerFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
        self.assertLessEqual(jobs["BatchSize"] * longest_task, self.timeout("WorkerFunction") - min_time)
        visibility = self.template["Resources"]["JobsQueue"]["Properties"]["VisibilityTimeout"]
        self.assertGreaterEqual(visibility, 6 * self.timeout("WorkerFunction"))

    def test_the_migrate_invocation_waits_out_the_function_and_never_retries(self):
        config = invoke_migrate.client_config()
        self.assertGreater(config.read_timeout, self.timeout("MigrateFunction"))
        self.assertEqual(config.retries, {"total_max_attempts": 1})


def psql():
    return shutil.which("psql", path=os.environ.get("PG_BIN", "")) or shutil.which("psql")


@unittest.skipUnless(os.environ.get("DATABASE_URL") and psql(), "needs Postgres (scripts/test provides it)")
class ProxyInitQuery(unittest.TestCase):
    template = rehearsal.load_template()

    def run_sql(self, *statements):
        command = [psql(), os.environ["DATABASE_URL"], "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        for statement in statements:
            command += ["-c", statement]
        return subprocess.run(command, capture_output=True, text=True)

    def test_the_init_query_runs_on_postgres_and_sets_the_apps_session_limits(self):
        pool = self.template["Resources"]["DbProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"]
        limits = re.findall(r'\("(\w+)", "(\w+)"\)', re.search(r"SESSION_LIMITS[^=]*=([^;]*);", (deploy.ROOT / "shared/src/db/mod.rs").read_text())[1])
        self.assertEqual(len(limits), 3)
        show = "select " + ", ".join(f"current_setting('{name}')" for name, _ in limits)
        # One psql session: -c sends each string as one simple query, as the proxy does.
        result = self.run_sql(pool["InitQuery"], show)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip().splitlines()[-1], "|".join(value for _, value in limits))

    def test_a_single_set_with_commas_is_refused_by_postgres(self):
        result = self.run_sql("SET lock_timeout = '5s', statement_timeout = '10s'")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("syntax error", result.stderr)


@unittest.skipUnless(os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1"), "needs moto (scripts/test provides it)")
class MotoStacks(unittest.TestCase):
    """Two stacks of the transformed template in one moto account, as dev and prod would be."""

    STACKS = {"serverless-auth-dev": (None, dev_parameters), "serverless-auth-prod": ("jwt", all_features_parameters)}

    @classmethod
    def setUpClass(cls):
        import boto3

        endpoint = os.environ["AWS_ENDPOINT_URL"]
        # moto's Lambda runs functions in Docker by default; its built-in stand-in answers instead.
        request = urllib.request.Request(f"{endpoint}/moto-api/config", data=json.dumps({"lambda": {"use_docker": False}}).encode(), method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        cls.session = boto3.session.Session(region_name=rehearsal.REGION)
        cloudformation = cls.session.client("cloudformation")
        # moto checks that the hosted zone of the domain's record exists.
        zone = cls.session.client("route53").create_hosted_zone(Name="acme.test", CallerReference=str(time.time()))
        zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
        cls.stacks = {}
        for name, (variant, parameters) in cls.STACKS.items():
            if any(s["StackStatus"] != "DELETE_COMPLETE" for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == name):
                cloudformation.delete_stack(StackName=name)
            template = jwt_authorizer_template() if variant == "jwt" else rehearsal.load_template()
            given = {**parameters(), **({"HostedZoneId": zone_id} if variant else {})}
            transformed = rehearsal.transform(template, given, name)
            cls.stacks[name] = rehearsal.create_stack(cls.session, name, transformed, given)

    def resources(self, name):
        paginator = self.session.client("cloudformation").get_paginator("list_stack_resources")
        return {r["LogicalResourceId"]: r for page in paginator.paginate(StackName=name) for r in page["StackResourceSummaries"]}

    def test_dev_and_prod_create_side_by_side(self):
        for name, stack in self.stacks.items():
            with self.subTest(name):
                self.assertEqual(stack["StackStatus"], "CREATE_COMPLETE", stack.get("StackStatusReason"))
        dev, prod = self.resources("serverless-auth-dev"), self.resources("serverless-auth-prod")
        self.assertNotIn("DbProxy", dev)
        for optional in ("DbProxy", "DbProxyTargetGroup", "ApiDomain", "ApiDomainRecord", "WsAccessLogGroup", "VpcNetworkInterfacesPolicy"):
            self.assertIn(optional, prod)
        functions = [r for r in dev.values() if r["ResourceType"] == "AWS::Lambda::Function"]
        self.assertEqual(len(functions), len(rehearsal.function_folders()))
        log_groups = self.session.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/serverless-auth-")["logGroups"]
        self.assertEqual(len(log_groups), 2 * len(functions), "each stack has its own log group per function")

    def test_functions_get_the_proxy_endpoint_only_with_a_proxy(self):
        client = self.session.client("lambda")
        for name, expect_proxy in (("serverless-auth-dev", False), ("serverless-auth-prod", True)):
            physical = self.resources(name)["UsersApiFunction"]["PhysicalResourceId"]
            variables = client.get_function_configuration(FunctionName=physical)["Environment"]["Variables"]
            self.assertEqual("DATABASE_HOST" in variables, expect_proxy, name)
            self.assertEqual(variables["MAIL_FROM"], DEV_ENVIRON["MAIL_FROM"])

    def test_only_the_stack_with_tracing_active_creates_the_tracing_policy(self):
        # moto's CloudFormation drops a function's TracingConfig and a role's managed policies;
        # TransformedTemplate checks that wiring.
        for name, active in (("serverless-auth-dev", False), ("serverless-auth-prod", True)):
            with self.subTest(name):
                self.assertEqual("TracingPolicy" in self.resources(name), active)

    def test_scripts_deploy_invokes_the_stacks_own_migrate_function(self):
        payload, error, _ = invoke_migrate.invoke(self.session, "serverless-auth-dev")
        self.assertIsNone(error)
        self.assertTrue(payload, "the invocation answered")


if __name__ == "__main__":
    unittest.main()
