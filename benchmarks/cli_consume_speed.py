"""``streamline consume`` to /dev/null against the library's ``async for``, same topic, same run.

    python -m benchmarks.cli_consume_speed [N] [RUNS]

Starts an embedded broker, writes N 100-byte messages to 4 partitions, then reads them all
back: the library (`async for` in this process) and the installed command (`--format text`,
`json`, `value`; interpreter start-up included) with stdout on /dev/null. Prints medians and
the command's rate as a fraction of the library's (the target is >= 0.8x).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


async def main(total: int, runs: int) -> None:
    import compileall

    import streamline
    from streamline import Admin, EmbeddedBroker, Producer, consume

    for directory in streamline.__path__:  # as pip does; else every start compiles the package
        compileall.compile_dir(directory, quiet=1)

    async with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        async with Admin(bootstrap) as admin:
            await admin.create_topic("bench", partitions=4)
        value = b"x" * 100
        async with Producer(bootstrap) as producer:
            for start in range(0, total, 50_000):
                await producer.send_many("bench", [value] * min(50_000, total - start))

        async def library() -> float:
            began = time.perf_counter()
            seen = 0
            async with consume("bench", start="beginning", bootstrap_servers=bootstrap) as stream:
                async for _msg in stream:
                    seen += 1
                    if seen == total:
                        break
            return time.perf_counter() - began

        def command(fmt: str, count: int = total) -> float:
            began = time.perf_counter()
            with open(os.devnull, "wb") as sink:
                subprocess.run(
                    [STREAMLINE, "-b", bootstrap, "consume", "bench", "--from", "beginning",
                     "--max", str(count), "--format", fmt],
                    stdout=sink, check=True,
                )
            return time.perf_counter() - began

        results: dict[str, list[float]] = {"library async for": [], "text": [], "json": [], "value": []}
        startup: list[float] = []
        for _ in range(runs):
            results["library async for"].append(await library())
            for fmt in ("text", "json", "value"):
                results[fmt].append(await asyncio.to_thread(command, fmt))
            startup.append(await asyncio.to_thread(command, "value", 1))
        base = statistics.median(results["library async for"])
        fixed = statistics.median(startup)
        for name, seconds in results.items():
            med = statistics.median(seconds)
            line = f"{name:>18}: {med:6.2f} s  {total / med / 1000:7.0f}k msg/s  {base / med:.2f}x of the library"
            if name != "library async for":
                line += f"  ({base / (med - fixed):.2f}x without the {fixed:.2f} s start-up)"
            print(line)
        print(f"{'start-up':>18}: {fixed:6.2f} s  (`--max 1`: interpreter, imports, connect, first fetch)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 3))
