"""A pipeline without stages: the source feeds the sinks in one task (no channel between them).

Reading must still wait for the sinks (back-pressure), keep the order, stop when a sink fails,
and on stop() deliver a batch already read while no longer reading.
"""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest

from streamline import Batch, DeliveryError, Pipeline, follow


class Source:
    """An endless source of one-value batches that counts what was taken from it."""

    def __init__(self, limit: int | None = None) -> None:
        self.taken = 0
        self.limit = limit

    async def __aiter__(self):
        while self.limit is None or self.taken < self.limit:
            self.taken += 1
            yield [self.taken]
        await anyio.Event().wait()  # then nothing more, ever (like a quiet file)


class HeldSink:
    """Deliveries are answered only when the test says so; ``blocking`` makes submit itself wait."""

    name = "held"

    def __init__(self, blocking: bool = False) -> None:
        self.submitted: list[list[int]] = []
        self.answers: list[asyncio.Future[None]] = []
        self.blocking = blocking
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def submit(self, batch: Batch) -> asyncio.Future[None]:
        self.submitted.append(list(batch.values))
        if self.blocking:
            self.entered.set()
            await self.release.wait()  # e.g. the producer's buffer is full
        answer = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return answer

    def answer_all(self) -> None:
        for answer in self.answers:
            if not answer.done():
                answer.set_result(None)


async def test_the_in_flight_limit_holds_up_reading_and_order_is_kept() -> None:
    source, sink = Source(limit=10), HeldSink()
    pipeline = Pipeline(source, to=sink, max_in_flight=2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        await anyio.wait_all_tasks_blocked()
        # Two batches in flight, a third read and waiting for a slot; nothing read beyond it.
        assert sink.submitted == [[1], [2]] and source.taken == 3
        while len(sink.submitted) < 10:
            sink.answer_all()
            await anyio.wait_all_tasks_blocked()
            assert source.taken - len(sink.submitted) <= 1
        sink.answer_all()
        pipeline.stop()
    assert sink.submitted == [[i] for i in range(1, 11)]
    assert pipeline.stats.delivered == 10


async def test_a_submit_waiting_for_buffer_space_holds_up_reading() -> None:
    source, sink = Source(), HeldSink(blocking=True)
    pipeline = Pipeline(source, to=sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        await sink.entered.wait()
        await anyio.wait_all_tasks_blocked()
        assert source.taken == 1  # no read-ahead while the sink is full
        pipeline.stop()  # stopping now still submits and delivers the batch read
        sink.release.set()
        await anyio.wait_all_tasks_blocked()
        assert sink.answers, "the batch was submitted"
        sink.answer_all()
    assert source.taken == 1 and sink.submitted == [[1]]
    assert pipeline.stats.delivered == 1 and pipeline.stats.acknowledged_batches == 1


async def test_a_failing_sink_stops_reading() -> None:
    source = Source()

    class FailingSink:
        name = "failing"

        async def submit(self, batch: Batch) -> None:
            if batch.values == [3]:
                raise DeliveryError("record too large")

    with pytest.raises(DeliveryError, match="too large"):
        await Pipeline(source, to=FailingSink()).run()
    assert source.taken == 3


async def test_a_failing_sink_closes_the_follower_and_saves_nothing_undelivered(tmp_path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(10)))

    async def sink(values: list[bytes]) -> None:
        raise DeliveryError("record too large")

    follower = follow(str(log), start="beginning", checkpoints=str(tmp_path / "c"))
    with pytest.raises(DeliveryError):
        await Pipeline(follower, to=sink).run()
    assert follower._state == "closed"
    saved = json.loads((tmp_path / "c" / "checkpoints.json").read_text())["files"]
    assert [r["offset"] for r in saved.values()] == [0]


async def test_stop_while_waiting_for_the_source_ends_the_run() -> None:
    source, sink = Source(limit=2), HeldSink()
    pipeline = Pipeline(source, to=sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        await anyio.wait_all_tasks_blocked()  # both batches submitted, the source waits forever
        sink.answer_all()
        pipeline.stop()
    assert sink.submitted == [[1], [2]] and pipeline.stats.delivered == 2
