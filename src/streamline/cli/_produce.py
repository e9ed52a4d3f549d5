"""``streamline produce``: one message from ``--value``, or one per line of standard input."""

from __future__ import annotations

import sys
from typing import Any

import typer

from ._app import app, connection
from ._run import fail, run_async

STDIN_CHUNK = 1 << 20
MAX_IN_FLIGHT = 8  # submitted-but-unacknowledged stdin chunks; bounds memory on a slow broker
DELIVERY_TIMEOUT = 30.0  # the producer's default: how long acknowledgements may take


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
    max_message_bytes: int = typer.Option(
        1_048_576, "--max-message-bytes", min=1024, help="Largest message sent (bytes); bigger is an error."
    ),
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
        acks=acks, partitioner=partitioner, compression=compression,
        max_message_bytes=max_message_bytes, connection=connection(ctx),
    )

    async def one() -> None:
        async with producer:
            md = await producer.send(topic, value, key=key, partition=partition, headers=headers)
        sys.stdout.write(f"partition: {md.partition}, offset: {md.offset}\n")

    async def lines() -> None:
        from ._shutdown import current

        shutdown = current()
        await producer.start()
        try:
            sent, skipped = await _produce_stdin(producer, topic, key, partition, headers)
        finally:
            await producer.stop(timeout=shutdown.remaining(DELIVERY_TIMEOUT))
        note = f" (skipped {skipped} empty line{'s' if skipped != 1 else ''})" if skipped else ""
        sys.stderr.write(f"produced {sent} message{'s' if sent != 1 else ''} to {topic}{note}\n")

    run_async(one if value is not None else lines)


async def _produce_stdin(
    producer: Any, topic: str, key: str | None, partition: int | None, headers: Any
) -> tuple[int, int]:
    """Send every line of stdin; stop early (sending what was read) on the first signal."""
    import asyncio
    from collections import deque

    from .._models import Record
    from ._shutdown import current

    shutdown = current()
    stdin = _Stdin(sys.stdin.fileno())
    shutdown.on_stop(stdin.stop)
    pending: deque[Any] = deque()
    sent = skipped = 0
    tail = b""
    key_b = key.encode() if key is not None else None
    simple = key is None and partition is None and not headers
    try:
        while True:
            chunk = await stdin.read()
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
                pending.append(asyncio.ensure_future(_wait(await producer.submit_many(topic, items))))
                sent += len(lines)
                while len(pending) >= MAX_IN_FLIGHT and not stdin.stopped:
                    # A signal must not wait behind a slow broker: the final wait is bounded.
                    await asyncio.wait({pending[0], stdin.stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if pending[0].done():
                        pending.popleft().result()
            if not chunk:
                break
    finally:
        stdin.close()
    await _acknowledged(producer, pending, shutdown)
    return sent, skipped


async def _acknowledged(producer: Any, pending: Any, shutdown: Any) -> None:
    """Wait for every pending delivery; after a signal at most the time left, then the producer
    stops (what was not acknowledged fails, and the error says how much landed)."""
    import asyncio

    waits = list(pending)
    if not waits:
        return
    _, late = await asyncio.wait(waits, timeout=shutdown.remaining(DELIVERY_TIMEOUT) if shutdown.stopping else None)
    if late:
        await producer.stop(timeout=0)
        await asyncio.wait(late)
    for done in waits:
        done.result()  # the first failure, as one line


async def _wait(delivery: Any) -> Any:
    return await delivery


class _Stdin:
    """Standard input read on the event loop (never in a thread): a signal can stop the wait
    for a terminal or an open pipe at once, and nothing blocks the interpreter's exit."""

    def __init__(self, fd: int) -> None:
        import asyncio

        self.fd = fd
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._stopped = False
        #: Done once :meth:`stop` was called.
        self.stopping: asyncio.Future[None] = self._loop.create_future()
        try:
            self._loop.add_reader(fd, self._ready.set)
            self._watched = True
        except (PermissionError, OSError, ValueError):  # a regular file: reading never blocks
            self._watched = False

    def stop(self) -> None:
        """Read nothing more: the next :meth:`read` returns b"" (as at end of input)."""
        self._stopped = True
        self._ready.set()
        if not self.stopping.done():
            self.stopping.set_result(None)

    @property
    def stopped(self) -> bool:
        return self._stopped

    async def read(self) -> bytes:
        import os
        import select

        while not self._stopped:
            if not self._watched:
                return os.read(self.fd, STDIN_CHUNK)
            await self._ready.wait()
            self._ready.clear()
            # The readiness callback may have fired again for data read since: look before
            # reading, so a read never blocks the event loop (the descriptor stays blocking:
            # it is shared with the shell that started us).
            if not self._stopped and select.select([self.fd], [], [], 0)[0]:
                return os.read(self.fd, STDIN_CHUNK)
        return b""

    def close(self) -> None:
        if self._watched:
            self._loop.remove_reader(self.fd)
            self._watched = False
