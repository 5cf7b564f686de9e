"""Runs the README's walkthroughs (the `sh` blocks from "Try it" to "From TypeScript") against a
devserver, in order, in one bash session, as a reader would paste them.

What a reader does by hand between blocks, or reads off an earlier answer, is done here and said
in HOOKS and PLACEHOLDERS: signing in again after a step that signs every session out, and the
ids the README writes as `<id>`. The WebSocket block (an interactive websocat session) is left
out; `infra/devserver/tests` covers that protocol. Fails when a block exits non-zero (every
command runs under `set -eo pipefail`, and the blocks parse the answers they need) or when the
server answers any request with a 5xx.

Usage: walkthrough.py README BASE_URL WORK_DIR (MAIL_DIR and EVENTS_DIR set, as the run script does)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FIRST = "## Try it: register, verify, log in"
LAST = "## Differences from the seed"

# Run before the block under this heading whose text contains the key (what the reader does).
HOOKS = {
    # "every session ended: sign in again (step 4 above) before going on"
    ("### Two-factor authentication (TOTP)", "mfa/totp/enroll"): "sign_in_as_jane",
    # The admin token comes later in the README ("Your data, and the admin API").
    ("### Background tasks (the seed's Celery API)", "api/v1/tasks"): "sign_in_as_admin",
    # "within a scheduler tick": the run script ticks every 2 s; wait for the first events.
    ("### Auth events for other systems", ".local/events/"): 'wait_for_files "$EVENTS_DIR"',
    # The admin walkthrough deactivated jane and she has a second factor; the TypeScript example
    # signs her in with her password only, then reads, refreshes and signs out.
    ("### From TypeScript", "sign-in.js"): "reactivate_jane; remove_janes_second_factor",
}

# What each `<placeholder>` stands for, per heading: shell code that prints it.
PLACEHOLDERS = {
    "## Try it: register, verify, log in": {"<session-id>": "$(another_session_id)"},
    "### Background tasks (the seed's Celery API)": {"<task_id>": "$(newest_task_id)"},
    "### Your data, and the admin API": {"<id>": "$(user_id jane)"},
}
ANN_PLACEHOLDER = {"<id>": "$(user_id ann)"}

HELPERS = r"""
set -eo pipefail
# A lookup inside a command's arguments fails silently under set -e: stop the whole run instead.
fail() { echo "walkthrough: $*" >&2; kill -TERM $$; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() { curl -sf -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$1\",\"password\":\"$2\"}" | json '["access_token"]'; }
sign_in_as_jane() { ACCESS=$(login jane@example.com 'Str0ng-Passw0rd!'); }
sign_in_as_admin() { ADMIN=$(login admin@example.com 'Admin-Passw0rd-2026!'); }
user_id() { curl -sf "$BASE/api/v1/admin/users?search=$1" -H "authorization: Bearer $ADMIN" | json '["items"][0]["id"]' \
  || fail "no user $1"; }
reactivate_jane() { curl -sf -X PATCH "$BASE/api/v1/admin/users/$(user_id jane)" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -d '{"is_active":true}' >/dev/null || fail "could not reactivate jane"; }
remove_janes_second_factor() { curl -sf -X DELETE "$BASE/api/v1/admin/users/$(user_id jane)/mfa" \
  -H "authorization: Bearer $ADMIN" >/dev/null || fail "could not reset jane's second factor"; }
# A second session of jane's (the walkthrough revokes it; revoking its own would end it).
another_session_id() {
  curl -sf -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' -o /dev/null \
    -d '{"email":"jane@example.com","password":"Str0ng-Passw0rd!"}'
  curl -sf "$BASE/api/v1/auth/sessions" -H "authorization: Bearer $ACCESS" \
    | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)["sessions"] if not s["is_current"]][0])' \
    || fail "no second session"
}
wait_for_files() { for _ in $(seq 50); do ls "$1"/* >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "nothing in $1" >&2; return 1; }
newest_task_id() { curl -sf "$BASE/api/v1/tasks" -H "authorization: Bearer $ADMIN" | json '["items"][0]["task_id"]' \
  || fail "no task"; }
"""


def blocks(readme: str) -> list[tuple[str, str]]:
    """(heading, text) of every sh block between FIRST and LAST."""
    section = readme.split(FIRST, 1)[1].split(LAST, 1)[0]
    heading, found = FIRST, []
    for part in re.split(r"(^#{2,3} [^\n]*$|^```sh\n.*?^```$)", section, flags=re.M | re.S):
        if re.match(r"^#{2,3} ", part):
            heading = part.strip()
        elif part.startswith("```sh"):
            found.append((heading, part[len("```sh\n"):-len("```")]))
    return found


def script(readme: str, base: str, mail_dir: str, events_dir: str, work: str) -> str:
    lines = [HELPERS, f"BASE={base}", f"WORK={work}"]
    for number, (heading, text) in enumerate(blocks(readme), 1):
        if text.lstrip().startswith("websocat"):
            continue
        for (hook_heading, marker), hook in HOOKS.items():
            if heading == hook_heading and marker in text:
                lines.append(hook)
        places = dict(PLACEHOLDERS.get(heading, {}))
        if "accept-invite" in text:
            places = ANN_PLACEHOLDER
        for placeholder, value in places.items():
            text = text.replace(placeholder, value)
        left = re.findall(r"<[a-z_-]+>", re.sub(r"#.*", "", text))
        if left:
            raise SystemExit(f"block {number} ({heading}) has placeholders this runner cannot fill: {left}")
        # The literal URL: some commands quote it in single quotes.
        text = (text.replace("http://127.0.0.1:8000", base).replace("ws://127.0.0.1:8000", base.replace("http", "ws", 1))
                .replace(".local/mail/", f"{mail_dir}/").replace(".local/events/", f"{events_dir}/"))
        # Each block starts in the work folder (the TypeScript block changes into the client's).
        lines.append(f'echo; echo "=== block {number}: {heading}"; cd "$WORK"\n{text}')
    return "\n".join(lines) + "\n"


def main() -> int:
    readme, base, work = Path(sys.argv[1]).read_text(), sys.argv[2], sys.argv[3]
    import os

    text = script(readme, base, os.environ["MAIL_DIR"], os.environ["EVENTS_DIR"], work)
    Path(work, "walkthrough.sh").write_text(text)
    return subprocess.run(["bash", str(Path(work, "walkthrough.sh"))], cwd=work).returncode


if __name__ == "__main__":
    sys.exit(main())
