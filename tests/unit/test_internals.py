"""The consumer's record builder (``_internals.record_builder``) builds exactly what aiokafka's
fetcher would, only as our class; records come from real v2 record batches, parsed by aiokafka."""

import dataclasses

import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord, TopicPartition

from streamline import Message
from streamline._internals import _BuildingRecords, _builds_per_instance, record_builder

RECORDS = [
    (b"k1", b"v1", []),
    (None, b"no key", [("trace", b"abc"), ("empty", b"")]),
    (b"tombstone", None, []),
    (b"", b"", [("h", b"\x00\xff")]),
]


def _parsed_records() -> list:
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1, base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset, (key, value, headers) in enumerate(RECORDS):
        builder.append(offset, timestamp=1_700_000_000_000 + offset, key=key, value=value, headers=headers)
    records = MemoryRecords(bytes(builder.build()))
    batch = records.next_batch()
    return list(batch)


def _aiokafka_record(tp: TopicPartition, record) -> ConsumerRecord:
    partition_records = PartitionRecords(tp, MemoryRecords(b""), [], 0, None, None, False, 0)
    return partition_records._consumer_record(tp, record)


@pytest.mark.parametrize("index", range(len(RECORDS)))
def test_builder_matches_aiokafka_field_by_field(index: int) -> None:
    tp = TopicPartition("logs", 3)
    record = _parsed_records()[index]
    ours = record_builder(Message)(tp, record)
    theirs = _aiokafka_record(tp, record)
    assert type(ours) is Message and type(theirs) is ConsumerRecord
    for field in dataclasses.fields(ConsumerRecord):
        assert getattr(ours, field.name) == getattr(theirs, field.name), field.name


def test_builder_builds_the_class_it_is_given() -> None:
    class Ackable(Message):
        pass

    [record, *_] = _parsed_records()
    built = record_builder(Ackable)(TopicPartition("logs", 0), record)
    assert type(built) is Ackable and built.text == "v1" and built.key_text == "k1"


def test_installed_aiokafka_has_the_per_instance_builder_hook() -> None:
    # If an aiokafka upgrade changes this, consume() still works (it re-labels), but ~8% slower:
    # this test says so rather than letting the benchmark find out.
    assert _builds_per_instance()


def test_building_records_hands_the_builder_to_fetch_results_only() -> None:
    class Result:
        def __init__(self) -> None:
            self._partition_records = type("PR", (), {})()

    class Error:
        pass

    build = record_builder(Message)
    results = _BuildingRecords(build)
    ok, error = Result(), Error()
    results["a"] = ok
    results["b"] = error
    assert ok._partition_records._consumer_record is build
    assert not hasattr(error, "_consumer_record")
    assert list(results) == ["a", "b"]


# -- the shape of every private name streamline uses (all in streamline/_internals.py) ----------


def test_the_consumer_keeps_a_fetcher_whose_results_are_per_partition() -> None:
    # build_records_as() replaces consumer._fetcher._records (an OrderedDict, checked at run
    # time too; test_consumer.py checks a started consumer against the broker).
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.fetcher import Fetcher

    assert "_fetcher" in AIOKafkaConsumer.start.__code__.co_names
    assert "_records" in Fetcher.__init__.__code__.co_names


def test_the_client_fetches_fresh_metadata_for_all_topics() -> None:
    import inspect

    from aiokafka.client import AIOKafkaClient
    from aiokafka.cluster import ClusterMetadata

    assert inspect.iscoroutinefunction(AIOKafkaClient.fetch_all_metadata)
    assert callable(ClusterMetadata.partitions_for_topic)
    from aiokafka import AIOKafkaConsumer

    assert "_client" in AIOKafkaConsumer.__init__.__code__.co_names


def test_member_assignments_decode() -> None:
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    from streamline._internals import decode_member_assignment

    data = ConsumerProtocolMemberAssignment(0, [("logs", [0, 2]), ("audit", [1])], b"").encode()
    assert sorted(decode_member_assignment(data)) == [("audit", 1), ("logs", 0), ("logs", 2)]


def test_every_assignor_name_is_the_protocol_name_aiokafka_sends() -> None:
    from streamline._internals import ASSIGNORS, assignor_classes

    assert [cls.name for cls in assignor_classes(ASSIGNORS)] == list(ASSIGNORS)


