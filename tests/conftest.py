"""Shared test set-up: make tests/support importable (fault-injection helpers)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "support"))
