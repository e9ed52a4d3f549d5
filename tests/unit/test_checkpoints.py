"""Checkpoint range math (hypothesis) and the on-disk store: atomic, locked, loud when corrupt."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamline._errors import CheckpointError, StreamlineError
from streamline._follow.checkpoints import AckedRanges, Checkpoints
from streamline._follow.identity import identify


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=60),
    data=st.data(),
)
def test_position_is_the_largest_contiguous_acknowledged_prefix(lengths: list[int], data: st.DataObject) -> None:
    bounds = [0]
    for length in lengths:
        bounds.append(bounds[-1] + length)
    ranges = list(zip(bounds, bounds[1:]))
    order = data.draw(st.permutations(range(len(ranges))))
    count = data.draw(st.integers(min_value=0, max_value=len(ranges)))
    acked = AckedRanges(start=0)
    done: set[int] = set()
    for index in order[:count]:
        acked.ack(*ranges[index])
        done.add(index)
        prefix = 0
        while prefix in done:
            prefix += 1
        assert acked.position == bounds[prefix]
    if count == len(ranges):
        assert acked.position == bounds[-1] and acked.held == 0


def test_overlapping_and_repeated_acks() -> None:
    acked = AckedRanges(start=100)
    acked.ack(150, 200)
    acked.ack(120, 160)
    assert acked.position == 100
    acked.ack(0, 130)  # before the start: harmless
    assert acked.position == 200
    acked.ack(150, 200)
    assert acked.position == 200


async def test_save_and_load_round_trip(tmp_path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 2000)
    fd = os.open(log, os.O_RDONLY)
    try:
        store = Checkpoints(tmp_path / "cp")
        await store.open()
        tracked = store.track(identify(fd), str(log), 0)
        tracked.ranges.ack(0, 700)
        await store.close()
        document = json.loads((tmp_path / "cp" / "checkpoints.json").read_text())
        assert document["version"] == 1
        (record,) = document["files"].values()
        assert record["offset"] == 700 and record["path"] == str(log)
        assert record["fingerprint_size"] == 1024

        again = Checkpoints(tmp_path / "cp")
        await again.open()
        assert again.saved_position(fd) == 700
        assert again.position(identify(fd)) == 700
        await again.close()
    finally:
        os.close(fd)
    # Nothing but the checkpoint and the lock file: temporary files were renamed away.
    assert sorted(os.listdir(tmp_path / "cp")) == [".lock", "checkpoints.json"]


async def test_other_content_under_the_same_inode_is_not_resumed(tmp_path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"first content\n")
    fd = os.open(log, os.O_RDONLY)
    store = Checkpoints(tmp_path / "cp")
    await store.open()
    store.track(identify(fd), str(log), 0).ranges.ack(0, 14)
    await store.close()
    os.close(fd)
    log.write_bytes(b"other content, same inode\n")  # truncate + rewrite keeps the inode
    fd = os.open(log, os.O_RDONLY)
    try:
        store = Checkpoints(tmp_path / "cp")
        await store.open()
        assert store.saved_position(fd) is None
        await store.close()
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'{"version": 99, "files": {}}', b'{"version": 1, "files": {"1:2": {"offset": "x"}}}'],
)
async def test_corrupt_file_stops_start_up_naming_it(tmp_path, content: bytes) -> None:
    (tmp_path / "checkpoints.json").write_bytes(content)
    store = Checkpoints(tmp_path)
    with pytest.raises(CheckpointError, match=str(tmp_path / "checkpoints.json")) as info:
        await store.open()
    assert isinstance(info.value, StreamlineError)
    # The lock was released: after fixing the file, the store opens.
    (tmp_path / "checkpoints.json").unlink()
    await store.open()
    await store.close()


async def test_directory_is_locked_against_a_second_follower(tmp_path) -> None:
    first = Checkpoints(tmp_path)
    await first.open()
    with pytest.raises(CheckpointError, match="in use"):
        await Checkpoints(tmp_path).open()
    await first.close()
    second = Checkpoints(tmp_path)
    await second.open()
    await second.close()


async def test_write_is_atomic_replace(tmp_path, monkeypatch) -> None:
    """A crash while writing leaves the previous checkpoint intact."""
    log = tmp_path / "a.log"
    log.write_bytes(b"line\n" * 10)
    fd = os.open(log, os.O_RDONLY)
    store = Checkpoints(tmp_path / "cp")
    await store.open()
    tracked = store.track(identify(fd), str(log), 0)
    tracked.ranges.ack(0, 5)
    await store.flush()
    before = (tmp_path / "cp" / "checkpoints.json").read_bytes()
    tracked.ranges.ack(5, 10)

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    await store.flush()  # a failed save is reported and retried, not raised
    monkeypatch.undo()
    assert store.save_failures == 1 and store.last_error == "disk full"
    assert (tmp_path / "cp" / "checkpoints.json").read_bytes() == before
    assert [n for n in os.listdir(tmp_path / "cp") if n.endswith(".tmp")] == []
    await store.close()
    os.close(fd)
    assert json.loads((tmp_path / "cp" / "checkpoints.json").read_text())["files"]


def test_tail_is_the_mark_at_the_acknowledged_position_and_older_marks_are_pruned(tmp_path) -> None:
    from streamline._follow.checkpoints import FileCheckpoint

    log = tmp_path / "a.log"
    log.write_bytes(b"x\n")
    fd = os.open(log, os.O_RDONLY)
    try:
        checkpoint = FileCheckpoint(identify(fd), str(log), 0)
    finally:
        os.close(fd)
    checkpoint.mark(10, b"ten")
    checkpoint.mark(20, b"twenty")
    assert checkpoint.tail() is None  # position 0: nothing acknowledged
    checkpoint.ranges.ack(0, 10)
    assert checkpoint.tail() == b"ten"
    checkpoint.ranges.ack(10, 20)
    assert checkpoint.tail() == b"twenty"
    assert list(checkpoint.marks) == [20]


async def test_saved_position_is_refused_when_the_bytes_before_it_changed(tmp_path) -> None:
    log = tmp_path / "a.log"
    header = b"H" * 2000 + b"\n"
    log.write_bytes(header + b"one\ntwo\n")
    fd = os.open(log, os.O_RDONLY)
    store = Checkpoints(tmp_path / "cp")
    await store.open()
    tracked = store.track(identify(fd), str(log), 0)
    end = len(header) + 8
    tracked.mark(end, (header + b"one\ntwo\n")[-1024:])
    tracked.ranges.ack(0, end)
    await store.close()
    os.close(fd)
    (record,) = json.loads((tmp_path / "cp" / "checkpoints.json").read_text())["files"].values()
    assert record["tail_size"] == 1024
    reopened = Checkpoints(tmp_path / "cp")
    await reopened.open()
    fd = os.open(log, os.O_RDONLY)
    assert reopened.saved_position(fd) == end
    with open(log, "r+b") as rewrite:  # same inode, same first KiB, longer, other lines
        rewrite.truncate(0)
        rewrite.write(header + b"ONE\nTWO\nTHREE\n")
    assert reopened.saved_position(fd) is None
    os.close(fd)
    await reopened.close()


async def test_records_not_tracked_expire_after_their_time(tmp_path) -> None:
    import time

    cp = tmp_path / "cp"
    cp.mkdir()
    record = {"path": "/gone.log", "device": 1, "inode": 2, "fingerprint_size": 0,
              "fingerprint": "x", "offset": 5, "updated": time.time() - 100}
    fresh = dict(record, inode=3, updated=time.time())
    (cp / "checkpoints.json").write_text(json.dumps({"version": 1, "files": {"1:2": record, "1:3": fresh}}))
    store = Checkpoints(cp, expire_after=50)
    await store.open()
    await store.close()
    kept = json.loads((cp / "checkpoints.json").read_text())["files"]
    assert list(kept) == ["1:3"]


def test_bytes_before_a_batch_end() -> None:
    from streamline._follow.reader import _bytes_before

    recent = b"r" * 1024
    data = b"d" * 3000
    assert _bytes_before(recent, data, 5000, 8000) == b"d" * 1024  # inside the data
    assert _bytes_before(recent, data, 5000, 5100) == b"r" * 924 + b"d" * 100  # spans both
    assert _bytes_before(recent, data, 5000, 4900) is None  # 1 KiB before it is not all at hand
    assert _bytes_before(recent, data, 1024, 1000) == b"r" * 1000  # near the start: all of it
    assert _bytes_before(None, data, 5000, 5100) is None  # not all at hand
    assert _bytes_before(None, b"ab\n", 0, 3) == b"ab\n"  # near the start: fewer bytes


def test_find_copy_finds_the_copytruncate_copy(tmp_path) -> None:
    from streamline._follow.files import bytes_before, find_copy

    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(500)))
    fd = os.open(log, os.O_RDONLY)
    identity = identify(fd)
    position = 1000
    recent = bytes_before(fd, position)
    os.close(fd)
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())
    (tmp_path / "app.log.2").write_bytes(b"other content\n" * 200)
    log.write_bytes(b"")
    assert find_copy(str(log), identity, position, recent) == str(tmp_path / "app.log.1")
    (tmp_path / "app.log.1").write_bytes(log.read_bytes()[:10])  # too short to hold the rest
    assert find_copy(str(log), identity, position, recent) is None


def test_directory_and_file_are_paths_as_before(tmp_path) -> None:
    # Kept as strings inside (no pathlib in a following ship), still Paths to callers.
    from pathlib import Path

    for directory in (tmp_path, str(tmp_path)):
        checkpoints = Checkpoints(directory)
        assert checkpoints.directory == tmp_path and isinstance(checkpoints.directory, Path)
        assert checkpoints.path == tmp_path / "checkpoints.json" and isinstance(checkpoints.path, Path)


async def test_a_save_is_scheduled_by_the_acknowledgement_that_needs_it(tmp_path) -> None:
    """The savers sleep while ``save_due_at`` is None; the first acknowledgement after a save
    tells them when to save (once per save: later ones are in the same save)."""
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 100)
    fd = os.open(log, os.O_RDONLY)
    told: list[float] = []
    try:
        store = Checkpoints(tmp_path / "cp", flush_interval=5.0)
        await store.open()
        stop = store.on_acknowledged(told.append)
        tracked = store.track(identify(fd), str(log), 0)
        assert store.save_due_at is None  # nothing acknowledged: nothing to wake up for
        tracked.ack(0, 10)
        assert told == [store.save_due_at] and told[0] <= time.monotonic()  # no save yet: due now
        tracked.ack(10, 20)
        assert len(told) == 1  # the same save will take it
        await store.flush()
        assert store.save_due_at is None and saved(tmp_path / "cp") == 20
        tracked.ack(20, 30)  # after a save: due an interval after it
        assert len(told) == 2 and told[1] == store.save_due_at
        assert told[1] >= store.last_saved + 5.0  # type: ignore[operator]
        await store.flush()
        tracked.ack(30, 30)  # an acknowledgement that moves nothing still gets its (empty) save
        await store.flush()
        assert store.save_due_at is None  # and leaves nothing scheduled (no busy loop)
        stop()
        tracked.ack(30, 40)
        assert len(told) == 3  # stopped listening: not told
        await store.close()
        assert saved(tmp_path / "cp") == 40  # saved on close all the same
    finally:
        os.close(fd)


async def test_a_failed_save_stays_scheduled_without_new_acknowledgements(tmp_path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 100)
    fd = os.open(log, os.O_RDONLY)
    try:
        store = Checkpoints(tmp_path / "cp", flush_interval=5.0)
        await store.open()
        tracked = store.track(identify(fd), str(log), 0)
        tracked.ack(0, 10)
        (tmp_path / "cp" / ".lock").unlink()
        (tmp_path / "cp").rename(tmp_path / "gone")
        (tmp_path / "cp").write_text("not a directory: saving fails")
        await store.flush()
        assert store.save_failures == 1
        assert store.save_due_at is not None  # retried an interval later, acknowledged or not
        (tmp_path / "cp").unlink()
        await store.close()
        assert saved(tmp_path / "cp") == 10
    finally:
        os.close(fd)


def saved(cp) -> int:
    (record,) = json.loads((cp / "checkpoints.json").read_text())["files"].values()
    return int(record["offset"])
