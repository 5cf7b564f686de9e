"""Deploy-time helpers for scripts/deploy: the stack parameters and the JWT-authorizer template.

Why a separate module: the rules that stop a bad deploy (missing database URL, localhost origins
in production, a JWT authorizer without an RSA key) are worth unit tests (infra/test_deploy.py),
which a shell script would not get. Standard library only, so it runs before any venv exists.

Commands:
  deploy.py params ENV [--jwt-authorizer] OUT.yaml   merged stack parameters, or a refusal (exit 2)
  deploy.py stack-name ENV                             the profile's stack name
  deploy.py render-jwt-authorizer SRC OUT              template.yaml with the JWT authorizer on
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "infra" / "samconfig.toml"
ENVIRONMENTS = ("dev", "prod")

# Environment variables that override a profile's parameters: secrets never live in the
# committed samconfig, and per-deployment values are easier to pass than to edit.
ENV_TO_PARAMETER = {
    "DATABASE_URL": "DatabaseUrl",
    "FIRST_SUPERUSER_EMAIL": "FirstSuperuserEmail",
    "FIRST_SUPERUSER_PASSWORD": "FirstSuperuserPassword",
    "CORS_ORIGINS": "CorsOrigins",
    "FRONTEND_URL": "FrontendUrl",
    "MAIL_FROM": "MailFrom",
    "PROJECT_NAME": "ProjectName",
    "JWT_ISSUER": "JwtIssuer",
    "JWT_AUDIENCE": "JwtAudience",
    "DOMAIN_NAME": "DomainName",
    "CERTIFICATE_ARN": "CertificateArn",
    "HOSTED_ZONE_ID": "HostedZoneId",
    "WS_DOMAIN_NAME": "WsDomainName",
    "WS_CERTIFICATE_ARN": "WsCertificateArn",
    "GOOGLE_CLIENT_ID": "GoogleClientId",
    "APPLE_CLIENT_ID": "AppleClientId",
}

# template.yaml carries one marker line inside the HttpApi's properties; routes that require a
# bearer token end with this comment.
AUTHORIZER_MARKER = "# jwt-authorizer:"
BEARER_MARK = "  # bearer"
AUTHORIZER_BLOCK = """\
      Auth:
        Authorizers:
          JwtAuthorizer:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !Ref JwtIssuer
              audience: [!Ref JwtAudience]
"""


class Refusal(Exception):
    """A reason not to deploy, worded for the person running the script."""


def profile(env: str, samconfig: Path = SAMCONFIG) -> dict:
    if env not in ENVIRONMENTS:
        raise Refusal(f"unknown environment {env!r}; use one of: {', '.join(ENVIRONMENTS)}")
    config = tomllib.loads(samconfig.read_text())
    if env not in config:
        raise Refusal(f"{samconfig} has no [{env}] profile")
    return config[env]


def stack_name(env: str, samconfig: Path = SAMCONFIG) -> str:
    name = profile(env, samconfig).get("deploy", {}).get("parameters", {}).get("stack_name")
    if not name:
        raise Refusal(f"[{env}.deploy.parameters] in {samconfig} has no stack_name")
    return name


def profile_parameters(env: str, samconfig: Path = SAMCONFIG) -> dict[str, str]:
    """The profile's `parameter_overrides` (a list of `Key=Value`, or SAM's one-string form)."""
    raw = profile(env, samconfig).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    tokens = shlex.split(raw) if isinstance(raw, str) else list(raw)
    parameters = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise Refusal(f"parameter_overrides entry {token!r} in {samconfig} is not Key=Value")
        parameters[key] = value
    return parameters


def read_private_key(var: str, path: str) -> str:
    """The PEM as one line with literal \\n, the form the template stores in the secret."""
    try:
        pem = Path(path).read_text()
    except OSError as error:
        raise Refusal(f"{var}: cannot read {path}: {error.strerror}") from None
    if "PRIVATE KEY-----" not in pem:
        raise Refusal(f"{var}: {path} is not a PEM private key")
    return pem.strip().replace("\r\n", "\n").replace("\n", "\\n")


def parameters(env: str, environ: Mapping[str, str], jwt_authorizer: bool, samconfig: Path = SAMCONFIG) -> dict[str, str]:
    """The profile's parameters overridden by the environment, checked; raises `Refusal`."""
    merged = profile_parameters(env, samconfig)
    for var, key in ENV_TO_PARAMETER.items():
        if environ.get(var, "").strip():
            merged[key] = environ[var].strip()
    for var, key in (("JWT_PRIVATE_KEY_FILE", "JwtPrivateKey"), ("JWT_PREVIOUS_PRIVATE_KEY_FILE", "JwtPreviousPrivateKey")):
        if environ.get(var, "").strip():
            merged[key] = read_private_key(var, environ[var].strip())
    # SAM keeps a parameter's old value when it is not passed; a previous key is deliberate for
    # one rotation, so a deploy without JWT_PREVIOUS_PRIVATE_KEY_FILE removes it.
    merged.setdefault("JwtPreviousPrivateKey", "")
    check(env, merged, jwt_authorizer)
    merged["SettingsFingerprint"] = settings_fingerprint(env, merged)
    return merged


