"""``streamline consume``: print a topic's messages as text lines or JSON objects."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import typer

from ._app import app, connection
from ._metrics_option import METRICS_OPTION, with_metrics
from ._run import run_async


def encode_bytes(data: bytes | None) -> Any:
    """JSON for bytes, lossless: a string when valid UTF-8, else ``{"base64": "..."}``; null for None."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def format_text(msg: Any) -> str:
    """The tutorial's line: ``Partition:0 Offset:13 Key: Value:...``."""
    return f"Partition:{msg.partition} Offset:{msg.offset} Key:{msg.key_text} Value:{msg.text}"


def format_json(msg: Any) -> str:
    """One JSON object per message; bytes fields follow :func:`encode_bytes`."""
    return json.dumps(
        {
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "key": encode_bytes(msg.key),
            "value": encode_bytes(msg.value),
            "headers": [[name, encode_bytes(value)] for name, value in msg.headers],
            "timestamp": msg.timestamp,
        },
        ensure_ascii=False,
    )


@app.command("consume")
def consume_command(
    ctx: typer.Context,
    topic: str = typer.Argument(..., help="Topic to read."),
    start: str = typer.Option("end", "--from", help="end, beginning, an OFFSET, or an ISO-8601 time."),
    group: str | None = typer.Option(None, "--group", "-g", help="Consumer group (commits after printing)."),
    max_messages: int | None = typer.Option(None, "--max", "-n", min=1, help="Exit 0 after N messages."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.0, help="Exit 0 after SECONDS without a message."),
    output: str = typer.Option("text", "--format", "-f", help="text or json."),
    metrics: str | None = METRICS_OPTION,
    assignor: str = typer.Option(
        "roundrobin", "--assignor",
        help="Group assignment strategy: roundrobin, range or sticky (comma-separated: several).",
    ),
) -> None:
    """Print messages from every partition of TOPIC.

    Text: `Partition:P Offset:O Key:K Value:V`. JSON: one object per line with topic,
    partition, offset, key, value, headers, timestamp; a key, value or header that is not valid
    UTF-8 is written as {"base64": "..."} so no byte is lost.

    While the broker does not answer, a line on stderr every few seconds says so and the
    command keeps retrying; with --timeout it gives up after that long (exit 1).
    """
    from .._consume import consume
    from .._validation import check_choice

    check_choice("format", output, ("text", "json"))
    render = format_text if output == "text" else format_json
    stream = consume(
        topic, start=start, group=group, connection=connection(ctx),
        assignor=[a.strip() for a in assignor.split(",")], unreachable_timeout=timeout or None,
    )

    async def report_outages() -> None:
        """One line every few seconds while the cluster does not answer (not a log flood)."""
        import anyio

        while True:
            await anyio.sleep(OUTAGE_REPORT_EVERY)
            down = stream.unreachable_for
            if down is not None:
                sys.stderr.write(
                    f"streamline: broker at {stream.connection.bootstrap_servers} unreachable "
                    f"for {down:.0f}s, retrying\n"
                )
                sys.stderr.flush()

    async def main() -> None:
        import asyncio

        out = sys.stdout
        async with stream:
            reporter = asyncio.ensure_future(report_outages())  # not a task group: errors stay unwrapped
            try:
                await consume_loop(stream)
            finally:
                reporter.cancel()
        out.flush()

    async def consume_loop(stream: Any) -> None:
        import anyio

        from .._errors import BrokerUnavailableError

        out = sys.stdout
        seen = 0
        while max_messages is None or seen < max_messages:
            msg = None
            with anyio.move_on_after(timeout if timeout is not None else float("inf")):
                msg = await stream.__anext__()
            if msg is None:  # idle for --timeout seconds
                if stream.unreachable_for is not None:
                    raise BrokerUnavailableError(
                        f"cannot reach Kafka at {stream.connection.bootstrap_servers}: "
                        f"no answer for {stream.unreachable_for:.0f}s (--timeout {timeout:g})"
                    )
                try:  # idle, or a broker that went away just now? ask before calling it idle
                    await stream.check_connection()
                except BrokerUnavailableError as exc:
                    raise BrokerUnavailableError(f"{exc} (--timeout {timeout:g})") from None
                if group is not None and not stream.assignment():
                    continue  # still joining the group: that is not idle time
                break
            seen += 1
            out.write(render(msg) + "\n")
            if not stream.buffered:
                out.flush()

    from .._metrics import consumer_ready

    run_async(with_metrics(metrics, main, ready=lambda: consumer_ready(stream)))


#: Seconds between two "unreachable" lines of ``streamline consume``.
OUTAGE_REPORT_EVERY = 5.0
