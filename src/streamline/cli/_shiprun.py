"""What ``streamline ship`` does once its options are read: build the input, run the pipeline,
report. Free of typer: the typer command (``_ship``) and the typer-free fast path (``_fast``)
both call :func:`ship`, so a following ``ship`` keeps no CLI framework in memory.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._memory import TrimWhenQuiet, defer_cramjam, tune_malloc
from ._pipelines import StatusLine, plural, with_metrics
from ._run import run_async

if TYPE_CHECKING:
    from .._config import ConnectionConfig
    from .._ingest.spec import InputSpec

DEFAULT_CHECKPOINTS = os.path.join(".streamline", "checkpoints")
DELIVERY_TIMEOUT = 30.0  # the producer's default: how long acknowledgements may take

__all__ = ["DEFAULT_CHECKPOINTS", "ship", "ship_spec"]


def ship(
    connection: Callable[[], ConnectionConfig],
    paths: list[str],
    topic: str,
    *,
    key: str | None = None,
    checkpoints: str = DEFAULT_CHECKPOINTS,
    start: str = "end",
    once: bool = False,
    acks: str = "all",
    compression: str | None = None,
    grace: float = 30.0,
    quiet: bool = False,
    status_every: float = 10.0,
    metrics: str | None = None,
    max_message_bytes: int = 1_048_576,
    max_line_bytes: int | None = None,
    long_lines: str = "split",
    exclude: list[str] | None = None,
    must_exist: bool = False,
    rotate_wait: float = 30.0,
    linger: float = 0.005,
    strict_checkpoints: bool = False,
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
) -> None:
    """Run ``streamline ship`` with its options as read from the command line (see ``_ship``);
    ``connection`` gives the validated connection settings."""
    # The shell leaves `--checkpoints=~/x` (and ~ in STREAMLINE_CHECKPOINTS) alone: expand it here.
    checkpoints = os.path.expanduser(checkpoints)
    tuned = tune_malloc()
    if compression not in ("snappy", "lz4", "zstd"):
        defer_cramjam()
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
        acks=acks, compression=compression, max_message_bytes=max_message_bytes, connection=connection()
    )
    # Ship's checkpoints directory is the input's own (the agent uses a sub-directory per
    # input): a ship upgraded from an earlier version resumes where it was.
    built = build_input(
        spec,
        producer=producer,
        checkpoints_dir=checkpoints,
        once=once,
        rotate_wait=rotate_wait,
        linger=linger,
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
            # Following: what start-up and bursts leave freed goes back to the kernel when quiet.
            pipeline.on_tick = TrimWhenQuiet(status) if tuned and not once else status
            # Idle, no tick (no wake-up) unless the status line needs one: ticks resume with lines.
            pipeline.quiet_tick_interval = math.inf if status is None else status.quiet_interval(pipeline.tick_interval)
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
