"""Attacking typed messages from outside: dead letters in a consumer group while a second member
joins mid-stream, codecs that fail in unexpected ways, ``send_many`` with one bad value among
good ones.

Records are sent one per request so that offsets and log ends are exact (NOTES.md)."""

from __future__ import annotations

import asyncio
from collections import Counter

import anyio
import msgspec
import pytest

from streamline import (
    DecodeError,
    EncodeError,
    GroupAdmin,
    GroupError,
    Message,
    OnError,
    Producer,
    Record,
    StreamlineError,
    consume,
)

FAST = dict(session_timeout=6, commit_interval=0.2)


class Reading(msgspec.Struct):
    sensor: int
    seq: int


PER_PARTITION = 24


def is_bad(offset: int) -> bool:
    """Every fifth record, and the last two of each partition (a trailing run of failures)."""
    return offset % 5 == 2 or offset >= PER_PARTITION - 2


def payload(partition: int, offset: int) -> bytes | None:
    if not is_bad(offset):
        return msgspec.json.encode(Reading(partition, offset))
    return [b"{broken", b'{"sensor": "x"}', None, b"\xff\xfe"][offset % 4]  # a tombstone too


async def produce_readings(bootstrap: str, topic: str, partitions: int) -> None:
    async with Producer(bootstrap) as producer:
        for offset in range(PER_PARTITION):
            for p in range(partitions):
                await producer.send_many(topic, [Record(payload(p, offset), partition=p)])


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    async with GroupAdmin(bootstrap) as groups:
        try:
            info = await groups.describe_group(group, topics=[topic])
        except GroupError:
            return {}
    return {p.partition: p.committed for p in info.partitions if p.committed is not None}


async def read_raw(bootstrap: str, topic: str, n: int, done=None) -> list[Message]:
    """From the beginning until ``n`` messages were read and ``done(messages)`` holds."""
    out: list[Message] = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        with anyio.fail_after(90):
            async for msg in stream:
                out.append(msg)
                if len(out) >= n and (done is None or done(out)):
                    break
    return out


def origin(m: Message) -> tuple[int, int]:
    headers = dict(m.headers)
    return int(headers["streamline.origin.partition"]), int(headers["streamline.origin.offset"])


