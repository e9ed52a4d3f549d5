"""``streamline groups list | describe`` as a user runs them (a subprocess, real exit codes)."""

from __future__ import annotations

from cliresults import assert_one_error

from streamline import Producer, consume


async def test_groups_list_and_describe_show_committed_log_end_and_lag(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    group = f"g-{topic}"
    async with Producer(kafka_bootstrap) as producer:
        # One record per request: the embedded broker's log end is exact only then.
        for i in range(5):
            await producer.send(topic, f"a{i}", partition=0)
        for i in range(3):
            await producer.send(topic, f"b{i}", partition=1)
    # Process (acknowledge) offsets 0-1 of partition 0 and all of partition 1.
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, ack="manual",
                     start="beginning", session_timeout=6, revoke_timeout=0.2)
    async with stream:
        got = []
        async for batch in stream.batches():
            got.extend(batch)
            if len(got) == 8:
                break
        for msg in got:
            if msg.partition == 1 or msg.offset < 2:
                msg.ack()

    listed = cli("groups", "list")
    assert listed.returncode == 0, str(listed)
    assert group in listed.lines

    described = cli("groups", "describe", group)
    assert described.returncode == 0, str(described)
    header, *rest = described.lines
    # A members table (MEMBER CLIENT-ID HOST PARTITIONS) comes first while the group has members.
    columns, *rows = rest[next(i for i, line in enumerate(rest) if line.startswith("TOPIC")):]
    assert header.startswith(f"Group: {group}  State: ") and header.endswith("Lag: 3"), header
    assert columns.split() == ["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"]
    assert [r.split() for r in rows] == [[topic, "0", "2", "5", "3"], [topic, "1", "3", "3", "0"]]

    only = cli("groups", "describe", group, "--topic", topic)
    assert only.lines == described.lines


def test_describe_unknown_group_is_one_error_line(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    line = assert_one_error(cli("groups", "describe", "no-such-group", "--topic", topic), 1)
    assert "no-such-group" in line and "does not exist" in line


def test_groups_without_a_broker_is_one_error_line(cli) -> None:
    from streamline._broker import free_port

    result = cli("groups", "list", env={"STREAMLINE_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                                        "STREAMLINE_CONNECT_TIMEOUT": "2"})
    line = assert_one_error(result, 1)
    assert "cannot reach Kafka" in line


def test_invalid_topic_option_is_a_usage_error(cli) -> None:
    assert_one_error(cli("groups", "describe", "g", "--topic", "bad topic!"), 2)
