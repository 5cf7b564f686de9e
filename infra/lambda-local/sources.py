"""What invokes the functions besides API Gateway: the SQS event source and the schedules.

Why: the worker only ever sees SQS batches and the scheduler only the schedules' inputs, so
that is what they get here too, from the template's own settings:

- the SQS poller receives from moto's queue up to the mapping's batch size, waits out its
  batching window, invokes the function with a real SQS event, and then does what Lambda does
  with the answer: deletes the batch on success, only the messages not listed in
  `batchItemFailures` when the mapping reports item failures (an unknown or malformed item
  fails the whole batch), and nothing on an error or timeout. A message not deleted comes back
  after the queue's visibility timeout, and SQS itself (moto) moves it to the dead-letter queue
  after the redrive policy's `maxReceiveCount`. `MaximumConcurrency` caps the batches in flight.
- each schedule invokes its function with the schedule's input on a short local interval,
  instead of its `rate(...)`, so a local session sees every job run.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import hashlib
import time
from typing import Any, Callable


def sqs_event(messages: list[dict], source) -> dict:
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append({
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))),
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 (SQS's own checksum)
            "eventSource": "aws:sqs",
            "eventSourceARN": source.queue_arn,
            "awsRegion": "us-east-1",
        })
    return {"Records": records}


def to_delete(messages: list[dict], outcome, report_item_failures: bool) -> list[dict]:
    """The messages Lambda deletes after an invocation (see the module's docs)."""
    if not outcome.ok:
        return []
    if not report_item_failures:
        return messages
    payload = outcome.payload
    if payload is None or (isinstance(payload, dict) and not payload.get("batchItemFailures")):
        return messages
    if not isinstance(payload, dict) or not isinstance(payload.get("batchItemFailures"), list):
        return []
    ids = {m["MessageId"] for m in messages}
    failed = set()
    for item in payload["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return []  # Lambda treats a malformed or unknown item as the whole batch failing
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]


# The pollers' SQS calls run here, not in asyncio's default executor: a receive in flight (or
# in retries, when moto went first) must not hold up the stack's exit, which the default
# executor's shutdown would.
POLL_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="sqs-poller")


async def in_poll_thread(call: Callable, **arguments) -> Any:
    return await asyncio.get_running_loop().run_in_executor(POLL_THREADS, functools.partial(call, **arguments))


class SqsPoller:
    def __init__(self, sqs, source, invoke: Callable, log: Callable[[str], None], wait_seconds: int = 1):
        self.sqs = sqs
        self.source = source
        self.invoke = invoke
        self.log = log
        self.wait_seconds = wait_seconds
        self.batches = 0
        self.deleted = 0

    async def receive_batch(self) -> list[dict]:
        source = self.source
        batch: list[dict] = []
        window_ends = time.monotonic() + source.batching_window
        while len(batch) < source.batch_size:
            answer = await in_poll_thread(
                self.sqs.receive_message,
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(10, source.batch_size - len(batch)),
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.extend(answer.get("Messages", []))
            if batch and time.monotonic() >= window_ends:
                break
        return batch

    async def poll(self) -> None:
        while True:
            try:
                batch = await self.receive_batch()
                if not batch:
                    continue
                outcome = await self.invoke(self.source.function, sqs_event(batch, self.source), f"sqs:{self.source.queue_arn.rsplit(':', 1)[-1]}")
                done = to_delete(batch, outcome, self.source.report_batch_item_failures)
                for message in done:
                    await in_poll_thread(self.sqs.delete_message, QueueUrl=self.source.queue_url, ReceiptHandle=message["ReceiptHandle"])
                self.batches += 1
                self.deleted += len(done)
                if len(done) < len(batch):
                    kept = len(batch) - len(done)
                    why = outcome.payload.get("errorMessage") if not outcome.ok and isinstance(outcome.payload, dict) else "reported as failed"
                    self.log(f"lambda-local: {kept} of {len(batch)} SQS message(s) stay on the queue ({why}); they return after its visibility timeout")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # moto restarting, a network hiccup: keep polling
                self.log(f"lambda-local: SQS poller: {error}")
                await asyncio.sleep(1)

    def tasks(self) -> list[asyncio.Task]:
        count = self.source.maximum_concurrency or 1
        return [asyncio.create_task(self.poll()) for _ in range(count)]


async def run_schedule(schedule, invoke: Callable, log: Callable[[str], None], interval: float, first_delay: float) -> None:
    await asyncio.sleep(first_delay)
    while True:
        outcome = await invoke(schedule.function, schedule.payload, f"schedule:{schedule.name}")
        if not outcome.ok:
            log(f"lambda-local: schedule {schedule.name} ({schedule.expression}): the invocation failed: {outcome.payload}")
        await asyncio.sleep(interval)