SECRET_PARAMETERS = ("DatabaseUrl", "JwtPrivateKey", "JwtPreviousPrivateKey", "FirstSuperuserPassword")


def settings_fingerprint(env: str, p: Mapping[str, str]) -> str:
    """Changes whenever a parameter stored in the secret changes, revealing nothing about it.

    It lands in every function's environment, so a deploy that changes the secret also restarts
    warm instances. A slow, salted hash cut to 64 bits keeps it useless for guessing a password.
    """
    material = "\0".join(p.get(key, "") for key in SECRET_PARAMETERS).encode()
    digest = hashlib.pbkdf2_hmac("sha256", material, f"serverless-auth/{env}".encode(), 200_000)
    return digest.hex()[:16]


def sam_would_alter(value: str) -> bool:
    """SAM CLI unquotes every parameter value it reads (samcli/cli/types.py): it drops one pair of
    wrapping quotes and turns backslash-space and backslash-quote into the bare character. Such a
    value would reach the stack changed, so it is refused instead."""
    wrapped = bool(value) and value[0] == value[-1] and value[0] in "'\""
    return wrapped or any(escape in value for escape in ("\\ ", '\\"', "\\'"))


def is_placeholder(value: str) -> bool:
    """Local or documentation hosts that must not reach production."""
    return any(host in value for host in ("localhost", "127.0.0.1", "example.com", "example.org"))


# RFC 2606 / RFC 6761 names: no mail from them can be verified in SES or delivered. The
# functions refuse them at start-up outside development too (shared/src/config/deployed.rs).
RESERVED_MAIL_DOMAINS = ("example.com", "example.net", "example.org", "example", "localhost", "test", "invalid")


def reserved_mail_domain(mailbox: str) -> str | None:
    """The reserved domain a sender such as "Name <a@b.c>" sends from, if it does."""
    address = mailbox.rsplit("<", 1)[-1].rstrip(">").strip()
    domain = address.rpartition("@")[2].lower() if "@" in address else ""
    if any(domain == name or domain.endswith("." + name) for name in RESERVED_MAIL_DOMAINS):
        return domain
    return None


def is_public_https(url: str) -> bool:
    """An https URL whose host is not this machine: what the functions accept outside development."""
    if not url.startswith("https://"):
        return False
    host = url[len("https://"):].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]
    host = host.lower()
    local = host in ("localhost", "0.0.0.0", "::1", "::") or host.endswith(".localhost") or host.startswith("127.")
    return bool(host) and not local


# The seed's six disposable domains, which login refuses (shared/src/security/validation/email.rs).
SEED_DISPOSABLE_DOMAINS = ("10minutemail.com", "guerrillamail.com", "tempmail.org", "mailinator.com", "throwaway.email", "temp-mail.org")


