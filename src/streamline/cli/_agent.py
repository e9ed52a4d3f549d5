"""``streamline agent --config agent.toml``: every input of a host from one file, one producer.

SIGINT/SIGTERM drain like ``ship`` (see ``_shutdown``); SIGHUP re-reads the file (inputs added
start, removed ones stop, changed ones restart, the others are not touched; a file with a
mistake is refused and the running config stays).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import typer

from .._errors import StreamlineError
from ._app import app
from ._globals import Globals
from ._metrics_option import METRICS_OPTION, with_metrics
from ._pipelines import StatusLine, clear_status_line
from ._run import run_async

DELIVERY_TIMEOUT = 30.0


class InputFailed(StreamlineError):
    """An input of the agent stopped with an error (exit 1)."""


class AgentStatus:
    """The status of every input: on a terminal one redrawn line (``name: rate, shipped`` per
    input), otherwise one log line per input every ``log_every`` seconds."""

    #: An input that has not ticked for this long (it stopped, or a reload removed it) leaves
    #: the terminal line.
    STALE_AFTER = 5.0

    def __init__(self, *, log_every: float = 10.0, stream: Any = None) -> None:
        self.log_every = log_every
        self.screen = StatusLine(stream=stream, log_every=log_every)
        self._lines: dict[str, StatusLine] = {}
        self._latest: dict[str, tuple[float, str]] = {}

    def __call__(self, name: str, follower: Any, pipeline: Any) -> None:
        line = self._lines.get(name)
        if line is None:
            line = self._lines[name] = StatusLine(follower, stream=self.screen.out, log_every=self.log_every)
        line.follower = follower
        if self.screen._stopped:
            return
        text = line.render(pipeline)
        if not self.screen.tty:
            line._show(f"{name}: {text}")
            return
        now = time.monotonic()
        self._latest[name] = (now, f"{name}: {text.split(' | ')[0]}, shipped {pipeline.stats.delivered:,}")
        shown = [entry for _, (at, entry) in sorted(self._latest.items()) if now - at < self.STALE_AFTER]
        self.screen._show(" | ".join(shown))

    def stop_drawing(self) -> None:
        self.screen.stop_drawing()


def _say(line: str) -> None:
    clear_status_line()
    sys.stderr.write(f"streamline: {line}\n")
    sys.stderr.flush()


@app.command("agent")
def agent_command(
    ctx: typer.Context,
    config_path: str = typer.Option(..., "--config", "-c", metavar="FILE", help="The agent config file (TOML)."),
    check: bool = typer.Option(False, "--check", help="Validate the config file and exit (nothing connects)."),
    bootstrap_servers: str | None = typer.Option(
        None, "--bootstrap-servers", "-b", metavar="HOST:PORT", help="Kafka bootstrap servers (overrides kafka.bootstrap_servers)."
    ),
    checkpoints: str | None = typer.Option(None, "--checkpoints", metavar="DIR", help="Checkpoint directory (overrides checkpoints)."),
    metrics: str | None = METRICS_OPTION,
    acks: str | None = typer.Option(None, "--acks", metavar="ACKS", help="0, 1 or all (overrides kafka.acks)."),
    compression: str | None = typer.Option(None, "--compression", metavar="CODEC", help="gzip, snappy, lz4, zstd or none."),
    max_message_bytes: int | None = typer.Option(None, "--max-message-bytes", min=1024, metavar="BYTES", help="Largest record sent."),
    grace: float | None = typer.Option(None, "--grace", min=0.1, metavar="SECONDS", help="Seconds to drain on SIGINT/SIGTERM (overrides grace)."),
    rotate_wait: float | None = typer.Option(None, "--rotate-wait", min=0.0, metavar="SECONDS", help="Seconds a renamed file must be quiet before it is closed."),
    linger: float | None = typer.Option(None, "--linger", min=0.0, metavar="SECONDS", help="While lines keep coming, read at most once per this many seconds (overrides linger)."),
    once: bool = typer.Option(False, "--once", help="Ship what is there in every input, save checkpoints, exit."),
    must_exist: bool = typer.Option(False, "--must-exist", help="A missing literal path is an error, not a warning."),
    strict_checkpoints: bool = typer.Option(False, "--strict-checkpoints", help="Fail if checkpoints cannot be saved."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line."),
    status_every: float = typer.Option(10.0, "--status-every", min=0.1, metavar="SECONDS", help="Seconds between status log lines off a terminal."),
) -> None:
    """Ship every input of a config file (paths, topic, key, multiline, parser, metadata) with one
    producer; each input keeps its own checkpoints. SIGHUP reloads the file.

    Command-line options (and STREAMLINE_* variables) override the file. --check validates
    the file without connecting: exit 0 and a one-line summary, or one error line and exit 2.

    Example: streamline agent --config /etc/streamline/agent.toml --check
    """
    from .._agent import Agent, Overrides, RunOptions, load_config
    from .._errors import ConfigurationError
    from .._validation import check_acks, check_compression

    if acks is not None:
        check_acks(acks)
    if compression is not None and compression != "none":
        check_compression(compression)
    root = ctx.find_root()
    connection = dict(root.obj.options if isinstance(root.obj, Globals) else {})
    if bootstrap_servers:
        connection["bootstrap_servers"] = bootstrap_servers
    overrides = Overrides(
        connection=connection,
        checkpoints=os.path.expanduser(checkpoints) if checkpoints else checkpoints,  # `--checkpoints=~/x`
        metrics=metrics,
        acks=acks,
        compression=compression,
        max_message_bytes=max_message_bytes,
        grace=grace,
        rotate_wait=rotate_wait,
        linger=linger,
    )
    # Until the loop's handler is installed, a SIGHUP (whose default action kills the process)
    # is remembered and applied once the agent runs.
    from . import early_hangups as early_reload  # main() may have installed this already

    if not check:
        signal.signal(signal.SIGHUP, lambda signum, frame: early_reload.append(signum))
    config = load_config(config_path, overrides)
    if check:
        if config.metrics:
            from .._metrics import require_prometheus_client

            require_prometheus_client()
        typer.echo(f"{config_path}: OK: {config.summary()}")
        return

    if must_exist:
        from .._follow.files import path_problems

        for i, spec in enumerate(config.inputs):
            problems = path_problems(list(spec.paths))
            if problems:
                problem = problems[0]
                raise ConfigurationError(
                    f"{config_path}: inputs[{i}] ({spec.name}): {problem.filename}: "
                    f"{problem.strerror or problem} (--must-exist)"
                )

    from .._producer import Producer

    kafka = config.kafka
    producer = Producer(
        acks=kafka.acks,
        compression=kafka.compression,
        max_message_bytes=kafka.max_message_bytes,
        connection=kafka.connection,
    )
    status = None if quiet else AgentStatus(log_every=status_every)
    agent = Agent(
        config,
        producer=producer,
        options=RunOptions(once=once, strict_checkpoints=strict_checkpoints, must_exist=must_exist),
        load=lambda: load_config(config_path, overrides),
        say=_say,
        on_tick=status,
    )

    async def main() -> None:
        import asyncio

        from ._pipelines import start_when_reachable
        from ._shutdown import current

        shutdown = current()
        shutdown.grace = config.grace
        if status is not None:
            shutdown.on_stop(status.stop_drawing)
        shutdown.on_stop(
            agent.stop,
            f"stopping: draining in-flight data of every input for up to {config.grace:g}s (signal again to stop at once)",
        )
        shutdown.on_abort(agent.abort)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, agent.request_reload)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            pass
        if early_reload:
            agent.request_reload()

        async def start() -> bool:
            await producer.start()
            return True

        if once:
            await start()
        elif not await start_when_reachable(start, what="agent", status=status.screen if status else None):
            sys.stderr.write("streamline: stopped before Kafka answered; nothing was shipped\n")
            return
        try:
            await agent.run()
        finally:
            if status is not None:
                status.stop_drawing()
            await producer.stop(timeout=shutdown.remaining(DELIVERY_TIMEOUT))
            try:
                loop.remove_signal_handler(signal.SIGHUP)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
        failed = agent.failed
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            message = f"input {first.name} failed{more}: {first.error}"
            raise ConfigurationError(message) if isinstance(first.error, ConfigurationError) else InputFailed(message)

    run_async(with_metrics(config.metrics, main, ready=agent.ready))

