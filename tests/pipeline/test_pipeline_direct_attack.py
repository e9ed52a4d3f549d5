"""Attacks on the stage-less pipeline (the source feeds the sinks in one task): a sink that
fails after some batches, stop() while a sink waits for buffer space past the grace period, a
source that raises while being stopped. Checkpoints must never pass what was delivered."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from streamline import Batch, DeliveryError, Pipeline, PipelineError, follow


def saved_offsets(directory: Path) -> list[int]:
    records = json.loads((directory / "checkpoints.json").read_text())["files"]
    return [r["offset"] for r in records.values()]


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as file:
        file.write(data)


async def run(pipeline: Pipeline, raised: list[BaseException]) -> None:
    try:
        await pipeline.run()
    except Exception as exc:
        raised.append(exc)


async def read_all(path: Path, checkpoints: Path) -> list[bytes]:
    """What a later run reads from the checkpoints on (until the file's end)."""
    got: list[bytes] = []
    async with follow(str(path), checkpoints=str(checkpoints), stop_at_eof=True) as f:
        async for line in f:
            got.append(line.data if hasattr(line, "data") else line.text.encode())
    return got


@pytest.mark.parametrize("stages", [0, 1])
async def test_a_sink_failing_after_some_batches_saves_only_what_it_delivered(tmp_path: Path, stages: int) -> None:
    log, store = tmp_path / "app.log", tmp_path / "c"
    log.write_bytes(b"a0\na1\n")
    following = [b"b0\nb1\n", b"c0\n", b"d0\n"]  # each written only once the one before is delivered
    delivered: list[bytes] = []

    async def sink(values: list[bytes]) -> None:
        if values[0].startswith(b"c"):
            raise DeliveryError("record too large")  # not retriable: the run fails
        delivered.extend(values)
        append(log, following.pop(0))

    follower = follow(str(log), start="beginning", checkpoints=str(store), poll_interval=0.05)
    with pytest.raises(DeliveryError, match="too large"):
        await Pipeline(follower, *[lambda v: v] * stages, to=sink).run()
    assert delivered == [b"a0", b"a1", b"b0", b"b1"]
    assert saved_offsets(store) == [len(b"a0\na1\nb0\nb1\n")]
    assert await read_all(log, store) == [b"c0"]  # nothing lost, nothing read twice


async def test_stop_while_the_sink_waits_for_buffer_space_past_the_grace_period(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", tmp_path / "c"
    log.write_bytes(b"x0\nx1\n")
    entered = anyio.Event()

    class FullSink:
        name = "full"

        async def submit(self, batch: Batch) -> None:
            entered.set()
            await anyio.Event().wait()  # the producer's buffer never frees up (broker frozen)

    follower = follow(str(log), start="beginning", checkpoints=str(store), poll_interval=0.05)
    pipeline = Pipeline(follower, to=FullSink(), grace=0.2)
    raised: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, pipeline, raised)
        await entered.wait()
        pipeline.stop()
    assert isinstance(raised[0], PipelineError) and "undelivered" in str(raised[0])
    assert follower._state == "closed"
    assert saved_offsets(store) == [0]
    assert await read_all(log, store) == [b"x0", b"x1"]


@pytest.mark.parametrize("stages", [0, 1])
async def test_a_source_raising_while_stopped_is_reported_and_what_was_read_is_delivered(stages: int) -> None:
    delivered: list[int] = []
    waiting = anyio.Event()

    async def source():
        yield [1]
        try:
            waiting.set()
            await anyio.Event().wait()
        finally:
            raise RuntimeError("the source failed while closing")

    async def sink(values: list[int]) -> None:
        delivered.extend(values)

    pipeline = Pipeline(source(), *[lambda v: v] * stages, to=sink)
    raised: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, pipeline, raised)
        await waiting.wait()
        await anyio.wait_all_tasks_blocked()
        pipeline.stop()
    assert isinstance(raised[0], RuntimeError) and "while closing" in str(raised[0])
    assert delivered == [1]


