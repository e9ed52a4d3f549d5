"""cli: wall time of a one-message ``streamline produce``, interpreter start-up included.

Baselines measured in the same run: the bare interpreter (``python -c pass``) and
``streamline --help`` (start-up plus the CLI's own imports, no Kafka).

The package's bytecode is compiled first, as ``pip install`` does for a regular install: an
editable install under ``PYTHONDONTWRITEBYTECODE=1`` (our machines set it) would otherwise
compile every module on every start and measure the compiler, not the CLI.
"""

from __future__ import annotations

import compileall
import sys

from ._support import STREAMLINE, Context, Row, median, verdict, wall_time

NAME = "cli"
MAX_RUNS = None
TARGET_SECONDS = 0.5


async def measure(ctx: Context) -> dict[str, float]:
    import streamline

    for directory in streamline.__path__:
        compileall.compile_dir(directory, quiet=1)
    runs = ctx.sizes.cli_runs
    topic = await ctx.new_topic("cli", 4)
    python = median([wall_time([sys.executable, "-c", "pass"]) for _ in range(runs)])
    help_ = median([wall_time([STREAMLINE, "--help"]) for _ in range(runs)])
    produce = median(
        [wall_time([STREAMLINE, "-b", ctx.bootstrap, "produce", topic, "--value", "hello"]) for _ in range(runs)]
    )
    await ctx.drop_topics()
    ctx.log(f"  cli: produce {produce:.3f} s, --help {help_:.3f} s, python -c pass {python:.3f} s (medians of {runs})")
    return {"produce_seconds": produce, "help_seconds": help_, "python_seconds": python}


def rows(m: dict[str, float]) -> list[Row]:
    produce = m["produce_seconds"]
    return [
        Row(NAME, "one-message `streamline produce` wall time (baseline: `python -c pass`)",
            f"{m['python_seconds']:.3f} s", f"{produce:.3f} s", f"{produce / m['python_seconds']:.1f}x",
            "<= 0.5 s", verdict(produce <= TARGET_SECONDS)),
        Row(NAME, "`streamline --help` wall time (start-up + CLI imports)",
            f"{m['python_seconds']:.3f} s", f"{m['help_seconds']:.3f} s",
            f"{m['help_seconds'] / m['python_seconds']:.1f}x", "reference", "info"),
    ]
