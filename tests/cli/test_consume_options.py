"""``streamline consume`` options against the broker, compared with the library's own reading.

Messages are produced one ``send`` at a time: the embedded broker reports a wrong log end after
multi-record batches (NOTES.md), and ``--exit-at-end``/``--last`` rely on the log end.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cliresults import assert_ok, assert_one_error

from streamline import Admin, Producer, consume


def text_line(partition: int, offset: int, value: str, key: str = "") -> str:
    return f"Partition:{partition} Offset:{offset} Key:{key} Value:{value}"


class Lines:
    """Lines of a subprocess pipe, read by a thread so a test can wait with a deadline."""

    def __init__(self, pipe) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for raw in pipe:
            self._queue.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, deadline: float = 60.0) -> str:
        end = time.monotonic() + deadline
        while True:
            try:
                got = self._queue.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {deadline}s; saw {self.seen}") from None
            if got is None:
                raise AssertionError(f"pipe closed before a line with {text!r}; saw {self.seen}")
            self.seen.append(got)
            if text in got:
                return got


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=60)


async def produce_each(bootstrap: str, topic: str, items: list[tuple[int, str]], key: str | None = None) -> None:
    """One send per message (one record per batch), in order."""
    async with Producer(bootstrap) as producer:
        for partition, value in items:
            await producer.send(topic, value, key=key, partition=partition)


async def library_messages(bootstrap: str, topic: str, total: int) -> dict[int, list[tuple[int, str]]]:
    """Every message of ``topic`` as the library reads it: ``{partition: [(offset, value), ...]}``."""
    got: dict[int, list[tuple[int, str]]] = {}
    seen = 0
    async with consume(topic, start="beginning", bootstrap_servers=bootstrap) as stream:
        async for msg in stream:
            got.setdefault(msg.partition, []).append((msg.offset, msg.text))
            seen += 1
            if seen == total:
                break
    return got


def per_partition(lines: list[str]) -> dict[int, list[tuple[int, str]]]:
    got: dict[int, list[tuple[int, str]]] = {}
    for raw in lines:
        obj = json.loads(raw)
        got.setdefault(obj["partition"], []).append((obj["offset"], obj["value"]))
    return got


@pytest.fixture
async def three_partitions(kafka_bootstrap: str, new_topic) -> tuple[str, dict[int, list[tuple[int, str]]]]:
    """A topic with 5, 3 and 0 messages in partitions 0, 1, 2, and the library's view of it."""
    topic = new_topic(partitions=3)
    items = [(0, f"a{i}") for i in range(5)] + [(1, f"b{i}") for i in range(3)]
    await produce_each(kafka_bootstrap, topic, items)
    return topic, await library_messages(kafka_bootstrap, topic, len(items))


# -- waiting, said once on stderr ------------------------------------------------------------------


async def test_says_once_it_waits_for_a_missing_topic_then_reads_it(cli, kafka_bootstrap: str) -> None:
    topic = f"t-later-{uuid.uuid4().hex[:8]}"
    proc = cli.popen("consume", topic, "--from", "beginning", "--max", "1")
    try:
        err = Lines(proc.stderr)
        assert err.wait_for("waiting for topic") == f"streamline: waiting for topic {topic} to exist"
        async with Admin(kafka_bootstrap) as admin:
            await admin.create_topic(topic, partitions=1)
        await produce_each(kafka_bootstrap, topic, [(0, "hello")])
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, err.seen
        assert out.decode().splitlines() == [text_line(0, 0, "hello")]
        assert err.seen == [f"streamline: waiting for topic {topic} to exist"]
    finally:
        stop(proc)
        async with Admin(kafka_bootstrap) as admin:
            await admin.delete_topic(topic, missing_ok=True)


async def test_says_once_it_waits_past_the_end_and_starts_at_the_offset_asked(
    cli, kafka_bootstrap: str, new_topic
) -> None:
    topic = new_topic(partitions=1)
    await produce_each(kafka_bootstrap, topic, [(0, f"m{i}") for i in range(3)])
    proc = cli.popen("consume", topic, "--from", "5", "--max", "2")
    try:
        err = Lines(proc.stderr)
        got = err.wait_for("waiting for new messages")
        assert got == f"streamline: waiting for new messages in {topic}[0]: offset 5 is past its end (3)"
        await produce_each(kafka_bootstrap, topic, [(0, f"m{i}") for i in range(3, 9)])
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.seen
        assert out.decode().splitlines() == [text_line(0, 5, "m5"), text_line(0, 6, "m6")]
        assert len(err.seen) == 1
    finally:
        stop(proc)


# -- partitions, starts, ends -----------------------------------------------------------------------


def test_partition_reads_only_the_partitions_named(cli, three_partitions) -> None:
    topic, library = three_partitions
    result = cli("consume", topic, "-p", "1", "-p", "2", "--from", "beginning", "--exit-at-end", "-f", "json")
    assert_ok(result)
    assert per_partition(result.lines) == {1: library[1]}


def test_exit_at_end_reads_every_partition_to_its_end(cli, three_partitions) -> None:
    topic, library = three_partitions
    result = cli("consume", topic, "--from", "beginning", "--exit-at-end", "-f", "json")
    assert_ok(result)
    assert per_partition(result.lines) == library


def test_exit_at_end_from_the_end_exits_at_once(cli, three_partitions) -> None:
    topic, _ = three_partitions
    result = cli("consume", topic, "--exit-at-end")
    assert_ok(result)
    assert result.stdout == ""


