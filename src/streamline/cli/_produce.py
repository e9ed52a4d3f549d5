"""``streamline produce``: one message from ``--value``, or one per line of standard input."""

from __future__ import annotations

import sys
from typing import Any

import typer

from ._app import app, connection
from ._run import fail, run_async

STDIN_CHUNK = 1 << 20
MAX_IN_FLIGHT = 8  # submitted-but-unacknowledged stdin chunks; bounds memory on a slow broker


@app.command("produce")
def produce_command(
    ctx: typer.Context,
    topic: str = typer.Argument(..., help="Topic to write to."),
    value: str | None = typer.Option(None, "--value", "-v", help="Message value; without it, read stdin, one message per line."),
    key: str | None = typer.Option(None, "--key", "-k", help="Message key (placed by the --partitioner's key hash)."),
    acks: str = typer.Option("all", "--acks", help="0, 1 or all."),
    partitioner: str = typer.Option("hash", "--partitioner", help="hash (= murmur2, Java), consistent_random (librdkafka), fnv1a (sarama), random or round_robin."),
    partition: int | None = typer.Option(None, "--partition", "-p", help="Explicit partition (wins over the partitioner)."),
    header: list[str] = typer.Option([], "--header", "-H", help="Header as key=value; repeatable."),
    compression: str | None = typer.Option(None, "--compression", help="gzip, snappy, lz4 or zstd."),
) -> None:
    """Send a message and print where it landed: `partition: P, offset: O`.

    Without --value, every line of standard input is a message (line ending stripped, empty
    lines skipped); a count goes to stderr at the end.
    """
    from .._producer import Producer
    from .._validation import check_headers, check_partition, check_topic, parse_header_arg

    check_topic(topic)
    if value == "":
        fail("the message value must not be empty (--value '')", 2)
    headers = check_headers([parse_header_arg(h) for h in header])
    check_partition(partition)
    producer = Producer(
        acks=acks, partitioner=partitioner, compression=compression, connection=connection(ctx)
    )

    async def one() -> None:
        async with producer:
            md = await producer.send(topic, value, key=key, partition=partition, headers=headers)
        sys.stdout.write(f"partition: {md.partition}, offset: {md.offset}\n")

    async def lines() -> None:
        sent = skipped = 0
        async with producer:
            sent, skipped = await _produce_stdin(producer, topic, key, partition, headers)
        note = f" (skipped {skipped} empty line{'s' if skipped != 1 else ''})" if skipped else ""
        sys.stderr.write(f"produced {sent} message{'s' if sent != 1 else ''} to {topic}{note}\n")

    run_async(one if value is not None else lines)


async def _produce_stdin(
    producer: Any, topic: str, key: str | None, partition: int | None, headers: Any
) -> tuple[int, int]:
    import asyncio
    from collections import deque

    import anyio

    from .._models import Record

    stdin = sys.stdin.buffer
    read = getattr(stdin, "read1", stdin.read)
    pending: deque[Any] = deque()
    sent = skipped = 0
    tail = b""
    key_b = key.encode() if key is not None else None
    simple = key is None and partition is None and not headers
    while True:
        chunk = await anyio.to_thread.run_sync(read, STDIN_CHUNK)
        data = tail + chunk
        if chunk:
            cut = data.rfind(b"\n") + 1
            data, tail = data[:cut], data[cut:]
        else:
            tail = b""
        raw = data.split(b"\n")
        if raw[-1] == b"":
            raw.pop()  # what follows the last newline (nothing, or the held-back tail)
        stripped = [ln[:-1] if ln[-1:] == b"\r" else ln for ln in raw]
        lines = [ln for ln in stripped if ln]
        skipped += len(stripped) - len(lines)
        if lines:
            items: Any = lines if simple else [
                Record(ln, key=key_b, headers=headers, partition=partition) for ln in lines
            ]
            pending.append(await producer.submit_many(topic, items))
            sent += len(lines)
            while len(pending) >= MAX_IN_FLIGHT:
                await pending.popleft()
        if not chunk:
            break
    await asyncio.gather(*pending)
    return sent, skipped
