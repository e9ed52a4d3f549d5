"""SIGKILL `streamline ship` at random points of a live stream and restart it each time."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time

import pytest

from faultkit import LONG, RateWriter, report
from shipping import line, read_topic, start_ship, tally

pytestmark = pytest.mark.faults

KILLS = 100 if LONG else 20
RATE = 20_000  # lines/s appended while shipping
CHECKPOINT_INTERVAL = 1.0  # ship saves acknowledged positions every second


def _unsaved_lines(ckpt, log) -> int:
    """Lines between the saved position and the end of the file: what a killed ship can have
    delivered without saving it, so at most what its successor sends again."""
    try:
        records = json.loads((ckpt / "checkpoints.json").read_text())["files"].values()
        saved = max((r["offset"] for r in records if r["path"] == str(log)), default=0)
    except (OSError, ValueError):
        saved = 0
    return max(0, log.stat().st_size - saved) // (len(line(0)) + 1) + 1


async def _first_save_since(path, since: float, timeout: float = 15.0) -> None:
    wall_since = time.time() - (time.monotonic() - since)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.stat().st_mtime >= wall_since:
                return
        except FileNotFoundError:
            pass
        await asyncio.sleep(0.05)


@pytest.mark.timeout(600 if LONG else 180)
async def test_sigkill_at_random_points_loses_nothing(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=4)
    log, ckpt, out = tmp_path / "access.log", tmp_path / "ckpt", tmp_path / "ship.out"
    writer = RateWriter(log, RATE)
    writer.start()
    rng = random.Random(20)
    ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, log=out)
    lifetimes = []
    unsaved = 0  # sum over kills of lines not checkpointed at the moment of the kill
    try:
        for _ in range(KILLS):
            born = time.monotonic()
            # A random point of the stream once this process is shipping: after its first
            # checkpoint save (a process killed while still starting has delivered nothing new,
            # and rapid kills before any save would only measure start-up time).
            await _first_save_since(ckpt / "checkpoints.json", born)
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            ship.send_signal(signal.SIGKILL)
            ship.wait()
            unsaved += _unsaved_lines(ckpt, log)
            lifetimes.append(time.monotonic() - born)
            ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, log=out)
    finally:
        writer.stop()
    total = writer.written
    seen = await read_topic(kafka_bootstrap, topic, total, timeout=90)
    ship.send_signal(signal.SIGTERM)
    assert ship.wait(40) == 0, out.read_text()[-2000:]

    result = tally(seen, {line(i) for i in range(total)})
    missing, corrupted, duplicates = result.missing, result.corrupted, result.duplicates
    # Expected on an idle machine: about one checkpoint interval of the writer's output per kill
    # (reported). Asserted: what holds at any load - a restart re-sends at most the lines that
    # were not checkpointed when the process was killed (it resumes at the saved position).
    expected = KILLS * writer.achieved_rate * (CHECKPOINT_INTERVAL + 1.0)
    report(
        "ship_sigkill", kills=KILLS, lines=total, rate=round(writer.achieved_rate), lost=len(missing),
        corrupted=len(corrupted), duplicates=duplicates, duplicates_per_kill=round(duplicates / KILLS),
        idle_machine_expectation_per_kill=round(expected / KILLS), unsaved_at_kills=unsaved,
        mean_lifetime_s=round(sum(lifetimes) / len(lifetimes), 2),
    )
    assert not missing, f"{len(missing)} lines lost, e.g. {sorted(missing)[:3]}"
    assert not corrupted, f"{len(corrupted)} values were not lines written, e.g. {sorted(corrupted)[:3]}"
    assert duplicates <= unsaved, f"{duplicates} duplicates over {KILLS} kills, more than the {unsaved} unsaved lines"
