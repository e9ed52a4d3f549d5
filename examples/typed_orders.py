"""Typed messages end to end: Order objects in, Invoice objects out, bad records to a dead letter.

Orders are msgspec Structs, invoices pydantic models; both travel as JSON with a
``content-type: application/json`` header. A record that does not decode as an Order goes to
the dead-letter topic with its original bytes; its offset is committed like a processed one.
mypy (strict) checks this file (pyproject.toml: ``[tool.mypy] files``): ``msg.value`` is an
``Order`` and ``price`` is a ``Stage[Order, Invoice]``.

    python examples/typed_orders.py orders invoices orders.dlq [--count 10]
"""

from __future__ import annotations

import argparse
import asyncio

import msgspec
import pydantic

from streamline import Message, OnError, Pipeline, Producer, Stage, consume, to_topic


class Line(msgspec.Struct):
    sku: str
    quantity: int
    unit_price: float


class Order(msgspec.Struct):
    id: int
    customer: str
    lines: list[Line]
    note: str | None = None


class Invoice(pydantic.BaseModel):
    order_id: int
    customer: str
    total: float


def price(order: Order) -> Invoice:
    """The business logic sees an Order, never bytes."""
    total = sum(line.quantity * line.unit_price for line in order.lines)
    return Invoice(order_id=order.id, customer=order.customer, total=round(total, 2))


async def place_orders(topic: str, count: int) -> None:
    async with Producer(value=Order) as producer:
        orders = [Order(i, f"Zoë {i}", [Line("tea", i + 1, 2.5)]) for i in range(count)]
        await producer.send_many(topic, orders)
        await producer.send(topic, b"{this is not an order", codec=bytes)  # lands in the dead letters


async def print_orders(topic: str, count: int) -> None:
    stream = consume(topic, value=Order, start="beginning", on_decode_error=OnError(then="skip"))
    async with stream:
        seen = 0
        async for msg in stream:
            order: Order = msg.value  # typed: no cast, no json.loads
            print(f"order {order.id} from {order.customer}: {len(order.lines)} line(s)")
            seen += 1
            if seen == count:
                break


async def bill(orders: str, invoices: str, dead_letters: str, count: int) -> None:
    stream = consume(
        orders, value=Order, group="billing", ack="manual", start="beginning",
        on_decode_error=OnError(then="dead_letter", dead_letter_topic=dead_letters),
    )
    async with Producer() as producer:
        billed = 0
        done = asyncio.Event()

        def count_them(values: list[Invoice]) -> None:
            nonlocal billed
            billed += len(values)
            if billed >= count:
                done.set()

        pricing: Stage[Order, Invoice] = Stage(price)
        pipeline = Pipeline(stream, pricing, to=[to_topic(producer, invoices, value=Invoice), count_them])
        running = asyncio.ensure_future(pipeline.run())
        await done.wait()
        pipeline.stop()
        await running


async def show_invoices(topic: str, count: int) -> list[Message[Invoice]]:
    got: list[Message[Invoice]] = []
    async with consume(topic, value=Invoice, start="beginning") as stream:
        async for msg in stream:
            got.append(msg)
            print(f"invoice for order {msg.value.order_id}: {msg.value.total:.2f}")
            if len(got) == count:
                break
    return got


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("orders")
    parser.add_argument("invoices")
    parser.add_argument("dead_letters")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    await place_orders(args.orders, args.count)
    await print_orders(args.orders, args.count)
    await bill(args.orders, args.invoices, args.dead_letters, args.count)
    await show_invoices(args.invoices, args.count)


if __name__ == "__main__":
    asyncio.run(main())
