"""``--metrics [HOST:]PORT`` for the long-running commands (``ship``, ``run``, ``consume``).

A command adds the option and wraps its coroutine; nothing else changes:

    metrics: str | None = METRICS_OPTION
    ...
    run_async(with_metrics(metrics, main))
"""

from __future__ import annotations

import typer

from ._pipelines import with_metrics

__all__ = ["METRICS_OPTION", "with_metrics"]

#: The option every long-running command shares; ``STREAMLINE_METRICS`` sets it too.
METRICS_OPTION = typer.Option(
    None,
    "--metrics",
    envvar="STREAMLINE_METRICS",
    metavar="[HOST:]PORT",
    help="Serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (127.0.0.1 unless HOST is given).",
)
