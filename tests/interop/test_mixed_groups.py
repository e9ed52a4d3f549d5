"""One consumer group, two clients: a streamline member and a librdkafka (confluent-kafka) member
share a 6-partition topic and together process every record at least once.

A group settles on an assignment strategy every member supports, by name. streamline's default
(aiokafka's ``roundrobin``) is in librdkafka's default list (``range,roundrobin``), so the two
mix without settings; ``assignor="range"`` pairs with ``partition.assignment.strategy=range``
(and the Java client's default ``range``). sarama 1.22 cannot join a group on the embedded broker
(see test_broker_deviations.py), so it is not a member here.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from streamline import Producer, consume

confluent_kafka: Any = pytest.importorskip("confluent_kafka")

HAS_ASSIGNOR = "assignor" in inspect.signature(consume).parameters
_default: Any = inspect.signature(consume).parameters["assignor"].default if HAS_ASSIGNOR else None
#: streamline's first-choice strategy when consume() is not told (None: aiokafka's roundrobin).
DEFAULT_ASSIGNOR = (_default[0] if isinstance(_default, (list, tuple)) else _default) or "roundrobin"
PARTITIONS = 6
Seen = set[tuple[int, int]]


def librdkafka_member(bootstrap: str, topic: str, group: str, strategy: str | None, seen: Seen,
                      stop: threading.Event) -> None:
    config = {
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
    }
    if strategy is not None:
        config["partition.assignment.strategy"] = strategy
    consumer = confluent_kafka.Consumer(config)
    try:
        consumer.subscribe([topic])
        while not stop.is_set():
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.add((msg.partition(), msg.offset()))
    finally:
        consumer.close()  # commits and leaves the group


async def produce_round(producer: Producer, topic: str, produced: Seen) -> None:
    """One record on every partition."""
    for partition in range(PARTITIONS):
        md = await producer.send(topic, f"r{len(produced)}", partition=partition)
        produced.add((md.partition, md.offset))


@pytest.mark.parametrize(
    "assignor",
    [
        None,
        "roundrobin",
        pytest.param("range", marks=pytest.mark.skipif(
            not HAS_ASSIGNOR, reason="needs consume(assignor=...) from the consumer-core issue")),
    ],
)
async def test_streamline_joins_a_librdkafka_group(
    assignor: str | None, kafka_bootstrap: str, new_topic: Callable[..., str], deviation: Callable[[str], None]
) -> None:
    if assignor is None and DEFAULT_ASSIGNOR != "range":  # "range" is librdkafka's first choice
        deviation("a member whose strategies differ from the group's current one is refused with "
                  "InconsistentGroupProtocol even when all members share one (Kafka picks the shared one)")
    topic = new_topic(partitions=PARTITIONS)
    group = f"mixed-{assignor}-{time.monotonic_ns()}"
    ours: Seen = set()
    theirs: Seen = set()
    produced: Seen = set()
    stop = threading.Event()
    member = threading.Thread(
        target=librdkafka_member, args=(kafka_bootstrap, topic, group, assignor, theirs, stop), daemon=True
    )
    member.start()
    # None: librdkafka's default list ("range,roundrobin") and streamline's default ("roundrobin").
    options: dict[str, Any] = {"assignor": assignor} if assignor == "range" else {}
    deadline = time.monotonic() + 240
    try:
        async with Producer(kafka_bootstrap) as producer:
            # The librdkafka service runs first and owns every partition ...
            while not theirs:
                await produce_round(producer, topic, produced)
                while not theirs and time.monotonic() < deadline:
                    assert member.is_alive()
                    await asyncio.sleep(0.1)  # polling a condition, with a deadline
                assert theirs, "the librdkafka member never processed a record"
            # ... then a streamline member joins the same group.
            async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                               session_timeout=10, **options) as stream:

                async def read() -> None:
                    async for msg in stream:
                        ours.add((msg.partition, msg.offset))

                reader = asyncio.create_task(read())
                while not ours:
                    await produce_round(producer, topic, produced)
                    while not produced <= ours | theirs:  # this round processed by someone
                        assert time.monotonic() < deadline, (len(produced), len(ours), len(theirs))
                        if reader.done():
                            reader.result()  # raises what ended our member
                        assert member.is_alive()
                        await asyncio.sleep(0.1)
                # A last round once both are members: processed too.
                await produce_round(producer, topic, produced)
                while not produced <= ours | theirs:
                    assert time.monotonic() < deadline, "the last round was not processed"
                    if reader.done():
                        reader.result()
                    await asyncio.sleep(0.1)
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    finally:
        stop.set()
        member.join(60)
    assert produced <= ours | theirs  # at least once, between the two
    assert ours and theirs
