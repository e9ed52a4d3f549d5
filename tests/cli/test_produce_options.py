"""``streamline produce`` input options against the broker, read back with the library."""

from __future__ import annotations

import base64
import json

import pytest
from cliresults import assert_ok, assert_one_error

from streamline import consume


async def read_all(bootstrap: str, topic: str, total: int) -> list[tuple[int, bytes | None, bytes | None, list]]:
    """``(partition, key, value, headers)`` of the first ``total`` messages, per partition in order."""
    got = []
    if total:
        async with consume(topic, start="beginning", bootstrap_servers=bootstrap) as stream:
            async for msg in stream:
                got.append((msg.partition, msg.key, msg.value, [(n, bytes(v)) for n, v in msg.headers]))
                if len(got) == total:
                    break
    return sorted(got, key=lambda m: m[0])  # stable: keeps the order within a partition


async def test_key_separator_splits_each_line(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    result = cli("produce", topic, "--key-separator", ":", input=b"u1:login\nu2:a:b\n:nokey\n\nu3:\n")
    assert_ok(result)
    assert "produced 4 messages" in result.stderr
    got = await read_all(kafka_bootstrap, topic, 4)
    assert [(k, v) for _, k, v, _ in got] == [(b"u1", b"login"), (b"u2", b"a:b"), (b"", b"nokey"), (b"u3", b"")]


async def test_null_sends_empty_values_as_tombstones(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert_ok(cli("produce", topic, "-K", "=", "--null", input=b"a=1\na=\n"))
    assert_ok(cli("produce", topic, "--key", "b", "--value", "", "--null"))
    assert_ok(cli("produce", topic, "--value", "", "--null"))  # no key: a null record, as kcat -Z sends
    got = await read_all(kafka_bootstrap, topic, 4)
    assert [(k, v) for _, k, v, _ in got] == [(b"a", b"1"), (b"a", None), (b"b", None), (None, None)]


async def test_delimiter_splits_records(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert_ok(cli("produce", topic, "--delimiter", "\\0", input=b"one\ntwo\x00three\x00"))
    got = await read_all(kafka_bootstrap, topic, 2)
    assert [v for _, _, v, _ in got] == [b"one\ntwo", b"three"]


async def test_json_lines_carry_key_value_headers_partition(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=3)
    lines = [
        {"key": "k1", "value": "v1", "headers": {"h": "x"}, "partition": 2},
        {"value": None, "key": "k1", "partition": 2},
        {"value": {"base64": base64.b64encode(b"\xff\x00").decode()}, "headers": [["bin", {"base64": "/w=="}]], "partition": 0},
        {"value": "plain", "partition": 2},
    ]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    assert_ok(cli("produce", topic, "--format", "json", input=data))
    got = await read_all(kafka_bootstrap, topic, 4)
    assert got == [
        (0, None, b"\xff\x00", [("bin", b"\xff")]),
        (2, b"k1", b"v1", [("h", b"x")]),
        (2, b"k1", None, []),
        (2, None, b"plain", []),
    ]


async def test_consume_json_output_replays_through_produce_json(cli, kafka_bootstrap: str, new_topic) -> None:
    source, copy = new_topic(partitions=2), new_topic(partitions=2)
    data = b'{"key": "a", "value": "1", "partition": 1}\n{"value": "2", "partition": 0, "headers": {"h": "v"}}\n'
    assert_ok(cli("produce", source, "-f", "json", input=data))
    dumped = cli("consume", source, "--from", "beginning", "--exit-at-end", "-f", "json")
    assert_ok(dumped)
    assert_ok(cli("produce", copy, "-f", "json", input=dumped.stdout.encode()))
    assert await read_all(kafka_bootstrap, copy, 2) == await read_all(kafka_bootstrap, source, 2)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (b"not json", "line 3: not JSON"),
        (b"[1]", "line 3: expected a JSON object"),
        (b'{"value": "x", "colour": 1}', "line 3: unknown field 'colour'"),
        (b'{"key": "x"}', 'line 3: no "value"'),
        (b'{"value": 5}', 'line 3: "value" must be a string'),
        (b'{"value": "x", "partition": -1}', 'line 3: "partition" must be'),
        (b'{"value": "x", "headers": 3}', 'line 3: "headers" must be'),
    ],
)
async def test_a_bad_json_line_is_one_error_and_nothing_after_it_is_sent(
    cli, kafka_bootstrap: str, new_topic, line: bytes, needle: str
) -> None:
    topic = new_topic(partitions=1)
    data = b'{"value": "first"}\n\n' + line + b'\n{"value": "after"}\n'
    error = assert_one_error(cli("produce", topic, "-f", "json", input=data), 2)
    assert needle in error and "sent the 1 message before it" in error
    assert [v for _, _, v, _ in await read_all(kafka_bootstrap, topic, 1)] == [b"first"]
    # Nothing after the bad line: the next message in the topic is the one produced now.
    assert_ok(cli("produce", topic, "--value", "marker"))
    assert [v for _, _, v, _ in await read_all(kafka_bootstrap, topic, 2)] == [b"first", b"marker"]


async def test_a_line_without_the_key_separator_is_one_error(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    error = assert_one_error(cli("produce", topic, "-K", ":", input=b"a:1\nno separator\nb:2\n"), 2)
    assert "line 2: no key separator ':'" in error
    assert_ok(cli("produce", topic, "--value", "marker"))
    assert [v for _, _, v, _ in await read_all(kafka_bootstrap, topic, 2)] == [b"1", b"marker"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "xml"], "--format must be text or json"),
        (["--delimiter", ""], "--delimiter must not be empty"),
        (["-K", ":", "--key", "k"], "use one"),
        (["-K", ":", "--value", "v"], "drop --value"),
        (["--value", ""], "--null sends a tombstone"),
    ],
)
def test_bad_input_options_are_usage_errors(cli, args: list[str], needle: str) -> None:
    assert needle in assert_one_error(cli("produce", "some-topic", *args), 2)
