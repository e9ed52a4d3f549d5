"""The shipping path of ``streamline ship``, instrumented: where the milliseconds of a line go.

    python -m benchmarks.latency_probe BOOTSTRAP TOPIC PATH CHECKPOINTS OUT.json

Builds what ``ship`` builds (``follow`` with checkpoints → ``Pipeline`` → ``TopicSink`` →
``Producer(acks="all")``) and records, for every batch of lines, monotonic-free wall-clock
stamps (``time.time_ns()``, comparable with the writer's stamp in each line) at each hand-off:

- ``written``: the writer's stamp in the batch's first line;
- ``notified``: the change waiter returned (the wake-up that led to the read);
- ``read``: the reader handed the batch out;
- ``submitted``: the sink got it (after the pipeline's channel hop);
- ``queued``: the producer handed its record batches to aiokafka;
- ``acked``: the broker acknowledged every record (the batch's ``ack()``).

The wrappers live here, in the benchmark; nothing in the product knows about them. Runs until
SIGTERM, then writes the stamps as JSON lines to OUT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any


def install(stamps: dict[bytes, dict[str, int]]) -> None:
    from streamline._follow import lines as lines_module
    from streamline._follow import reader as reader_module
    from streamline._follow import watch as watch_module
    from streamline._pipeline import sinks as sinks_module

    last_wake = [0]

    original_wait = watch_module.ChangeWaiter.wait

    async def wait(self: Any, timeout: float) -> Any:
        result = await original_wait(self, timeout)
        if result:
            last_wake[0] = time.time_ns()
        return result

    watch_module.ChangeWaiter.wait = wait  # type: ignore[method-assign]

    original_next = reader_module.Reader.next_batch

    async def next_batch(self: Any) -> Any:
        batch = await original_next(self)
        if batch is not None and batch.data:
            first = batch.data[0]
            fields = first.split(b" ", 3)
            if len(fields) >= 3 and fields[0] == b"line":
                stamps[first] = {
                    "written": int(fields[1]), "number": int(fields[2]), "notified": last_wake[0],
                    "read": time.time_ns(),
                }
        return batch

    reader_module.Reader.next_batch = next_batch  # type: ignore[method-assign]

    original_submit = sinks_module.TopicSink.submit

    async def submit(self: Any, batch: Any) -> Any:
        # A submission may merge several line batches: stamp each one's first line.
        entries = [entry for value in batch.values if (entry := stamps.get(value)) is not None]
        now = time.time_ns()
        for entry in entries:
            entry["submitted"] = now
        result = await original_submit(self, batch)
        now = time.time_ns()
        for entry in entries:
            entry["queued"] = now
        return result

    sinks_module.TopicSink.submit = submit  # type: ignore[method-assign]

    original_ack = lines_module.LineBatch.ack

    def ack(self: Any) -> None:
        entry = stamps.get(self.data[0]) if self.data else None
        if entry is not None:
            entry["acked"] = time.time_ns()
        original_ack(self)

    lines_module.LineBatch.ack = ack  # type: ignore[method-assign]


async def main(bootstrap: str, topic: str, path: str, checkpoints: str, out: str) -> None:
    from streamline._follow import Checkpoints, follow
    from streamline._pipeline import Pipeline, TopicSink
    from streamline._producer import Producer

    stamps: dict[bytes, dict[str, int]] = {}
    install(stamps)
    gap = os.environ.get("STREAMLINE_PROBE_BUSY_GAP")  # the benchmark's knob: try another busy gap
    if gap:
        from streamline._follow import watch

        watch.BUSY_GAP = float(gap)
    async with Producer(bootstrap, acks="all") as producer:
        pipeline = Pipeline(
            follow(path, start="beginning", checkpoints=Checkpoints(checkpoints)),
            to=TopicSink(producer, topic),
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, pipeline.stop)
        await pipeline.run()
    with open(out, "w") as f:  # noqa: ASYNC230 - at exit, nothing else runs
        for entry in stamps.values():
            f.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
