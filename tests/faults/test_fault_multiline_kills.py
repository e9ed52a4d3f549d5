"""SIGKILL `streamline ship --multiline` between lines of events, restart it each time: every
event arrives whole at least once, and no part of an event ever arrives on its own."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
import time
from collections import Counter

import pytest
from faultkit import LONG, report
from shipping import read_topic, start_ship

pytestmark = pytest.mark.faults

KILLS = 40 if LONG else 8


def event(n: int) -> bytes:
    lines = [b"ev=%08d ERROR request failed" % n]
    lines += [b"\tat ev=%08d frame %d" % (n, k) for k in range(n % 6)]
    return b"\n".join(lines)


class EventWriter(threading.Thread):
    """Appends events line by line, one ``write(2)`` per line with a pause between lines, so a
    reader often sees an event's first lines without the rest."""

    def __init__(self, path, seed: int) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.events = 0
        self._rng = random.Random(seed)
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while not self._halt.is_set():
                for line in event(self.events).split(b"\n"):
                    os.write(fd, line + b"\n")
                    time.sleep(self._rng.choice((0.0, 0.0, 0.0005, 0.002)))
                self.events += 1
            # The last event is complete once the next one starts (that one stays held).
            os.write(fd, b"ev=final\n")
        finally:
            os.close(fd)


def _saved_offset(path) -> int:
    try:
        return max((r["offset"] for r in json.loads(path.read_text())["files"].values()), default=0)
    except (OSError, ValueError):
        return 0


async def _progress_since(path, offset: int, timeout: float = 60.0) -> int:
    """Wait until the saved position moved past ``offset`` (the restarted ship is shipping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        saved = _saved_offset(path)
        if saved > offset:
            return saved
        await asyncio.sleep(0.05)
    return offset


@pytest.mark.timeout(600 if LONG else 240)
async def test_sigkill_between_lines_of_events_never_splits_an_event(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=2)
    log, ckpt, out = tmp_path / "app.log", tmp_path / "ckpt", tmp_path / "ship.out"
    # A long timeout: only the next event's first line ends an event, never a slow writer.
    extra = ("--multiline", "indented", "--multiline-timeout", "60")
    writer = EventWriter(log, seed=17)
    writer.start()
    rng = random.Random(17)
    ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, *extra, log=out)
    saved = 0
    try:
        for _ in range(KILLS):
            # A point of the stream where this process is shipping: after it saved progress.
            saved = await _progress_since(ckpt / "checkpoints.json", saved)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            ship.send_signal(signal.SIGKILL)
            ship.wait()
            ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, *extra, log=out)
    finally:
        writer.stop()
    expected = {event(n) for n in range(writer.events)}
    seen: Counter = await read_topic(kafka_bootstrap, topic, len(expected), timeout=120)
    ship.send_signal(signal.SIGTERM)
    assert ship.wait(60) == 0, out.read_text()[-2000:]
    missing = expected - set(seen)
    broken = set(seen) - expected
    report(
        "multiline_kills", kills=KILLS, events=len(expected), duplicates=sum(seen.values()) - len(seen),
        missing=len(missing), broken=len(broken),
    )
    assert not broken, f"parts of events arrived on their own: {sorted(broken)[:5]}"
    assert not missing, f"{len(missing)} events never arrived, e.g. {sorted(missing)[:3]}"
