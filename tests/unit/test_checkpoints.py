"""Checkpoint range math (hypothesis) and the on-disk store: atomic, locked, loud when corrupt."""

from __future__ import annotations

import json
import os

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
