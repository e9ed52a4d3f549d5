"""Delivery: which items a partly failed send_many acknowledged, and when it tells that every
batch was answered (no broker: futures by hand)."""

import asyncio

from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from streamline import DeliveryError, Producer
from streamline._producer import Delivery


async def test_a_partly_failed_delivery_names_what_did_not_land() -> None:
    loop = asyncio.get_running_loop()
    delivery = Delivery(Producer("localhost:9092"), "logs", 10)
    ok, late, refused = loop.create_future(), loop.create_future(), loop.create_future()
    delivery.add(ok, 0, range(0, 4), 4, 400)
    delivery.add(late, 1, [4, 6, 8], 3, 300)
    delivery.add(refused, 2, [5, 7, 9], 3, 300)
    ok.set_result(None)
    late.set_exception(KafkaTimeoutError())
    refused.set_exception(NotLeaderForPartitionError())
    try:
        await delivery
    except DeliveryError as exc:
        error = exc
    else:
        raise AssertionError("a failed batch must fail the delivery")
    assert error.acknowledged == 4
    assert error.unacknowledged == [4, 5, 6, 7, 8, 9]
    assert error.partitions == [1, 2]
    assert error.retriable
    assert "4 of 10 records acknowledged, 6 not (partitions 1, 2)" in str(error)


async def test_unsent_items_are_not_acknowledged() -> None:
    loop = asyncio.get_running_loop()
    delivery = Delivery(Producer("localhost:9092"), "logs", 5)
    ok = loop.create_future()
    ok.set_result(None)
    delivery.add(ok, 0, [0, 1], 2, 200)
    delivery.unsent(KafkaTimeoutError(), [2, 3, 4])
    try:
        await delivery
    except DeliveryError as exc:
        assert (exc.acknowledged, exc.unacknowledged) == (2, [2, 3, 4])
    else:
        raise AssertionError("unsent items must fail the delivery")


async def test_the_listener_is_called_once_every_batch_was_answered() -> None:
    loop = asyncio.get_running_loop()
    producer = Producer("localhost:9092")
    delivery = Delivery(producer, "logs", 5)
    first, second = loop.create_future(), loop.create_future()
    delivery.add(first, 0, [0, 1], 2, 20)
    delivery.add(second, 1, [2, 3, 4], 3, 30)
    calls: list[bool] = []
    assert delivery.when_answered(calls.append)
    first.set_result(None)
    await asyncio.sleep(0)  # the futures' callbacks run
    assert calls == [] and producer.metrics()["in_flight"] == 1
    second.set_result(None)
    await asyncio.sleep(0)
    assert calls == [False]
    assert producer.metrics() == {"topics": {"logs": [5, 50, 0]}, "in_flight": 0}
    assert await delivery == 5


async def test_a_failed_batch_makes_the_listener_hear_failed_and_counts_it() -> None:
    loop = asyncio.get_running_loop()
    producer = Producer("localhost:9092")
    delivery = Delivery(producer, "logs", 4)
    ok, refused = loop.create_future(), loop.create_future()
    delivery.add(ok, 0, [0, 1], 2, 20)
    delivery.add(refused, 1, [2, 3], 2, 20)
    calls: list[bool] = []
    delivery.when_answered(calls.append)
    refused.set_exception(NotLeaderForPartitionError())
    ok.set_result(None)
    await asyncio.sleep(0)
    assert calls == [True]
    assert producer.metrics()["topics"]["logs"] == [2, 20, 2]
    try:
        await delivery
    except DeliveryError as exc:
        assert exc.unacknowledged == [2, 3]
    else:
        raise AssertionError("a failed batch must fail the delivery")


async def test_a_listener_added_after_the_answers_is_called_at_once() -> None:
    loop = asyncio.get_running_loop()
    delivery = Delivery(Producer("localhost:9092"), "logs", 1)
    ok = loop.create_future()
    delivery.add(ok, 0, [0], 1, 10)
    ok.set_result(None)
    await asyncio.sleep(0)
    calls: list[bool] = []
    assert delivery.when_answered(calls.append)
    assert calls == [False]


async def test_a_delivery_with_unsent_items_cannot_tell_when_answered() -> None:
    loop = asyncio.get_running_loop()
    delivery = Delivery(Producer("localhost:9092"), "logs", 3)
    ok = loop.create_future()
    delivery.add(ok, 0, [0], 1, 10)
    delivery.unsent(KafkaTimeoutError(), [1, 2])
    calls: list[bool] = []
    assert not delivery.when_answered(calls.append)
    ok.set_result(None)
    await asyncio.sleep(0)
    assert calls == []
    try:
        await delivery
    except DeliveryError as exc:
        assert exc.unacknowledged == [1, 2]
    else:
        raise AssertionError("unsent items must fail the delivery")


async def test_futures_are_the_batches_answers_unless_some_records_were_never_queued() -> None:
    loop = asyncio.get_running_loop()
    delivery = Delivery(Producer("localhost:9092"), "logs", 3)
    first, second = loop.create_future(), loop.create_future()
    delivery.add(first, 0, [0], 1, 10)
    delivery.add(second, 1, [1], 1, 10)
    answers = delivery.futures()
    assert answers is not None and len(answers) == 2
    answers[0].cancel()  # a caller giving up on an answer leaves the send alone
    await asyncio.sleep(0)
    assert not first.cancelled()
    second.set_result("metadata")
    assert await answers[1] == "metadata"
    delivery.unsent(KafkaTimeoutError(), [2])
    assert delivery.futures() is None
    first.set_result(None)
    try:
        await delivery
    except DeliveryError as exc:
        assert exc.unacknowledged == [2]
    else:
        raise AssertionError("unsent items must fail the delivery")