def signable_address(address: str) -> bool:
    """Roughly the address syntax login accepts: a dotted domain with a 2+ letter TLD, not disposable.
    The functions check it exactly at start; this catches the usual mistakes before a deploy."""
    local, at, domain = address.rpartition("@")
    labels = domain.split(".")
    if not (at and local and len(labels) >= 2) or any(c.isspace() for c in address):
        return False
    if not all(label and label[0] != "-" and label[-1] != "-" and all(c.isalnum() or c == "-" for c in label) for label in labels):
        return False
    if not (len(labels[-1]) >= 2 and labels[-1].isalpha()):
        return False
    return not any(domain == d or domain.endswith("." + d) for d in SEED_DISPOSABLE_DOMAINS)


def check(env: str, p: Mapping[str, str], jwt_authorizer: bool) -> None:
    problems = []
    url = p.get("DatabaseUrl", "")
    if not url:
        problems.append("DATABASE_URL is required (postgres://user:password@host:5432/db?sslmode=require)")
    elif not url.startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must start with postgres:// or postgresql://")
    for key, var in (("DatabaseUrl", "DATABASE_URL"), ("FirstSuperuserPassword", "FIRST_SUPERUSER_PASSWORD")):
        if any(c in p.get(key, "") for c in '"\\'):
            problems.append(f"{var} must not contain double quotes or backslashes (it is stored in a JSON secret)")
    if p.get("FirstSuperuserEmail") and not 8 <= len(p.get("FirstSuperuserPassword", "")) <= 128:
        problems.append("FIRST_SUPERUSER_EMAIL is set: FIRST_SUPERUSER_PASSWORD (8-128 characters) is required too")
    superuser = p.get("FirstSuperuserEmail", "").strip().lower()
    if superuser and not signable_address(superuser):
        problems.append(f"FIRST_SUPERUSER_EMAIL {superuser!r} is not an address login accepts; the functions would refuse to start")
    if p.get("DomainName") and not p.get("CertificateArn"):
        problems.append("DOMAIN_NAME is set: CERTIFICATE_ARN (an ACM certificate in the stack's region) is required too")
    if p.get("WsDomainName") and not p.get("WsCertificateArn"):
        problems.append("WS_DOMAIN_NAME is set: WS_CERTIFICATE_ARN (an ACM certificate in the stack's region) is required too")
    if p.get("JwtPreviousPrivateKey") and not p.get("JwtPrivateKey"):
        problems.append("JWT_PREVIOUS_PRIVATE_KEY_FILE is set: JWT_PRIVATE_KEY_FILE (the new key) is required too")
    if p.get("JwtPreviousPrivateKey") and p.get("JwtPreviousPrivateKey") == p.get("JwtPrivateKey"):
        problems.append("JWT_PREVIOUS_PRIVATE_KEY_FILE is the same key as JWT_PRIVATE_KEY_FILE")
    if p.get("HostedZoneId") and not p.get("DomainName"):
        problems.append("HOSTED_ZONE_ID is set without DOMAIN_NAME")
    # SES refuses a sender it has not verified, so without one nobody could verify an account.
    mail_from = p.get("MailFrom", "")
    if not mail_from or is_placeholder(mail_from) or reserved_mail_domain(mail_from):
        problems.append(f"MAIL_FROM {mail_from!r} is not a real sender (use an identity verified in SES in the stack's region)")
    # The template has no default for either: mail links and browser origins are per deployment.
    origins = [o.strip() for o in p.get("CorsOrigins", "").split(",") if o.strip()]
    frontend = p.get("FrontendUrl", "")
    if not frontend:
        problems.append("FRONTEND_URL is required (the web app's base URL, where mail links point)")
    if not origins:
        problems.append("CORS_ORIGINS is required (the web app's origins)")
    # Outside development the functions refuse to start with these (shared/src/config/deployed.rs).
    if p.get("Environment", "production") != "development":
        for origin in origins:
            if not is_public_https(origin):
                problems.append(f"CORS origin {origin!r} is not https or points at localhost; the functions would refuse to start")
        if frontend and not is_public_https(frontend):
            problems.append(f"FRONTEND_URL {frontend!r} is not https or points at localhost; the functions would refuse to start")
    for key, value in sorted(p.items()):
        if sam_would_alter(value):
            problems.append(f"the {key} value starts and ends with a quote or contains a backslash before a space or quote, which SAM CLI would strip")

    if env == "prod":
        for origin in origins:
            if not origin.startswith("https://") or is_placeholder(origin):
                problems.append(f"CORS origin {origin!r} is not your web app's public https origin")
        if not frontend.startswith("https://") or is_placeholder(frontend):
            problems.append(f"FRONTEND_URL {frontend!r} is not a public https URL (mail links point there)")

    if jwt_authorizer:
        if key_algorithm(p.get("JwtPrivateKey", "")) != "rsa":
            problems.append("--jwt-authorizer needs JWT_PRIVATE_KEY_FILE with an RSA key (API Gateway verifies RS256 only)")
        if not p.get("JwtIssuer", "").startswith("https://"):
            problems.append("--jwt-authorizer needs JWT_ISSUER set to the API's https base URL (where the JWKS is served)")

    if problems:
        raise Refusal("refusing to deploy:\n  - " + "\n  - ".join(problems))


