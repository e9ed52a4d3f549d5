"""kafka-topics / kafka-consumer-groups / kafka-get-offsets / kcat -L conveniences, run as a user runs
them (the installed command as a subprocess) and checked against the library's own view."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cliresults import assert_one_error

from streamline import Admin, GroupAdmin, Producer, consume


async def produce_one_by_one(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    # One record per request: the embedded broker's log end is exact only then (NOTES.md).
    async with Producer(bootstrap) as producer:
        for partition, n in counts.items():
            for i in range(n):
                await producer.send(topic, f"p{partition}-{i}", partition=partition)


def test_create_with_configs_if_not_exists_describe_and_delete_if_exists(cli, kafka_bootstrap) -> None:
    name = f"cli-admin-{uuid.uuid4().hex[:8]}"
    created = cli("topics", "create", name, "-p", "2", "--config", "retention.ms=3600000",
                  "--config", "cleanup.policy=compact")
    assert created.returncode == 0, str(created)
    try:
        again = cli("topics", "create", name, "--if-not-exists")
        assert again.returncode == 0 and again.lines == [f"topic {name} exists already"], str(again)
        assert_one_error(cli("topics", "create", name), 1)

        described = cli("topics", "describe", name)
        assert described.returncode == 0, str(described)
        assert "Configs:" in described.lines
        configs = described.lines[described.lines.index("Configs:") + 1:]
        assert "  retention.ms=3600000" in configs and "  cleanup.policy=compact" in configs, str(described)

        async def library_view() -> dict[str, str]:
            async with Admin(kafka_bootstrap) as admin:
                return await admin.describe_configs(name)

        seen = asyncio.run(library_view())
        assert seen["retention.ms"] == "3600000" and seen["cleanup.policy"] == "compact"
    finally:
        assert cli("topics", "delete", name, "--if-exists").lines == [f"deleted topic {name}"]
    missing = cli("topics", "delete", name, "--if-exists")
    assert missing.returncode == 0 and missing.lines == [f"topic {name} does not exist"], str(missing)
    assert_one_error(cli("topics", "delete", name), 1)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["topics", "create", "t", "--config", "retention.ms"], id="config-without-equals"),
        pytest.param(["topics", "create", "t", "--config", "=1"], id="config-without-name"),
        pytest.param(["topics", "alter", "t"], id="alter-nothing"),
        pytest.param(["topics", "offsets", "t", "--time", "yesterday"], id="bad-time"),
        pytest.param(["topics", "offsets", "t", "--time", "1969-12-31T00:00:00Z"], id="time-before-1970"),
        pytest.param(["groups", "reset-offsets", "g", "--topic", "t"], id="reset-without-target"),
        pytest.param(["groups", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"],
                     id="reset-two-targets"),
        pytest.param(["groups", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"], id="negative-offset"),
    ],
)
def test_bad_admin_input_is_one_usage_error_before_connecting(cli, args) -> None:
    # No broker is set: a usage error must come before any connection attempt.
    result = cli(*args, env={"STREAMLINE_BOOTSTRAP_SERVERS": "127.0.0.1:1", "STREAMLINE_CONNECT_TIMEOUT": "1"})
    assert_one_error(result, 2)


async def test_topics_offsets_match_what_was_produced(cli, kafka, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=3)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    await produce_one_by_one(kafka_bootstrap, topic, {0: 5, 1: 2})
    result = cli("topics", "offsets", topic)
    assert result.returncode == 0, str(result)
    assert [line.split() for line in result.lines] == [
        ["PARTITION", "LOW", "HIGH", "MESSAGES"], ["0", "0", "5", "5"], ["1", "0", "2", "2"], ["2", "0", "0", "0"],
    ]
    timed = cli("topics", "offsets", topic, "--time", before.isoformat())
    assert timed.returncode == 0, str(timed)
    rows = [line.split() for line in timed.lines]
    assert rows[0][-1] == "AT-TIME"
    # Every record is newer than `before`: the first offset at or after it is 0 where there are
    # records, and nothing ("-") in the empty partition.
    assert [r[-1] for r in rows[1:3]] == ["0", "0"], str(timed)
    if not kafka.embedded:  # Tansu 0.6.0 answers offset 0 where Kafka answers "none" (NOTES.md)
        assert rows[3][-1] == "-", str(timed)


def test_topics_offsets_of_a_missing_topic_is_one_error(cli) -> None:
    line = assert_one_error(cli("topics", "offsets", f"missing-{uuid.uuid4().hex[:8]}"), 1)
    assert "does not exist" in line


def test_cluster_lists_the_broker_and_counts_topics(cli, kafka_bootstrap, new_topic) -> None:
    new_topic(partitions=1)
    result = cli("cluster")
    assert result.returncode == 0, str(result)
    header, *brokers = result.lines
    fields = header.split()
    assert fields[0] == "Cluster:" and "Brokers:" in fields and "Topics:" in fields, header
    assert int(fields[fields.index("Brokers:") + 1]) == len(brokers) >= 1
    assert int(fields[fields.index("Topics:") + 1]) >= 1
    host, port = kafka_bootstrap.split(",")[0].rsplit(":", 1)
    if kafka_bootstrap.startswith("127.0.0.1"):
        assert any(f"at {host}:{port}" in line for line in brokers), str(result)


def test_alter_configs_changes_one_setting_and_keeps_the_others(cli, new_topic, deviation) -> None:
    deviation("AlterConfigs is not implemented (aiokafka: IncompatibleBrokerVersion)")
    topic = new_topic(partitions=1, **{"retention.ms": "3600000", "cleanup.policy": "compact"})
    altered = cli("topics", "alter", topic, "--config", "retention.ms=7200000")
    assert altered.returncode == 0, str(altered)
    configs = cli("topics", "describe", topic).lines
    assert "  retention.ms=7200000" in configs and "  cleanup.policy=compact" in configs


def test_alter_partitions_grows_and_never_shrinks(cli, kafka, new_topic) -> None:
    topic = new_topic(partitions=2)
    assert_one_error(cli("topics", "alter", topic, "--partitions", "1"), 2)
    if kafka.embedded:
        pytest.skip("the embedded broker (Tansu 0.6.0) does not implement CreatePartitions")
    grown = cli("topics", "alter", topic, "--partitions", "4")
    assert grown.returncode == 0, str(grown)
    assert len(cli("topics", "offsets", topic).lines) == 1 + 4


async def commit_without_joining(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Set a group's committed offsets the way an admin tool does: no join, generation -1."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    async with GroupAdmin(bootstrap) as groups:
        info = await groups.describe_group(group, topics=[topic])
    return {p.partition: p.committed for p in info.partitions}


async def test_reset_offsets_dry_run_then_execute_then_read_by_a_member(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    group = f"g-{topic}"
    await produce_one_by_one(kafka_bootstrap, topic, {0: 4, 1: 3})
    await commit_without_joining(kafka_bootstrap, group, {(topic, 0): 2, (topic, 1): 2})
    assert await committed(kafka_bootstrap, group, topic) == {0: 2, 1: 2}

    dry = await asyncio.to_thread(cli, "groups", "reset-offsets", group, "--topic", topic, "--shift-by", "-1")
    assert dry.returncode == 0 and "dry run" in dry.stderr, str(dry)
    assert [line.split() for line in dry.lines] == [
        ["TOPIC", "PARTITION", "CURRENT", "NEW"], [topic, "0", "2", "1"], [topic, "1", "2", "1"]]
    assert await committed(kafka_bootstrap, group, topic) == {0: 2, 1: 2}, "a dry run changed the offsets"

    latest = await asyncio.to_thread(cli, "groups", "reset-offsets", group, "--topic", topic,
                                     "--to-latest", "--execute")
    assert latest.returncode == 0, str(latest)
    assert await committed(kafka_bootstrap, group, topic) == {0: 4, 1: 3}
    clamped = await asyncio.to_thread(cli, "groups", "reset-offsets", group, "--topic", topic,
                                      "--to-offset", "100")
    assert [line.split()[-1] for line in clamped.lines[1:]] == ["4", "3"], str(clamped)
    shifted = await asyncio.to_thread(cli, "groups", "reset-offsets", group, "--topic", topic,
                                      "--shift-by", "-3", "--execute")
    assert shifted.returncode == 0, str(shifted)
    assert await committed(kafka_bootstrap, group, topic) == {0: 1, 1: 0}

    # What the reset says is what a member of the group reads next.
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, session_timeout=6,
                     revoke_timeout=0.2)
    async with stream:
        again = []
        async for batch in stream.batches():
            again.extend((m.partition, m.offset) for m in batch)
            if len(again) == 6:
                break
    assert sorted(again) == [(0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2)]


async def test_delete_group_removes_its_offsets(cli, kafka, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    await produce_one_by_one(kafka_bootstrap, topic, {0: 2})
    await commit_without_joining(kafka_bootstrap, group, {(topic, 0): 1})
    assert group in (await asyncio.to_thread(cli, "groups", "list")).lines
    deleted = await asyncio.to_thread(cli, "groups", "delete", group)
    assert deleted.returncode == 0 and deleted.lines == [f"deleted group {group}"], str(deleted)
    assert group not in (await asyncio.to_thread(cli, "groups", "list")).lines
    if kafka.embedded:
        pytest.skip("the embedded broker (Tansu 0.6.0) answers DeleteGroups for an unknown group "
                    "with no error (Kafka: GROUP_ID_NOT_FOUND)")
    gone = await asyncio.to_thread(cli, "groups", "delete", group, "--if-exists")
    assert gone.returncode == 0 and gone.lines == [f"group {group} does not exist"], str(gone)
    assert "does not exist" in assert_one_error(await asyncio.to_thread(cli, "groups", "delete", group), 1)


async def test_a_group_with_a_member_is_described_and_not_reset_or_deleted(
    cli, kafka, kafka_bootstrap, new_topic
) -> None:
    topic = new_topic(partitions=2)
    group = f"g-{topic}"
    await produce_one_by_one(kafka_bootstrap, topic, {0: 1, 1: 1})
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                     session_timeout=6, revoke_timeout=0.2)
    async with stream:
        got = []
        async for batch in stream.batches():
            got.extend(batch)
            if len(got) == 2:
                break
        described = await asyncio.to_thread(cli, "groups", "describe", group)
        assert described.returncode == 0, str(described)
        assert described.lines[1].split() == ["MEMBER", "CLIENT-ID", "HOST", "PARTITIONS"], str(described)
        member = described.lines[2].split()
        assert member[0].startswith("streamline-"), str(described)
        if not kafka.embedded:  # Tansu 0.6.0 describes members without client id, host or assignment
            assert member[-1] == f"{topic}:0,{topic}:1" and member[1] != "-", str(described)
        refused = await asyncio.to_thread(cli, "groups", "reset-offsets", group, "--topic", topic,
                                          "--to-earliest", "--execute")
        assert "active member" in assert_one_error(refused, 1)
        if kafka.embedded:
            pytest.skip("the embedded broker (Tansu 0.6.0) deletes a group that has members "
                        "(Kafka: NON_EMPTY_GROUP)")
        not_deleted = await asyncio.to_thread(cli, "groups", "delete", group)
        assert "active members" in assert_one_error(not_deleted, 1)
