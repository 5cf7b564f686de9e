"""Checks the output of `sam build`: one Lambda artifact per function in template.yaml.

Each artifact must be an executable x86-64 ELF named `bootstrap` that needs no newer glibc than
the provided.al2023 runtime has (2.34): a binary linked against the build machine's newer glibc
would build fine and fail at its first cold start. Prints the binary and zip size per function.

Usage: artifacts.py TEMPLATE BUILD_DIR
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

RUNTIME_GLIBC = (2, 34)  # Amazon Linux 2023, the provided.al2023 runtime
ELF_X86_64 = 62


def functions(template: str) -> list[str]:
    """Logical ids of the AWS::Serverless::Function resources."""
    ids, current = [], None
    for line in template.splitlines():
        match = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if match:
            current = match.group(1)
        elif current and line.strip() == "Type: AWS::Serverless::Function":
            ids.append(current)
    return ids


def newest_glibc(binary: bytes) -> tuple[int, int] | None:
    versions = {(int(a), int(b)) for a, b in re.findall(rb"GLIBC_(\d+)\.(\d+)", binary)}
    return max(versions) if versions else None


def zipped_size(binary: bytes) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, binary, compress_type=zipfile.ZIP_DEFLATED)
    return len(buffer.getvalue())


def problems_of(path: Path) -> list[str]:
    if not path.is_file():
        return ["no bootstrap"]
    binary = path.read_bytes()
    problems = []
    if binary[:4] != b"\x7fELF" or int.from_bytes(binary[18:20], "little") != ELF_X86_64:
        problems.append("not an x86-64 ELF executable")
    if not path.stat().st_mode & 0o111:
        problems.append("not executable")
    glibc = newest_glibc(binary)
    if glibc and glibc > RUNTIME_GLIBC:
        problems.append(f"needs glibc {glibc[0]}.{glibc[1]}, the runtime has {RUNTIME_GLIBC[0]}.{RUNTIME_GLIBC[1]}")
    return problems


def main(template_path: str, build_dir: str) -> int:
    ids = functions(Path(template_path).read_text())
    if not ids:
        print("no AWS::Serverless::Function in the template", file=sys.stderr)
        return 1
    failed = False
    print(f"{'function':<20} {'binary':>10} {'zip':>10}  glibc")
    for logical_id in ids:
        path = Path(build_dir) / logical_id / "bootstrap"
        problems = problems_of(path)
        if problems:
            failed = True
            print(f"{logical_id:<20} FAILED: {'; '.join(problems)}")
            continue
        binary = path.read_bytes()
        glibc = newest_glibc(binary)
        print(
            f"{logical_id:<20} {len(binary) / 1e6:>8.2f}MB {zipped_size(binary) / 1e6:>8.2f}MB  "
            f"{'%d.%d' % glibc if glibc else 'static'}"
        )
    print(f"{len(ids)} functions, {'FAILED' if failed else 'all artifacts present'}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1], sys.argv[2]))
