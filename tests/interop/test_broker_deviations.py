"""Where the embedded broker (Tansu 0.6.0) differs from Kafka, one test each.

Every test asserts what Kafka does, so the file passes on a real cluster
(``STREAMLINE_TEST_BOOTSTRAP``); on the embedded broker each deviation is a strict xfail naming
what Tansu does instead (the ``deviation`` fixture), so a fixed Tansu shows up as XPASS and the
README's list must be updated. Old protocol versions are sent only when the broker advertises
them (Kafka 4 dropped several). Requests are built with aiokafka's protocol classes; this module
is the one place the tests reach into aiokafka's internals for that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.protocol.api import Request, RequestStruct
from aiokafka.protocol.commit import OffsetCommitRequest_v1
from aiokafka.protocol.group import JoinGroupRequest_v1
from aiokafka.protocol.offset import OffsetRequest_v0
from aiokafka.protocol.produce import ProduceRequest_v2
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder

from streamline import Producer

Deviation = Callable[[str], None]
NEWEST = -1  # ListOffsets timestamp for "the log end"
ERROR_MEMBER_ID_REQUIRED = 79


class _Exactly(Request[RequestStruct]):  # type: ignore[misc]  # aiokafka is untyped here
    """Send one request struct at exactly its own version (aiokafka would negotiate the newest)."""

    API_KEY = -1

    def __init__(self, struct: RequestStruct) -> None:
        self._struct = struct

    def build(self, request_struct_class: type[RequestStruct]) -> RequestStruct:
        return self._struct

    def prepare(self, versions: dict[int, tuple[int, int]]) -> RequestStruct:
        return self._struct


class Wire:
    """A bootstrapped aiokafka client: the broker's advertised versions, and raw requests."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.node = next(iter(client.cluster.brokers())).nodeId

    async def advertises(self, api_key: int, version: int) -> bool:
        conn = await self.client._get_conn(self.node)
        low, high = conn._versions.get(api_key, (0, -1))
        return bool(low <= version <= high)

    async def send(self, struct: RequestStruct, node: int | None = None) -> Any:
        return await asyncio.wait_for(self.client.send(self.node if node is None else node, _Exactly(struct)), 60)

    async def leader(self, topic: str) -> int:
        """The node leading ``topic``'s partition 0 (waiting for metadata of a new topic)."""
        deadline = time.monotonic() + 60
        while True:
            await self.client.force_metadata_update()
            node = self.client.cluster.leader_for_partition(TopicPartition(topic, 0))
            if node is not None and node >= 0:
                return int(node)
            assert time.monotonic() < deadline, f"no leader for {topic}"
            await asyncio.sleep(0.2)

    async def require(self, api_key: int, version: int, name: str) -> None:
        if not await self.advertises(api_key, version):
            pytest.skip(f"the broker does not advertise {name} v{version} (Kafka 4 removed it)")


@pytest.fixture
async def wire(kafka_bootstrap: str) -> AsyncIterator[Wire]:
    client = AIOKafkaClient(bootstrap_servers=kafka_bootstrap)
    await client.bootstrap()
    try:
        yield Wire(client)
    finally:
        await client.close()


