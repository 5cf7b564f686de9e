"""The README and docs/ against the repository: the Layout table names every top-level entry and
every script, the counts the docs state match template.yaml, and the files the recipes use exist.

A newcomer copies commands from these pages; a stale count or a missing file is a broken recipe.
"""

import re
import subprocess
import unittest
from pathlib import Path

from rehearsal import load_template

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
DOCS = {
    "README.md": README,
    "CONTRIBUTING.md": (ROOT / "CONTRIBUTING.md").read_text(),
    **{str(path.relative_to(ROOT)): path.read_text() for path in sorted((ROOT / "docs").rglob("*.md"))},
}


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return listed.stdout.splitlines()


def layout_table() -> str:
    section = README.split("\n## Layout\n", 1)[1]
    return section.split("\n## ", 1)[0]


def http_routes_per_function(template: dict) -> dict[str, int]:
    """HTTP routes per function, by its folder under functions/ (`auth-api`)."""
    counts = {}
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        events = properties.get("Events", {}) or {}
        routes = sum(1 for event in events.values() if event.get("Type") == "HttpApi")
        if routes:
            counts[Path(properties["CodeUri"]).name] = routes
    return counts


class LayoutTable(unittest.TestCase):
    def test_every_top_level_entry_is_named(self):
        table = layout_table()
        entries = sorted({path.split("/", 1)[0] + ("/" if "/" in path else "") for path in tracked_files()})
        # A folder may be named by a path inside it (`functions/auth-api/`).
        missing = [entry for entry in entries if f"`{entry}" not in table and f"`{entry.rstrip('/')}`" not in table]
        self.assertEqual(missing, [], "README's Layout table misses these top-level entries")

    def test_every_script_is_named(self):
        table = layout_table()
        scripts = sorted(path.split("/", 1)[1] for path in tracked_files() if path.startswith("scripts/"))
        missing = [script for script in scripts if f"`{script}`" not in table]
        self.assertEqual(missing, [], "README's Layout table misses these scripts")


class Counts(unittest.TestCase):
    template = load_template()

    def test_routes_per_function_match_the_template(self):
        per_function = http_routes_per_function(self.template)
        # docs/architecture.md's table of functions: "| `auth-api` | HTTP API, 28 routes ..."
        stated = {
            name: int(count)
            for name, count in re.findall(r"^\| `([\w-]+)` \| HTTP API, (\d+) (?:`GET` )?routes", ARCHITECTURE, re.M)
        }
        self.assertEqual(stated, per_function, "docs/architecture.md's route counts per function")
        total = re.search(r"explicit in `template.yaml` \((\d+) of them", ARCHITECTURE)
        self.assertIsNotNone(total)
        self.assertEqual(int(total.group(1)), sum(per_function.values()))

    def test_bearer_routes_and_alarms_match_the_template(self):
        text = (ROOT / "template.yaml").read_text()
        bearer = len(re.findall(r"# bearer\b", text))
        stated = re.search(r"marked `# bearer` \((\d+) routes\)", DEPLOY)
        self.assertIsNotNone(stated)
        self.assertEqual(int(stated.group(1)), bearer)
        alarms = sum(1 for resource in self.template["Resources"].values() if resource["Type"] == "AWS::CloudWatch::Alarm")
        stated = re.search(r"\| (\d+) alarms \(", DEPLOY)
        self.assertIsNotNone(stated)
        self.assertEqual(int(stated.group(1)), alarms)


class Recipes(unittest.TestCase):
    # A repository path in a command or in backticks: a script, a fixture, a doc, an infra file.
    # A placeholder such as `schedule-<name>.json` is kept whole, and skipped below.
    PATH = re.compile(r"(?<![\w./-])((?:scripts|tests/fixtures|docs|infra|clients|migrations|functions|shared)/[\w./<>-]*[\w>])")

    # The add-to-it guide's example of a new function, which it tells the reader to create.
    EXAMPLES = ("functions/billing-api",)

    def test_every_path_the_pages_name_exists(self):
        missing = []
        for page, text in DOCS.items():
            for path in sorted(set(self.PATH.findall(text))):
                if "*" in path or "<" in path or path.startswith(self.EXAMPLES):
                    continue
                if not (ROOT / path).exists():
                    missing.append(f"{page}: {path}")
        self.assertEqual(missing, [], "paths named in the docs that do not exist")


if __name__ == "__main__":
    unittest.main()
