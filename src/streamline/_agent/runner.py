"""Running the inputs of one config with one producer: start, stop, reload, report.

Each input is a follower and a pipeline (built by :func:`_build`) with its own checkpoint
directory, run in the agent's task group. A reload compares every input's spec with the
running one: unchanged inputs are not touched (not even paused), removed ones drain and stop
(their checkpoints saved), changed ones drain, stop and start again from their checkpoints.

    agent = Agent(config, producer=producer, load=lambda: load_config(path))
    await agent.run()          # until stop(); agent.request_reload() on SIGHUP
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from .._errors import ConfigurationError
from .._ingest.spec import InputSpec
from .claims import claimed_twice, first_wins_excludes
from .config import DEFAULT_LINGER, AgentConfig

log = logging.getLogger("streamline.agent")

#: Seconds between two looks for files that two inputs' globs both match (first input wins).
CLAIMS_EVERY = 30.0


class BuiltInput(Protocol):
    """What building an input gives: the spec it was built from, its follower and pipeline."""

    spec: InputSpec
    follower: Any
    pipeline: Any

    def status_parts(self) -> list[str]:
        """Figures worth a status line: the follower's, and events that did not parse."""
        ...


def _build(
    spec: InputSpec,
    *,
    producer: Any,
    checkpoints_dir: str,
    once: bool,
    rotate_wait: float,
    strict_checkpoints: bool,
    linger: float = DEFAULT_LINGER,
    must_exist: bool,
    max_message_bytes: int,
    grace: float,
    on_tick: Callable[[Any], Any] | None,
) -> BuiltInput:
    """Build one input: the single seam between the agent and the ingest package
    (:func:`streamline._ingest.build.build_input`: multiline, parsers, metadata, topic templates)."""
    from .._ingest.build import build_input

    return build_input(
        spec,
        producer=producer,
        checkpoints_dir=checkpoints_dir,
        once=once,
        rotate_wait=rotate_wait,
        linger=linger,
        strict_checkpoints=strict_checkpoints,
        must_exist=must_exist,
        max_message_bytes=max_message_bytes,
        grace=grace,
        on_tick=on_tick,
    )


@dataclass
class RunOptions:
    """How every input runs (command-line options, not part of an input's spec)."""

    once: bool = False
    strict_checkpoints: bool = False
    must_exist: bool = False


