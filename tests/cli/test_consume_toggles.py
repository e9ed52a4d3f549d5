"""``streamline consume``'s text toggles (--show-timestamp, --show-headers, --hide-key) and its
per-partition starts (--offset / --partition, now the library's ``start={partition: start}``),
run as the installed command against the broker and compared with what the library reads:
the same messages, in the same order per partition.

Messages are produced one ``send`` at a time (the embedded broker reports a wrong log end after
multi-record batches, NOTES.md; ``--exit-at-end`` relies on the log end).
"""

from __future__ import annotations

import anyio
import pytest
from cliresults import assert_ok, assert_one_error

from streamline import Message, Producer, consume
from streamline.cli._consume_format import iso_time

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, in milliseconds
LONG = 60  # seconds: a bound for waiting on the library, never reached on a healthy run


@pytest.fixture
async def topic(kafka_bootstrap: str, new_topic) -> str:
    """Three partitions of 4, 3 and 2 messages with keys, headers and known timestamps."""
    name = new_topic(partitions=3)
    async with Producer(kafka_bootstrap) as producer:
        for partition, count in ((0, 4), (1, 3), (2, 2)):
            for i in range(count):
                await producer.send(
                    name, f"v{partition}-{i} with spaces", key=f"k{i}" if i % 2 == 0 else None,
                    partition=partition, headers=[("trace", f"t{i}"), ("n", str(i))] if i else None,
                    timestamp_ms=T0 + 1000 * partition + i,
                )
    return name


async def library(bootstrap: str, topic: str, start, total: int) -> dict[int, list[Message]]:
    """What ``consume(topic, start=start)`` reads: ``{partition: [message, ...]}`` in order."""
    got: dict[int, list[Message]] = {}
    with anyio.fail_after(LONG):
        async with consume(topic, start=start, bootstrap_servers=bootstrap) as stream:
            seen = 0
            async for msg in stream:
                got.setdefault(msg.partition, []).append(msg)
                seen += 1
                if seen == total:
                    break
    return got


def by_partition(lines: list[str]) -> dict[int, list[str]]:
    got: dict[int, list[str]] = {}
    for line in lines:
        got.setdefault(int(line.split()[0].removeprefix("Partition:")), []).append(line)
    return got


def text(m: Message, *, key: bool = True, timestamp: bool = False, headers: bool = False) -> str:
    """The text line of ``m``, written out from the message itself (independent of the renderer)."""
    parts = [f"Partition:{m.partition}", f"Offset:{m.offset}"]
    if timestamp:
        parts.append(f"Timestamp:{iso_time(m.timestamp)}")
    if key:
        parts.append(f"Key:{m.key.decode() if m.key is not None else ''}")
    if headers:
        parts.append("Headers:" + ",".join(f"{n}={v.decode()}" for n, v in m.headers))
    return " ".join([*parts, f"Value:{m.value.decode()}"])


async def test_timestamp_and_headers_toggles_match_the_library(cli, kafka_bootstrap: str, topic: str) -> None:
    expected = await library(kafka_bootstrap, topic, "beginning", 9)
    result = cli("consume", topic, "--from", "beginning", "--exit-at-end", "--show-timestamp", "--show-headers")
    assert_ok(result)
    assert by_partition(result.lines) == {
        p: [text(m, timestamp=True, headers=True) for m in msgs] for p, msgs in expected.items()
    }
    # The timestamps are the ones produced, in UTC.
    assert by_partition(result.lines)[1][2].split()[2] == "Timestamp:2026-01-01T00:00:01.002Z"
    assert "Headers: Value:v0-0 with spaces" in result.stdout  # no headers: an empty list


async def test_hide_key_and_the_default_text_line(cli, kafka_bootstrap: str, topic: str) -> None:
    expected = await library(kafka_bootstrap, topic, "beginning", 9)
    hidden = cli("consume", topic, "--from", "beginning", "--exit-at-end", "--hide-key")
    assert_ok(hidden)
    assert by_partition(hidden.lines) == {p: [text(m, key=False) for m in msgs] for p, msgs in expected.items()}
    default = cli("consume", topic, "--from", "beginning", "--exit-at-end", "--show-key", "--hide-timestamp")
    assert_ok(default)
    assert by_partition(default.lines) == {p: [text(m) for m in msgs] for p, msgs in expected.items()}


async def test_per_partition_starts_match_the_librarys_start_mapping(
    cli, kafka_bootstrap: str, topic: str
) -> None:
    # (A time start is left out: the embedded broker answers offset 0 to every time lookup.)
    expected = await library(kafka_bootstrap, topic, {0: 3, 2: "beginning"}, 3)
    assert {p: [m.offset for m in msgs] for p, msgs in expected.items()} == {0: [3], 2: [0, 1]}
    result = cli("consume", topic, "--offset", "0:3", "-p", "2", "--from", "beginning", "--exit-at-end",
                 "--show-timestamp")
    assert_ok(result)
    assert by_partition(result.lines) == {p: [text(m, timestamp=True) for m in msgs] for p, msgs in expected.items()}


async def test_starts_far_apart_and_one_past_the_end(cli, kafka_bootstrap: str, topic: str) -> None:
    # Partition 0 from its last message, partition 1 from the beginning; partition 2 past its end.
    expected = await library(kafka_bootstrap, topic, {0: 3, 1: "beginning"}, 4)
    result = cli("consume", topic, "--offset", "0:3", "--offset", "1:0", "--offset", "2:7", "--exit-at-end",
                 "--hide-key")
    assert_ok(result)
    assert by_partition(result.lines) == {p: [text(m, key=False) for m in msgs] for p, msgs in expected.items()}


@pytest.mark.parametrize("fmt", ["json", "value", "{offset}"])
def test_toggles_outside_the_text_format_are_one_usage_error(cli, fmt: str) -> None:
    line = assert_one_error(cli("consume", "t", "-f", fmt, "--show-headers"), 2)
    assert "text format" in line
