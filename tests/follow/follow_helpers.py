"""Helpers for follower tests: real files in tmp_path, short poll intervals, bounded waits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from streamline._follow import Line

POLL = 0.05  # seconds; keeps the suite fast


async def take(lines: AsyncIterator[Line], count: int, timeout: float = 60.0) -> list[Line]:
    """The next ``count`` lines, failing the test if they do not arrive within ``timeout`` (a hang
    guard: generous, since a loaded machine may take long; never a speed limit)."""
    got: list[Line] = []
    with anyio.fail_after(timeout):
        while len(got) < count:
            got.append(await lines.__anext__())
    return got


async def nothing_more(lines: AsyncIterator[Line], wait: float = 0.3) -> None:
    """Assert no further line arrives within ``wait`` seconds."""
    with anyio.move_on_after(wait):
        line = await lines.__anext__()
        raise AssertionError(f"unexpected line {line!r}")


def append(path: Path, data: bytes | str) -> None:
    """Append and flush, as a logging writer would."""
    with open(path, "ab") as file:
        file.write(data.encode() if isinstance(data, str) else data)


def numbered(prefix: str, start: int, stop: int) -> str:
    return "".join(f"{prefix}{i}\n" for i in range(start, stop))




def saved_offset(checkpoints_dir: Path) -> int | None:
    """The offset saved for the one file in ``checkpoints_dir`` (None: nothing saved yet)."""
    try:
        (record,) = json.loads((checkpoints_dir / "checkpoints.json").read_text())["files"].values()
    except (OSError, ValueError):
        return None
    return int(record["offset"])