def test_offset_starts_each_partition_where_asked(cli, three_partitions) -> None:
    topic, library = three_partitions
    result = cli("consume", topic, "--offset", "0:3", "--offset", "1:1", "--exit-at-end", "-f", "json")
    assert_ok(result)
    assert per_partition(result.lines) == {0: library[0][3:], 1: library[1][1:]}


def test_offset_with_partition_uses_from_for_the_others(cli, three_partitions) -> None:
    topic, library = three_partitions
    result = cli(
        "consume", topic, "--offset", "0:4", "-p", "1", "--from", "beginning", "--exit-at-end", "-f", "json"
    )
    assert_ok(result)
    assert per_partition(result.lines) == {0: library[0][4:], 1: library[1]}


def test_last_reads_the_last_n_of_each_partition(cli, three_partitions) -> None:
    topic, library = three_partitions
    result = cli("consume", topic, "--last", "2", "--exit-at-end", "-f", "json")
    assert_ok(result)
    assert per_partition(result.lines) == {0: library[0][-2:], 1: library[1][-2:]}
    more = cli("consume", topic, "--last", "10", "--exit-at-end", "-f", "json")
    assert_ok(more)
    assert per_partition(more.lines) == library


def test_from_minus_n_is_last_n(cli, three_partitions) -> None:
    topic, library = three_partitions
    result = cli("consume", topic, "--from", "-2", "--exit-at-end", "-f", "json")
    assert_ok(result)
    assert per_partition(result.lines) == {0: library[0][-2:], 1: library[1][-2:]}


def test_max_with_exit_at_end_stops_at_max(cli, three_partitions) -> None:
    topic, _ = three_partitions
    result = cli("consume", topic, "-p", "0", "--from", "beginning", "--exit-at-end", "--max", "2")
    assert_ok(result)
    assert result.lines == [text_line(0, 0, "a0"), text_line(0, 1, "a1")]


# -- formats ----------------------------------------------------------------------------------------


async def test_value_and_template_formats(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send(topic, "v1", key="k1", headers=[("h", b"x"), ("n", b"y")])
        await producer.send(topic, "v2")
    values = cli("consume", topic, "--from", "beginning", "--exit-at-end", "--format", "value")
    assert_ok(values)
    assert values.stdout == "v1\nv2\n"
    template = "{topic}|{partition}|{offset}|{key}|{value}|{headers}|{timestamp}|{timestamp_iso}"
    shown = cli("consume", topic, "--from", "beginning", "--exit-at-end", "--format", template)
    assert_ok(shown)
    as_json = cli("consume", topic, "--from", "beginning", "--exit-at-end", "--format", "json")
    objs = [json.loads(x) for x in as_json.lines]
    assert shown.lines == [
        f"{topic}|0|0|k1|v1|h=x,n=y|{objs[0]['timestamp']}|{objs[0]['timestamp_iso']}",
        f"{topic}|0|1||v2||{objs[1]['timestamp']}|{objs[1]['timestamp_iso']}",
    ]


def test_json_carries_an_iso_timestamp_equal_to_the_millis(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert_ok(cli("produce", topic, "--value", "x"))
    result = cli("consume", topic, "--from", "beginning", "--exit-at-end", "-f", "json")
    assert_ok(result)
    [obj] = [json.loads(x) for x in result.lines]
    assert obj["timestamp_iso"].endswith("Z")
    parsed = datetime.fromisoformat(obj["timestamp_iso"].replace("Z", "+00:00"))
    assert parsed.tzinfo is not None and parsed.utcoffset() == timezone.utc.utcoffset(None)
    assert int(parsed.timestamp() * 1000) == obj["timestamp"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "{nope}"], "unknown --format field {nope}"),
        (["--format", "{value"], "bad --format template"),
        (["--format", "yaml"], "--format must be"),
        (["--offset", "1"], "--offset must be PARTITION:OFFSET"),
        (["--offset", "a:1"], "--offset must be PARTITION:OFFSET"),
        (["--group", "g", "-p", "0"], "drop --group"),
        (["--no-commit"], "--no-commit needs --group"),
        (["--from", "-2", "--last", "2"], "use one"),
    ],
)
def test_bad_options_are_usage_errors(cli, args: list[str], needle: str) -> None:
    assert needle in assert_one_error(cli("consume", "some-topic", *args), 2)


def test_a_partition_that_does_not_exist_is_one_error(cli, new_topic) -> None:
    topic = new_topic(partitions=2)
    assert "partition 5 does not exist" in assert_one_error(cli("consume", topic, "-p", "5", "--exit-at-end"), 1)


def test_exit_at_end_on_a_missing_topic_is_one_error(cli) -> None:
    missing = f"t-missing-{uuid.uuid4().hex[:8]}"
    assert "does not exist" in assert_one_error(cli("consume", missing, "--exit-at-end"), 1)


# -- groups -----------------------------------------------------------------------------------------


async def test_no_commit_reads_in_the_group_and_commits_nothing(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    await produce_each(kafka_bootstrap, topic, [(0, f"m{i}") for i in range(3)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    result = cli(
        "consume", topic, "--group", group, "--no-commit", "--from", "beginning", "--max", "3", timeout=90
    )
    assert_ok(result)
    assert result.lines == [text_line(0, i, f"m{i}") for i in range(3)]
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        assert await reader.committed(TopicPartition(topic, 0)) is None
    finally:
        await reader.stop()
