"""Every retry delay in the pipeline is the one jittered, capped backoff (issue 13 point 5).

The retry loops (a stage's ``OnError``, the dead-letter writer, the sink delivery retry) are driven
by functions/sinks/producers that fail a set number of times; ``anyio.sleep`` records what each
loop asked to wait (and does not really wait), so the delays are checked exactly, not timed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import anyio
import pytest

from streamline import Batch, DeadLetter, DeliveryError, OnError, Pipeline, Stage
from streamline._backoff import JITTER

TICK = 5.0
TICKER_SLEEP = 0.2  # the pipeline's own ticker sleeps exactly this; every other sleep is a retry
RETRIES = 6
BASE = 0.1
CAP = 0.4  # reached from attempt 3 on


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []
    real_sleep = anyio.sleep

    async def recording_sleep(delay: float) -> None:
        if delay == TICKER_SLEEP:
            await real_sleep(delay)
            return
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(anyio, "sleep", recording_sleep)
    return delays


def assert_backoff(delays: list[float]) -> None:
    """Doubling from BASE, capped at CAP, each within the jitter band."""
    for attempt, delay in enumerate(delays, start=1):
        nominal = min(CAP, BASE * 2 ** (attempt - 1))
        assert nominal * (1 - JITTER) <= delay <= nominal * (1 + JITTER), (attempt, delay, delays)


async def values(*items: Any):  # type: ignore[no-untyped-def]
    for item in items:
        yield item


def flaky(times: int, calls: dict[Any, int]):  # type: ignore[no-untyped-def]
    """A function failing ``times`` times per value, then passing the value on."""

    def fn(value: Any) -> Any:
        calls[value] += 1
        if calls[value] <= times:
            raise ValueError(f"attempt {calls[value]} on {value}")
        return value

    return fn


async def test_stage_retries_are_jittered_and_capped(slept: list[float]) -> None:
    runs: list[list[float]] = []
    policy = OnError(retries=RETRIES, backoff=BASE, max_backoff=CAP, then="stop")
    for draw in range(5):  # one value per pipeline: stage a retries it, then stage b
        got: list[int] = []
        calls_a: dict[Any, int] = defaultdict(int)
        calls_b: dict[Any, int] = defaultdict(int)
        slept.clear()
        await Pipeline(
            values(draw),
            Stage(flaky(RETRIES, calls_a), name="a", on_error=policy),
            Stage(flaky(RETRIES, calls_b), name="b", on_error=policy),
            to=got.extend,
            tick_interval=TICK,
        ).run()
        assert got == [draw]
        assert len(slept) == 2 * RETRIES
        a, b = slept[:RETRIES], slept[RETRIES:]
        assert_backoff(a)
        assert_backoff(b)
        assert a != b  # two stages retrying the same value do not wait the same times
        runs += [a, b]
    for attempt in range(RETRIES):  # nor does any attempt always wait the same
        assert len({run[attempt] for run in runs}) > 1, [run[attempt] for run in runs]


async def test_whole_batch_stage_retries_use_the_same_backoff(slept: list[float]) -> None:
    calls: dict[Any, int] = defaultdict(int)

    def whole(batch: list[int]) -> list[int]:
        calls[0] += 1
        if calls[0] <= RETRIES:
            raise ValueError("not yet")
        return batch

    got: list[int] = []
    policy = OnError(retries=RETRIES, backoff=BASE, max_backoff=CAP)
    await Pipeline(values([1, 2, 3]), Stage(whole, batch=True, on_error=policy), to=got.extend, tick_interval=TICK).run()
    assert got == [1, 2, 3]
    assert len(slept) == RETRIES
    assert_backoff(slept)


class FlakyProducer:
    """Refuses ``fail`` sends with a retriable DeliveryError, then stores them."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, value: bytes, *, headers: list[tuple[str, bytes]]) -> None:
        if self.fail:
            self.fail -= 1
            raise DeliveryError("broker unavailable", retriable=True)
        self.sent.append((topic, value, headers))


async def test_dead_letter_retries_are_jittered_and_capped(slept: list[float]) -> None:
    runs: list[list[float]] = []
    for _ in range(4):
        producer = FlakyProducer(fail=RETRIES)
        writer = DeadLetter(producer, "dlq")
        writer.retry_backoff, writer.max_retry_backoff = BASE, CAP
        slept.clear()
        await writer.send(b"payload", [("streamline.stage", b"s")])
        assert producer.sent == [("dlq", b"payload", [("streamline.stage", b"s")])]
        assert len(slept) == RETRIES
        assert_backoff(slept)
        runs.append(list(slept))
    for attempt in range(RETRIES):
        assert len({run[attempt] for run in runs}) > 1


class FlakySink:
    """Refuses ``fail`` submits with a retriable error, then delivers at once."""

    def __init__(self, fail: int, name: str) -> None:
        self.fail = fail
        self.name = name
        self.delivered: list[Any] = []

    async def submit(self, batch: Batch) -> Any:
        if self.fail:
            self.fail -= 1
            raise DeliveryError("broker unavailable", retriable=True)
        self.delivered.extend(batch.values)

        async def done() -> None:
            return None

        return done()


async def test_sink_delivery_retries_are_jittered_and_capped(slept: list[float]) -> None:
    runs: list[list[float]] = []
    for _ in range(4):
        sink = FlakySink(RETRIES, "flaky")
        slept.clear()
        pipeline = Pipeline(values([1, 2]), to=sink, retry_backoff=BASE, max_retry_backoff=CAP, tick_interval=TICK)
        stats = await pipeline.run()
        assert sink.delivered == [1, 2] and stats.delivery_retries == RETRIES
        assert len(slept) == RETRIES
        assert_backoff(slept)
        runs.append(list(slept))
    for attempt in range(RETRIES):
        assert len({run[attempt] for run in runs}) > 1