RSA_OID = bytes.fromhex("06092a864886f70d010101")  # rsaEncryption, 1.2.840.113549.1.1.1
EC_OID = bytes.fromhex("06072a8648ce3d0201")  # id-ecPublicKey, 1.2.840.10045.2.1


def key_algorithm(pem: str) -> str | None:
    """"rsa" or "ec" for a PEM private key (PKCS#1, SEC1 or PKCS#8), else None."""
    if "BEGIN RSA PRIVATE KEY" in pem:
        return "rsa"
    if "BEGIN EC PRIVATE KEY" in pem:
        return "ec"
    if "BEGIN PRIVATE KEY" not in pem:
        return None
    body = pem.replace("\\n", "\n").split("-----")[2]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except ValueError:
        return None
    # PKCS#8 names the algorithm in its first AlgorithmIdentifier, near the start.
    head = der[:32]
    return "rsa" if RSA_OID in head else "ec" if EC_OID in head else None


def render_jwt_authorizer(template: str) -> str:
    """template.yaml with the JWT authorizer defined on the HttpApi and used by bearer routes."""
    out, markers, bearer = [], 0, 0
    for line in template.splitlines(keepends=True):
        text = line.rstrip("\n")
        if text.strip().startswith(AUTHORIZER_MARKER):
            markers += 1
            out.append(AUTHORIZER_BLOCK)
            continue
        if text.endswith(BEARER_MARK):
            route = text[: -len(BEARER_MARK)]
            if "Type: HttpApi" not in route or not route.endswith(" } }"):
                raise Refusal(f"cannot add the authorizer to: {text.strip()}")
            out.append(route[: -len(" } }")] + ", Auth: { Authorizer: JwtAuthorizer } } }\n")
            bearer += 1
            continue
        out.append(line)
    if markers != 1 or bearer == 0:
        raise Refusal(f"template.yaml should have one '{AUTHORIZER_MARKER}' line and bearer routes (found {markers}, {bearer})")
    return "".join(out)


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["params", env, *flags, out] if set(flags) <= {"--jwt-authorizer"}:
                merged = parameters(env, os.environ, "--jwt-authorizer" in flags)
                # It holds secrets: readable by the owner only. JSON is YAML, and SAM CLI reads
                # parameter files only as .toml, .yaml or .yml.
                Path(out).parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w") as file:
                    json.dump(merged, file, indent=2)
            case ["stack-name", env]:
                print(stack_name(env))
            case ["render-jwt-authorizer", src, out]:
                Path(out).write_text(render_jwt_authorizer(Path(src).read_text()))
            case _:
                print(__doc__, file=sys.stderr)
                return 64
    except Refusal as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
