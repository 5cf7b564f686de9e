"""Invokes a stack's migrate function once and reports its answer; the last step of scripts/deploy.

Why not `sam remote invoke`: it keeps botocore's 60 s read timeout and its retries, so a migration
that runs longer than a minute is invoked again while the first run still holds the advisory lock,
and the command reports a failure although the migration succeeds. This client waits out the
function's whole timeout and never retries an invocation.

  invoke_migrate.py STACK    prints the function's answer and the tail of its log; exit 1 when
                             the function reports an error (Lambda's FunctionError)

Needs boto3 (the venv of scripts/lib.sh) and AWS credentials; AWS_ENDPOINT_URL points it at moto.
"""

from __future__ import annotations

import base64
import sys

# The migrate function's Timeout in template.yaml (300 s) plus margin for the cold start and the
# answer; infra/test_rehearsal.py keeps the two in step.
READ_TIMEOUT_SECONDS = 330
OUTPUT = "MigrateFunctionName"


def client_config():
    """One attempt, waiting as long as the function may run."""
    from botocore.config import Config

    return Config(read_timeout=READ_TIMEOUT_SECONDS, connect_timeout=10, retries={"total_max_attempts": 1})


def function_name(cloudformation, stack: str) -> str:
    """The stack's output MigrateFunctionName."""
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == OUTPUT:
            return output["OutputValue"]
    raise SystemExit(f"error: stack {stack} has no {OUTPUT} output; was it deployed from this template?")


def invoke(session, stack: str) -> tuple[str, str | None, str]:
    """(the answer, Lambda's FunctionError or None, the log tail) of one synchronous invocation."""
    name = function_name(session.client("cloudformation", config=client_config()), stack)
    answer = session.client("lambda", config=client_config()).invoke(
        FunctionName=name, InvocationType="RequestResponse", LogType="Tail", Payload=b"{}"
    )
    log_tail = base64.b64decode(answer.get("LogResult", "")).decode("utf-8", "replace")
    return answer["Payload"].read().decode("utf-8", "replace"), answer.get("FunctionError"), log_tail


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 64
    import boto3

    payload, error, log_tail = invoke(boto3.session.Session(), argv[0])
    if log_tail:
        print(log_tail.rstrip(), file=sys.stderr)
    print(payload)
    if error:
        print(f"error: the migrate function failed ({error}); see its answer above and its log group", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
