"""``streamline ship``: the tutorial's log agent — follow files, ship every line, checkpoint
only what Kafka acknowledged."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

from .._ingest.templates import RECORD_OVERHEAD, compile_key_template, line_bytes_for
from ._app import app, connection
from ._metrics_option import METRICS_OPTION, with_metrics
from ._pipelines import StatusLine, plural
from ._run import run_async

if TYPE_CHECKING:
    from .._ingest.spec import InputSpec

DEFAULT_CHECKPOINTS = os.path.join(".streamline", "checkpoints")
DELIVERY_TIMEOUT = 30.0  # the producer's default: how long acknowledgements may take

__all__ = ["RECORD_OVERHEAD", "compile_key_template", "line_bytes_for", "ship_command"]


@app.command("ship")
def ship_command(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., metavar="PATH", help="Files or quoted globs to follow."),
    topic: str = typer.Option(
        ..., "--topic", "-t", metavar="TOPIC", help="Topic to ship lines to; may be a template: {name} {path} {hostname} {input}."
    ),
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
    multiline: str | None = typer.Option(
        None,
        "--multiline",
        metavar="PRESET|REGEX",
        help="Join continuation lines into one event: indented (Java stack traces), python (tracebacks), "
        "timestamp (events start with a timestamp), or a REGEX matching continuation lines.",
    ),
    multiline_negate: bool = typer.Option(
        False, "--multiline-negate", help="Continuation lines are those NOT matching the --multiline REGEX."
    ),
    multiline_match: str = typer.Option(
        "after", "--multiline-match", metavar="WHERE", help="after: continuations join the line before; before: the line after."
    ),
    multiline_timeout: float = typer.Option(
        5.0, "--multiline-timeout", min=0.001, metavar="SECONDS", help="Seconds an event waits for a continuation before it is sent."
    ),
    multiline_max_lines: int = typer.Option(
        500, "--multiline-max-lines", min=1, metavar="LINES", help="Longer events are sent and the rest starts a new event."
    ),
    parser: str | None = typer.Option(
        None, "--parser", metavar="KIND", help="json, regex (with --regex), cri or docker (container logs: partial lines joined)."
    ),
    regex: str | None = typer.Option(
        None, "--regex", metavar="PATTERN", help="For --parser regex: named groups become a JSON object."
    ),
    on_invalid: str = typer.Option(
        "send", "--on-invalid", metavar="POLICY", help="Events the parser rejects: send (with an error header), skip or stop."
    ),
    header: list[str] = typer.Option(
        [],
        "--header",
        metavar="host|path|offset|input|stream|K=V",
        help="Add a Kafka header to every record (repeatable): metadata or a static field.",
    ),
    envelope: bool = typer.Option(
        False, "--envelope", help='Send JSON {"@timestamp", "host", "path", "offset", "input", "message", ...}.'
    ),
) -> None:
    """Follow files like tail -F and ship every line to TOPIC (the tutorial's log agent).

    A line's position is checkpointed only after Kafka acknowledged it, so a crash or kill
    re-sends at most the last checkpoint interval (about one second) and loses nothing. A file's
    checkpoint always wins over --from, which applies only to files seen for the first time.

    Example: streamline ship '/var/log/nginx/*.log' --topic web_log --key '{hostname}'
    """
    from .._errors import ConfigurationError
    from .._follow.files import path_problems
    from .._ingest.build import build_input
    from .._producer import Producer
    from .._validation import check_choice, check_topic

    if "{" not in topic:
        check_topic(topic)
    check_choice("--from", start, ("beginning", "end"))
    check_choice("--long-lines", long_lines, ("split", "skip"))
    spec = ship_spec(
        paths, topic, key=key, start=start, long_lines=long_lines, max_line_bytes=max_line_bytes,
        exclude=exclude, multiline=multiline, multiline_negate=multiline_negate,
        multiline_match=multiline_match, multiline_timeout=multiline_timeout,
        multiline_max_lines=multiline_max_lines, parser=parser, regex=regex, on_invalid=on_invalid,
        header=header, envelope=envelope,
    )
    if must_exist:
        problems = path_problems(paths)
        if problems:
            problem = problems[0]
            raise ConfigurationError(f"{problem.filename}: {problem.strerror or problem} (--must-exist)")
    producer = Producer(
        acks=acks, compression=compression, max_message_bytes=max_message_bytes, connection=connection(ctx)
    )
    # Ship's checkpoints directory is the input's own (the agent uses a sub-directory per
    # input): a ship upgraded from an earlier version resumes where it was.
    built = build_input(
        spec,
        producer=producer,
        checkpoints_dir=checkpoints,
        once=once,
        rotate_wait=rotate_wait,
        strict_checkpoints=strict_checkpoints,
        must_exist=must_exist,
        max_message_bytes=max_message_bytes,
        grace=grace,
    )
    status = None if quiet else StatusLine(built, log_every=status_every)  # figures of the follower and parser

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
            pipeline = built.pipeline
            pipeline.on_tick = status
            stats = await run_with_signals(pipeline)
        finally:
            if status is not None:
                status.finish()
            # Bounded: after a signal only what is left of the grace period.
            await producer.stop(timeout=shutdown.remaining(DELIVERY_TIMEOUT))
        extra = "".join(f"; {part}" for part in built.status_parts())
        sys.stderr.write(
            f"streamline: shipped {plural(stats.delivered, 'line')} ({stats.bytes / 1e6:,.1f} MB) to {topic}; "
            f"checkpoints in {checkpoints}{extra}\n"
        )

    run_async(with_metrics(metrics, main))


def ship_spec(
    paths: list[str],
    topic: str,
    *,
    key: str | None = None,
    start: str = "end",
    long_lines: str = "split",
    max_line_bytes: int | None = None,
    exclude: list[str] | None = None,
    multiline: str | None = None,
    multiline_negate: bool = False,
    multiline_match: str = "after",
    multiline_timeout: float = 5.0,
    multiline_max_lines: int = 500,
    parser: str | None = None,
    regex: str | None = None,
    on_invalid: str = "send",
    header: list[str] | None = None,
    envelope: bool = False,
) -> InputSpec:
    """``ship``'s flags as the :class:`InputSpec` of its one input (named ``ship``)."""
    from .._errors import ConfigurationError
    from .._follow.events import PRESETS
    from .._ingest.spec import InputSpec, Metadata, Multiline, Parser
    from .._validation import check_choice

    multi = None
    if multiline is not None:
        check_choice("--multiline-match", multiline_match, ("after", "before"))
        preset = multiline if multiline in PRESETS else None
        if preset is not None and (multiline_negate or multiline_match != "after"):
            raise ConfigurationError(
                f"--multiline {preset} is a preset; --multiline-negate and --multiline-match are for a REGEX"
            )
        multi = Multiline(
            pattern=None if preset else multiline,
            preset=preset,  # type: ignore[arg-type]  # one of PRESETS
            negate=multiline_negate,
            match=multiline_match,  # type: ignore[arg-type]  # checked above
            timeout=multiline_timeout,
            max_lines=multiline_max_lines,
        )
    elif multiline_negate or multiline_match != "after":
        raise ConfigurationError("--multiline-negate and --multiline-match need --multiline")
    parse = None
    if parser is not None:
        check_choice("--parser", parser, ("json", "regex", "cri", "docker"))
        check_choice("--on-invalid", on_invalid, ("send", "skip", "stop"))
        if (parser == "regex") != (regex is not None):
            raise ConfigurationError("--regex PATTERN goes with --parser regex (and --parser regex needs it)")
        parse = Parser(parser, pattern=regex, on_invalid=on_invalid)  # type: ignore[arg-type]  # checked
    elif regex is not None:
        raise ConfigurationError("--regex needs --parser regex")
    names: list[str] = []
    fields: dict[str, str] = {}
    for item in header or []:
        if "=" in item:
            name, _, value = item.partition("=")
            if not name:
                raise ConfigurationError(f"--header {item!r}: a static field needs a name (K=V)")
            fields[name] = value
        elif item in ("host", "path", "offset", "input", "stream"):
            names.append(item)
        else:
            raise ConfigurationError(
                f"--header {item!r}: use host, path, offset, input, stream or a static field K=V"
            )
    return InputSpec(
        name="ship",
        paths=tuple(paths),
        topic=topic,
        key=key,
        exclude=tuple(exclude or ()),
        start=start,  # type: ignore[arg-type]  # checked by the caller
        long_lines=long_lines,  # type: ignore[arg-type]  # checked by the caller
        max_line_bytes=max_line_bytes,
        multiline=multi,
        parser=parse,
        metadata=Metadata(headers=tuple(names), envelope=envelope, fields=fields),
    )
