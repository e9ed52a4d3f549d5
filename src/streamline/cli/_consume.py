"""``streamline consume``: print a topic's messages as text lines, JSON objects, raw values or a template."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import typer

from ._app import app, connection
from ._consume_format import FIELDS, renderer, text_renderer
from ._metrics_option import METRICS_OPTION, with_metrics
from ._run import fail, run_async

_FIELDS_HELP = ", ".join("{" + name + "}" for name in FIELDS)


@dataclass
class Plan:
    """Which partitions ``consume`` prints and from/to where (None: every partition, as fetched)."""

    partitions: set[int] | None = None
    starts: dict[int, int] = field(default_factory=dict)  # first offset printed per partition
    ends: dict[int, int] | None = None  # --exit-at-end: the log end per partition at start
    stream_start: dict[int, int] | None = None  # the library's start per partition (None: --from)


@app.command("consume")
def consume_command(
    ctx: typer.Context,
    topic: str = typer.Argument(..., help="Topic to read."),
    start: str = typer.Option(
        "end", "--from", metavar="WHERE", help="end, beginning, an OFFSET, -N (= --last N), or an ISO-8601 time."
    ),
    partition: list[int] = typer.Option(
        [], "--partition", "-p", min=0, metavar="N", help="Read only partition N; repeatable."
    ),
    offset: list[str] = typer.Option(
        [], "--offset", metavar="P:O", help="Start partition P at offset O (reads only the partitions named); repeatable."
    ),
    last: int | None = typer.Option(None, "--last", min=1, metavar="N", help="Start N messages before the end of each partition."),
    exit_at_end: bool = typer.Option(
        False, "--exit-at-end", "-e", help="Exit 0 once every partition reached the end it had at start."
    ),
    group: str | None = typer.Option(None, "--group", "-g", metavar="GROUP", help="Consumer group (commits after printing)."),
    no_commit: bool = typer.Option(False, "--no-commit", help="With --group: join the group but never commit."),
    max_messages: int | None = typer.Option(None, "--max", "-n", min=1, metavar="N", help="Exit 0 after N messages."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.0, metavar="SECONDS", help="Exit 0 after SECONDS without a message."),
    output: str = typer.Option(
        "text", "--format", "-f", metavar="FORMAT",
        help=f"text, json, value (the raw value per line), or a template using {_FIELDS_HELP}.",
    ),
    show_key: bool = typer.Option(True, "--show-key/--hide-key", help="Text format: print Key:K."),
    show_timestamp: bool = typer.Option(
        False, "--show-timestamp/--hide-timestamp", help="Text format: print Timestamp:T (ISO-8601, UTC)."
    ),
    show_headers: bool = typer.Option(
        False, "--show-headers/--hide-headers", help="Text format: print Headers:NAME=VALUE,..."
    ),
    value_schema: str | None = typer.Option(
        None, "--value-schema", metavar="FILE.avsc", help="Decode values as Avro with this schema; print them as JSON."
    ),
    metrics: str | None = METRICS_OPTION,
    assignor: str = typer.Option(
        "roundrobin", "--assignor", metavar="STRATEGY",
        help="Group assignment strategy: roundrobin, range or sticky (comma-separated: several).",
    ),
) -> None:
    """Print messages from every partition of TOPIC (or the ones named by --partition / --offset).

    Text: `Partition:P Offset:O Key:K Value:V` (--show-timestamp adds Timestamp:T after the
    offset, --show-headers Headers:H before the value, --hide-key drops Key:K). JSON: one object per line with topic,
    partition, offset, key, value, headers, timestamp (milliseconds) and timestamp_iso (UTC);
    a key, value or header that is not valid UTF-8 is written as {"base64": "..."} so no byte
    is lost; a value that is a JSON object or array is written nested, as JSON. --value-schema
    decodes Avro values (printed as JSON).

    A topic that does not exist yet, or a start past the end, is waited for (one line on stderr
    says so). While the broker does not answer, a line on stderr every few seconds says so and
    the command keeps retrying; with --timeout it gives up after that long (exit 1).

    Example: streamline consume web_log --from beginning --exit-at-end -f '{offset} {value}'
    """
    from .._consume import consume
    from .._validation import parse_start

    if start[1:].isdigit() and start.startswith("-"):  # --from -N: the last N (kcat's -o -N)
        if last is not None:
            fail("--from -N and --last N say the same; use one", 2)
        last, start = int(start[1:]) or None, "end"
    try:
        render = renderer(output)
        if value_schema is not None:
            from ._value_schema import avro_values

            render = avro_values(render, value_schema)
    except ValueError as exc:
        fail(str(exc), 2)
    if (not show_key, show_timestamp, show_headers) != (False, False, False):
        if output != "text":
            fail("--hide-key, --show-timestamp and --show-headers shape the text format; drop them or -f text", 2)
        render = text_renderer(key=show_key, timestamp=show_timestamp, headers=show_headers)
    starts = _parse_offsets(offset)
    selected = set(partition) | set(starts)
    if group is not None and (selected or last is not None or exit_at_end):
        fail("--partition, --offset, --last and --exit-at-end read without a group; drop --group", 2)
    if no_commit and group is None:
        fail("--no-commit needs --group", 2)
    planned = bool(selected) or last is not None or exit_at_end
    manual = group is not None  # what is printed is acknowledged (and committed, unless --no-commit)
    position = parse_start(start)
    conn = connection(ctx)
    streams: list[Any] = []  # the stream, once the plan says where it starts

    def open_stream(first: Any) -> Any:
        stream = consume(
            topic, start=first, group=group, connection=conn,
            assignor=[a.strip() for a in assignor.split(",")], unreachable_timeout=timeout or None,
            ack="manual" if manual else "auto",
            # --no-commit never acknowledges: nothing to wait for on revoke, no limit on the unacked.
            revoke_timeout=0 if no_commit else 10.0, max_unacked=1 << 62 if no_commit else 100_000,
        )
        streams.append(stream)
        return stream

    open_stream(position)  # checks every option before connecting

    async def report_outages(stream: Any) -> None:
        """One line every few seconds while the cluster does not answer (not a log flood)."""
        import anyio

        while True:
            await anyio.sleep(OUTAGE_REPORT_EVERY)
            down = stream.unreachable_for
            if down is not None:
                _note(
                    f"broker at {stream.connection.bootstrap_servers} unreachable for {down:.0f}s, retrying"
                )

    async def make_plan() -> Plan:
        """Resolve partitions and start/end offsets with the cluster's watermarks; say once what
        is waited for (a missing topic, a start past the end)."""
        from datetime import datetime

        from .._admin import Admin

        if group is None and not planned and not isinstance(position, int):
            return Plan()  # the common case needs no watermarks (a missing topic: see main())
        async with Admin(connection=conn) as admin:
            if not await admin.topic_exists(topic):
                if planned:
                    fail(f"topic {topic!r} does not exist", 1)
                if group is not None:  # without a group, main() sees no partitions and says so
                    _note(f"waiting for topic {topic} to exist")
                return Plan()
            if group is not None or not (planned or isinstance(position, int)):
                return Plan()
            at = position if isinstance(position, datetime) else None
            marks = {p.partition: p for p in await admin.topic_offsets(topic, at=at)}
        missing = sorted(selected - set(marks))
        if missing:
            fail(f"partition {missing[0]} does not exist in {topic!r} (it has {len(marks)})", 1)
        chosen = selected or set(marks)
        plan = Plan(partitions=chosen if selected else None)
        for p in sorted(chosen):
            mark = marks[p]
            if p in starts:
                plan.starts[p] = starts[p]
            elif last is not None:
                plan.starts[p] = max(mark.low, mark.high - last)
            elif position == "beginning":
                plan.starts[p] = mark.low
            elif isinstance(position, int):
                plan.starts[p] = position
            elif isinstance(position, datetime) and mark.at is not None:
                plan.starts[p] = mark.at
            else:
                plan.starts[p] = mark.high
        if exit_at_end:
            plan.ends = {p: marks[p].high for p in chosen}
        # The library seeks each partition to its own start. One past the end is placed at the
        # end (Kafka would reset it to the beginning), and what precedes it is dropped below.
        plan.stream_start = {p: min(s, marks[p].high) for p, s in plan.starts.items()}
        past = [(p, s, marks[p].high) for p, s in sorted(plan.starts.items()) if s > marks[p].high]
        if past and not exit_at_end:  # --exit-at-end waits for nothing: those partitions are done
            _note("; ".join(f"waiting for new messages in {topic}[{p}]: offset {s} is past its end ({high})" for p, s, high in past))
        return plan

    async def main() -> None:
        import asyncio

        plan = await make_plan()
        stream = streams[0] if plan.stream_start is None else open_stream(plan.stream_start)
        async with stream:
            if group is None and not stream.assignment():
                _note(f"waiting for topic {topic} to exist")
            reporter = asyncio.ensure_future(report_outages(stream))  # not a task group: errors stay unwrapped
            try:
                with _collecting_less():
                    await consume_loop(stream, plan)
            finally:
                reporter.cancel()

    async def consume_loop(stream: Any, plan: Plan) -> None:
        import anyio

        from .._errors import BrokerUnavailableError

        out = sys.stdout.buffer
        sys.stdout.flush()
        seen = 0
        wanted, starts_at, ends = plan.partitions, plan.starts, plan.ends
        done: set[int] = set()
        if ends is not None:
            done = {p for p, end in ends.items() if plan.starts.get(p, 0) >= end}
            if len(done) == len(ends):
                return
        batches = stream.batches()
        while max_messages is None or seen < max_messages:
            batch = None
            with anyio.move_on_after(timeout if timeout is not None else float("inf")):
                batch = await batches.__anext__()
            if batch is None:  # idle for --timeout seconds
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
            shown = batch
            p = batch[0].partition
            if wanted is not None and p not in wanted:
                continue
            first = starts_at.get(p)
            if first is not None and batch[0].offset < first:
                shown = [m for m in shown if m.offset >= first]
            if ends is not None:
                if p in done:
                    continue
                end = ends.get(p)
                if end is None:
                    continue  # a partition added since the start: past "the end it had at start"
                if shown and shown[-1].offset >= end - 1:
                    shown = [m for m in shown if m.offset < end]
                    done.add(p)
            if max_messages is not None and seen + len(shown) > max_messages:
                shown = shown[: max_messages - seen]
            if shown:
                out.write(render(shown))
                out.flush()
                seen += len(shown)
                if manual and not no_commit:
                    stream.ack(shown)
            if ends is not None and len(done) == len(ends):
                break

    from .._metrics import consumer_ready

    run_async(with_metrics(metrics, main, ready=lambda: consumer_ready(streams[-1])))


@contextmanager
def _collecting_less() -> Iterator[None]:
    """Fewer garbage collections while printing: the start-up's objects are frozen (never scanned
    again) and the first generation is collected every 50,000 allocations, not 700. Messages hold
    no cycles, but a fetched batch of thousands lives long enough to be promoted through every
    generation; the collector's passes over them took ~25% of the command's CPU. Restored after
    (the command may run inside another program)."""
    import gc

    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:  # (what someone else froze stays frozen)
            gc.unfreeze()


def _note(text: str) -> None:
    sys.stderr.write(f"streamline: {text}\n")
    sys.stderr.flush()


def _parse_offsets(specs: list[str]) -> dict[int, int]:
    """``--offset P:O`` arguments as ``{partition: offset}`` (exit 2 on a malformed one)."""
    starts: dict[int, int] = {}
    for spec in specs:
        p, sep, o = spec.partition(":")
        if not (sep and p.strip().isdigit() and o.strip().isdigit()):
            fail(f"--offset must be PARTITION:OFFSET with two numbers >= 0 (got {spec!r})", 2)
        starts[int(p)] = int(o)
    return starts



#: Seconds between two "unreachable" lines of ``streamline consume``.
OUTAGE_REPORT_EVERY = 5.0
