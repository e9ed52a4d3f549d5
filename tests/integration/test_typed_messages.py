"""Typed messages on the real broker (issue 15): codecs on Producer, consume() and pipelines;
decode failures through the failure policy in consumer groups, checked on the broker (committed
offsets, the dead-letter topic's records).

Records that must land at known offsets are sent one per request (see NOTES.md on ListOffsets)."""

from __future__ import annotations

import asyncio
from functools import partial

import anyio
import msgspec
import pydantic
import pytest

from streamline import (
    AutoCodec,
    DecodeError,
    EncodeError,
    GroupAdmin,
    GroupError,
    JsonCodec,
    Message,
    OnError,
    Pipeline,
    Producer,
    Record,
    consume,
    to_topic,
)

FAST = dict(session_timeout=6, commit_interval=0.2)


class Item(msgspec.Struct):
    sku: str
    qty: int


class Order(msgspec.Struct):
    id: int
    customer: str
    items: list[Item]
    note: str | None = None


class Invoice(pydantic.BaseModel):
    order: int
    customer: str
    total: int


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    async with GroupAdmin(bootstrap) as groups:
        try:
            info = await groups.describe_group(group, topics=[topic])
        except GroupError:
            return {}
    return {p.partition: p.committed for p in info.partitions if p.committed is not None}


async def wait_committed(bootstrap: str, group: str, topic: str, want: dict[int, int]) -> None:
    with anyio.fail_after(60):
        while await committed(bootstrap, group, topic) != want:
            await asyncio.sleep(0.1)


async def read_all(bootstrap: str, topic: str, n: int, **options) -> list[Message]:
    out: list[Message] = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning", **options) as stream:
        with anyio.fail_after(60):
            async for msg in stream:
                out.append(msg)
                if len(out) == n:
                    break
    return out


def order(i: int) -> Order:
    return Order(i, f"Zoë-{i} 東京", [Item("A-1", i), Item("ß", 2)], note=None if i % 2 else "fragile ✓")


async def test_struct_values_round_trip_through_send_send_many_and_submit_many(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=3)
    async with Producer(kafka_bootstrap, value=Order, key=str) as producer:
        await producer.send(topic, order(0), key="k0")
        assert await producer.send_many(topic, [order(1), ("k2", order(2))]) == 2
        await (await producer.submit_many(topic, [order(3)]))
    got = await read_all(kafka_bootstrap, topic, 4, value=Order, key=str)
    by_id = {m.value.id: m for m in got}
    assert {i: m.value for i, m in by_id.items()} == {i: order(i) for i in range(4)}
    assert (by_id[0].key, by_id[1].key, by_id[2].key) == ("k0", None, "k2")
    # the content-type header is on by default for codecs; the bytes are kept
    assert all(dict(m.headers)["content-type"] == b"application/json" for m in got)
    assert msgspec.json.decode(by_id[0].raw_value) == msgspec.to_builtins(order(0))
    assert by_id[0].raw_key == b"k0"


async def test_pydantic_values_and_a_per_call_codec_override(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap, content_type=False) as producer:  # raw by default
        await producer.send(topic, Invoice(order=1, customer="Zoë", total=5), codec=Invoice)
        await producer.send_many(topic, [Invoice(order=2, customer="東京", total=7)], codec=Invoice)
    got = await read_all(kafka_bootstrap, topic, 2, value=Invoice)
    assert [m.value for m in got] == [Invoice(order=1, customer="Zoë", total=5), Invoice(order=2, customer="東京", total=7)]
    assert all(m.headers == [] or not m.headers for m in got)  # content_type=False


async def test_an_item_that_does_not_encode_sends_nothing(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap, value=Order) as producer:
        with pytest.raises(EncodeError, match=r"item 2: the value does not encode as Order: expected Order, got dict"):
            await producer.send_many(topic, [order(0), order(1), {"id": 2}])
        with pytest.raises(EncodeError, match="does not encode as JSON"):
            await producer.send(topic, {1, 2}, codec="json")  # a set is not JSON
        await producer.send(topic, order(9))
    [only] = await read_all(kafka_bootstrap, topic, 1, value=Order)
    assert (only.offset, only.value.id) == (0, 9)  # nothing of the failed calls landed


