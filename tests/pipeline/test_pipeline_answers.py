"""Deliveries that say when they were answered (``when_answered``, as ``TopicSink`` over
``Producer`` does) are settled by that call, without a task per batch: acknowledged only once answered,
and a failed answer still goes through the retrying path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio

from streamline import DeliveryError, Pipeline, TopicSink


class AnsweredDelivery:
    """Like ``Producer.submit_many``'s Delivery: futures answered later, awaitable for the count."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def when_answered(self, listener: Callable[[bool], None]) -> bool:
        self.future.add_done_callback(lambda f: listener(f.cancelled() or f.exception() is not None))
        return True

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> int:
        await asyncio.wait([self.future])
        if self.future.exception() is not None:
            raise DeliveryError("partition 0 timed out", retriable=True, acknowledged=0,
                                unacknowledged=list(range(len(self.items))), partitions=[0])
        return len(self.items)


class AnsweringProducer:
    """The sink's producer interface; the test answers each delivery when it wants."""

    def __init__(self) -> None:
        self.deliveries: list[AnsweredDelivery] = []
        self.submitted = asyncio.Event()

    async def submit_many(self, topic: str, items: list[Any]) -> AnsweredDelivery:
        delivery = AnsweredDelivery(list(items))
        self.deliveries.append(delivery)
        self.submitted.set()
        return delivery

    async def wait_for(self, count: int) -> None:
        """Until ``count`` deliveries were submitted (the pipeline watches each by then)."""
        with anyio.fail_after(60):  # a hang guard
            while len(self.deliveries) < count:
                self.submitted.clear()
                await self.submitted.wait()


async def answer(future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    """Answer a delivery and return once the pipeline's callback on it ran (callbacks run in the
    order they were added, and the pipeline added its own when the delivery was submitted)."""
    seen = asyncio.Event()
    future.add_done_callback(lambda _: seen.set())
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
    with anyio.fail_after(60):  # a hang guard
        await seen.wait()


async def values(*items: Any) -> Any:
    for item in items:
        yield item


async def test_a_batch_is_acknowledged_only_once_its_answer_came() -> None:
    producer = AnsweringProducer()
    pipeline = Pipeline(values([b"a", b"b"], [b"c"]), to=TopicSink(producer, "t"))
    task = asyncio.ensure_future(pipeline.run())
    await producer.wait_for(2)
    assert pipeline.stats.acknowledged_batches == 0 and pipeline.stats.in_flight == 2
    await answer(producer.deliveries[1].future)
    assert pipeline.stats.acknowledged_batches == 1
    assert not task.done()  # the first delivery is still unanswered: the pipeline waits for it
    await answer(producer.deliveries[0].future)
    stats = await task
    assert stats.acknowledged_batches == 2 and stats.delivered == 3 and stats.in_flight == 0


async def test_a_failed_answer_is_sent_again_and_acknowledged_after_the_retry() -> None:
    producer = AnsweringProducer()
    pipeline = Pipeline(values([b"a", b"b"]), to=TopicSink(producer, "t"), retry_backoff=0.01)
    task = asyncio.ensure_future(pipeline.run())
    await producer.wait_for(1)
    await answer(producer.deliveries[0].future, error=KeyError("lost"))
    assert pipeline.stats.acknowledged_batches == 0
    await producer.wait_for(2)  # resubmitted by the retrying path
    assert producer.deliveries[1].items == [b"a", b"b"]
    assert pipeline.stats.acknowledged_batches == 0
    await answer(producer.deliveries[1].future)
    stats = await task
    assert stats.acknowledged_batches == 1 and stats.delivered == 2 and stats.delivery_retries == 1
