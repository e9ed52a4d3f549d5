"""``streamline run module:attr``: run a user's pipeline with the CLI's signal handling."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

import typer

from ._app import app
from ._metrics_option import METRICS_OPTION, with_metrics
from ._run import run_async


def load_target(spec: str) -> Any:
    """Import ``module:attr`` (or ``path/to/file.py:attr``)."""
    from .._errors import ConfigurationError

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(f"expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE (got {spec!r})")
    if module_name.endswith(".py") or os.sep in module_name:
        if not os.path.isfile(module_name):
            raise ConfigurationError(f"no such file: {module_name}")
        name = os.path.splitext(os.path.basename(module_name))[0]
        loader_spec = importlib.util.spec_from_file_location(name, module_name)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        loader_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f"{module_name!r} has no attribute {attr!r}") from None


@contextlib.asynccontextmanager
async def open_pipeline(target: Any) -> Any:
    """A Pipeline, a (async) function returning one, or an async generator yielding one."""
    from .._errors import ConfigurationError
    from .._pipeline import Pipeline

    if isinstance(target, Pipeline):
        yield target
        return
    if inspect.isasyncgenfunction(target):
        async with contextlib.asynccontextmanager(target)() as pipeline:
            yield pipeline
        return
    if callable(target):
        result = target()
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Pipeline):
            yield result
            return
    raise ConfigurationError(
        "streamline run needs a Pipeline, a function returning one, or an async generator yielding one"
    )


@app.command("run")
def run_command(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="MODULE:ATTR", help="MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE of the pipeline."),
    metrics: str | None = METRICS_OPTION,
) -> None:
    """Run a pipeline defined in Python: SIGINT/SIGTERM drain it and exit 0, a second signal stops at once.

    The attribute is a Pipeline, a function (sync or async) returning one, or an async generator
    that sets up resources (a Producer, say), yields the Pipeline and cleans up afterwards. The
    connection options given to streamline (-b, TLS, SASL) reach it as STREAMLINE_* variables, so
    a Producer or consume() created without explicit settings uses them. Started before the
    broker answers, it waits and retries setting up.

    Example: streamline -b kafka1:9092 run examples/enrich.py:pipeline --metrics 9464
    """
    from .._pipeline import PipelineError  # noqa: F401 - fail early if the extra pieces are missing

    export_connection_options(ctx)
    loaded = load_target(target)

    async def main() -> None:
        from ._pipelines import run_with_signals, start_when_reachable
        from ._shutdown import current

        shutdown = current()

        async def enter() -> tuple[Any, Any]:
            opened = open_pipeline(loaded)
            return opened, await opened.__aenter__()

        entered = await start_when_reachable(enter, what="run")
        if entered is None:
            sys.stderr.write("streamline: stopped before Kafka answered; the pipeline did not run\n")
            return
        opened, pipeline = entered
        try:
            stats = await run_with_signals(pipeline)
        except BaseException:
            await _stop_producers(pipeline, shutdown)
            if not await opened.__aexit__(*sys.exc_info()):
                raise
        else:
            await _stop_producers(pipeline, shutdown)
            await opened.__aexit__(None, None, None)
        sys.stderr.write(
            f"streamline: pipeline finished: {stats.items:,} in, {stats.delivered:,} delivered, "
            f"{stats.dropped:,} dropped, {stats.dead_lettered:,} dead-lettered\n"
        )

    run_async(with_metrics(metrics, main))


def export_connection_options(ctx: typer.Context) -> None:
    """Put the connection options given to streamline into ``STREAMLINE_*`` variables, where
    the user's code (``Producer()``, ``consume(...)``) finds them; checked first (exit 2 if bad)."""
    from .._config import ENV_VARS
    from ._app import connection
    from ._globals import Globals

    connection(ctx)  # validate
    root = ctx.find_root()
    options = root.obj.options if isinstance(root.obj, Globals) else {}
    for name, value in options.items():
        if value is not None and name in ENV_VARS:
            os.environ[ENV_VARS[name]] = str(value)


async def _stop_producers(pipeline: Any, shutdown: Any) -> None:
    """After a signal, stop the pipeline's producers within what is left of the grace period
    (the user's own clean-up then finds them stopped): the exit stays bounded."""
    if not shutdown.stopping:
        return
    producers = {id(p): p for p in (getattr(s, "producer", None) for s in pipeline.sinks) if p is not None}
    dead_letter = getattr(getattr(pipeline, "dead_letter", None), "producer", None)
    if dead_letter is not None:
        producers[id(dead_letter)] = dead_letter
    from .._producer import Producer

    for producer in producers.values():
        if isinstance(producer, Producer):
            await producer.stop(timeout=shutdown.remaining(30.0))
