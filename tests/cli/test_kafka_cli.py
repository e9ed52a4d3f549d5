"""The ``streamline`` command against a real broker, run as a subprocess the way a user runs it.

Every error case checks the promise of ``cli/_run.py``: one ``streamline: error: ...`` line on
stderr, no traceback, exit 2 for bad usage and 1 for runtime failures.
"""

from __future__ import annotations

import base64
import json
import queue
import signal
import socket
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cliresults import assert_ok, assert_one_error

from streamline import Producer, partition_for_key
from streamline._broker import free_port


def line(partition: int, offset: int, value: str, key: str = "") -> str:
    """The text format of ``streamline consume``."""
    return f"Partition:{partition} Offset:{offset} Key:{key} Value:{value}"


# -- produce and consume -------------------------------------------------------------------------


def test_produce_value_then_consume_it_back(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    produced = cli("produce", topic, "--value", "this is a test log")
    assert_ok(produced)
    assert produced.lines == ["partition: 0, offset: 0"]

    consumed = cli("consume", topic, "--from", "beginning", "--max", "1", "--timeout", "20")
    assert_ok(consumed)
    assert consumed.lines == ["Partition:0 Offset:0 Key: Value:this is a test log"]


def test_produce_stdin_one_message_per_line(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    # CRLF endings are stripped, empty lines (also a bare "\r\n") are skipped, a last line
    # without a newline still counts.
    produced = cli("produce", topic, input=b"one\r\ntwo\n\n\r\nthree")
    assert_ok(produced)
    assert produced.stdout == ""
    assert f"produced 3 messages to {topic}" in produced.stderr, str(produced)

    consumed = cli("consume", topic, "--from", "beginning", "--max", "3", "--timeout", "20")
    assert_ok(consumed)
    assert consumed.lines == [line(0, 0, "one"), line(0, 1, "two"), line(0, 2, "three")]


def test_key_lands_where_kafkas_partitioner_puts_it(cli, new_topic) -> None:
    topic = new_topic(partitions=4)
    # Three keys that Kafka's murmur2 sends to three different partitions, so a wrong hash shows.
    keys: dict[int, str] = {}
    for i in range(100):
        keys.setdefault(partition_for_key(f"user-{i}".encode(), 4), f"user-{i}")
        if len(keys) == 3:
            break
    expected = []
    for partition, key in keys.items():
        produced = cli("produce", topic, "--key", key, "--value", f"from {key}")
        assert_ok(produced)
        assert produced.lines == [f"partition: {partition}, offset: 0"], str(produced)
        expected.append(line(partition, 0, f"from {key}", key=key))

    consumed = cli("consume", topic, "--from", "beginning", "--max", "3", "--timeout", "20")
    assert_ok(consumed)
    assert sorted(consumed.lines) == sorted(expected)


def test_explicit_partition_wins_over_the_key(cli, new_topic) -> None:
    topic = new_topic(partitions=4)
    wanted = (partition_for_key(b"k", 4) + 1) % 4
    produced = cli("produce", topic, "--key", "k", "--partition", str(wanted), "--value", "v")
    assert_ok(produced)
    assert produced.lines == [f"partition: {wanted}, offset: 0"]


def test_headers_show_in_json(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    produced = cli("produce", topic, "--value", "v", "--header", "trace=abc-1", "--header", "source=cli")
    assert_ok(produced)

    consumed = cli("consume", topic, "--from", "beginning", "--max", "1", "--timeout", "20", "-f", "json")
    assert_ok(consumed)
    [record] = [json.loads(text) for text in consumed.lines]
    assert record["topic"] == topic
    assert (record["partition"], record["offset"], record["key"], record["value"]) == (0, 0, None, "v")
    assert record["headers"] == [["trace", "abc-1"], ["source", "cli"]]
    assert isinstance(record["timestamp"], int) and record["timestamp"] > 0


async def test_json_keeps_non_utf8_bytes_as_base64(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    value = b"\xff\xfe\x00binary\x80"
    key = b"\xc3\x28"  # an invalid UTF-8 sequence
    header = b"\x00\xff"
    async with Producer(kafka_bootstrap) as producer:
        await producer.send(topic, value, key=key, headers=[("raw", header), ("text", b"plain")])

    consumed = cli("consume", topic, "--from", "beginning", "--max", "1", "--timeout", "20", "-f", "json")
    assert_ok(consumed)
    [record] = [json.loads(text) for text in consumed.lines]
    assert set(record["value"]) == {"base64"} and base64.b64decode(record["value"]["base64"]) == value
    assert set(record["key"]) == {"base64"} and base64.b64decode(record["key"]["base64"]) == key
    (raw_name, raw), (text_name, text) = record["headers"]
    assert (raw_name, base64.b64decode(raw["base64"])) == ("raw", header)
    assert (text_name, text) == ("text", "plain")


def test_from_offset_and_max(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert_ok(cli("produce", topic, input=b"m0\nm1\nm2\nm3\nm4\n"))

    # --max stops after exactly N even though more messages are there, without waiting: the idle
    # --timeout is far beyond cli's hang guard, so a consume that waited for it fails the test.
    consumed = cli("consume", topic, "--from", "2", "--max", "2", "--timeout", "3600")
    assert_ok(consumed)
    assert consumed.lines == [line(0, 2, "m2"), line(0, 3, "m3")]


def test_from_iso_time_reads_only_later_messages(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert_ok(cli("produce", topic, "--value", "before"))
    # Each invocation takes a few hundred milliseconds, so `since` is well clear of both sides.
    since = datetime.now(timezone.utc).isoformat()
    assert_ok(cli("produce", topic, input=b"after-1\nafter-2\n"))

    consumed = cli("consume", topic, "--from", since, "--max", "2", "--timeout", "20")
    assert_ok(consumed)
    assert consumed.lines == [line(0, 1, "after-1"), line(0, 2, "after-2")]


def test_timeout_exits_0_when_idle(cli, new_topic) -> None:
    topic = new_topic(partitions=2)
    consumed = cli("consume", topic, "--from", "beginning", "--timeout", "1")  # never ending: the hang guard
    assert_ok(consumed)
    assert consumed.stdout == ""
    assert consumed.seconds >= 1, str(consumed)  # it waited the idle second before giving up


async def test_group_commits_what_it_printed(cli, kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert_ok(cli("produce", topic, input=b"m1\nm2\nm3\n"))

    first = cli("consume", topic, "--group", group, "--from", "beginning", "--max", "3", "--timeout", "30")
    assert_ok(first)
    assert first.lines == [line(0, 0, "m1"), line(0, 1, "m2"), line(0, 2, "m3")]
    # Asking for the group's committed offset does not join the group.
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        assert await reader.committed(TopicPartition(topic, 0)) == 3
    finally:
        await reader.stop()

    assert_ok(cli("produce", topic, "--value", "m4"))
    # Joining the group takes longer than the 10 s idle timeout under load (Kafka waits
    # group.initial.rebalance.delay.ms, 3 s by default; Tansu about half the session timeout),
    # which must not count as idle time: m4 is read, and --from beginning does not apply to a
    # partition with a committed offset. (2 s was too short for the first fetch after the join
    # on a loaded machine.)
    again = cli("consume", topic, "--group", group, "--from", "beginning", "--timeout", "10")
    assert_ok(again)
    assert again.lines == [line(0, 3, "m4")]


def test_consume_exits_0_on_sigint(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert_ok(cli("produce", topic, "--value", "first"))
    with cli.popen("consume", topic, "--from", "beginning") as proc:
        try:
            # Once it printed a message it is in its read loop: interrupt it there, like Ctrl-C.
            assert read_line(proc, 120) == line(0, 0, "first")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)  # a hang guard: SIGINT ignored never ends
        finally:
            stop(proc)
    assert proc.returncode == 0, err
    assert out == b""
    assert b"Traceback" not in err and b"error" not in err, err


# -- topics -----------------------------------------------------------------------------------


def test_topics_create_list_describe_delete(cli) -> None:
    name = f"cli-topics-{uuid.uuid4().hex[:8]}"
    created = cli("topics", "create", name, "--partitions", "3", "--replication-factor", "1")
    try:
        assert_ok(created)
        assert created.lines == [f"created topic {name} with 3 partitions"]

        listed = cli("topics", "list")
        assert_ok(listed)
        assert name in listed.lines

        described = cli("topics", "describe", name)
        assert_ok(described)
        header, *rest = described.lines
        partitions = [line for line in rest if line.lstrip().startswith("Partition:")]
        assert rest[len(partitions)].startswith("Configs:"), str(described)
        assert header.split() == ["Topic:", name, "Partitions:", "3", "ReplicationFactor:", "1"]
        assert [p.split()[:2] for p in partitions] == [["Partition:", str(i)] for i in range(3)]
    finally:
        deleted = cli("topics", "delete", name)
    assert_ok(deleted)
    assert deleted.lines == [f"deleted topic {name}"]

    gone = cli("topics", "describe", name)
    assert name in assert_one_error(gone, 1)


# -- errors: one line, the right exit code ------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        pytest.param(["produce", "TOPIC", "--value", ""], ["empty"], id="empty-value"),
        pytest.param(
            ["produce", "bad topic!", "--value", "x"], ["'bad topic!'", "a-z, A-Z, 0-9", "249"], id="topic-name"
        ),
        pytest.param(["produce", "TOPIC", "--value", "x", "--acks", "most"], ["'most'", "0", "1", "all"], id="acks"),
        pytest.param(
            ["produce", "TOPIC", "--value", "x", "--partitioner", "nope"],
            ["'nope'", "hash", "random", "round_robin"],
            id="partitioner",
        ),
        pytest.param(["consume", "TOPIC", "--from", "yesterday"], ["'yesterday'", "beginning", "ISO-8601"], id="from"),
    ],
)
def test_bad_usage_exits_2(cli, args: list[str], expected: list[str]) -> None:
    topic = f"never-created-{uuid.uuid4().hex[:8]}"
    result = cli(*[topic if a == "TOPIC" else a for a in args])
    message = assert_one_error(result, 2)
    for fragment in expected:
        assert fragment in message
    assert result.stdout == ""


def test_partition_out_of_range_exits_1(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    message = assert_one_error(cli("produce", topic, "--value", "x", "--partition", "99"), 1)
    assert "99" in message and topic in message


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["produce", "t", "--value", "x"], id="produce"),
        pytest.param(["consume", "t", "--max", "1"], id="consume"),
        pytest.param(["topics", "list"], id="topics"),
    ],
)
def test_unreachable_broker_exits_1_naming_it(cli, args: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    # A refused connection is an answer: it fails at once instead of waiting for --connect-timeout,
    # which is far beyond cli's hang guard here, so a run that waited for it fails the test.
    result = cli("-b", address, "--connect-timeout", "3600", *args)
    message = assert_one_error(result, 1)
    assert address in message and "connection failed" in message, str(result)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["produce", "t", "--value", "x"], id="produce"),
        pytest.param(["consume", "t", "--max", "1"], id="consume"),
    ],
)
def test_silent_broker_times_out_with_one_line(cli, silent_broker: str, args: list[str]) -> None:
    result = cli("-b", silent_broker, "--connect-timeout", "2", *args)
    message = assert_one_error(result, 1)
    # It gave up on --connect-timeout (not the 15 s default) and did wait for it; a run that hangs
    # past it trips cli's hang guard.
    assert silent_broker in message and "no answer within 2s" in message, str(result)
    assert result.seconds >= 2, str(result)


# -- the embedded broker command ------------------------------------------------------------------


def test_broker_on_a_taken_port_exits_1(cli) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        message = assert_one_error(cli("broker", "--port", str(port)), 1)
    assert str(port) in message


def test_broker_serves_and_stops_on_sigterm(cli) -> None:
    port = free_port()
    with cli.popen("broker", "--port", str(port), connect=False) as proc:
        try:
            address = read_line(proc, 120)
            assert address == f"127.0.0.1:{port}"
            listed = cli("-b", address, "topics", "list")
            assert_ok(listed)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)  # a hang guard: SIGTERM ignored never ends
        finally:
            stop(proc)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err, err
    # It took its Tansu child with it: nothing answers on the port any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# -- help ----------------------------------------------------------------------------------------