@pytest.mark.parametrize("reading", ["async_for", "batches", "run", "manual"])
async def test_dead_letters_in_a_group_while_a_second_member_joins(kafka_bootstrap, new_topic, reading: str) -> None:
    """Every good record processed (at least once), every bad one dead-lettered (at least once)
    and none of them silently skipped; the commits reach each partition's end, past the
    trailing dead letters; only what was in flight at the rebalance is repeated."""
    partitions = 4
    topic, dlq = new_topic(partitions=partitions), new_topic(partitions=1)
    group = f"g-{topic}"
    await produce_readings(kafka_bootstrap, topic, partitions)
    good = {(p, o) for p in range(partitions) for o in range(PER_PARTITION) if not is_bad(o)}
    bad = {(p, o) for p in range(partitions) for o in range(PER_PARTITION) if is_bad(o)}
    processed: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    policy = OnError(then="dead_letter", dead_letter_topic=dlq)

    b_started = anyio.Event()
    streams: dict[str, object] = {}
    b_assigned: list[set] = []

    async def handle(name: str, msg: Message[Reading]) -> None:
        assert (msg.value.sensor, msg.value.seq) == (msg.partition, msg.offset)
        processed[name].append((msg.partition, msg.offset))
        if name == "a" and len(processed["a"]) == 6:
            # Hold a message in flight until the second member has joined and processed
            # something: the rebalance happens mid-stream whatever the machine's speed.
            b_started.set()
            with anyio.fail_after(120):
                while not processed["b"]:
                    await asyncio.sleep(0.05)

    async def member(name: str) -> None:
        stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                         value=Reading, on_decode_error=policy, revoke_timeout=3, max_batch=3,
                         ack="manual" if reading == "manual" else "auto", **FAST)
        streams[name] = stream
        async with stream:
            if reading == "async_for":
                async for msg in stream:
                    await handle(name, msg)
            elif reading == "batches":
                async for batch in stream.batches():
                    for msg in batch:
                        await handle(name, msg)
            else:  # run(): workers, auto or manual acknowledgements
                async def work(msg: Message[Reading]) -> None:
                    await handle(name, msg)
                    if reading == "manual":
                        msg.ack()

                await stream.run(work, concurrency=2)

    def note_b() -> None:
        stream = streams.get("b")
        assigned = stream.assignment() if stream is not None else None  # type: ignore[attr-defined]
        if assigned:
            b_assigned.append(set(assigned))

    def union() -> set[tuple[int, int]]:
        return set(processed["a"]) | set(processed["b"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(member, "a")
        with anyio.fail_after(90):
            await b_started.wait()
        tg.start_soon(member, "b")  # joins mid-stream: a rebalance
        with anyio.fail_after(120):
            while union() != good:
                note_b()
                await asyncio.sleep(0.1)
            while await committed(kafka_bootstrap, group, topic) != {p: PER_PARTITION for p in range(partitions)}:
                note_b()
                await asyncio.sleep(0.2)
            while not (processed["b"] or b_assigned):  # the join may still be settling
                note_b()
                await asyncio.sleep(0.1)
        tg.cancel_scope.cancel()

    # b took part: it processed messages, or was given partitions that a had already finished
    # (when the held message's partition stays with a, a's other worker may have done the rest).
    assert processed["b"] or b_assigned, "the second member never got a partition"
    assert union() == good  # nothing good skipped, nothing bad handed out
    # At-least-once: what was in flight when a rebalance revoked its partition (a batch of at
    # most max_batch=3, or run()'s 2 workers, held past revoke_timeout) is handed out again by
    # the next owner, which may be the same member; nothing else repeats. (The embedded broker
    # may rebalance twice for one join: 2 x 3.)
    counts = Counter(processed["a"] + processed["b"])
    repeated = {k: n for k, n in counts.items() if n > 1}
    assert sum(n - 1 for n in repeated.values()) <= 6, repeated
    # Each bad record is on the dead-letter topic (a 90 s guard: a missing one fails the test).
    letters = await read_raw(kafka_bootstrap, dlq, len(bad), done=lambda got: {origin(m) for m in got} >= bad)
    assert {origin(m) for m in letters} == bad
    for m in letters:
        p, o = origin(m)
        assert m.value == payload(p, o)  # the original bytes (a tombstone stays null)
        assert dict(m.headers)["streamline.error"].startswith(b"DecodeError: value does not decode as Reading")


class Moody:
    """A codec whose decode fails in ways a codec author did not plan for."""

    content_type = "application/x-moody"

    def encode(self, value: bytes) -> bytes:
        return value

    def decode(self, data: bytes) -> bytes:
        if data == b"key":
            return {}["missing"]  # KeyError
        if data == b"stop":
            raise StopIteration("inside a codec")
        if data == b"deep":
            def down(n: int) -> int:
                return down(n + 1)
            return down(0)  # RecursionError
        if data == b"unprintable":
            raise Unprintable()
        if data == b"async-stop":
            raise StopAsyncIteration("inside a codec")
        return data


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails")


MOODY = [b"ok-0", b"key", b"ok-2", b"stop", b"ok-4", b"deep", b"ok-6", b"async-stop", b"ok-8", b"unprintable", b"ok-10"]


@pytest.mark.parametrize("reading", ["async_for", "batches"])
async def test_a_codec_raising_unexpected_exceptions_goes_through_the_policy(kafka_bootstrap, new_topic, reading) -> None:
    topic, dlq = new_topic(partitions=1), new_topic(partitions=1)
    group = f"g-{topic}"
    async with Producer(kafka_bootstrap) as producer:
        for value in MOODY:
            await producer.send(topic, value)
    seen: list[bytes] = []
    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", value=Moody(),
                       on_decode_error=OnError(then="dead_letter", dead_letter_topic=dlq), **FAST) as stream:
        with anyio.fail_after(60):
            if reading == "async_for":
                async for msg in stream:
                    seen.append(msg.value)
                    if msg.offset == len(MOODY) - 1:
                        break
            else:
                async for batch in stream.batches():
                    seen.extend(m.value for m in batch)
                    if batch[-1].offset == len(MOODY) - 1:
                        break
    assert seen == [v for v in MOODY if v.startswith(b"ok")]
    letters = await read_raw(kafka_bootstrap, dlq, 5)
    errors = {m.value: dict(m.headers)["streamline.error"].decode() for m in letters}
    assert set(errors) == {b"key", b"stop", b"deep", b"async-stop", b"unprintable"}
    assert errors[b"key"].startswith("DecodeError: value does not decode as ") and "KeyError" in errors[b"key"]
    assert "StopIteration" in errors[b"stop"] and "RecursionError" in errors[b"deep"]
    assert "StopAsyncIteration" in errors[b"async-stop"] and "Unprintable" in errors[b"unprintable"]

    # Without a policy the stream stops at the first one with a DecodeError naming it.
    with pytest.raises(DecodeError, match=rf"{topic}\[0\]@1: value does not decode as .*KeyError"):
        async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning", value=Moody()) as stream:
            with anyio.fail_after(60):
                async for _ in stream:
                    pass


class Sloppy:
    """A codec with bugs: returns text or nothing for some values instead of bytes."""

    def encode(self, value: str) -> bytes:
        if value == "as-text":
            return value  # type: ignore[return-value]
        if value == "as-nothing":
            return None  # type: ignore[return-value]
        if value == "raises":
            raise LookupError("no such thing")
        return value.encode()

    def decode(self, data: bytes) -> str:
        return data.decode()


@pytest.mark.parametrize("bad", ["as-text", "as-nothing", "raises"])
async def test_send_many_with_one_bad_value_in_the_middle_sends_nothing(kafka_bootstrap, new_topic, bad: str) -> None:
    topic = new_topic(partitions=3)
    values = [f"v{i}" for i in range(500)]
    values[250] = bad
    async with Producer(kafka_bootstrap, value=Sloppy()) as producer:
        with pytest.raises(EncodeError, match="^item 250: .*nothing was sent"):
            await producer.send_many(topic, values)
        with pytest.raises(EncodeError, match="nothing was sent"):
            await producer.send_many(topic, iter(values))  # any iterable
        with pytest.raises(EncodeError, match="nothing was sent"):
            await producer.send(topic, bad)
        await producer.send(topic, "marker", partition=0)
    got = await read_raw(kafka_bootstrap, topic, 1)
    assert [(m.partition, m.offset, m.value) for m in got] == [(0, 0, b"marker")]


async def test_pairs_and_records_are_encoded_without_a_content_type_header(kafka_bootstrap, new_topic) -> None:
    """``(key, value)`` pairs and Records are encoded by the value codec, whatever the
    content-type setting (the docstring's promise)."""
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap, value=Reading, content_type=False) as producer:
        assert await producer.send_many(topic, [Reading(0, 0), (b"k1", Reading(0, 1)), Record(Reading(0, 2), key=b"k2")]) == 3
    got = await read_raw(kafka_bootstrap, topic, 3)
    assert [(m.key, msgspec.json.decode(m.value, type=Reading)) for m in got] == [
        (None, Reading(0, 0)), (b"k1", Reading(0, 1)), (b"k2", Reading(0, 2)),
    ]
    assert all(not m.headers for m in got)


def test_encode_error_is_a_streamline_error() -> None:
    assert issubclass(EncodeError, StreamlineError)
