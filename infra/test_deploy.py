"""Tests of infra/deploy.py: what scripts/deploy refuses, what it passes to SAM, and the JWT
authorizer variant of template.yaml. Run by scripts/test (`python3 -m unittest`)."""

import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402

KEYS = deploy.ROOT / "shared" / "tests" / "keys"
# sam_parse.py puts a stand-in template where `sam build` would write one, and removes it.
BUILT_BEFORE = (deploy.ROOT / ".aws-sam" / "build").exists()
SENDER = {"MAIL_FROM": "Acme Dev <dev@mail.acme.dev>"}
GOOD_PROD = {
    "DATABASE_URL": "postgres://app:s3cret@db.internal:5432/app?sslmode=require",
    "CORS_ORIGINS": "https://app.acme.test,https://admin.acme.test",
    "FRONTEND_URL": "https://app.acme.test",
    "MAIL_FROM": "Acme <noreply@acme.dev>",
}


def refusal(env, environ, jwt_authorizer=False):
    with unittest.TestCase().assertRaises(deploy.Refusal) as caught:
        deploy.parameters(env, environ, jwt_authorizer)
    return str(caught.exception)


class Parameters(unittest.TestCase):
    def test_profiles_name_their_stacks(self):
        self.assertEqual(deploy.stack_name("dev"), "serverless-auth-dev")
        self.assertEqual(deploy.stack_name("prod"), "serverless-auth-prod")
        self.assertIn("unknown environment", refusal("staging", GOOD_PROD))

    def test_database_url_is_required_everywhere(self):
        self.assertIn("DATABASE_URL is required", refusal("dev", {}))
        self.assertIn("DATABASE_URL is required", refusal("prod", {k: v for k, v in GOOD_PROD.items() if k != "DATABASE_URL"}))
        self.assertIn("must start with postgres://", refusal("dev", {"DATABASE_URL": "mysql://x"}))

    def test_dev_deploys_with_a_database_url_and_a_sender(self):
        merged = deploy.parameters("dev", {**SENDER, "DATABASE_URL": GOOD_PROD["DATABASE_URL"]}, False)
        self.assertEqual(merged["Environment"], "development")
        self.assertEqual(merged["ReserveConcurrency"], "false")
        self.assertEqual(merged["DatabaseUrl"], GOOD_PROD["DATABASE_URL"])

    def test_every_profile_needs_a_sender_ses_accepts(self):
        # SES refuses unverified senders: without one, nobody on a dev stack could verify and log in.
        for env, environ in (("dev", {"DATABASE_URL": "postgres://a@h/d"}), ("prod", {k: v for k, v in GOOD_PROD.items() if k != "MAIL_FROM"})):
            self.assertIn("MAIL_FROM", refusal(env, environ))
        self.assertIn("MAIL_FROM 'x <noreply@example.com>'", refusal("dev", {"DATABASE_URL": "postgres://a@h/d", "MAIL_FROM": "x <noreply@example.com>"}))

    def test_values_sam_cli_would_unquote_are_refused(self):
        base = {**SENDER, "DATABASE_URL": "postgres://a@h/d", "FIRST_SUPERUSER_EMAIL": "a@acme.test"}
        for password in ("'quoted password'", '"quoted password"', "back\\ slash space", "it\\'s a password"):
            with self.subTest(password):
                self.assertIn("SAM CLI would strip", refusal("dev", {**base, "FIRST_SUPERUSER_PASSWORD": password}))
        for fine in ("it's a password", "'leading quote only", "p@ss: #1 $HOME %41"):
            deploy.parameters("dev", {**base, "FIRST_SUPERUSER_PASSWORD": fine}, False)

    def test_prod_refuses_the_committed_placeholders(self):
        message = refusal("prod", {"DATABASE_URL": GOOD_PROD["DATABASE_URL"]})
        self.assertIn("CORS origin 'https://app.example.com'", message)
        self.assertIn("FRONTEND_URL 'https://app.example.com'", message)
        self.assertIn("MAIL_FROM", message)

    def test_prod_refuses_local_and_plain_http_origins(self):
        for origins in ("http://app.acme.test", "https://localhost:3000", "https://app.acme.test,http://127.0.0.1:3000"):
            self.assertIn("is not your web app's public https origin", refusal("prod", {**GOOD_PROD, "CORS_ORIGINS": origins}))

    def test_a_sender_at_a_reserved_domain_is_refused_everywhere(self):
        for sender in ("Acme <noreply@acme.test>", "a@example.net", "X <x@mail.example>", "noreply@localhost"):
            with self.subTest(sender):
                self.assertIn("is not a real sender", refusal("dev", {"DATABASE_URL": "postgres://a@h/d", "MAIL_FROM": sender}))

    def test_outside_development_a_local_front_end_is_refused_in_any_profile(self):
        # The dev profile says Environment=development; a profile that says otherwise gets
        # localhost refused, as the functions themselves would refuse it at start-up.
        environ = {**SENDER, "DATABASE_URL": "postgres://a@h/d"}
        self.assertEqual(deploy.parameters("dev", environ, False)["FrontendUrl"], "http://localhost:3000")
        with tempfile.TemporaryDirectory() as folder:
            samconfig = Path(folder) / "samconfig.toml"
            samconfig.write_text(
                '[dev.deploy.parameters]\nstack_name = "s"\nparameter_overrides = '
                '["Environment=staging", "CorsOrigins=https://app.acme.dev,http://localhost:3000", "FrontendUrl=https://127.0.0.1:3000"]\n'
            )
            with self.assertRaises(deploy.Refusal) as caught:
                deploy.parameters("dev", environ, False, samconfig)
        message = str(caught.exception)
        self.assertIn("FRONTEND_URL 'https://127.0.0.1:3000' is not https or points at localhost", message)
        self.assertIn("CORS origin 'http://localhost:3000' is not https or points at localhost", message)
        self.assertNotIn("'https://app.acme.dev'", message)

    def test_environment_overrides_the_profile(self):
        merged = deploy.parameters("prod", GOOD_PROD, False)
        self.assertEqual(merged["CorsOrigins"], GOOD_PROD["CORS_ORIGINS"])
        self.assertEqual(merged["MailFrom"], GOOD_PROD["MAIL_FROM"])
        self.assertEqual(merged["Environment"], "production")
        self.assertEqual(merged["LogRetentionDays"], "90")

    def test_values_that_would_break_the_json_secret_are_refused(self):
        self.assertIn("double quotes", refusal("dev", {"DATABASE_URL": 'postgres://a:"b@h/d'}))
        self.assertIn("double quotes", refusal("dev", {"DATABASE_URL": "postgres://a@h/d", "FIRST_SUPERUSER_EMAIL": "a@acme.test", "FIRST_SUPERUSER_PASSWORD": "pass\\word123"}))

    def test_superuser_email_must_be_one_login_accepts(self):
        base = {**SENDER, "DATABASE_URL": "postgres://a@h/d", "FIRST_SUPERUSER_PASSWORD": "long enough 123"}
        for bad in ("admin@localhost", "admin@corp", "admin@acme.c", "admin@mailinator.com", "admin@x.tempmail.org", "admin"):
            self.assertIn("not an address login accepts", refusal("dev", {**base, "FIRST_SUPERUSER_EMAIL": bad}), bad)
        for good in ("admin@acme.test", "Ops.Team+root@mail.example.co.uk"):
            deploy.parameters("dev", {**base, "FIRST_SUPERUSER_EMAIL": good}, False)

    def test_superuser_email_needs_a_password(self):
        base = {**SENDER, "DATABASE_URL": "postgres://a@h/d", "FIRST_SUPERUSER_EMAIL": "admin@acme.test"}
        self.assertIn("FIRST_SUPERUSER_PASSWORD", refusal("dev", base))
        self.assertIn("FIRST_SUPERUSER_PASSWORD", refusal("dev", {**base, "FIRST_SUPERUSER_PASSWORD": "short"}))
        merged = deploy.parameters("dev", {**base, "FIRST_SUPERUSER_PASSWORD": "long enough 123"}, False)
        self.assertEqual(merged["FirstSuperuserEmail"], "admin@acme.test")

    def test_custom_domain_needs_a_certificate(self):
        self.assertIn("CERTIFICATE_ARN", refusal("prod", {**GOOD_PROD, "DOMAIN_NAME": "auth.acme.test"}))
        self.assertIn("HOSTED_ZONE_ID is set without DOMAIN_NAME", refusal("prod", {**GOOD_PROD, "HOSTED_ZONE_ID": "Z123"}))

    def test_private_key_file_becomes_one_line(self):
        merged = deploy.parameters("dev", {**SENDER, "DATABASE_URL": "postgres://a@h/d", "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}, False)
        key = merged["JwtPrivateKey"]
        self.assertNotIn("\n", key)
        self.assertTrue(key.startswith("-----BEGIN PRIVATE KEY-----\\n"))
        self.assertIn("cannot read", refusal("dev", {**SENDER, "DATABASE_URL": "postgres://a@h/d", "JWT_PRIVATE_KEY_FILE": "/nonexistent.pem"}))

    def test_a_previous_key_needs_a_new_one(self):
        base = {**SENDER, "DATABASE_URL": "postgres://a@h/d", "JWT_PREVIOUS_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}
        self.assertIn("JWT_PRIVATE_KEY_FILE (the new key) is required", refusal("dev", base))
        self.assertIn("same key", refusal("dev", {**base, "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}))
        merged = deploy.parameters("dev", {**base, "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-other-private.pem")}, False)
        self.assertTrue(merged["JwtPreviousPrivateKey"].startswith("-----BEGIN"))
        after = deploy.parameters("dev", {**SENDER, "DATABASE_URL": "postgres://a@h/d"}, False)
        self.assertEqual(after["JwtPreviousPrivateKey"], "", "a deploy without the file removes the previous key")

    def test_jwt_authorizer_needs_an_rsa_key_and_an_https_issuer(self):
        rsa = {**GOOD_PROD, "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}
        ec = {**GOOD_PROD, "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-ec-private.pem")}
        self.assertIn("RSA key", refusal("prod", GOOD_PROD, jwt_authorizer=True))
        self.assertIn("RSA key", refusal("prod", {**ec, "JWT_ISSUER": "https://auth.acme.test"}, jwt_authorizer=True))
        self.assertIn("JWT_ISSUER", refusal("prod", rsa, jwt_authorizer=True))
        merged = deploy.parameters("prod", {**rsa, "JWT_ISSUER": "https://auth.acme.test"}, True)
        self.assertEqual(merged["JwtIssuer"], "https://auth.acme.test")

    def test_key_algorithm_reads_pkcs8(self):
        self.assertEqual(deploy.key_algorithm((KEYS / "test-rsa-private.pem").read_text()), "rsa")
        self.assertEqual(deploy.key_algorithm((KEYS / "test-ec-private.pem").read_text()), "ec")
        self.assertIsNone(deploy.key_algorithm("not a key"))

    def test_settings_fingerprint_follows_the_secret_and_hides_it(self):
        one = deploy.parameters("dev", {**SENDER, "DATABASE_URL": "postgres://a:pw1@h/d"}, False)["SettingsFingerprint"]
        same = deploy.parameters("dev", {**SENDER, "DATABASE_URL": "postgres://a:pw1@h/d", "MAIL_FROM": "x@acme.dev"}, False)["SettingsFingerprint"]
        other = deploy.parameters("dev", {**SENDER, "DATABASE_URL": "postgres://a:pw2@h/d"}, False)["SettingsFingerprint"]
        self.assertEqual(one, same)
        self.assertNotEqual(one, other)
        self.assertEqual(len(one), 16)
        self.assertNotIn("pw1", one)


class JwtAuthorizerTemplate(unittest.TestCase):
    template = (deploy.ROOT / "template.yaml").read_text()

    def test_every_bearer_route_gets_the_authorizer_and_nothing_else_changes(self):
        rendered = deploy.render_jwt_authorizer(self.template)
        bearer = [line for line in self.template.splitlines() if line.endswith(deploy.BEARER_MARK)]
        self.assertGreater(len(bearer), 15)
        self.assertEqual(rendered.count("Auth: { Authorizer: JwtAuthorizer }"), len(bearer))
        self.assertEqual(rendered.count("JwtAuthorizer:\n"), 1)
        self.assertNotIn(deploy.BEARER_MARK, rendered)
        self.assertNotIn(deploy.AUTHORIZER_MARKER, rendered)
        public = [line for line in self.template.splitlines() if "Type: HttpApi" in line and line not in bearer]
        for line in public:
            self.assertIn(line, rendered)

    def test_a_template_without_the_marker_is_refused(self):
        broken = self.template.replace(deploy.AUTHORIZER_MARKER, "# removed")
        with self.assertRaises(deploy.Refusal):
            deploy.render_jwt_authorizer(broken)


class CommandLine(unittest.TestCase):
    def run_deploy_py(self, *args, env=None):
        return subprocess.run([sys.executable, str(deploy.ROOT / "infra" / "deploy.py"), *args], capture_output=True, text=True, env=env)

    def test_params_file_is_private_and_complete(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "params.json"
            env = {"PATH": os.environ.get("PATH", ""), **GOOD_PROD}
            result = self.run_deploy_py("params", "prod", str(out), env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(stat.S_IMODE(out.stat().st_mode), 0o600)
            self.assertEqual(json.loads(out.read_text())["DatabaseUrl"], GOOD_PROD["DATABASE_URL"])

    def test_refusal_exits_2_and_says_why(self):
        result = self.run_deploy_py("params", "prod", "/tmp/never-written.json", env={"PATH": os.environ.get("PATH", "")})
        self.assertEqual(result.returncode, 2)
        self.assertIn("refusing to deploy", result.stderr)
        self.assertIn("DATABASE_URL is required", result.stderr)

    def test_dry_run_of_scripts_deploy_passes_sams_own_parser_and_prints_the_commands(self):
        for env, environ in (("dev", {**SENDER, "DATABASE_URL": GOOD_PROD["DATABASE_URL"]}), ("prod", GOOD_PROD)):
            with self.subTest(env):
                result = subprocess.run(
                    [str(deploy.ROOT / "scripts" / "deploy"), env, "--dry-run"],
                    capture_output=True,
                    text=True,
                    env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **environ},
                )
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("checking the sam command lines with SAM CLI's parser", result.stderr)
                lines = result.stdout.splitlines()
                config = f"--config-file {deploy.ROOT}/infra/samconfig.toml --config-env {env}"
                self.assertTrue(lines[0].startswith(f"sam build {config} --template-file template.yaml"), lines)
                self.assertTrue(lines[1].startswith(f"sam deploy {config} --template-file .aws-sam/build/template.yaml"), lines)
                self.assertTrue(lines[1].endswith(f"--parameter-overrides file://{deploy.ROOT}/.aws-sam/deploy-parameters-{env}.yaml "), lines)
                self.assertEqual(lines[2].strip(), f"python3 infra/invoke_migrate.py serverless-auth-{env}")
                self.assertNotIn("s3cret", result.stdout + result.stderr)
                self.assertFalse((deploy.ROOT / ".aws-sam" / f"deploy-parameters-{env}.yaml").exists(), "the secrets file is removed")

    def test_scripts_deploy_refuses_before_building(self):
        result = subprocess.run([str(deploy.ROOT / "scripts" / "deploy"), "prod", "--dry-run"], capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
        self.assertEqual(result.returncode, 2)
        self.assertIn("DATABASE_URL is required", result.stderr)
        self.assertNotIn("sam build", result.stdout)


class SamCliParsing(unittest.TestCase):
    """infra/sam_parse.py runs a command line through SAM CLI's own parser, without AWS."""

    def sam_parse(self, *args):
        command = [sys.executable, str(deploy.ROOT / "infra" / "sam_parse.py"), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=deploy.ROOT, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})

    def write_parameters(self, folder, name, environ):
        path = Path(folder) / name
        path.write_text(json.dumps(deploy.parameters("dev", environ, False)))
        return path

    def deploy_args(self, config, parameters):
        return ["deploy", "--config-file", config, "--config-env", "dev", "--template-file", ".aws-sam/build/template.yaml", "--parameter-overrides", f"file://{parameters}"]

    def test_a_relative_config_file_is_not_found_by_sam_deploy(self):
        # SAM resolves it against the built template's folder: the first deploy's first stop.
        with tempfile.TemporaryDirectory() as tmp:
            parameters = self.write_parameters(tmp, "p.yaml", {**SENDER, "DATABASE_URL": "postgres://a@h/d"})
            result = self.sam_parse(*self.deploy_args("infra/samconfig.toml", parameters))
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("Config file infra/samconfig.toml does not exist", result.stderr)
            absolute = self.sam_parse(*self.deploy_args(str(deploy.ROOT / "infra" / "samconfig.toml"), parameters))
            self.assertEqual(absolute.returncode, 0, absolute.stderr)
            summary = json.loads(absolute.stdout)
            self.assertEqual(summary["stack_name"], "serverless-auth-dev")
            self.assertEqual(summary["capabilities"], ["CAPABILITY_IAM"])
            self.assertIn("DatabaseUrl", summary["parameter_keys"])
        if not BUILT_BEFORE:
            self.assertFalse((deploy.ROOT / ".aws-sam" / "build").exists(), "the stand-in template is removed again")

    def test_a_json_parameter_file_is_refused_by_sam(self):
        with tempfile.TemporaryDirectory() as tmp:
            parameters = self.write_parameters(tmp, "p.json", {**SENDER, "DATABASE_URL": "postgres://a@h/d"})
            result = self.sam_parse(*self.deploy_args(str(deploy.ROOT / "infra" / "samconfig.toml"), parameters))
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("uses an unsupported extension", result.stderr)

    def test_sam_reads_every_value_as_written_keys_and_all(self):
        environ = {
            **SENDER,
            "DATABASE_URL": "postgres://app:p%40ss'w0rd#x@db.acme.test:5432/app?sslmode=require",
            "FIRST_SUPERUSER_EMAIL": "admin@acme.test",
            "FIRST_SUPERUSER_PASSWORD": "it's: a #1 pa$$word %41 {x}",
            "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem"),
            "CORS_ORIGINS": "https://app.acme.test,https://admin.acme.test",
        }
        with tempfile.TemporaryDirectory() as tmp:
            parameters = self.write_parameters(tmp, "p.yaml", environ)
            result = self.sam_parse(*self.deploy_args(str(deploy.ROOT / "infra" / "samconfig.toml"), parameters))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertNotIn("p%40ss", result.stdout + result.stderr, "values are never printed")

    def test_the_round_trip_check_names_a_value_sam_changed(self):
        # Written past deploy.py's refusal, to see that the parser's check catches it too.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "p.yaml"
            values = deploy.parameters("dev", {**SENDER, "DATABASE_URL": "postgres://a@h/d"}, False)
            path.write_text(json.dumps({**values, "FirstSuperuserPassword": "'wrapped in quotes'"}))
            result = self.sam_parse(*self.deploy_args(str(deploy.ROOT / "infra" / "samconfig.toml"), path))
            self.assertEqual(result.returncode, 1)
            self.assertIn("read these parameters differently from the file: FirstSuperuserPassword", result.stderr)
            self.assertNotIn("wrapped in quotes", result.stderr)

    def test_sam_build_accepts_the_profile(self):
        result = self.sam_parse("build", "--config-file", str(deploy.ROOT / "infra" / "samconfig.toml"), "--config-env", "dev", "--template-file", "template.yaml")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["command"], "build")


if __name__ == "__main__":
    unittest.main()