def test_help_never_shows_the_sasl_password(cli) -> None:
    marker = f"pw-marker-{uuid.uuid4().hex}"
    env = {"STREAMLINE_SASL_PASSWORD": marker}

    def commands(path: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Every command path under ``path``, found from the help text (so new commands count)."""
        result = cli(*path, "--help", env=env)
        assert_ok(result)
        assert marker not in result.stdout + result.stderr, f"{' '.join(path)} --help shows the password"
        if "Commands:" not in result.lines:
            return [path]
        listed = result.lines[result.lines.index("Commands:") + 1 :]
        names = [text.split()[0] for text in listed if text.startswith("  ") and text[2:3] != " "]
        with ThreadPoolExecutor(8) as pool:
            below = pool.map(lambda name: commands((*path, name)), names)
        return [path, *(p for sub in below for p in sub)]

    found = commands(())
    for expected in [("produce",), ("consume",), ("broker",), ("topics", "list"), ("topics", "create"),
                     ("topics", "describe"), ("topics", "delete")]:
        assert expected in found


# -- helpers --------------------------------------------------------------------------------------


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The next line of ``proc``'s stdout, or fail after ``timeout`` seconds."""
    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).decode().rstrip("\n")
    except queue.Empty:
        pytest.fail(f"no line on stdout within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` if a failed assertion left it running."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