async def end_offset(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def test_list_offsets_latest_is_the_log_end_after_a_multi_record_batch(
    kafka_bootstrap: str, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    deviation("ListOffsets(latest) after a multi-record batch is the last batch's base offset + 1")
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        assert await producer.send_many(topic, [b"x"] * 10) == 10  # one batch of 10 records
    assert await end_offset(kafka_bootstrap, topic) == 10


async def test_list_offsets_for_a_time_past_the_newest_record_finds_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    deviation("ListOffsets(timestamp) past the newest record answers offset 0 (Kafka: -1, i.e. none)")
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send(topic, b"the only record")
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        future = int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp() * 1000)
        assert (await consumer.offsets_for_times({tp: future}))[tp] is None
    finally:
        await consumer.stop()


async def test_list_offsets_v0_answers_with_the_offsets(
    wire: Wire, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    await wire.require(2, 0, "ListOffsets")
    deviation("the ListOffsets v0 reply lacks its offsets list (sarama's default 0.8.2 version sends v0)")
    topic = new_topic(partitions=1)
    reply = await wire.send(OffsetRequest_v0(-1, [(topic, [(0, NEWEST, 1)])]), await wire.leader(topic))
    assert reply.topics[0][1][0][1] == 0  # error_code
    assert list(reply.topics[0][1][0][2]) == [0]  # the (empty) log's end offset


async def test_produce_v2_is_answered(wire: Wire, new_topic: Callable[..., str], deviation: Deviation) -> None:
    await wire.require(0, 2, "Produce")
    deviation("Produce v0-v2 (legacy message sets) is advertised but the connection is closed unanswered")
    topic = new_topic(partitions=1)
    leader = await wire.leader(topic)
    builder = LegacyRecordBatchBuilder(1, 0, 1 << 20)  # magic 1, no compression
    builder.append(0, timestamp=int(time.time() * 1000), key=None, value=b"legacy")
    reply = await wire.send(ProduceRequest_v2(-1, 30_000, [(topic, [(0, bytes(builder.build()))])]), leader)
    assert reply.topics[0][1][0][1] == 0  # error_code


async def test_join_group_v1_does_not_ask_for_a_member_id(
    wire: Wire, kafka_bootstrap: str, deviation: Deviation
) -> None:
    await wire.require(11, 1, "JoinGroup")
    deviation("JoinGroup v1 gets 'member id required' (Kafka sends it from v4 on); sarama 1.22 cannot join")
    group = f"deviation-join-{time.monotonic_ns()}"
    coordinator = await wire.client.coordinator_lookup(0, group)
    reply = await wire.send(
        JoinGroupRequest_v1(group, 10_000, 10_000, "", "consumer", [("range", b"")]), coordinator
    )
    assert reply.error_code != ERROR_MEMBER_ID_REQUIRED
    assert reply.error_code == 0 and reply.member_id


async def test_offset_commit_v1_is_accepted(
    wire: Wire, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    await wire.require(8, 1, "OffsetCommit")
    deviation("OffsetCommit v1 (sarama's default at 0.8.2) is refused with UNKNOWN_MEMBER_ID")
    topic = new_topic(partitions=1)
    group = f"deviation-commit-{time.monotonic_ns()}"
    coordinator = await wire.client.coordinator_lookup(0, group)
    # Generation -1 and no member: a commit outside group membership, as simple consumers do.
    reply = await wire.send(OffsetCommitRequest_v1(group, -1, "", [(topic, [(0, 1, -1, "")])]), coordinator)
    assert reply.topics[0][1][0][1] == 0  # error_code


async def test_idempotent_producer_works(
    kafka_bootstrap: str, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    deviation("InitProducerId fails with UnknownError: no idempotent or transactional producers")
    topic = new_topic(partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, b"exactly once"), 60)
    except KafkaError as exc:  # the deviation's failure, as a plain assertion
        pytest.fail(f"idempotent produce failed: {exc!r}")
    finally:
        await producer.stop()


async def until_assigned(consumer: AIOKafkaConsumer) -> None:
    """Poll until the group assigned the consumer its partitions (a join takes a while there)."""
    deadline = time.monotonic() + 120
    while not consumer.assignment():
        assert time.monotonic() < deadline, "never assigned"
        await consumer.getmany(timeout_ms=500)


async def test_first_group_generation_is_one(
    kafka_bootstrap: str, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    deviation("the first generation is 0, so aiokafka skips LeaveGroup and a re-join waits out the session")
    topic = new_topic(partitions=1)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=f"deviation-gen-{time.monotonic_ns()}",
        session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
    )
    await consumer.start()
    try:
        await until_assigned(consumer)
        assert consumer._coordinator.generation == 1
    finally:
        await consumer.stop()


def test_librdkafka_joins_a_group(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    # Not a deviation: librdkafka joins on the embedded broker too (about half its session timeout
    # there, like every client); an earlier README claimed it hangs.
    confluent_kafka = pytest.importorskip("confluent_kafka")
    topic = new_topic(partitions=2)
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, value=b"hello", partition=1)
    assert producer.flush(60) == 0
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": kafka_bootstrap, "group.id": f"deviation-rdkafka-{time.monotonic_ns()}",
        "session.timeout.ms": 10_000, "auto.offset.reset": "earliest",
    })
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 120
        msg = None
        while msg is None:
            assert time.monotonic() < deadline, "no message within 120 s: the group join did not finish"
            msg = consumer.poll(0.5)
        assert msg.error() is None and msg.value() == b"hello"
        assert {tp.partition for tp in consumer.assignment()} == {0, 1}
    finally:
        consumer.close()


async def test_a_member_that_left_is_gone_from_describe_groups(
    kafka_bootstrap: str, new_topic: Callable[..., str], deviation: Deviation
) -> None:
    deviation("a member that stopped stays listed in DescribeGroups (state Stable) indefinitely")
    from streamline import GroupAdmin

    topic = new_topic(partitions=1)
    group = f"deviation-left-{time.monotonic_ns()}"
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, session_timeout_ms=6_000,
        heartbeat_interval_ms=2_000,
    )
    await consumer.start()
    try:
        await until_assigned(consumer)
    finally:
        await consumer.stop()
    # Kafka drops the member at LeaveGroup, or at the latest when its session (6 s) expires.
    async with GroupAdmin(kafka_bootstrap) as groups:
        deadline = time.monotonic() + 20
        while (await groups.describe_group(group, topics=[topic])).members:
            assert time.monotonic() < deadline, "the member is still listed 20 s after it stopped"
            await asyncio.sleep(0.5)
