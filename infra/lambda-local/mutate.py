"""Broken copies of template.yaml, for showing that the local Lambda stack catches what a deploy
would get wrong (infra/lambda-local/run starts the stack on each and expects check.py to fail):

    python infra/lambda-local/mutate.py wrong-function OUT.json
        GET /api/v1/users/me is moved from the users-api function to system-api;
    python infra/lambda-local/mutate.py missing-setting OUT.json
        QUEUE_URL leaves the global environment and is given to every function but users-api.

Prints the text check.py's output must then contain. The copies are JSON (a valid template
format), written from the template as SAM CLI's parser reads it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import rehearsal  # noqa: E402


def wrong_function(template: dict) -> str:
    resources = template["Resources"]
    route = resources["UsersApiFunction"]["Properties"]["Events"].pop("ReadMe")
    resources["SystemApiFunction"]["Properties"]["Events"]["ReadMe"] = route
    return "GET /api/v1/users/me: the template sends it to system-api, which does not serve it"


def missing_setting(template: dict) -> str:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    queue_url = variables.pop("QUEUE_URL")
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function" and logical_id != "UsersApiFunction":
            environment = resource["Properties"].setdefault("Environment", {"Variables": {}})
            environment["Variables"]["QUEUE_URL"] = queue_url
    return "QUEUE_URL is required"


MUTATIONS = {"wrong-function": wrong_function, "missing-setting": missing_setting}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in MUTATIONS:
        print(f"usage: mutate.py {{{','.join(MUTATIONS)}}} OUT.json", file=sys.stderr)
        return 2
    template = rehearsal.load_template()
    expected = MUTATIONS[argv[0]](template)
    Path(argv[1]).write_text(json.dumps(template, indent=1))
    print(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
