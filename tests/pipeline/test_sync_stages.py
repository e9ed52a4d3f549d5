"""Synchronous stages run off the event loop, once per batch, with per-value error semantics
unchanged (issue 13 point 9). Without a broker; the group test is in tests/integration."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from streamline import Batch, ConfigurationError, DeadLetter, OnError, Pipeline, Stage
from streamline._pipeline.batch import AckToken, KafkaOrigin
from streamline._pipeline.stats import PipelineStats


def kafka_batch(values: list[Any]) -> Batch:
    return Batch(values, AckToken(None), KafkaOrigin("in", 3, [100 + i for i in range(len(values))]))


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, value: bytes, *, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, value, headers))


async def test_a_sync_stage_runs_in_a_worker_thread_once_per_batch() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []
    hops = 0
    real_run_sync = anyio.to_thread.run_sync

    async def counting_run_sync(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await real_run_sync(fn, *args, **kwargs)

    def double(value: int) -> int:
        threads.append(threading.get_ident())
        return value * 2

    async def source():  # type: ignore[no-untyped-def]
        for start in range(0, 300, 100):
            yield list(range(start, start + 100))

    got: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(anyio.to_thread, "run_sync", counting_run_sync)
        await Pipeline(source(), double, to=got.extend).run()
    assert got == [v * 2 for v in range(300)]
    assert len(threads) == 300 and loop_thread not in threads
    assert hops == 3  # one per batch, not per value


async def test_async_and_thread_false_stages_stay_on_the_loop() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def on_loop(value: int) -> int:
        seen.append(threading.get_ident())
        return value

    async def async_fn(value: int) -> int:
        seen.append(threading.get_ident())
        return value

    async def source():  # type: ignore[no-untyped-def]
        yield [1, 2, 3]

    got: list[int] = []
    await Pipeline(source(), Stage(on_loop, thread=False), async_fn, to=got.extend).run()
    assert got == [1, 2, 3] and set(seen) == {loop_thread}
    assert Stage(on_loop).thread and not Stage(async_fn).thread
    with pytest.raises(ConfigurationError, match="async"):
        Stage(async_fn, thread=True)


@pytest.mark.parametrize("thread", [True, False])
async def test_per_value_policy_and_dead_letter_headers_are_the_same_in_a_thread(thread: bool) -> None:
    """Each value is called in order; a failing value is retried and dead-lettered before the
    values after it are called; fan-out, drops and origins are as on the loop."""
    calls: list[Any] = []

    def fn(value: int) -> Any:
        calls.append(value)
        if value == 2:
            raise ValueError(f"bad {value}")
        if value == 3:
            return None
        if value == 4:
            return [40, 41]
        return value

    producer = RecordingProducer()
    stage = Stage(fn, name="fn", thread=thread, on_error=OnError(retries=2, backoff=0.001, max_backoff=0.001, then="dead_letter", dead_letter_topic="dlq"))
    stats = PipelineStats()
    out = await stage.process(kafka_batch([1, 2, 3, 4, 5]), stats, DeadLetter(producer, "dlq"))
    assert calls == [1, 2, 2, 2, 3, 4, 5]
    assert out.values == [1, 40, 41, 5]
    assert [out.origin_headers(i)[-1] for i in range(4)] == [
        ("streamline.origin.offset", b"100"),
        ("streamline.origin.offset", b"103"),
        ("streamline.origin.offset", b"103"),
        ("streamline.origin.offset", b"104"),
    ]
    assert stats.dead_lettered == 1 and stats.dropped == 1
    assert producer.sent == [
        (
            "dlq",
            b"2",
            [
                ("streamline.error", b"ValueError: bad 2"),
                ("streamline.stage", b"fn"),
                ("streamline.origin.topic", b"in"),
                ("streamline.origin.partition", b"3"),
                ("streamline.origin.offset", b"101"),
            ],
        )
    ]


async def test_a_value_failing_in_a_thread_stops_the_pipeline_before_later_values() -> None:
    calls: list[int] = []

    def fn(value: int) -> int:
        calls.append(value)
        if value == 2:
            raise ValueError("boom")
        return value

    async def source():  # type: ignore[no-untyped-def]
        yield [1, 2, 3]

    from streamline import StageError

    with pytest.raises(StageError, match="'fn' failed after 2 attempt"):
        await Pipeline(source(), Stage(fn, on_error=OnError(retries=1, backoff=0.001, max_backoff=0.001)), to=list).run()
    assert calls == [1, 2, 2]
