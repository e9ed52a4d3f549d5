"""``python -m benchmarks``: run the cases, print the table, write JSON.

    python -m benchmarks [--case produce,consume,consume_group,consume_memory,group_leave,ship,latency,memory,cli,cli_consume,typed] [--runs 3] [--smoke]
                         [--json benchmarks/results/latest.json] [--bootstrap HOST:PORT]
                         [--peers] [--curves] [--quick | --full]

``--peers`` adds the reference rows of rsyslog, syslog-ng, confluent-kafka and FastStream
(``benchmarks/peers/``); ``--curves`` draws how cost grows (``benchmarks/curves.py``). Both run at
``--quick`` sizes unless ``--full`` is given.

    python -m benchmarks --case metrics_overhead     # endpoint off/on (and tracing) interleaved; not in the default set

Without ``--bootstrap`` (or ``STREAMLINE_BOOTSTRAP_SERVERS``) an embedded broker is started for
the run. The memory case always starts its own embedded broker behind a TCP proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from typing import Any

from . import (
    case_cli,
    case_cli_consume,
    case_consume,
    case_consume_group,
    case_consume_memory,
    case_group_leave,
    case_latency,
    case_memory,
    case_metrics_overhead,
    case_produce,
    case_ship,
    case_typed,
)
from ._support import Context, Row, Sizes, median
from .options import EXTRA_CASES, add_extra_options, apply_extra_options

CASES = {
    m.NAME: m
    for m in (
        case_produce, case_consume, case_consume_group, case_consume_memory, case_group_leave, case_ship, case_latency,
        case_memory, case_cli, case_cli_consume, case_typed,
    )
}
CASES.update(EXTRA_CASES)  # --peers and --curves cases: run only when asked for (benchmarks/options.py)
#: Cases run only when named with --case (dedicated modes, not part of the default table).
OPTIONAL_CASES = {m.NAME: m for m in (case_metrics_overhead,)}
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    default = [name for name in CASES if name not in EXTRA_CASES]
    parser.add_argument(
        "--case", default=",".join(default),
        help=f"comma-separated: {','.join([*CASES, *OPTIONAL_CASES])} (default {','.join(default)})",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the table shows medians (default 3)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run: checks the cases work (CI)")
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"where to write results (default {DEFAULT_JSON})")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("STREAMLINE_BOOTSTRAP_SERVERS"),
        help="Kafka to benchmark against (default: STREAMLINE_BOOTSTRAP_SERVERS, else an embedded broker)",
    )
    add_extra_options(parser)
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.case.split(",") if c.strip()]
    apply_extra_options(args)
    unknown = [c for c in args.cases if c not in CASES and c not in OPTIONAL_CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join([*CASES, *OPTIONAL_CASES])}")
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    if args.smoke:
        args.runs = 1
    return args


def table(rows: list[Row]) -> str:
    header = ("case", "what", "baseline", "streamline", "ratio", "target", "result")
    cells = [header] + [(r.case, r.what, r.baseline, r.streamline, r.ratio, r.target, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: median([run[key] for run in runs if key in run]) for key in runs[0]}


async def run_case(module: Any, ctx: Context, runs: int) -> dict[str, Any]:
    count = runs if module.MAX_RUNS is None else min(runs, module.MAX_RUNS)
    results: list[dict[str, float]] = []
    for i in range(count):
        ctx.log(f"{module.NAME}: run {i + 1} of {count}")
        try:
            results.append(await module.measure(ctx))
        finally:
            await ctx.drop_topics()
    summary = medians(results)
    report = {"runs": results, "median": summary, "rows": [dataclasses.asdict(r) for r in module.rows(summary)]}
    report.update(getattr(module, "extra_report", lambda _: {})(summary))  # skip reasons, curve files
    return report


async def main_async(args: argparse.Namespace) -> int:
    sizes = Sizes.smoke() if args.smoke else Sizes()
    broker = None
    if args.bootstrap:
        bootstrap, kind = args.bootstrap, "external"
    else:
        from streamline import EmbeddedBroker

        broker = EmbeddedBroker()
        await broker.__aenter__()
        bootstrap, kind = broker.bootstrap_servers, "embedded Tansu 0.6.0 (memory storage)"
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "broker": kind,
            "bootstrap": bootstrap,
            "runs": args.runs,
            "smoke": args.smoke,
            "sizes": dataclasses.asdict(sizes),
        },
        "cases": {},
    }
    failed = False
    rows: list[Row] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="streamline-bench-") as workdir:
            ctx = Context(bootstrap=bootstrap, broker=kind, sizes=sizes, workdir=workdir, smoke=args.smoke)
            for name in args.cases:
                module = CASES.get(name) or OPTIONAL_CASES[name]
                case_started = time.monotonic()
                try:
                    result = await run_case(module, ctx, args.runs)
                except Exception as exc:  # noqa: BLE001 - report it, run the other cases
                    failed = True
                    traceback.print_exc()
                    result = {"error": f"{type(exc).__name__}: {exc}"}
                    print(f"{name}: FAILED: {result['error']}", file=sys.stderr)
                else:
                    rows += [Row(**r) for r in result["rows"]]
                result["seconds"] = round(time.monotonic() - case_started, 1)
                report["cases"][name] = result
    finally:
        if broker is not None:
            await broker.__aexit__(None, None, None)
    report["meta"]["seconds"] = round(time.monotonic() - started, 1)

    print()
    print(f"streamline benchmarks: {'smoke, ' if args.smoke else ''}median of {args.runs} run(s); "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, broker: {kind}")
    print(table(rows))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nresults written to {args.json}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
