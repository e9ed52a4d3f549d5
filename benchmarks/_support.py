"""What every benchmark case shares: sizes, the broker, topics, test data, read-back, rows."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

#: The installed command, next to this interpreter (what a user runs).
STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")

# An access.log line of 127 bytes with its newline; the last 8 digits number it (``rid=``), so a
# read-back can count distinct lines without keeping them.
_PREFIX = (
    b'10.1.2.3 - - [10/Oct/2024:13:55:36 +0000] "GET /api/v1/items?page=7 HTTP/1.1" 200 2326 '
    b'"-" "curl/8.5.0"'
)
_PREFIX = _PREFIX + b" " * (127 - 1 - len(_PREFIX) - len(b" rid=00000000"))
LINE_BYTES = 127


def access_line(n: int) -> bytes:
    """Line ``n`` of the benchmark access.log, without its newline (126 bytes)."""
    return b"%s rid=%08d" % (_PREFIX, n)


def access_lines(start: int, stop: int) -> bytes:
    """Lines ``start`` .. ``stop - 1``, newline-terminated, as one block."""
    prefix = _PREFIX
    return b"".join([b"%s rid=%08d\n" % (prefix, n) for n in range(start, stop)])


def line_number(value: bytes) -> int:
    return int(value[-8:])


assert len(access_line(0)) + 1 == LINE_BYTES


@dataclass
class Sizes:
    """How much work each case does: full (the targets) or smoke (CI: seconds in total)."""

    produce_messages: int = 300_000
    consume_messages: int = 500_000
    ship_lines: int = 1_000_000
    naive_lines: int = 10_000
    latency_seconds: float = 10.0
    latency_rate: int = 1_000
    memory_outage: float = 60.0
    memory_bytes: int = 1 << 30
    cli_runs: int = 7

    @classmethod
    def smoke(cls) -> "Sizes":
        return cls(
            produce_messages=3_000,
            consume_messages=3_000,
            ship_lines=5_000,
            naive_lines=200,
            latency_seconds=1.5,
            latency_rate=200,
            memory_outage=3.0,
            memory_bytes=4 << 20,
            cli_runs=1,
        )


@dataclass
class Context:
    bootstrap: str
    #: "embedded" (started by the benchmarks) or "external"
    broker: str
    sizes: Sizes
    workdir: str
    smoke: bool
    log: Callable[[str], None] = print
    topics: list[str] = field(default_factory=list)

    async def new_topic(self, prefix: str, partitions: int = 4) -> str:
        from streamline import Admin

        name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
        async with Admin(self.bootstrap) as admin:
            await admin.create_topic(name, partitions=partitions)
        self.topics.append(name)
        return name

    async def drop_topics(self) -> None:
        """Delete the topics this case made (the embedded broker keeps its log in memory)."""
        from streamline import Admin

        topics, self.topics = self.topics, []
        if not topics:
            return
        async with Admin(self.bootstrap) as admin:
            for name in topics:
                try:
                    await admin.delete_topic(name)
                except Exception:  # noqa: BLE001 - best effort
                    pass


@dataclass
class Row:
    """One line of the results table."""

    case: str
    what: str
    baseline: str
    streamline: str
    ratio: str
    target: str
    verdict: str  # PASS, MISS or "info"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def fmt_rate(value: float, unit: str = "msg/s") -> str:
    return f"{value:,.0f} {unit}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def batches_until(stream: Any, deadline: float) -> AsyncIterator[list[Any]]:
    """``stream.batches()`` until ``deadline`` (monotonic) passes without a batch."""
    iterator = stream.batches().__aiter__()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            yield await asyncio.wait_for(iterator.__anext__(), remaining)
        except (asyncio.TimeoutError, StopAsyncIteration):
            return


async def count_messages(bootstrap: str, topic: str, expected: int, timeout: float) -> int:
    """Read ``topic`` from the beginning until ``expected`` messages arrived (or ``timeout``).

    A consumer, not end offsets: the embedded broker's ListOffsets(latest) is wrong after
    multi-record batches.
    """
    from streamline import consume

    count = 0
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for batch in batches_until(stream, deadline):
            count += len(batch)
            if count >= expected:
                break
    return count


@dataclass
class LineTally:
    """Distinct benchmark lines seen (by their number), and how many arrived twice or more."""

    total: int
    seen: bytearray = field(init=False)
    distinct: int = 0
    messages: int = 0

    def __post_init__(self) -> None:
        self.seen = bytearray(self.total)

    def add(self, batch: list[Any]) -> None:
        seen = self.seen
        fresh = 0
        for message in batch:
            n = int(message.value[-8:])
            if not seen[n]:
                seen[n] = 1
                fresh += 1
        self.distinct += fresh
        self.messages += len(batch)

    @property
    def duplicates(self) -> int:
        return self.messages - self.distinct


async def tally_lines(
    bootstrap: str, topic: str, total: int, timeout: float, *, on_batch: Callable[[], None] | None = None
) -> LineTally:
    """Read ``topic`` from the beginning until all ``total`` numbered lines arrived (or ``timeout``)."""
    from streamline import consume

    tally = LineTally(total)
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for batch in batches_until(stream, deadline):
            tally.add(batch)
            if on_batch is not None:
                on_batch()
            if tally.distinct >= total:
                break
    return tally


def wall_time(args: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> float:
    """Seconds one subprocess takes, start to exit."""
    started = time.perf_counter()
    result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])}... exited {result.returncode}: "
            f"{result.stderr.decode(errors='replace').strip()[-500:]}"
        )
    return elapsed


#: A ``ship`` that fails its path check (exit 2) after the CLI and ship's modules are imported,
#: before connecting: ``--help`` is answered without importing them, so it no longer measures that.
STARTUP_COMMAND = ["ship", "/nonexistent/streamline-startup.log", "--topic", "t", "--must-exist"]


def startup_seconds(runs: int = 3) -> float:
    """Median wall time of a ``streamline ship`` stopped by its path check: interpreter start-up
    plus the imports a ``ship`` needs (typer, aiokafka, the pipeline), no Kafka."""
    return median([wall_time([STREAMLINE, *STARTUP_COMMAND], check=False) for _ in range(max(1, runs))])


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for entry in status:
                if entry.startswith("VmRSS:"):
                    return int(entry.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