def test_a_producer_keeps_its_queued_batches_where_fail_queued_batches_looks() -> None:
    # _client.stop_producer fails what a frozen broker never acknowledged through these names.
    from aiokafka.producer.message_accumulator import MessageAccumulator
    from aiokafka.producer.producer import AIOKafkaProducer

    assert "_message_accumulator" in AIOKafkaProducer.__init__.__code__.co_names
    names = MessageAccumulator.__init__.__code__.co_names
    assert "_batches" in names and "_pending_batches" in names
    assert callable(MessageAccumulator.fail_all)


def test_fail_queued_batches_fails_every_queued_batch_and_retrieves_it() -> None:
    import asyncio

    from aiokafka.errors import KafkaTimeoutError
    from aiokafka.producer.message_accumulator import MessageAccumulator

    from streamline._internals import fail_queued_batches

    async def main() -> list[BaseException | None]:
        from aiokafka import TopicPartition

        accumulator = MessageAccumulator(None, 16384, 0, 30)
        futures = [
            await accumulator.add_message(TopicPartition("t", p), None, b"v", timeout=1.0) for p in range(3)
        ]

        class Holder:
            _message_accumulator = accumulator

        fail_queued_batches(Holder(), KafkaTimeoutError("stopped"))
        await asyncio.sleep(0)
        return [f.exception() for f in futures]

    errors = asyncio.run(main())
    assert len(errors) == 3 and all(isinstance(e, Exception) for e in errors)


def test_the_admin_client_sends_a_request_to_one_node() -> None:
    import inspect

    from aiokafka.admin.client import AIOKafkaAdminClient
    from aiokafka.protocol.admin import DeleteGroupsRequest

    assert inspect.iscoroutinefunction(AIOKafkaAdminClient._send_request_to_node)
    assert inspect.iscoroutinefunction(AIOKafkaAdminClient.find_coordinator)
    assert list(inspect.signature(AIOKafkaAdminClient._send_request_to_node).parameters)[1:3] == [
        "node_id", "request"]
    DeleteGroupsRequest(["g"])  # built from a list of group names


def test_watchfiles_rust_notify_is_importable_where_internals_looks() -> None:
    from streamline._internals import rust_notify

    notify = rust_notify()
    assert notify is not None and callable(notify.watch)


def _batch(size: int = 16384, **serializers: object) -> object:
    from aiokafka.producer.message_accumulator import BatchBuilder

    return BatchBuilder(size, 0, **serializers)


def test_values_appender_builds_what_the_public_append_builds() -> None:
    # The hot path of ship appends through aiokafka's compiled builder; the bytes on the wire
    # must be exactly those of BatchBuilder.append with the same timestamp.
    from streamline._internals import values_appender

    values = [b"line %d" % i for i in range(100)] + [b"", b"\xff" * 300]
    fast, public = _batch(), _batch()
    assert values_appender(fast)(values, 0, 1_700_000_000_123) == len(values)
    for value in values:
        assert public.append(key=None, value=value, timestamp=1_700_000_000_123, headers=None) is not None
    assert fast.record_count() == public.record_count() == len(values)
    assert bytes(fast._build()) == bytes(public._build())


def test_values_appender_stops_when_the_batch_is_full_and_closes_it() -> None:
    from streamline._internals import values_appender

    values = [b"x" * 100 for _ in range(500)]
    batch = _batch(size=4096)
    stop = values_appender(batch)(values, 3, 1)
    assert 3 < stop < len(values)
    assert batch.record_count() == stop - 3
    assert batch.closed() and batch.size() <= 4096
    assert batch.append(key=None, value=b"y", timestamp=None) is None  # closed: nothing more
    again = _batch(size=4096)
    assert values_appender(again)(values, stop, 1) > stop  # the rest goes on in a new batch


def test_values_appender_falls_back_to_the_public_append_on_another_shape() -> None:
    from streamline._internals import values_appender

    batch = _batch(value_serializer=lambda v: v.upper())
    assert values_appender(batch)([b"a", b"b"], 0, 5) == 2
    built = bytes(batch._build())
    assert b"A" in built and b"B" in built  # the serializer ran: the public path was taken


def test_records_appender_builds_what_the_public_append_builds() -> None:
    # Records with keys, headers, their own timestamps and keyed tombstones take the compiled
    # builder too; the bytes must be those of BatchBuilder.append record by record.
    from streamline._internals import records_appender

    records = [
        (None, b"plain", None, None, None),
        (b"key", b"keyed", [("host", b"web-1"), ("offset", b"42")], None, None),
        (b"gone", None, None, 1_600_000_000_000, None),
        (None, b"", [("\u00fcn\u00efcode", b"\x00\xff"), ("empty", b"")], 1_700_000_000_999, None),
    ] * 20
    fast, public = _batch(), _batch()
    assert records_appender(fast)(records, 0, 1_700_000_000_123) == len(records)
    for key, value, headers, stamp, _ in records:
        stamp = 1_700_000_000_123 if stamp is None else stamp
        assert public.append(key=key, value=value, timestamp=stamp, headers=headers) is not None
    assert fast.record_count() == public.record_count() == len(records)
    assert bytes(fast._build()) == bytes(public._build())


