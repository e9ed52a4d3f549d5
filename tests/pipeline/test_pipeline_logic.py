"""Pipeline mechanics without a broker: acknowledgements, fan-out, filters, errors, shutdown."""

import asyncio
import json
import time

import anyio
import pytest

from streamline import (
    Batch,
    Checkpoints,
    ConfigurationError,
    DeliveryError,
    OnError,
    Pipeline,
    Stage,
    StageError,
    follow,
)
from streamline._pipeline.batch import AckToken


class ControlledSink:
    """A sink whose deliveries complete only when the test says so."""

    def __init__(self, name: str = "controlled") -> None:
        self.name = name
        self.submitted: list[list] = []
        self.pending: list[asyncio.Future] = []

    async def submit(self, batch: Batch):
        self.submitted.append(list(batch.values))
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future

    def deliver_all(self) -> None:
        for f in self.pending:
            if not f.done():
                f.set_result(None)


async def values(*items):
    for item in items:
        yield item


def test_ack_token_fires_once_after_all_releases() -> None:
    fired = []
    token = AckToken(lambda: fired.append(1))
    token.retain(2)
    token.release()
    token.release()
    assert fired == []
    token.release()
    assert fired == [1] and token.done


async def test_stage_map_filter_and_fan_out() -> None:
    got: list = []

    def transform(v: int):
        if v % 3 == 0:
            return None  # dropped on purpose
        if v % 3 == 1:
            return [v, v * 10]  # fanned out
        return v

    stats = await Pipeline(values(*range(9)), transform, to=got.extend).run()
    assert got == [1, 10, 2, 4, 40, 5, 7, 70, 8]
    assert stats.dropped == 3 and stats.items == 9


