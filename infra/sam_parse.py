"""Runs a `sam build` or `sam deploy` command line through SAM CLI's own parsing, stopping before
SAM builds anything or calls AWS, and prints what SAM resolved.

Why: the first deploys stopped inside SAM's parsing (a relative --config-file is resolved against
the template's folder, which for `sam deploy` is .aws-sam/build; parameter files are read only as
.toml, .yaml or .yml), and printing the command never ran that code. Here the exact command line
goes through SAM's click options, config-file lookup and parameter-file reader in-process; only
the command's last step (`do_cli`) is replaced by a report.

  sam_parse.py build|deploy [sam options...]

Prints one JSON object: the command, the template, the config file and profile SAM settled on,
and for deploy the stack, capabilities, tags and parameter names (never their values). For deploy
with `--parameter-overrides file://FILE.yaml` it also checks that every value SAM read equals the
one in FILE (written as JSON, which is YAML), so SAM's unquoting cannot change a secret unseen.
Exit status 0, or SAM's own when it refuses the command line. Needs the venv (scripts/lib.sh).

`sam deploy` wants its template to exist. When it does not yet (a dry run skips `sam build`),
template.yaml stands in at that path while SAM parses, and is removed again: SAM resolves the
config file against the template's folder, so the stand-in has to sit where the real one will.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("build", "deploy")


class Mismatch(Exception):
    """SAM read a parameter file differently from what was written."""


def parameter_file(overrides: object) -> Path | None:
    """The file named by a `--parameter-overrides file://...` argument, if that is what it was."""
    if isinstance(overrides, str) and overrides.startswith("file://"):
        return Path(overrides[len("file://") :])
    return None


def check_round_trip(written: dict[str, str], read: dict[str, str]) -> None:
    """Raises `Mismatch` naming (only) the keys SAM read differently."""
    differing = sorted(key for key in written.keys() | read.keys() if written.get(key) != read.get(key))
    if differing:
        raise Mismatch(f"SAM CLI read these parameters differently from the file: {', '.join(differing)}")


def report(command: str, arguments: dict, argv: list[str]) -> dict:
    """What SAM would act on, without secret values."""
    overrides = arguments.get("parameter_overrides") or {}
    summary = {
        "command": command,
        "template_file": arguments.get("template_file") or arguments.get("template"),
        "parameter_keys": sorted(overrides),
    }
    if command == "deploy":
        summary.update(
            stack_name=arguments.get("stack_name"),
            capabilities=list(arguments.get("capabilities") or []),
            tags=arguments.get("tags") or {},
            resolve_s3=arguments.get("resolve_s3"),
            confirm_changeset=arguments.get("confirm_changeset"),
        )
        given = argv[argv.index("--parameter-overrides") + 1] if "--parameter-overrides" in argv else None
        path = parameter_file(given)
        if path is not None:
            check_round_trip(json.loads(path.read_text()), dict(overrides))
    return summary


@contextlib.contextmanager
def template_in_place(argv: list[str]):
    """Puts template.yaml at the `--template-file` path for as long as SAM parses, if nothing is there."""
    given = argv[argv.index("--template-file") + 1] if "--template-file" in argv else None
    target = Path(given) if given else None
    if target is None or target.exists():
        yield
        return
    created = [parent for parent in reversed(target.parents) if not parent.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "template.yaml", target)
    try:
        yield
    finally:
        target.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 64
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    from samcli.lib.utils import version_checker

    # The once-a-week version check would ask PyPI; nothing here may leave the machine.
    version_checker.fetch_and_compare_versions = lambda: None
    from samcli.cli.main import cli
    from samcli.commands.build import command as build_command
    from samcli.commands.deploy import command as deploy_command

    resolved: dict = {}
    modules = {"build": build_command, "deploy": deploy_command}
    for name, module in modules.items():
        signature = inspect.signature(module.do_cli)

        def stop_here(*args, _name=name, _signature=signature, **kwargs):
            resolved[_name] = dict(_signature.bind(*args, **kwargs).arguments)

        module.do_cli = stop_here
    try:
        with template_in_place(argv):
            cli.main(args=argv, prog_name="sam", standalone_mode=False)
    except Exception as error:  # click's and SAM's own refusals, worded by them
        exit_code = getattr(error, "exit_code", 1)
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        print(f"error: sam {argv[0]}: {message}", file=sys.stderr)
        return exit_code or 1
    if argv[0] not in resolved:
        print(f"error: sam {argv[0]} stopped before acting on the command line", file=sys.stderr)
        return 1
    try:
        summary = report(argv[0], resolved[argv[0]], argv)
    except Mismatch as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
