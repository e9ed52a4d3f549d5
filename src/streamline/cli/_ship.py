"""``streamline ship``: the tutorial's log agent — follow files, ship every line, checkpoint
only what Kafka acknowledged."""

from __future__ import annotations

import os
import socket
import string
import sys
from collections.abc import Callable
from typing import Any

import typer

from ._app import app, connection
from ._metrics_option import METRICS_OPTION, with_metrics
from ._pipelines import StatusLine, plural
from ._run import run_async

DEFAULT_CHECKPOINTS = os.path.join(".streamline", "checkpoints")
DELIVERY_TIMEOUT = 30.0  # the producer's default: how long acknowledgements may take


def compile_key_template(template: str) -> Callable[[Any], list[Any]]:
    """Turn ``--key`` into a function from a batch of lines to ``(key, line)`` items.

    Placeholders: ``{path}``, ``{name}`` (file name), ``{hostname}``, and ``{field1}`` …
    ``{field9}`` (whitespace-separated fields of the line, like awk's ``$1``; missing → empty).
    """
    from .._errors import ConfigurationError

    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:  # "{field1" and the like
        raise ConfigurationError(f"--key template {template!r} is not valid: {exc}") from None
    allowed = {"path", "name", "hostname"} | {f"field{i}" for i in range(1, 10)}
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ConfigurationError(
            f"--key template has unknown placeholder {{{unknown[0]}}}; use {{path}}, {{name}}, "
            "{hostname} or {field1}..{field9}"
        )
    fields = sorted(int(n[5:]) for n in names if n.startswith("field"))
    host = socket.gethostname()

    if not fields:

        def constant_per_file(batch: Any) -> list[Any]:
            path = batch.origin.path
            key = template.format(path=path, name=os.path.basename(path), hostname=host).encode()
            return [(key, line) for line in batch.values]

        return constant_per_file
    deepest = fields[-1]

    def per_line(batch: Any) -> list[Any]:
        path = batch.origin.path
        base = {"path": path, "name": os.path.basename(path), "hostname": host}
        items = []
        for line in batch.values:
            parts = line.split(None, deepest)
            values = dict(base)
            for i in fields:
                values[f"field{i}"] = parts[i - 1].decode("utf-8", "replace") if len(parts) >= i else ""
            items.append((template.format(**values).encode(), line))
        return items

    return per_line


#: Room a record needs besides its value: the record batch header (61 bytes), the record's
#: own header (up to ~25 bytes of varints and attributes), with margin.
RECORD_OVERHEAD = 512


def line_bytes_for(max_message_bytes: int, key_template: str | None) -> int:
    """The longest line (piece) that still fits in one record of ``max_message_bytes``.

    A key made of fields of the line can be as long as the line itself, so such a key halves
    the room; ``{path}``/``{name}``/``{hostname}`` keys take at most a path's length (4 KiB).
    """
    room = max_message_bytes - RECORD_OVERHEAD
    if key_template:
        if "{field" in key_template:
            room = (room - 4096 - len(key_template)) // 2
        else:
            room -= 4096 + len(key_template)
    return max(1, room)


