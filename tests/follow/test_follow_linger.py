"""``follow(linger=)`` (``ship --linger``): while lines keep coming, reads are at least ``linger``
apart, so a file written line by line is handed over in few batches; a line after a quiet spell
is read at once. Both checks hold however slow the machine is: reads can only be further
apart under load, and the deadlines are hang guards, far above any run's duration."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
from follow_helpers import append, take

from streamline._follow import follow

LINES = 400


def paced_writer(path: Path, count: int) -> threading.Thread:
    """Appends ``count`` numbered lines, one write each, about 2 ms apart (pacing, not waiting
    for anything: the follower's reads are what is counted)."""

    def write() -> None:
        with open(path, "ab", buffering=0) as f:
            for i in range(count):
                f.write(f"{i}\n".encode())
                time.sleep(0.002)

    return threading.Thread(target=write, daemon=True)


async def test_while_lines_keep_coming_reads_are_at_least_linger_apart(tmp_path: Path) -> None:
    linger = 0.2
    log = tmp_path / "app.log"
    log.touch()
    got: list[bytes] = []
    reads = 0
    async with follow(str(log), start="beginning", linger=linger) as follower:
        writer = paced_writer(log, LINES)
        started = time.monotonic()
        writer.start()
        with anyio.fail_after(120):
            async for batch in follower.batches():  # one batch per read
                reads += 1
                got += batch.data
                batch.ack()
                if len(got) >= LINES:
                    break
        span = time.monotonic() - started
    writer.join()
    assert got == [str(i).encode() for i in range(LINES)]
    # Every read fell inside `span`; the first one comes at once, the others at least `linger`
    # after the one before (one more for a read that found the rest of a line still coming).
    # Reading every 5 ms (the default) would have taken about a hundred reads here.
    assert reads <= span / linger + 2, (reads, span)


async def test_a_line_after_a_quiet_spell_is_read_at_once_whatever_the_linger(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    # A linger of 10 minutes: any wait for it would trip take()'s hang guard (60 s).
    async with follow(str(log), start="beginning", linger=600) as follower:
        lines = aiter(follower)
        append(log, "first\n")
        assert [line.text for line in await take(lines, 1)] == ["first"]


def test_ship_and_the_agent_hand_their_linger_to_the_follower(tmp_path: Path) -> None:
    from streamline._ingest.build import build_input
    from streamline._ingest.spec import InputSpec

    built = build_input(InputSpec("app", (str(tmp_path / "a.log"),), "t"), producer=None, checkpoints_dir=str(tmp_path / "cp"), linger=0.02)
    assert built.follower._reader._waiter.busy_gap == 0.02
    default = build_input(InputSpec("app", (str(tmp_path / "a.log"),), "t"), producer=None, checkpoints_dir=str(tmp_path / "cp"))
    assert default.follower._reader._waiter.busy_gap == 0.005
