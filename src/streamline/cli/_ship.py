"""``streamline ship``: the tutorial's log agent — follow files, ship every line, checkpoint
only what Kafka acknowledged."""

from __future__ import annotations

import typer

from .._ingest.templates import RECORD_OVERHEAD, compile_key_template, line_bytes_for
from ._app import app, connection
from ._metrics_option import METRICS_OPTION
from ._shiprun import DEFAULT_CHECKPOINTS, ship, ship_spec

__all__ = ["RECORD_OVERHEAD", "compile_key_template", "line_bytes_for", "ship_command", "ship_spec"]


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
    linger: float = typer.Option(
        0.005, "--linger", min=0.0, metavar="SECONDS",
        help="While lines keep coming, read (and send) at most once per this many seconds: lower is sooner, higher is less CPU.",
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
    ship(
        lambda: connection(ctx), paths, topic, key=key, checkpoints=checkpoints, start=start, once=once,
        acks=acks, compression=compression, grace=grace, quiet=quiet, status_every=status_every,
        metrics=metrics, max_message_bytes=max_message_bytes, max_line_bytes=max_line_bytes,
        long_lines=long_lines, exclude=exclude, must_exist=must_exist, rotate_wait=rotate_wait,
        linger=linger, strict_checkpoints=strict_checkpoints, multiline=multiline, multiline_negate=multiline_negate,
        multiline_match=multiline_match, multiline_timeout=multiline_timeout,
        multiline_max_lines=multiline_max_lines, parser=parser, regex=regex, on_invalid=on_invalid,
        header=header, envelope=envelope,
    )