@app.command("ship")
def ship_command(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., metavar="PATH", help="Files or quoted globs to follow."),
    topic: str = typer.Option(..., "--topic", "-t", metavar="TOPIC", help="Topic to ship lines to."),
    key: str | None = typer.Option(None, "--key", "-k", metavar="TEMPLATE", help="Key template: {path} {name} {hostname} {field1}..{field9}."),
    checkpoints: str = typer.Option(DEFAULT_CHECKPOINTS, "--checkpoints", metavar="DIR", help="Directory for acknowledged positions."),
    start: str = typer.Option("end", "--from", metavar="WHERE", help="beginning or end; only for files without a checkpoint."),
    once: bool = typer.Option(False, "--once", help="Ship what is there, wait for every acknowledgement, save checkpoints, exit."),
    acks: str = typer.Option("all", "--acks", metavar="ACKS", help="0, 1 or all."),
    compression: str | None = typer.Option(None, "--compression", metavar="CODEC", help="gzip, snappy, lz4 or zstd."),
    grace: float = typer.Option(30.0, "--grace", min=0.1, metavar="SECONDS", help="Seconds to drain in-flight data on SIGINT/SIGTERM."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line."),
    status_every: float = typer.Option(
        10.0, "--status-every", min=0.1, metavar="SECONDS", help="Seconds between status log lines when not on a terminal."
    ),
    metrics: str | None = METRICS_OPTION,
    max_message_bytes: int = typer.Option(
        1_048_576, "--max-message-bytes", min=1024, metavar="BYTES", help="Largest record sent (Kafka's max.request.size)."
    ),
    max_line_bytes: int | None = typer.Option(
        None,
        "--max-line-bytes",
        min=1,
        metavar="BYTES",
        help="Longer lines are split into pieces of this size (default: what fits in --max-message-bytes).",
    ),
    long_lines: str = typer.Option("split", "--long-lines", metavar="POLICY", help="split (default) or skip lines over --max-line-bytes."),
    exclude: list[str] = typer.Option([], "--exclude", metavar="PATTERN", help="Do not ship files matching PATTERN (path or name)."),
    must_exist: bool = typer.Option(
        False, "--must-exist", help="A missing, unreadable or directory path is an error (exit 2), not a warning."
    ),
    rotate_wait: float = typer.Option(
        30.0, "--rotate-wait", min=0.0, metavar="SECONDS", help="Seconds a renamed or deleted file must be quiet before it is closed."
    ),
    strict_checkpoints: bool = typer.Option(
        False, "--strict-checkpoints", help="Fail if checkpoints cannot be saved, instead of warning and retrying."
    ),
) -> None:
    """Follow files like tail -F and ship every line to TOPIC (the tutorial's log agent).

    A line's position is checkpointed only after Kafka acknowledged it, so a crash or kill
    re-sends at most the last checkpoint interval (about one second) and loses nothing. A file's
    checkpoint always wins over --from, which applies only to files seen for the first time.

    Example: streamline ship '/var/log/nginx/*.log' --topic web_log --key '{hostname}'
    """
    from .._errors import ConfigurationError
    from .._follow import Checkpoints, follow
    from .._follow.files import path_problems
    from .._pipeline import Pipeline, TopicSink
    from .._producer import Producer
    from .._validation import check_choice, check_topic

    check_topic(topic)
    check_choice("--from", start, ("beginning", "end"))
    check_choice("--long-lines", long_lines, ("split", "skip"))
    items = compile_key_template(key) if key else None
    line_limit = line_bytes_for(max_message_bytes, key)
    if max_line_bytes is None:
        max_line_bytes = line_limit
    elif max_line_bytes > line_limit:
        raise ConfigurationError(
            f"--max-line-bytes {max_line_bytes} does not fit in a record of --max-message-bytes "
            f"{max_message_bytes} (at most {line_limit} with this --key); raise --max-message-bytes"
        )
    if must_exist:
        problems = path_problems(paths)
        if problems:
            problem = problems[0]
            raise ConfigurationError(f"{problem.filename}: {problem.strerror or problem} (--must-exist)")
    producer = Producer(
        acks=acks, compression=compression, max_message_bytes=max_message_bytes, connection=connection(ctx)
    )
    follower = follow(
        paths,
        start=start,  # type: ignore[arg-type]  # checked above
        checkpoints=Checkpoints(checkpoints, strict=strict_checkpoints),
        stop_at_eof=once,
        max_line_bytes=max_line_bytes,
        long_lines=long_lines,  # type: ignore[arg-type]  # checked above
        exclude=exclude,
        must_exist=must_exist,
        rotate_wait=rotate_wait,
    )
    status = None if quiet else StatusLine(follower, log_every=status_every)

    async def main() -> None:
        from ._pipelines import run_with_signals, start_when_reachable
        from ._shutdown import current

        shutdown = current()
        shutdown.grace = grace
        if status is not None:
            shutdown.on_stop(status.stop_drawing)

        async def start() -> bool:
            await producer.start()
            return True

        # Started before the broker answers: wait for it, as during an outage later on (a
        # one-shot --once run fails fast instead, like produce).
        if once:
            await start()
        elif not await start_when_reachable(start, what="ship", status=status):
            sys.stderr.write("streamline: stopped before Kafka answered; nothing was shipped\n")
            return
        try:
            pipeline = Pipeline(
                follower,
                to=TopicSink(producer, topic, items=items),
                grace=grace,
                on_tick=status,
            )
            stats = await run_with_signals(pipeline)
        finally:
            if status is not None:
                status.finish()
            # Bounded: after a signal only what is left of the grace period.
            await producer.stop(timeout=shutdown.remaining(DELIVERY_TIMEOUT))
        extra = "".join(f"; {part}" for part in follower.stats.status_parts())
        sys.stderr.write(
            f"streamline: shipped {plural(stats.delivered, 'line')} ({stats.bytes / 1e6:,.1f} MB) to {topic}; "
            f"checkpoints in {checkpoints}{extra}\n"
        )

    run_async(with_metrics(metrics, main))
