"""``streamline demo``: the tutorial end to end on the embedded broker, in one command."""

from __future__ import annotations

import json
import os
import sys
import time

import typer

from ._app import app
from ._run import run_async


def access_log_lines(count: int) -> list[bytes]:
    """Plausible nginx access-log lines (combined format)."""
    paths = ["/", "/index.html", "/api/orders", "/api/users/42", "/static/app.js", "/login"]
    codes = [200, 200, 200, 304, 404, 500]
    lines = []
    for i in range(count):
        ip = f"10.0.{i % 7}.{i % 251}"
        lines.append(
            f'{ip} - - [23/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET {paths[i % 6]} HTTP/1.1" '
            f'{codes[i % 6]} {512 + i % 900} "-" "curl/8.5"'.encode()
        )
    return lines


@app.command("demo")
def demo_command(
    lines: int = typer.Option(100_000, "--lines", min=1, metavar="N", help="How many access-log lines to generate and ship."),
    show: int = typer.Option(5, "--show", min=0, metavar="N", help="How many consumed messages to print."),
) -> None:
    """The log agent end to end: start the embedded broker, write an access.log, ship it with
    acknowledged checkpoints (like `streamline ship --once`), consume it back and show it.

    Example: streamline demo --lines 1000 --show 3
    """
    import tempfile

    from .._admin import Admin
    from .._broker import EmbeddedBroker
    from .._consume import consume
    from .._follow import Checkpoints, follow
    from .._pipeline import Pipeline, TopicSink
    from .._producer import Producer

    async def main() -> None:
        out = sys.stdout
        with tempfile.TemporaryDirectory(prefix="streamline-demo-") as workdir:
            log = os.path.join(workdir, "access.log")
            with open(log, "wb") as f:
                f.write(b"\n".join(access_log_lines(lines)) + b"\n")
            out.write(f"wrote {lines:,} lines to {log}\n")
            async with EmbeddedBroker() as broker:
                bootstrap = broker.bootstrap_servers
                out.write(f"embedded broker (Tansu) ready at {bootstrap}\n")
                async with Admin(bootstrap) as admin:
                    await admin.create_topic("access-log", partitions=4)
                checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"))
                started = time.perf_counter()
                async with Producer(bootstrap, acks="all") as producer:
                    follower = follow(log, start="beginning", checkpoints=checkpoints, stop_at_eof=True)
                    stats = await Pipeline(follower, to=TopicSink(producer, "access-log")).run()
                shipped = time.perf_counter() - started
                with open(checkpoints.path, "rb") as saved:
                    [record] = json.load(saved)["files"].values()
                out.write(
                    f"shipped {stats.delivered:,} lines with acks=all in {shipped:.2f}s "
                    f"({stats.delivered / shipped:,.0f} lines/s); acknowledged checkpoint at byte "
                    f"{record['offset']:,} of {os.path.getsize(log):,}\n"
                )
                seen = 0
                started = time.perf_counter()
                async with consume("access-log", bootstrap_servers=bootstrap, start="beginning") as stream:
                    async for msg in stream:
                        if seen < show:
                            out.write(
                                f"Partition:{msg.partition} Offset:{msg.offset} Key:{msg.key_text} Value:{msg.text}\n"
                            )
                        seen += 1
                        if seen == lines:
                            break
                took = time.perf_counter() - started
                out.write(f"consumed all {seen:,} lines back from 4 partitions in {took:.2f}s\n")

    run_async(main)
