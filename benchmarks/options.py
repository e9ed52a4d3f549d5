"""The options that add cases run only on request: ``--peers``, ``--curves``, ``--quick`` / ``--full``.

``--case peers`` and ``--case curves`` name each group as a whole; the cases can also be named
one by one (``--case peers_ship,curve_rates``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from . import curves
from .peers import cases as peer_cases

PEERS = [case.NAME for case in peer_cases.CASES]
CURVES = [case.NAME for case in curves.CASES]
GROUPS = {"peers": PEERS, "curves": CURVES}
_EXTRA: list[Any] = [*peer_cases.CASES, *curves.CASES]
EXTRA_CASES: dict[str, Any] = {case.NAME: case for case in _EXTRA}


def add_extra_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("peers and curves (not run by default)")
    group.add_argument("--peers", action="store_true",
                       help=f"add the reference rows of rsyslog, syslog-ng, confluent-kafka, FastStream ({','.join(PEERS)})")
    group.add_argument("--curves", action="store_true",
                       help=f"add the curves, PNG files next to --json ({','.join(CURVES)}; needs the bench extra)")
    scale = group.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick",
                       help="peers and curves at quick sizes: a few minutes (default)")
    scale.add_argument("--full", dest="scale", action="store_const", const="full",
                       help="peers and curves at full sizes (2M lines shipped, 30 s latency, ...)")
    parser.set_defaults(scale="quick")


def expand(cases: list[str], *, peers: bool, curves: bool) -> list[str]:
    """``cases`` with the groups spelled out and ``--peers`` / ``--curves`` appended, each case once."""
    names: list[str] = []
    for name in cases:
        names += GROUPS.get(name, [name])
    if peers:
        names += PEERS
    if curves:
        names += CURVES
    return list(dict.fromkeys(names))


def apply_extra_options(args: argparse.Namespace) -> None:
    """Expand ``args.cases``; give the extra cases the scale and where to write their PNG files."""
    args.cases = expand(args.cases, peers=args.peers, curves=args.curves)
    out_dir = os.path.dirname(os.path.abspath(args.json))
    for case in EXTRA_CASES.values():
        case.scale = args.scale
        if hasattr(case, "out_dir"):
            case.out_dir = Path(out_dir)
