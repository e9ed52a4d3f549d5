"""``ship`` fixes glibc's malloc thresholds for its process (``cli/_memory.tune_malloc``), unless
the user set glibc's own ``MALLOC_*_`` tunables. Each check runs in a fresh interpreter: the
setting is process-wide."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

PROBE = "from streamline.cli._memory import tune_malloc; print(tune_malloc())"


def _tuned(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env={**clean, **env},
                          timeout=60, check=True)
    return proc.stdout.strip()


def test_ship_fixes_the_thresholds() -> None:
    assert _tuned() == "True"


@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"])
def test_the_users_own_tunables_win(name: str) -> None:
    assert _tuned(**{name: str(1 << 20)}) == "False"