async def test_stop_from_inside_a_submit_ends_reading_after_that_batch() -> None:
    taken = [0]

    async def source():
        while True:
            taken[0] += 1
            yield [taken[0]]

    delivered: list[int] = []

    class StoppingSink:
        name = "stopping"

        def __init__(self) -> None:
            self.pipeline: Pipeline | None = None

        async def submit(self, batch: Batch) -> asyncio.Future[None]:
            delivered.extend(batch.values)
            if batch.values == [3]:
                assert self.pipeline is not None
                self.pipeline.stop()  # e.g. a signal handler that ran while the submit waited
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    sink = StoppingSink()
    pipeline = sink.pipeline = Pipeline(source(), to=sink)
    with anyio.fail_after(60):
        await pipeline.run()
    assert delivered == [1, 2, 3] and taken[0] == 3


async def test_answers_out_of_order_with_one_failure_save_only_the_prefix_before_it(tmp_path: Path) -> None:
    # Three batches in flight, answered 3 (ok), 1 (ok), 2 (failed for good): the position may
    # pass batch 1 only, though batch 3 was delivered.
    log, store = tmp_path / "app.log", tmp_path / "c"
    log.write_bytes(b"a0\n")
    following = [b"b0\n", b"c0\n"]
    answers: list[asyncio.Future[None]] = []
    all_in_flight = anyio.Event()

    class HeldSink:
        name = "held"

        async def submit(self, batch: Batch) -> asyncio.Future[None]:
            answer = asyncio.get_running_loop().create_future()
            answers.append(answer)
            if following:
                append(log, following.pop(0))  # the next batch, written while this one waits
            else:
                all_in_flight.set()
            return answer

    follower = follow(str(log), start="beginning", checkpoints=str(store), poll_interval=0.05)
    pipeline = Pipeline(follower, to=HeldSink(), max_in_flight=8)
    raised: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, pipeline, raised)
        await all_in_flight.wait()
        answers[2].set_result(None)
        answers[0].set_result(None)
        answers[1].set_exception(DeliveryError("record too large"))
    assert isinstance(raised[0], DeliveryError), raised
    assert saved_offsets(store) == [len(b"a0\n")]
    assert await read_all(log, store) == [b"b0", b"c0"]


@pytest.mark.parametrize("stages", [0, 1])
async def test_stop_while_the_source_is_producing_a_batch_still_submits_that_batch(stages: int) -> None:
    # stop() lands while the source runs (a signal handler between two bytecodes, another
    # thread's call_soon_threadsafe, or the source itself): the batch it then hands out was
    # read, so it is submitted and delivered, also when the sink's submit waits.
    delivered: list[int] = []
    handed_out: list[int] = []
    pipeline: Pipeline

    async def source():
        for value in (1, 2, 3, 4):
            if value == 2:
                pipeline.stop()
            handed_out.append(value)
            yield [value]

    class WaitingSink:
        name = "waiting"

        async def submit(self, batch: Batch) -> asyncio.Future[None]:
            await anyio.lowlevel.checkpoint()  # e.g. a moment's wait for buffer space
            delivered.extend(batch.values)
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    pipeline = Pipeline(source(), *[lambda v: v] * stages, to=WaitingSink())
    with anyio.fail_after(60):
        stats = await pipeline.run()
    # Without stages reading ends there; with one, the pump goes on until the source or the
    # channel makes it wait (this source never does): what it took is delivered too.
    assert handed_out == [1, 2] if not stages else handed_out[:2] == [1, 2]
    assert delivered == handed_out and stats.delivered == len(handed_out)


async def test_fan_out_where_one_sink_fails_saves_nothing_only_the_other_delivered(tmp_path: Path) -> None:
    log, store = tmp_path / "app.log", tmp_path / "c"
    log.write_bytes(b"a0\n")
    following = [b"b0\n"]
    first: list[bytes] = []

    async def delivers(values: list[bytes]) -> None:
        first.extend(values)

    async def fails_on_b(values: list[bytes]) -> None:
        if values[0].startswith(b"b"):
            raise DeliveryError("record too large")
        if following:
            append(log, following.pop(0))

    follower = follow(str(log), start="beginning", checkpoints=str(store), poll_interval=0.05)
    with pytest.raises(DeliveryError):
        await Pipeline(follower, to=[delivers, fails_on_b]).run()
    assert first[:1] == [b"a0"]  # the first sink may have had "b0" too
    assert saved_offsets(store) == [len(b"a0\n")]
    assert await read_all(log, store) == [b"b0"]
