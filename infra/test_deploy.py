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
GOOD_PROD = {
    "DATABASE_URL": "postgres://app:s3cret@db.internal:5432/app?sslmode=require",
    "CORS_ORIGINS": "https://app.acme.test,https://admin.acme.test",
    "FRONTEND_URL": "https://app.acme.test",
    "MAIL_FROM": "Acme <noreply@acme.test>",
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

    def test_dev_deploys_with_only_a_database_url(self):
        merged = deploy.parameters("dev", {"DATABASE_URL": GOOD_PROD["DATABASE_URL"]}, False)
        self.assertEqual(merged["Environment"], "development")
        self.assertEqual(merged["ReserveConcurrency"], "false")
        self.assertEqual(merged["DatabaseUrl"], GOOD_PROD["DATABASE_URL"])

    def test_prod_refuses_the_committed_placeholders(self):
        message = refusal("prod", {"DATABASE_URL": GOOD_PROD["DATABASE_URL"]})
        self.assertIn("CORS origin 'https://app.example.com'", message)
        self.assertIn("FRONTEND_URL 'https://app.example.com'", message)
        self.assertIn("MAIL_FROM", message)

    def test_prod_refuses_local_and_plain_http_origins(self):
        for origins in ("http://app.acme.test", "https://localhost:3000", "https://app.acme.test,http://127.0.0.1:3000"):
            self.assertIn("is not your web app's public https origin", refusal("prod", {**GOOD_PROD, "CORS_ORIGINS": origins}))

    def test_environment_overrides_the_profile(self):
        merged = deploy.parameters("prod", GOOD_PROD, False)
        self.assertEqual(merged["CorsOrigins"], GOOD_PROD["CORS_ORIGINS"])
        self.assertEqual(merged["MailFrom"], GOOD_PROD["MAIL_FROM"])
        self.assertEqual(merged["Environment"], "production")
        self.assertEqual(merged["LogRetentionDays"], "90")

    def test_values_that_would_break_the_json_secret_are_refused(self):
        self.assertIn("double quotes", refusal("dev", {"DATABASE_URL": 'postgres://a:"b@h/d'}))
        self.assertIn("double quotes", refusal("dev", {"DATABASE_URL": "postgres://a@h/d", "FIRST_SUPERUSER_EMAIL": "a@acme.test", "FIRST_SUPERUSER_PASSWORD": "pass\\word123"}))

    def test_superuser_email_needs_a_password(self):
        base = {"DATABASE_URL": "postgres://a@h/d", "FIRST_SUPERUSER_EMAIL": "admin@acme.test"}
        self.assertIn("FIRST_SUPERUSER_PASSWORD", refusal("dev", base))
        self.assertIn("FIRST_SUPERUSER_PASSWORD", refusal("dev", {**base, "FIRST_SUPERUSER_PASSWORD": "short"}))
        merged = deploy.parameters("dev", {**base, "FIRST_SUPERUSER_PASSWORD": "long enough 123"}, False)
        self.assertEqual(merged["FirstSuperuserEmail"], "admin@acme.test")

    def test_custom_domain_needs_a_certificate(self):
        self.assertIn("CERTIFICATE_ARN", refusal("prod", {**GOOD_PROD, "DOMAIN_NAME": "auth.acme.test"}))
        self.assertIn("HOSTED_ZONE_ID is set without DOMAIN_NAME", refusal("prod", {**GOOD_PROD, "HOSTED_ZONE_ID": "Z123"}))

    def test_private_key_file_becomes_one_line(self):
        merged = deploy.parameters("dev", {"DATABASE_URL": "postgres://a@h/d", "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}, False)
        key = merged["JwtPrivateKey"]
        self.assertNotIn("\n", key)
        self.assertTrue(key.startswith("-----BEGIN PRIVATE KEY-----\\n"))
        self.assertIn("cannot read", refusal("dev", {"DATABASE_URL": "postgres://a@h/d", "JWT_PRIVATE_KEY_FILE": "/nonexistent.pem"}))

    def test_a_previous_key_needs_a_new_one(self):
        base = {"DATABASE_URL": "postgres://a@h/d", "JWT_PREVIOUS_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}
        self.assertIn("JWT_PRIVATE_KEY_FILE (the new key) is required", refusal("dev", base))
        self.assertIn("same key", refusal("dev", {**base, "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-private.pem")}))
        merged = deploy.parameters("dev", {**base, "JWT_PRIVATE_KEY_FILE": str(KEYS / "test-rsa-other-private.pem")}, False)
        self.assertTrue(merged["JwtPreviousPrivateKey"].startswith("-----BEGIN"))
        after = deploy.parameters("dev", {"DATABASE_URL": "postgres://a@h/d"}, False)
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
        one = deploy.parameters("dev", {"DATABASE_URL": "postgres://a:pw1@h/d"}, False)["SettingsFingerprint"]
        same = deploy.parameters("dev", {"DATABASE_URL": "postgres://a:pw1@h/d", "MAIL_FROM": "x@acme.test"}, False)["SettingsFingerprint"]
        other = deploy.parameters("dev", {"DATABASE_URL": "postgres://a:pw2@h/d"}, False)["SettingsFingerprint"]
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

    def test_dry_run_of_scripts_deploy_prints_the_sam_commands(self):
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **GOOD_PROD}
        result = subprocess.run([str(deploy.ROOT / "scripts" / "deploy"), "prod", "--dry-run"], capture_output=True, text=True, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertTrue(lines[0].startswith("sam build --config-file infra/samconfig.toml --config-env prod"), lines)
        self.assertIn("--parameter-overrides", lines[1])
        self.assertIn("sam remote invoke MigrateFunction --stack-name serverless-auth-prod", lines[2])
        self.assertNotIn("s3cret", result.stdout + result.stderr)

    def test_scripts_deploy_refuses_before_building(self):
        result = subprocess.run([str(deploy.ROOT / "scripts" / "deploy"), "prod", "--dry-run"], capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
        self.assertEqual(result.returncode, 2)
        self.assertIn("DATABASE_URL is required", result.stderr)
        self.assertNotIn("sam build", result.stdout)


if __name__ == "__main__":
    unittest.main()