class RunningInput:
    """One input of the running agent: its (effective) spec, what was built, how it ended."""

    def __init__(self, spec: InputSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.built: BuiltInput | None = None
        self.stats: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()
        self._stop_requested = False

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def stop(self) -> None:
        """Drain and stop (checkpoints saved); safe before the pipeline was built."""
        self._stop_requested = True
        if self.built is not None:
            self.built.pipeline.stop()

    def abort(self) -> None:
        if self.built is not None:
            self.built.pipeline.abort()


def effective_specs(inputs: tuple[InputSpec, ...]) -> list[InputSpec]:
    """Each input as it runs: its excludes plus the earlier inputs' globs that may overlap
    its own (a file matched by two inputs goes to the first)."""
    extras = first_wins_excludes(inputs)
    return [
        dataclasses.replace(spec, exclude=spec.exclude + extra) if extra else spec
        for spec, extra in zip(inputs, extras, strict=True)
    ]


class Agent:
    """Ships every input of ``config`` through ``producer`` until :meth:`stop` (or, with
    ``options.once``, until every input reached the end of its files).

        config = load_agent_config("agent.toml")
        async with Producer(connection=config.kafka.connection) as producer:
            agent = Agent(config, producer=producer, load=lambda: load_agent_config("agent.toml"))
            await agent.run()  # agent.request_reload() re-reads the file; agent.stop() drains

    ``load`` re-reads the config for :meth:`reload`; ``say`` writes one report line (final
    figures, reload results); ``on_tick(name, follower, pipeline)`` is called about once a
    second per input (the status line).
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        producer: Any,
        options: RunOptions | None = None,
        load: Callable[[], AgentConfig] | None = None,
        say: Callable[[str], None] | None = None,
        on_tick: Callable[[str, Any, Any], Any] | None = None,
        build: Callable[..., BuiltInput] = _build,
    ) -> None:
        self.config = config
        self.producer = producer
        self.options = options or RunOptions()
        self._load = load
        self._say = say or (lambda line: log.warning("%s", line))
        self._on_tick = on_tick
        self._build_input = build
        self.inputs: dict[str, RunningInput] = {}
        self._tg: Any = None
        self._stopping = False
        self._reloading = False
        self._wake = anyio.Event()
        self._reload_requested = anyio.Event()
        self._warned_twice: set[str] = set()

    # -- control (safe from signal handlers) ------------------------------------------------

    def stop(self) -> None:
        """Every input drains within the grace period and saves its checkpoints."""
        self._stopping = True
        for running in list(self.inputs.values()):
            running.stop()
        self._wake.set()

    def abort(self) -> None:
        """Stop at once; unacknowledged lines are read again next time."""
        self._stopping = True
        for running in list(self.inputs.values()):
            running.abort()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    def request_reload(self) -> None:
        """Re-read the config file soon (SIGHUP)."""
        self._reload_requested.set()

    @property
    def failed(self) -> list[RunningInput]:
        """Inputs that stopped with an error and were not started again."""
        return [r for r in self.inputs.values() if r.error is not None]

    def ready(self) -> tuple[bool, str]:
        """``/readyz``: every input running and the producer connected."""
        from .._metrics import producer_ready

        if self.failed:
            first = self.failed[0]
            return False, f"input {first.name} failed: {first.error}"
        return producer_ready(self.producer)

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (or, with ``once``, until every input is done)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for spec in effective_specs(self.config.inputs):
                self._start(spec)
            if self.options.once:
                tg.start_soon(self._check_claims)
            else:
                tg.start_soon(self._reload_loop)
                tg.start_soon(self._watch_claims)
            while self._reloading or any(r.running for r in self.inputs.values()):
                await self._wake.wait()
                self._wake = anyio.Event()
            tg.cancel_scope.cancel()

    def _start(self, spec: InputSpec) -> None:
        running = RunningInput(spec, spec.name)
        self.inputs[spec.name] = running
        assert self._tg is not None
        self._tg.start_soon(self._run_input, running)

    async def _run_input(self, running: RunningInput) -> None:
        config = self.config
        try:
            on_tick = None
            if self._on_tick is not None:
                tick = self._on_tick

                def on_tick(pipeline: Any) -> Any:
                    # The built input: a status line shows its follower's figures and its parse failures.
                    return tick(running.name, running.built, pipeline)

            running.built = self._build_input(
                running.spec,
                producer=self.producer,
                checkpoints_dir=config.checkpoints_for(running.spec),
                once=self.options.once,
                rotate_wait=config.rotate_wait,
                linger=config.linger,
                strict_checkpoints=self.options.strict_checkpoints,
                must_exist=self.options.must_exist,
                max_message_bytes=config.kafka.max_message_bytes,
                grace=config.grace,
                on_tick=on_tick,
            )
            if running._stop_requested or self._stopping:
                running.built.pipeline.stop()
            running.stats = await running.built.pipeline.run()
        except Exception as exc:
            running.error = exc
            log.error("input %s stopped: %s", running.name, _one_line(exc))
        finally:
            running.done.set()
            self._wake.set()
            if running.stats is not None:
                self._say(self.figures(running))

    def figures(self, running: RunningInput) -> str:
        """``app: shipped 1,000 lines (0.1 MB) to app-logs; checkpoints in ...``."""
        stats = running.stats
        spec = running.spec
        extra = ""
        if running.built is not None:
            extra = "".join(f"; {part}" for part in running.built.status_parts())
        lines = f"{stats.delivered:,} line{'' if stats.delivered == 1 else 's'}"
        return (
            f"{running.name}: shipped {lines} ({stats.bytes / 1e6:,.1f} MB) to {spec.topic}; "
            f"checkpoints in {self.config.checkpoints_for(spec)}{extra}"
        )

    # -- reload -----------------------------------------------------------------------------

    async def _reload_loop(self) -> None:
        while not self._stopping:
            await self._reload_requested.wait()
            self._reload_requested = anyio.Event()
            if not self._stopping:
                await self.reload()

    async def reload(self) -> bool:
        """Apply the config file as it is now; False (and the old config keeps running) when
        it has a mistake."""
        if self._load is None:
            return False
        try:
            new = await anyio.to_thread.run_sync(self._load)
        except ConfigurationError as exc:
            log.error("reload refused, the running configuration stays: %s", exc)
            return False
        self._reloading = True
        try:
            await self._apply(new)
        finally:
            self._reloading = False
            self._wake.set()
        return True

    async def _apply(self, new: AgentConfig) -> None:
        old = self.config
        needs_restart = [
            what
            for what, before, after in (
                ("kafka", old.kafka, new.kafka),
                ("checkpoints", old.checkpoints, new.checkpoints),
                ("metrics", old.metrics, new.metrics),
                ("grace", old.grace, new.grace),
                ("rotate_wait", old.rotate_wait, new.rotate_wait),
                ("linger", old.linger, new.linger),
            )
            if before != after
        ]
        if needs_restart:
            log.warning(
                "reload: %s changed in %s; that takes a restart of the agent (inputs were reloaded "
                "with the running settings)",
                ", ".join(needs_restart),
                new.path,
            )
        # The running settings stay; only the inputs change.
        self.config = dataclasses.replace(old, inputs=new.inputs)
        wanted = {spec.name: spec for spec in effective_specs(new.inputs)}
        stopping = [
            r
            for name, r in self.inputs.items()
            if name not in wanted or r.spec != wanted[name] or r.error is not None or not r.running
        ]
        for running in stopping:
            running.stop()
        for running in stopping:
            await running.done.wait()
            del self.inputs[running.name]
        if self._stopping:
            return
        restarted = {r.name for r in stopping}
        started: list[str] = []
        changed: list[str] = []
        for name, spec in wanted.items():
            if name not in self.inputs:
                self._start(spec)
                (changed if name in restarted else started).append(name)
        removed = sorted(restarted - set(wanted))
        unchanged = len(wanted) - len(started) - len(changed)
        parts = [f"started {', '.join(started)}" if started else "", f"restarted {', '.join(changed)}" if changed else ""]
        parts += [f"stopped {', '.join(removed)}" if removed else "", f"{unchanged} unchanged"]
        self._say(f"reloaded {new.path}: " + "; ".join(p for p in parts if p))
        self._warned_twice.clear()
        await self._check_claims()

    # -- files matched by two inputs ------------------------------------------------------

    async def _watch_claims(self) -> None:
        while not self._stopping:
            await self._check_claims()
            await anyio.sleep(CLAIMS_EVERY)

    async def _check_claims(self) -> None:
        try:
            twice = await anyio.to_thread.run_sync(claimed_twice, self.config.inputs)
        except OSError as exc:  # pragma: no cover - globbing does not raise in practice
            log.debug("looking for files matched by two inputs failed: %s", exc)
            return
        for path, first, other in twice:
            if path not in self._warned_twice:
                self._warned_twice.add(path)
                log.warning("%s matches inputs %s and %s; it is shipped by %s only (the first)", path, first, other, first)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{text}: {os.fspath(exc.filename)}"
    return text