def test_records_appender_stops_when_the_batch_is_full_and_falls_back_on_another_shape() -> None:
    from streamline._internals import records_appender

    records = [(b"k", b"x" * 100, [("h", b"y" * 20)], None, None) for _ in range(200)]
    batch = _batch(size=4096)
    stop = records_appender(batch)(records, 5, 1)
    assert 5 < stop < len(records) and batch.record_count() == stop - 5 and batch.closed()
    serialized = _batch(value_serializer=lambda v: v.upper())
    assert records_appender(serialized)([(None, b"a", [("h", b"v")], None, None)], 0, 1) == 1
    assert b"A" in bytes(serialized._build())  # the public path ran the serializer


def test_columns_appender_builds_what_the_public_append_builds() -> None:
    # One headers list whose per-record entry is replaced before each append: every record
    # must still carry its own value (the builder encodes a record as it is appended).
    from streamline._internals import columns_appender

    values = [b"line %d" % i for i in range(300)]
    keys = [b"k%d" % (i % 7) if i % 3 else None for i in range(300)]
    offsets = [b"%d" % (i * 9) for i in range(300)]
    headers = [("host", b"web-1"), ("offset", b""), ("path", b"/var/log/app.log")]
    order = list(range(0, 300, 2)) + list(range(1, 300, 2))  # any order of indices
    fast, public = _batch(size=1 << 20), _batch(size=1 << 20)
    assert columns_appender(fast, values, keys, headers, 1, "offset", offsets)(order, 0, 7) == len(order)
    for i in order:
        pairs = [("host", b"web-1"), ("offset", offsets[i]), ("path", b"/var/log/app.log")]
        assert public.append(key=keys[i], value=values[i], timestamp=7, headers=pairs) is not None
    assert bytes(fast._build()) == bytes(public._build())
    assert headers[1] == ("offset", b"")  # the caller's list is not the one rewritten

    small = _batch(size=2048)
    stop = columns_appender(small, values, None, headers, -1, "", ())(range(300), 10, 7)
    assert 10 < stop < 300 and small.record_count() == stop - 10 and small.closed()
    other = _batch(value_serializer=lambda v: v.upper())
    assert columns_appender(other, values, None, headers, 1, "offset", offsets)(range(2), 0, 7) == 2
    assert b"LINE 1" in bytes(other._build()) and b"offset" in bytes(other._build())


def test_send_batch_appends_through_the_accumulator_where_queue_batch_does() -> None:
    # queue_batch() does what send_batch → add_batch do for an idle partition: _append_batch,
    # whose MessageBatch carries the answer as .future; the names it reads must exist.
    import inspect

    from aiokafka.producer.message_accumulator import MessageAccumulator, MessageBatch
    from aiokafka.producer.producer import AIOKafkaProducer

    assert "add_batch" in AIOKafkaProducer.send_batch.__code__.co_names
    assert "_append_batch" in MessageAccumulator.add_batch.__code__.co_names
    assert "shield" in MessageAccumulator.add_batch.__code__.co_names  # what queue_batch spares
    assert list(inspect.signature(MessageAccumulator._append_batch).parameters) == ["self", "builder", "tp"]
    names = MessageAccumulator.__init__.__code__.co_names
    assert {"_batches", "_closed", "_exception"} <= set(names)
    assert "future" in MessageBatch.__init__.__code__.co_names
    assert {"_message_accumulator", "_txn_manager", "client"} <= set(AIOKafkaProducer.__init__.__code__.co_names)


class _Cluster:
    def __init__(self, partitions: set[int] | None) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions


def _producer_holder(accumulator: object, partitions: set[int] | None = None) -> object:
    from types import SimpleNamespace

    cluster = _Cluster({0, 1} if partitions is None else partitions)
    return SimpleNamespace(_message_accumulator=accumulator, _txn_manager=None, client=SimpleNamespace(cluster=cluster))


