"""``ship`` fixes glibc's malloc thresholds for its process (``cli/_memory.tune_malloc``) and, while
following, gives freed memory back when quiet (``release_memory``), unless the user set glibc's
own ``MALLOC_*_`` tunables. Each check runs in a fresh interpreter: the
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


def _run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env},
                          timeout=60, check=True)
    return proc.stdout.strip()


def _tuned(**env: str) -> str:
    return _run(PROBE, **env)


def test_ship_fixes_the_thresholds() -> None:
    assert _tuned() == "True"


@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"])
def test_the_users_own_tunables_win(name: str) -> None:
    assert _tuned(**{name: str(1 << 20)}) == "False"


def test_a_following_ship_gives_freed_memory_back() -> None:
    # malloc_trim(0) through ctypes: True where it ran (cli/_memory.TrimWhenQuiet calls it).
    assert _run("from streamline.cli._memory import release_memory; print(release_memory())") == "True"


@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"])
def test_never_when_the_user_tuned_malloc(name: str) -> None:
    assert _run("from streamline.cli._memory import release_memory; print(release_memory())", **{name: "131072"}) == "False"
