"""``--metrics [HOST:]PORT`` for the long-running commands (``ship``, ``run``, ``consume``).

A command adds the option and wraps its coroutine; nothing else changes:

    metrics: str | None = METRICS_OPTION
    ...
    run_async(with_metrics(metrics, main))
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from .._metrics import Readiness, parse_address, require_prometheus_client, serve_metrics

T = TypeVar("T")

#: The option every long-running command shares; ``STREAMLINE_METRICS`` sets it too.
METRICS_OPTION = typer.Option(
    None,
    "--metrics",
    envvar="STREAMLINE_METRICS",
    metavar="[HOST:]PORT",
    help="Serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (127.0.0.1 unless HOST is given).",
)


def with_metrics(
    address: str | None, make: Callable[[], Awaitable[T]], *, ready: Readiness | None = None
) -> Callable[[], Awaitable[T]]:
    """``make`` itself without an address; else ``make`` run inside the metrics server.

    The address and the ``prometheus_client`` install are checked here, before anything
    connects (exit 2); a port in use fails when the command starts (exit 1, a runtime failure:
    the same command works once the port is free).
    """
    if not address:
        return make
    parse_address(address)
    require_prometheus_client()

    async def serving() -> T:
        async with serve_metrics(address, ready=ready) as server:
            sys.stderr.write(f"streamline: metrics on {server.url}/metrics\n")
            sys.stderr.flush()
            return await make()

    return serving
