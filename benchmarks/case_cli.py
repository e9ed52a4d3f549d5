"""cli: start-up, as a user feels it: wall time of ``streamline --help``, ``streamline --version``
and a one-message ``streamline produce`` (interpreter start-up included).

Measured interleaved (one round runs each command once; the medians are over the rounds), with
two baselines in the same rounds: the bare interpreter (``python -c pass``) and the imports a
one-message produce cannot avoid with this stack (``python -c "import typer, aiokafka"``):
what ``produce`` takes beyond that floor is streamline's own share.

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
HELP_TARGET = 0.1  # issue 18 point 5
PRODUCE_TARGET = 0.2


async def measure(ctx: Context) -> dict[str, float]:
    import streamline

    for directory in streamline.__path__:
        compileall.compile_dir(directory, quiet=1)
    topic = await ctx.new_topic("cli", 4)
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "floor": [sys.executable, "-c", "import typer, aiokafka"],
        "help": [STREAMLINE, "--help"],
        "version": [STREAMLINE, "--version"],
        "produce": [STREAMLINE, "-b", ctx.bootstrap, "produce", topic, "--value", "hello"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(ctx.sizes.cli_runs):
        for name, args in commands.items():
            times[name].append(wall_time(args))
    await ctx.drop_topics()
    m = {f"{name}_seconds": median(values) for name, values in times.items()}
    ctx.log(
        f"  cli: --help {m['help_seconds']:.3f} s, --version {m['version_seconds']:.3f} s, produce "
        f"{m['produce_seconds']:.3f} s; python -c pass {m['python_seconds']:.3f} s, import typer+aiokafka "
        f"{m['floor_seconds']:.3f} s (medians of {ctx.sizes.cli_runs} interleaved rounds)"
    )
    return m


def rows(m: dict[str, float]) -> list[Row]:
    python, floor = m["python_seconds"], m["floor_seconds"]
    produce = m["produce_seconds"]
    return [
        Row(NAME, "`streamline --help` wall time (baseline: `python -c pass`)",
            f"{python:.3f} s", f"{m['help_seconds']:.3f} s", f"{m['help_seconds'] / python:.1f}x",
            f"<= {HELP_TARGET} s", verdict(m["help_seconds"] <= HELP_TARGET)),
        Row(NAME, "`streamline --version` wall time (baseline: `python -c pass`)",
            f"{python:.3f} s", f"{m['version_seconds']:.3f} s", f"{m['version_seconds'] / python:.1f}x",
            f"<= {HELP_TARGET} s", verdict(m["version_seconds"] <= HELP_TARGET)),
        Row(NAME, "one-message `streamline produce` (baseline: `python -c 'import typer, aiokafka'`)",
            f"{floor:.3f} s", f"{produce:.3f} s", f"{produce / floor:.2f}x",
            f"<= {PRODUCE_TARGET} s", verdict(produce <= PRODUCE_TARGET)),
    ]