async def produce_mixed(bootstrap: str, topic: str, values: list[bytes | None]) -> None:
    async with Producer(bootstrap) as producer:
        for value in values:
            await producer.send_many(topic, [Record(value, partition=0)])


GOOD = msgspec.json.encode(order(1))
MIXED: list[bytes | None] = [GOOD, b"{not json", GOOD, b'{"id": "x"}', GOOD, None, b"\xff"]  # ends on bad ones


async def test_async_for_dead_letters_undecodable_values_and_commits_past_them(kafka_bootstrap, new_topic) -> None:
    topic, dlq = new_topic(partitions=1), new_topic(partitions=1)
    group = f"g-{topic}"
    await produce_mixed(kafka_bootstrap, topic, [*MIXED, GOOD])
    policy = OnError(then="dead_letter", dead_letter_topic=dlq)
    seen: list[tuple[int, Order]] = []
    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                       value=Order, on_decode_error=policy, **FAST) as stream:
        async for msg in stream:
            seen.append((msg.offset, msg.value))
            if len(seen) == 4:
                break  # the block exits cleanly: offset 7 is processed, then the close commits
    assert seen == [(0, order(1)), (2, order(1)), (4, order(1)), (7, order(1))]
    # every message counts as processed, the dead-lettered ones included
    await wait_committed(kafka_bootstrap, group, topic, {0: len(MIXED) + 1})
    letters = await read_all(kafka_bootstrap, dlq, 4)
    assert [m.value for m in letters] == [b"{not json", b'{"id": "x"}', None, b"\xff"]
    for letter, offset in zip(letters, (1, 3, 5, 6), strict=True):
        headers = dict(letter.headers)
        assert headers["streamline.origin.offset"] == str(offset).encode()
        assert headers["streamline.origin.topic"] == topic.encode()
        assert headers["streamline.error"].startswith(b"DecodeError: value does not decode as Order: ")
    assert b"tombstone" in dict(letters[2].headers)["streamline.error"]
    assert stream.metrics()["dead_lettered"] == 4


async def test_stop_hands_out_what_decodes_then_raises_and_does_not_commit_the_bad_one(
    kafka_bootstrap, new_topic
) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    await produce_mixed(kafka_bootstrap, topic, [GOOD, GOOD, b"[1, 2]", GOOD])
    seen: list[int] = []
    with pytest.raises(DecodeError, match=rf"{topic}\[0\]@2: value does not decode as Order") as caught:
        async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                           value=Order, **FAST) as stream:
            with anyio.fail_after(60):
                async for msg in stream:
                    seen.append(msg.offset)
    assert seen == [0, 1]
    assert (caught.value.partition, caught.value.offset) == (0, 2)
    await wait_committed(kafka_bootstrap, group, topic, {0: 2})


async def test_run_applies_its_on_error_to_decode_failures(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    await produce_mixed(kafka_bootstrap, topic, [b"oops", GOOD, b"oops", GOOD, b"oops"])
    handled: list[int] = []

    async def handle(msg: Message[Order]) -> None:
        handled.append(msg.value.id + msg.offset * 100)

    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                       value=Order, **FAST) as stream:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(stream.run, handle, on_error=OnError(then="skip")))
            await wait_committed(kafka_bootstrap, group, topic, {0: 5})
            tg.cancel_scope.cancel()
    assert handled == [101, 301]
    assert stream.metrics()["skipped"] == 3


async def test_manual_acks_pass_skipped_messages(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    await produce_mixed(kafka_bootstrap, topic, [b"bad", GOOD, b"bad"])
    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", ack="manual",
                       value=Order, on_decode_error=OnError(then="skip"), **FAST) as stream:
        with anyio.fail_after(60):
            async for batch in stream.batches():
                assert [m.offset for m in batch] == [1]
                stream.ack(batch)
                break
        assert stream.committable() == {(topic, 0): 3}
    await wait_committed(kafka_bootstrap, group, topic, {0: 3})  # committed on close