async def test_file_origin_acknowledged_only_after_delivery(tmp_path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(100)))
    store = tmp_path / "ckpt"
    sink = ControlledSink()
    follower = follow(str(log), start="beginning", checkpoints=str(store), stop_at_eof=True)
    pipeline = Pipeline(follower, to=sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        while not sink.submitted:
            await anyio.sleep(0.01)
        await follower.checkpoints.flush()
        saved = json.loads((store / "checkpoints.json").read_text()) if (store / "checkpoints.json").exists() else {"files": {}}
        assert all(r["offset"] == 0 for r in saved["files"].values())  # nothing delivered yet
        sink.deliver_all()
    saved = json.loads((store / "checkpoints.json").read_text())
    [record] = saved["files"].values()
    assert record["offset"] == log.stat().st_size
    assert sum(len(b) for b in sink.submitted) == 100


async def test_fan_out_to_two_sinks_acks_when_both_delivered() -> None:
    acked = []
    a, b = ControlledSink("a"), ControlledSink("b")

    async def source():
        yield Batch([b"x", b"y"], AckToken(lambda: acked.append("batch")), _no_origin())

    pipeline = Pipeline(values(), to=[a, b])
    pipeline.source = _BatchSource(source)  # feed a batch with a real AckToken
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        while not (a.pending and b.pending):
            await anyio.sleep(0.01)
        a.deliver_all()
        await anyio.sleep(0.05)
        assert acked == []  # b has not delivered yet
        b.deliver_all()
    assert acked == ["batch"]


class _BatchSource:
    kind = "iterable"
    checkpoints = None

    def __init__(self, gen) -> None:
        self._gen = gen

    def opened(self):
        import contextlib

        @contextlib.asynccontextmanager
        async def cm():
            yield self

        return cm()

    def batches(self):
        return self._gen()


def _no_origin():
    from streamline._pipeline.batch import NoOrigin

    return NoOrigin()


async def test_retry_with_backoff_then_skip() -> None:
    attempts: dict[int, list[float]] = {}

    def flaky(v: int) -> int:
        attempts.setdefault(v, []).append(time.monotonic())
        if v == 2:
            raise ValueError("bad value")
        return v

    got: list = []
    stage = Stage(flaky, on_error=OnError(retries=3, backoff=0.05, max_backoff=0.2, then="skip"))
    stats = await Pipeline(values(1, 2, 3), stage, to=got.extend).run()
    assert got == [1, 3] and stats.skipped == 1
    assert len(attempts[2]) == 4  # first try + 3 retries
    # The waits between attempts (jittered, doubling, capped) are checked exactly, without
    # timing, in test_retry_backoff.py.


async def test_stop_policy_fails_the_pipeline_with_one_line() -> None:
    def boom(v):
        raise RuntimeError("cannot parse\nsecond line")

    with pytest.raises(StageError) as info:
        await Pipeline(values(b"a"), Stage(boom, name="parse", on_error=OnError(retries=0)), to=list().extend).run()
    message = str(info.value)
    assert "parse" in message and "RuntimeError: cannot parse" in message and "\n" not in message


async def test_transient_delivery_errors_are_retried_until_delivered() -> None:
    calls = []

    class FlakySink:
        name = "flaky"

        async def submit(self, batch):
            calls.append(time.monotonic())
            if len(calls) < 3:
                raise DeliveryError("broker down", retriable=True)

            async def done():
                return None

            return done()

    stats = await Pipeline(values(b"a"), to=FlakySink(), retry_backoff=0.02).run()
    assert len(calls) == 3 and stats.delivered == 1 and stats.delivery_retries == 2


async def test_permanent_delivery_error_stops_the_pipeline() -> None:
    class BadSink:
        name = "bad"

        async def submit(self, batch):
            raise DeliveryError("record too large")

    with pytest.raises(DeliveryError, match="too large"):
        await Pipeline(values(b"a"), to=BadSink()).run()


async def test_graceful_stop_drains_in_flight_batches(tmp_path) -> None:
    log = tmp_path / "grow.log"
    log.write_bytes(b"".join(f"l{i}\n".encode() for i in range(50)))
    sink = ControlledSink()
    pipeline = Pipeline(follow(str(log), start="beginning", checkpoints=str(tmp_path / "c")), to=sink, grace=5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        while not sink.pending:
            await anyio.sleep(0.01)
        pipeline.stop()  # the follower would tail forever; stop() ends the source
        await anyio.sleep(0.1)
        sink.deliver_all()  # in-flight data still drains after stop()
    saved = json.loads((tmp_path / "c" / "checkpoints.json").read_text())
    assert [r["offset"] for r in saved["files"].values()] == [log.stat().st_size]


async def test_grace_period_exceeded_is_an_error_and_nothing_is_acked(tmp_path) -> None:
    from streamline import PipelineError

    log = tmp_path / "stuck.log"
    log.write_bytes(b"a\nb\n")
    sink = ControlledSink()  # never delivers
    pipeline = Pipeline(follow(str(log), start="beginning", checkpoints=str(tmp_path / "c")), to=sink, grace=0.3)
    async def stop_when_in_flight() -> None:
        while not sink.pending:
            await anyio.sleep(0.01)
        pipeline.stop()

    stopper = asyncio.create_task(stop_when_in_flight())
    with pytest.raises(PipelineError, match="grace period"):
        await pipeline.run()
    await stopper
    saved = json.loads((tmp_path / "c" / "checkpoints.json").read_text())
    assert [r["offset"] for r in saved["files"].values()] == [0]


def test_invalid_pipeline_options_are_rejected_at_setup() -> None:
    with pytest.raises(ConfigurationError):
        Pipeline(values(), to=[])
    with pytest.raises(ConfigurationError):
        Pipeline(values(), to=list().extend, capacity=0)
    with pytest.raises(ConfigurationError, match="dead_letter_topic"):
        OnError(then="dead_letter")
    with pytest.raises(ConfigurationError, match="dead_letter, skip, stop"):
        OnError(then="ignore")  # type: ignore[arg-type]


def test_a_group_source_must_use_manual_acks() -> None:
    from streamline import consume

    stream = consume("t", bootstrap_servers="127.0.0.1:1", group="g")  # auto: no network yet
    with pytest.raises(ConfigurationError, match='ack="manual"'):
        Pipeline(stream, to=list().extend)
    Pipeline(consume("t", bootstrap_servers="127.0.0.1:1", group="g", ack="manual"), to=list().extend)
    Pipeline(consume("t", bootstrap_servers="127.0.0.1:1"), to=list().extend)  # no group: nothing to commit


async def test_values_dropped_on_purpose_are_acknowledged(tmp_path) -> None:
    log = tmp_path / "noise.log"
    log.write_bytes(b"debug a\ninfo b\ndebug c\n")
    kept: list = []
    follower = follow(str(log), start="beginning", checkpoints=str(tmp_path / "c"), stop_at_eof=True)
    stats = await Pipeline(follower, lambda line: None if line.startswith(b"debug") else line, to=kept.extend).run()
    assert kept == [b"info b"] and stats.dropped == 2
    saved = json.loads((tmp_path / "c" / "checkpoints.json").read_text())
    assert [r["offset"] for r in saved["files"].values()] == [log.stat().st_size]


class PartlyFailingProducer:
    """A producer (our sink's interface) whose first delivery loses items 1 and 3 of the batch,
    the way a DeliveryError from send_many reports it."""

    def __init__(self) -> None:
        self.submitted: list[list] = []

    async def submit_many(self, topic, items):
        self.submitted.append(list(items))
        first = len(self.submitted) == 1

        async def delivery():
            if first:
                raise DeliveryError("partition 1 timed out", retriable=True, acknowledged=3,
                                    unacknowledged=[1, 3], partitions=[1])
            return len(items)

        return delivery()


async def test_a_partly_failed_delivery_resends_only_what_was_not_acknowledged() -> None:
    from streamline import TopicSink

    producer = PartlyFailingProducer()
    stats = await Pipeline(values([b"a", b"b", b"c", b"d", b"e"]), to=TopicSink(producer, "t"), retry_backoff=0.01).run()
    assert producer.submitted == [[b"a", b"b", b"c", b"d", b"e"], [b"b", b"d"]]
    assert stats.delivered == 5 and stats.delivery_retries == 1
    assert stats.retrying_since is None  # delivering again: the status says so


@pytest.mark.parametrize(
    "options",
    [{"tick_interval": 0}, {"retry_backoff": 0}, {"retry_backoff": -1}, {"grace": 0}, {"capacity": 1.5},
     {"max_in_flight": 0}, {"max_retry_backoff": 0.01}],
)
def test_numeric_pipeline_options_are_checked(options) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        Pipeline(values(b"a"), to=print, **options)


def test_on_error_backoff_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="backoff"):
        OnError(backoff=0)
    with pytest.raises(ConfigurationError, match="retries"):
        OnError(retries=-1)


async def test_final_checkpoint_save_survives_a_native_cancel(tmp_path) -> None:
    """task.cancel() while the pipeline finishes: what was acknowledged is still saved."""
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    store = tmp_path / "ckpt"
    follower = follow(str(log), start="beginning", checkpoints=Checkpoints(store))  # runs until cancelled
    sink = ControlledSink()
    pipeline = Pipeline(follower, to=sink)
    task = asyncio.ensure_future(pipeline.run())
    while not sink.pending:
        await asyncio.sleep(0.01)
    sink.deliver_all()
    while pipeline.stats.acknowledged_batches < 1:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = json.loads((store / "checkpoints.json").read_text())
    assert [r["offset"] for r in saved["files"].values()] == [8]
