"""Delivery: which items a partly failed send_many acknowledged (no broker: futures by hand)."""

import asyncio

from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from streamline import DeliveryError, Producer
from streamline._producer import Delivery


async def test_a_partly_failed_delivery_names_what_did_not_land() -> None:
    loop = asyncio.get_running_loop()
    delivery = Delivery(Producer("localhost:9092"), "logs", 10)
    ok, late, refused = loop.create_future(), loop.create_future(), loop.create_future()
    delivery.add(ok, 0, range(0, 4))
    delivery.add(late, 1, [4, 6, 8])
    delivery.add(refused, 2, [5, 7, 9])
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
    delivery.add(ok, 0, [0, 1])
    delivery.unsent(KafkaTimeoutError(), [2, 3, 4])
    try:
        await delivery
    except DeliveryError as exc:
        assert (exc.acknowledged, exc.unacknowledged) == (2, [2, 3, 4])
    else:
        raise AssertionError("unsent items must fail the delivery")
