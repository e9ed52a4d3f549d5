"""``streamline consume`` into a pipe against the library's ``async for``: the ``cli_consume`` case.

    python -m benchmarks.cli_consume_speed      # = python -m benchmarks --case cli_consume

Kept as a short name for the one case; see ``benchmarks/case_cli_consume.py``.
"""

from __future__ import annotations

import sys

from .__main__ import main

if __name__ == "__main__":
    sys.exit(main(["--case", "cli_consume", *sys.argv[1:]]))
