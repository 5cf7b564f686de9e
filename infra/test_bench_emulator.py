"""The local Lambda Runtime API behind scripts/bench, driven by a minimal runtime client the way a
function binary drives it (no timings are asserted: benchmarks are not tests)."""

import json
import sys
import threading
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
from lambda_emulator import PREFIX, Emulator  # noqa: E402


def runtime_client(address: str, invocations: int) -> list[dict]:
    """What lambda_runtime does: ask for the next event, answer it, repeat."""
    seen = []
    for _ in range(invocations):
        with urllib.request.urlopen(f"http://{address}{PREFIX}/invocation/next", timeout=5) as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            assert response.headers["Lambda-Runtime-Deadline-Ms"].isdigit()
            event = json.loads(response.read())
        seen.append(event)
        body = json.dumps({"statusCode": 200, "echo": event}).encode()
        request = urllib.request.Request(f"http://{address}{PREFIX}/invocation/{request_id}/response", data=body, method="POST")
        urllib.request.urlopen(request, timeout=5).close()
    return seen


def wait_for_one_more(address: str) -> None:
    try:
        runtime_client(address, 1)
    except OSError:  # the emulator closed the held request
        pass


class EmulatorProtocol(unittest.TestCase):
    def test_serves_the_event_the_given_number_of_times_and_records_every_response(self):
        emulator = Emulator(b'{"job": "cleanup-expired"}', invocations=3)
        try:
            seen = runtime_client(emulator.address, 3)
            # the fourth `next` is held until close(), like a warm function waiting for work; close()
            # then drops that connection, which the waiting client sees as a disconnect
            waiting = threading.Thread(target=wait_for_one_more, args=(emulator.address,), daemon=True)
            waiting.start()
            self.assertTrue(emulator.all_done.wait(timeout=5))
        finally:
            emulator.close()
        self.assertEqual(seen, [{"job": "cleanup-expired"}] * 3)
        self.assertEqual(len(emulator.response_times), 3)
        self.assertIsNotNone(emulator.first_next_at)
        self.assertLessEqual(emulator.first_next_at, emulator.response_times[0])
        self.assertEqual(emulator.first_response()["statusCode"], 200)
        self.assertEqual(emulator.errors, [])


if __name__ == "__main__":
    unittest.main()
