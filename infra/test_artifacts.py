"""Tests of infra/artifacts.py, the check behind `scripts/test --full`'s sam build step."""

import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import artifacts  # noqa: E402
from rehearsal import function_folders  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The 64-byte header of an x86-64 ELF executable, enough for the check.
ELF_HEADER = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (2).to_bytes(2, "little") + (62).to_bytes(2, "little") + b"\0" * 44


class Artifacts(unittest.TestCase):
    def test_every_function_of_the_template_is_expected(self):
        ids = artifacts.functions((ROOT / "template.yaml").read_text())
        self.assertEqual(len(ids), len(function_folders()), ids)
        self.assertIn("WorkerFunction", ids)

    def check(self, content: bytes, mode: int = 0o755) -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bootstrap"
            path.write_bytes(content)
            path.chmod(mode)
            return artifacts.problems_of(path)

    def test_a_binary_needing_a_newer_glibc_than_the_runtime_fails(self):
        self.assertEqual(self.check(ELF_HEADER + b"GLIBC_2.17\0GLIBC_2.34\0"), [])
        self.assertIn("needs glibc 2.36", " ".join(self.check(ELF_HEADER + b"GLIBC_2.28\0GLIBC_2.36\0")))

    def test_non_elf_and_non_executable_files_fail(self):
        self.assertIn("not an x86-64 ELF executable", self.check(b"#!/bin/sh\n"))
        self.assertIn("not executable", self.check(ELF_HEADER, mode=0o644))

    def test_a_missing_artifact_fails(self):
        self.assertEqual(artifacts.problems_of(Path("/nonexistent/bootstrap")), ["no bootstrap"])


if __name__ == "__main__":
    unittest.main()