async def test_pipeline_typed_source_stage_and_sink_with_dead_letters(kafka_bootstrap, new_topic) -> None:
    source, sink, dlq = new_topic(partitions=2), new_topic(partitions=1), new_topic(partitions=1)
    group = f"g-{source}"
    async with Producer(kafka_bootstrap, value=Order) as producer:
        # Five per partition (keyless records of one call may go to one partition, as values do).
        await producer.send_many(source, [Record(order(i), partition=i % 2) for i in range(10)])
        await producer.send(source, b"garbage", codec=bytes, partition=1)
        await producer.send(source, order(99), partition=0)  # the stage refuses it

    def price(o: Order) -> Invoice:
        if o.id == 99:
            raise ValueError("no price for 99")
        return Invoice(order=o.id, customer=o.customer, total=sum(i.qty for i in o.items))

    from streamline import Stage

    stream = consume(source, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", ack="manual",
                     value=Order, on_decode_error=OnError(then="dead_letter", dead_letter_topic=dlq), **FAST)
    async with Producer(kafka_bootstrap) as out:
        pipeline = Pipeline(
            stream, Stage(price, on_error=OnError(retries=0, then="dead_letter", dead_letter_topic=dlq)),
            to=to_topic(out, sink, value=Invoice),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(pipeline.run)
            invoices = await read_all(kafka_bootstrap, sink, 10, value=Invoice)
            await wait_committed(kafka_bootstrap, group, source, {0: 6, 1: 6})
            pipeline.stop()
    assert sorted(m.value.order for m in invoices) == list(range(10))
    assert all(m.value.total == m.value.order + 2 for m in invoices)
    letters = await read_all(kafka_bootstrap, dlq, 2)
    by_error = {dict(m.headers)["streamline.error"].split(b":")[0]: m for m in letters}
    assert by_error[b"DecodeError"].value == b"garbage"
    assert by_error[b"ValueError"].value == msgspec.json.encode(order(99))  # the original bytes
    assert dict(by_error[b"ValueError"].headers)["streamline.stage"] == b"price"


async def test_auto_detects_the_codec_from_the_content_type_header(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send(topic, {"a": [1, "ü"]}, codec="json")
        await producer.send(topic, "plain ü", codec=str)
        await producer.send(topic, b"\x00raw")
        await producer.send(topic, [2], codec="json")
    got = await read_all(kafka_bootstrap, topic, 4, value="auto")
    assert [m.value for m in got] == [{"a": [1, "ü"]}, "plain ü", b"\x00raw", [2]]
    strict = await read_all(kafka_bootstrap, topic, 2, value=AutoCodec(JsonCodec()), on_decode_error=OnError(then="skip"))
    assert [m.value for m in strict] == [{"a": [1, "ü"]}, [2]]  # text and headerless: no codec, skipped


def test_the_typed_orders_example_runs(kafka_bootstrap, new_topic) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    orders, invoices, dlq = new_topic(partitions=2), new_topic(partitions=1), new_topic(partitions=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    env["STREAMLINE_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    example = Path(__file__).resolve().parents[2] / "examples" / "typed_orders.py"
    done = subprocess.run(
        [sys.executable, str(example), orders, invoices, dlq, "--count", "5"],
        capture_output=True, text=True, env=env, timeout=110, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(line for line in lines if line.startswith("order ")) == [
        f"order {i} from Zoë {i}: 1 line(s)" for i in range(5)
    ]
    assert sorted(line for line in lines if line.startswith("invoice ")) == [
        f"invoice for order {i}: {(i + 1) * 2.5:.2f}" for i in range(5)
    ]
    letters = asyncio.run(read_all(kafka_bootstrap, dlq, 1))
    assert letters[0].value == b"{this is not an order"