def test_queue_batch_queues_for_an_idle_partition_and_hands_back_the_batchs_own_answer() -> None:
    import asyncio

    from aiokafka import TopicPartition
    from aiokafka.producer.message_accumulator import MessageAccumulator

    from streamline._internals import queue_batch

    async def main() -> None:
        accumulator = MessageAccumulator(None, 16384, 0, 30)
        builder = accumulator.create_builder()
        builder.append(key=None, value=b"v", timestamp=None)
        builder.close()
        future = queue_batch(_producer_holder(accumulator), builder, "t", 1)
        assert future is not None and not future.done()
        [queued] = accumulator._batches[TopicPartition("t", 1)]
        assert queued.future is future  # not a shield around it: its callbacks run at the answer
        assert accumulator.waiter().done()  # the sender is woken, as by add_batch
        queued.done(base_offset=7)
        assert (await future).offset == 7

    asyncio.run(main())


def test_queue_batch_leaves_everything_else_to_send_batch() -> None:
    import asyncio

    from aiokafka import TopicPartition
    from aiokafka.errors import KafkaError
    from aiokafka.producer.message_accumulator import MessageAccumulator

    from streamline._internals import queue_batch

    def closed_batch(accumulator: MessageAccumulator) -> object:
        builder = accumulator.create_builder()
        builder.append(key=None, value=b"v", timestamp=None)
        builder.close()
        return builder

    async def main() -> None:
        accumulator = MessageAccumulator(None, 16384, 0, 30)
        holder = _producer_holder(accumulator)
        assert queue_batch(holder, closed_batch(accumulator), "t", 0) is not None
        # the partition still has a batch queued: send_batch waits for it to drain
        assert queue_batch(holder, closed_batch(accumulator), "t", 0) is None
        assert len(accumulator._batches[TopicPartition("t", 0)]) == 1
        # a partition the metadata does not know, a topic without metadata
        assert queue_batch(holder, closed_batch(accumulator), "t", 5) is None
        assert queue_batch(_producer_holder(accumulator, set()), closed_batch(accumulator), "t", 1) is None
        # a transactional producer (never streamline's)
        from types import SimpleNamespace

        transactional = _producer_holder(accumulator)
        transactional._txn_manager = SimpleNamespace(transactional_id="tx")  # type: ignore[attr-defined]
        assert queue_batch(transactional, closed_batch(accumulator), "t", 1) is None
        # a failed accumulator, a closed one
        accumulator._exception = KafkaError("fenced")
        assert queue_batch(holder, closed_batch(accumulator), "t", 1) is None
        accumulator._exception = None
        accumulator._closed = True
        assert queue_batch(holder, closed_batch(accumulator), "t", 1) is None
        assert TopicPartition("t", 1) not in accumulator._batches
        # another shape: nothing to append through
        from types import SimpleNamespace as Other

        assert queue_batch(Other(_message_accumulator=None), closed_batch(MessageAccumulator(None, 16384, 0, 30)), "t", 0) is None

    asyncio.run(main())


def test_an_idempotent_batch_queued_by_queue_batch_is_numbered_when_the_sender_takes_it() -> None:
    # Idempotence (ship's default on Kafka) numbers batches in _pop_batch, when the sender
    # drains them: two batches queued in turn, the second after the first was drained, get
    # consecutive sequences, exactly as through send_batch.
    import asyncio

    from aiokafka import TopicPartition
    from aiokafka.producer.message_accumulator import MessageAccumulator
    from aiokafka.producer.transaction_manager import TransactionManager

    from streamline._internals import queue_batch

    class Cluster(_Cluster):
        def leader_for_partition(self, tp: object) -> int:
            return 0

    async def main() -> list[int]:
        txn = TransactionManager(None, 60000)
        txn.set_pid_and_epoch(42, 0)
        cluster = Cluster({0})
        accumulator = MessageAccumulator(cluster, 16384, 0, 30, txn_manager=txn)
        from types import SimpleNamespace

        holder = SimpleNamespace(_message_accumulator=accumulator, _txn_manager=txn, client=SimpleNamespace(cluster=cluster))
        sequences = []
        for count in (3, 2):
            builder = accumulator.create_builder()
            for _ in range(count):
                builder.append(key=None, value=b"v", timestamp=None)
            builder.close()
            assert queue_batch(holder, builder, "t", 0) is not None
            sequences.append(txn.sequence_number(TopicPartition("t", 0)))
            drained, _ = accumulator.drain_by_nodes(ignore_nodes=set())
            assert list(drained[0]) == [TopicPartition("t", 0)]
        sequences.append(txn.sequence_number(TopicPartition("t", 0)))
        return sequences

    assert asyncio.run(main()) == [0, 3, 5]  # numbered when drained, by record count
