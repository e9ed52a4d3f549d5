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
    value: str | None = typer.Option(None, "--value", "-v", metavar="TEXT", help="Message value; without it, read stdin, one message per line."),
    key: str | None = typer.Option(None, "--key", "-k", metavar="KEY", help="Message key (placed by the --partitioner's key hash)."),
    acks: str = typer.Option("all", "--acks", metavar="ACKS", help="0, 1 or all."),
    partitioner: str = typer.Option("hash", "--partitioner", metavar="NAME", help="hash (= murmur2, Java), consistent_random (librdkafka), fnv1a (sarama), random or round_robin."),
    partition: int | None = typer.Option(None, "--partition", "-p", metavar="N", help="Explicit partition (wins over the partitioner)."),
    header: list[str] = typer.Option([], "--header", "-H", metavar="K=V", help="Header as key=value; repeatable."),
    compression: str | None = typer.Option(None, "--compression", metavar="CODEC", help="gzip, snappy, lz4 or zstd."),
    max_message_bytes: int = typer.Option(
        1_048_576, "--max-message-bytes", min=1024, metavar="BYTES", help="Largest message sent (bytes); bigger is an error."
    ),
    key_separator: str | None = typer.Option(
        None, "--key-separator", "-K", metavar="SEP", help="Each input line is KEY SEP VALUE (split at the first SEP)."
    ),
    null: bool = typer.Option(False, "--null", "-Z", help="Send empty values as null (tombstones) instead of skipping them."),
    delimiter: str = typer.Option(
        "\\n", "--delimiter", "-D", metavar="DELIM", help="What ends an input record (escapes like \\n, \\0, \\t work)."
    ),
    input_format: str = typer.Option(
        "text", "--format", "-f", metavar="FORMAT",
        help='text, or json: one object per record with "value", "key", "headers", "partition", "timestamp".',
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Skip records that do not parse (--format json, --key-separator): count them, go on."
    ),
) -> None:
    """Send a message and print where it landed: `partition: P, offset: O`.

    Without --value, every line of standard input is a message (line ending stripped, empty
    lines skipped unless --null); a count goes to stderr at the end. With --format json each
    line is an object such as {"key": "k", "value": "v", "headers": {"h": "x"}, "partition": 0}
    (a null value is a tombstone; bytes may be {"base64": "..."}, as `consume -f json` writes).
    A JSON object or array as "value" is sent as compact JSON.
    A bad line is one error naming its number (exit 2); the lines before it are sent, none after
    (with --skip-invalid: skipped, counted, and the first one named on stderr).

    Example: printf 'user1:login\\n' | streamline produce events --key-separator :
    """
    from .._producer import Producer
    from .._validation import check_headers, check_partition, check_topic, parse_header_arg

    check_topic(topic)
    if value == "" and not null:
        fail("the message value must not be empty (--value ''; --null sends a tombstone)", 2)
    from ._produce_input import parse_delimiter, record_parser

    try:
        delim = parse_delimiter(delimiter)
        parse = record_parser(input_format, key_separator=key_separator, null=null, key=key)
    except ValueError as exc:
        fail(str(exc), 2)
    if value is not None and (key_separator is not None or input_format != "text"):
        fail("--key-separator and --format json read standard input; drop --value", 2)
    headers = check_headers([parse_header_arg(h) for h in header])
    check_partition(partition)
    producer = Producer(
        acks=acks, partitioner=partitioner, compression=compression,
        max_message_bytes=max_message_bytes, connection=connection(ctx),
    )

    async def one() -> None:
        async with producer:
            md = await producer.send(topic, value or None, key=key, partition=partition, headers=headers)
        sys.stdout.write(f"partition: {md.partition}, offset: {md.offset}\n")

    invalid: list[str] = []  # --skip-invalid: the records skipped, as "line N: why"

    async def lines() -> None:
        from ._shutdown import current

        shutdown = current()
        await producer.start()
        try:
            sent, skipped, bad = await _produce_stdin(
                producer, topic, key, partition, headers, delim, parse, invalid if skip_invalid else None
            )
        finally:
            await producer.stop(timeout=shutdown.remaining(DELIVERY_TIMEOUT))
        if bad is not None:
            fail(f"{bad} (sent the {sent} message{'s' if sent != 1 else ''} before it, none after)", 2)
        note = f" (skipped {skipped} empty line{'s' if skipped != 1 else ''})" if skipped else ""
        if invalid:
            note += f" (skipped {len(invalid)} invalid line{'s' if len(invalid) != 1 else ''}, the first: {invalid[0]})"
        sys.stderr.write(f"produced {sent} message{'s' if sent != 1 else ''} to {topic}{note}\n")

    run_async(one if value is not None else lines)


async def _produce_stdin(
    producer: Any, topic: str, key: str | None, partition: int | None, headers: Any,
    delim: bytes = b"\n", parse: Any = None, invalid: list[str] | None = None,
) -> tuple[int, int, str | None]:
    """Send every record of stdin; stop early (sending what was read) on the first signal, or at
    the first record ``parse`` refuses (returned as the third item, naming its line number)."""
    import asyncio
    from collections import deque

    from .._models import Record
    from ._shutdown import current

    shutdown = current()
    stdin = _Stdin(sys.stdin.fileno())
    shutdown.on_stop(stdin.stop)
    pending: deque[Any] = deque()
    sent = skipped = lineno = 0
    bad: str | None = None
    tail = b""
    key_b = key.encode() if key is not None else None
    simple = key is None and partition is None and not headers
    newline = delim == b"\n"
    try:
        while bad is None:
            chunk = await stdin.read()
            data = tail + chunk
            if chunk:
                cut = data.rfind(delim)
                cut = cut + len(delim) if cut >= 0 else 0
                data, tail = data[:cut], data[cut:]
            else:
                tail = b""
            raw = data.split(delim)
            if raw[-1] == b"":
                raw.pop()  # what follows the last delimiter (nothing, or the held-back tail)
            stripped = [ln[:-1] if ln[-1:] == b"\r" else ln for ln in raw] if newline else raw
            if parse is not None:
                lines, empty, bad = _parsed(stripped, parse, lineno, key_b, headers, partition, invalid)
                skipped += empty
            else:
                lines = [ln for ln in stripped if ln]
                skipped += len(stripped) - len(lines)
            lineno += len(stripped)
            if lines:
                items: Any = lines if simple or parse is not None else [
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
    return sent, skipped, bad


def _parsed(
    records: list[bytes], parse: Any, lineno: int, key: bytes | None, headers: Any, partition: int | None,
    invalid: list[str] | None = None,
) -> tuple[list[Any], int, str | None]:
    """``records`` as :class:`Record` items up to the first bad one: (items, empty records
    skipped, the error naming the bad record's line number or None). With ``invalid`` (a list:
    ``--skip-invalid``) bad records are appended to it and skipped instead."""
    items: list[Any] = []
    empty = 0
    for number, raw in enumerate(records, lineno + 1):
        try:
            record = parse(raw, key, headers, partition)
        except ValueError as exc:
            if invalid is not None:
                invalid.append(f"line {number}: {exc}")
                continue
            return items, empty, f"line {number}: {exc}"
        if record is None:
            empty += 1
        else:
            items.append(record)
    return items, empty, None


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
