"""Delivery retries are counted: ``streamline_delivery_retries_total{topic}`` grows by the records a
pipeline sends again, and ``streamline_pipeline_delivery_retries_total`` by the retried deliveries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from scraping import value
from tcp_proxy import proxied_broker

from streamline import DeliveryError, Pipeline, Producer, consume, to_topic
from streamline._metrics.collector import exposition, new_registry

pytestmark = pytest.mark.usefixtures("clean_registry")


def scrape() -> str:
    return exposition(new_registry()).decode()


async def until(condition: Callable[[], bool], what: str, deadline: float = 120.0) -> None:
    """Poll a state check until it holds (no timing assumption); fail after a generous deadline."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def batches_from(queue: asyncio.Queue[list[bytes] | None]) -> AsyncIterator[list[bytes]]:
    while (batch := await queue.get()) is not None:
        yield batch


@pytest.mark.timeout(240)
async def test_a_broker_outage_makes_the_pipeline_send_again_and_that_is_counted() -> None:
    with proxied_broker() as (proxy, _):
        bootstrap, topic = f"127.0.0.1:{proxy.port}", "retried"
        queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
        async with Producer(bootstrap, delivery_timeout=3.0) as producer:
            await producer.send(topic, b"warm-up")  # the topic exists, its metadata is cached
            pipeline = Pipeline(batches_from(queue), to=to_topic(producer, topic), retry_backoff=0.05, max_retry_backoff=0.2)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(pipeline.run())
                await queue.put([b"before-%d" % i for i in range(10)])
                await until(lambda: pipeline.stats.delivered == 10, "the first batch delivered")
                # (0 unless the loaded machine made the first batch time out: then it counts its resends)
                before = value(scrape(), "streamline_delivery_retries_total", topic=topic) or 0
                retries_before = pipeline.stats.delivery_retries

                proxy.cut()  # the broker is gone: the next batch times out, and is sent again
                await queue.put([b"during-%d" % i for i in range(7)])
                await until(lambda: pipeline.stats.delivery_retries >= retries_before + 2, "two retried deliveries")
                proxy.restore()
                await until(lambda: pipeline.stats.delivered == 17, "the second batch delivered after the outage")
                await queue.put(None)
        retried = (value(scrape(), "streamline_delivery_retries_total", topic=topic) or 0) - before
        pipeline_retries = value(scrape(), "streamline_pipeline_delivery_retries_total")
        assert pipeline_retries == pipeline.stats.delivery_retries >= retries_before + 2
        # Every resend of the failed batch sent its 7 records again (a one-partition topic: all or none).
        assert retried >= 7 * 2 and retried % 7 == 0

        got: set[bytes] = set()
        async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
            async for msg in stream:
                got.add(msg.value)
                if {b"during-%d" % i for i in range(7)} <= got:
                    break


class FailingOnce:
    """A producer whose first ``submit_many`` refuses with a retriable error (then the real one)."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.calls = 0

    async def submit_many(self, topic: str, items: list[Any]) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise DeliveryError("no buffer space within the delivery timeout", retriable=True)
        return await self.producer.submit_many(topic, items)


async def test_a_refused_submit_sent_again_is_counted(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
    async with Producer(kafka_bootstrap) as producer:
        flaky = FailingOnce(producer)
        pipeline = Pipeline(batches_from(queue), to=to_topic(flaky, topic), retry_backoff=0.01, max_retry_backoff=0.01)
        await queue.put([b"a", b"b", b"c"])
        await queue.put([b"d"])
        await queue.put(None)
        stats = await pipeline.run()
    assert stats.delivered == 4 and stats.delivery_retries == 1 and flaky.calls == 3
    assert value(scrape(), "streamline_delivery_retries_total", topic=topic) == 3  # the 3 records, once
