"""An idle pipeline wakes only when it has work (issue 18, point 3), and loses nothing for it.

The ticker no longer looks every 0.2 s: a checkpoint save is scheduled by the acknowledgement
that makes it necessary, and ticks stop in quiet spells (``quiet_tick_interval=math.inf``)
until lines move again. These tests fail if a save or a tick that depends on such an event is
never scheduled. Hourly polls (``poll_interval=3600``) keep the follower's own periodic look
out of the way: only events can wake anything.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from pathlib import Path

import anyio

from streamline import Batch, Checkpoints, Pipeline, follow
from streamline.cli._memory import TrimWhenQuiet


def saved_offset(cp: Path) -> int | None:
    try:
        records = json.loads((cp / "checkpoints.json").read_text())["files"]
    except (OSError, ValueError):
        return None
    return next(iter(records.values()))["offset"] if records else None


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for ``condition`` (a hang guard, never a speed limit)."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - files and counters: there is no event to wait on
            await anyio.sleep(0.01)


def append(path: Path, data: str) -> None:
    with open(path, "a") as file:
        file.write(data)


class HeldSink:
    """Deliveries complete when the test says so; the second submit waits (back-pressure)
    until released, so the source's task is stuck in the sink and cannot save anything."""

    name = "held"

    def __init__(self) -> None:
        self.submitted: list[list[str]] = []
        self.pending: list[asyncio.Future[None]] = []
        self.blocking = anyio.Event()  # the second submit has started waiting
        self.release = anyio.Event()

    async def submit(self, batch: Batch) -> asyncio.Future[None]:
        self.submitted.append([bytes(v).decode() for v in batch.values])
        if len(self.submitted) == 2:
            self.blocking.set()
            await self.release.wait()
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future


async def test_the_ticker_saves_an_acknowledgement_while_the_source_is_held_up(tmp_path: Path) -> None:
    log, cp = tmp_path / "app.log", tmp_path / "cp"
    log.write_text("")
    sink = HeldSink()
    follower = follow(log, start="beginning", checkpoints=Checkpoints(cp, flush_interval=0.05), poll_interval=3600)
    pipeline = Pipeline(follower, to=sink, max_in_flight=4, tick_interval=3600)  # no tick saves it either
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        append(log, "a\n")
        await until(lambda: len(sink.submitted) == 1)
        append(log, "b\n")
        with anyio.fail_after(60):
            await sink.blocking.wait()
        # Only the pipeline's ticker can save now: the follower's task waits in submit().
        sink.pending[0].set_result(None)
        await until(lambda: saved_offset(cp) == 2)
        sink.release.set()
        await until(lambda: len(sink.pending) == 2)
        sink.pending[1].set_result(None)
        await until(lambda: saved_offset(cp) == 4)  # the next acknowledgement: a new save
        pipeline.stop()
    assert sink.submitted == [["a"], ["b"]]


async def test_an_idle_pipeline_saves_what_was_acknowledged_and_again_on_stop(tmp_path: Path) -> None:
    log, cp = tmp_path / "app.log", tmp_path / "cp"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    got: list[bytes] = []
    store = Checkpoints(cp, flush_interval=0.05)
    pipeline = Pipeline(follow(log, start="beginning", checkpoints=store, poll_interval=3600), to=got.extend)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        await until(lambda: saved_offset(cp) == log.stat().st_size)  # saved while idle
        store.flush_interval = 3600  # from now on only the stop can save
        append(log, "late\n")
        await until(lambda: len(got) == 101)
        pipeline.stop()
    assert saved_offset(cp) == log.stat().st_size


async def test_ticks_stop_in_quiet_spells_and_resume_with_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    trims: list[int] = []
    got: list[bytes] = []
    pipeline = Pipeline(
        follow(log, poll_interval=3600),
        to=got.extend,
        on_tick=TrimWhenQuiet(trim=lambda: trims.append(len(got))),
        tick_interval=0.02,
        quiet_tick_interval=math.inf,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        await until(lambda: len(trims) == 1)  # start-up is over; then quiet: no more ticks
        for burst in range(2):
            append(log, "".join(f"{burst}-{i}\n" for i in range(50)))
            # Lines wake the ticker; the first quiet tick after them trims.
            await until(lambda b=burst: len(trims) == b + 2)
        pipeline.stop()
    assert trims == [0, 50, 100]
