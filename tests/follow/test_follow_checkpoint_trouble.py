"""Checkpoint storage trouble does not stop following (issue 11, point 6).

A full disk or read-only directory is simulated without privileges (tests may run as root,
where chmod denies nothing): the directory's path is taken by a regular file, so creating,
locking and writing in it fail with a real OSError from the kernel.
"""

from __future__ import annotations

import json
import logging
import shutil

import anyio
import pytest

from follow_helpers import POLL, append, nothing_more, saved_offset, take
from streamline._errors import CheckpointError
from streamline._follow import Checkpoints, follow


async def keep_following(lines, condition, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await nothing_more(lines, 0.05)


async def test_unusable_directory_at_start_is_a_warning(log, tmp_path, caplog) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a regular file where a directory should be")
    append(log, "one\n")
    with caplog.at_level(logging.WARNING, "streamline.follow"):
        async with follow(log, start="beginning", checkpoints=Checkpoints(blocker / "cp"), poll_interval=POLL) as f:
            lines = aiter(f)
            (line,) = await take(lines, 1)
            line.ack()
            append(log, "two\n")
            assert [x.text for x in await take(lines, 1)] == ["two"]
            assert f.checkpoints is not None and f.checkpoints.last_error
            assert any("checkpoints not saved" in part for part in f.status_parts())
    assert any("not usable" in r.getMessage() and str(blocker / "cp") in r.getMessage() for r in caplog.records)


async def test_unusable_directory_at_start_is_an_error_in_strict_mode(log, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match="not usable"):
        async with follow(log, checkpoints=Checkpoints(blocker / "cp", strict=True)):
            pass


async def test_failing_saves_are_logged_once_retried_and_recover(log, tmp_path, caplog) -> None:
    cp = tmp_path / "cp"
    store = Checkpoints(cp, flush_interval=0.05)
    with caplog.at_level(logging.WARNING, "streamline.follow"):
        async with follow(log, checkpoints=store, poll_interval=POLL) as f:
            lines = aiter(f)
            append(log, "a\n")
            (await take(lines, 1))[0].ack()
            await keep_following(lines, lambda: (cp / "checkpoints.json").exists())
            shutil.rmtree(cp)
            cp.write_text("the disk is 'full': the directory is gone and its name taken")
            for i in range(3):  # shipping goes on while saves fail
                append(log, f"b{i}\n")
                (await take(lines, 1))[0].ack()
            await keep_following(lines, lambda: store.save_failures >= 3)
            failures = [r for r in caplog.records if "saving checkpoints" in r.getMessage()]
            assert len(failures) == 1  # once per FAILURE_LOG_INTERVAL, not once per attempt
            assert str(cp) in failures[0].getMessage()
            cp.unlink()  # the disk has room again
            await keep_following(lines, lambda: store.last_error is None)
    saved = json.loads((cp / "checkpoints.json").read_text())["files"]
    assert list(saved.values())[0]["offset"] == log.stat().st_size


async def test_directory_deleted_while_running_is_locked_again(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    store = Checkpoints(cp, flush_interval=0.05)
    async with follow(log, checkpoints=store, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "a\n")
        (await take(lines, 1))[0].ack()
        await keep_following(lines, lambda: saved_offset(cp) == 2)
        shutil.rmtree(cp)
        append(log, "b\n")
        (await take(lines, 1))[0].ack()
        await keep_following(lines, lambda: saved_offset(cp) == log.stat().st_size)
        # The new directory is locked by us: a second follower is refused.
        with pytest.raises(CheckpointError, match="in use"):
            async with follow(log, checkpoints=Checkpoints(cp)):
                pass


async def test_directory_replaced_and_taken_by_another_follower_stops_this_one(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, "a\n")
    with pytest.raises(CheckpointError, match="another follower holds it"):
        async with follow(log, start="beginning", checkpoints=Checkpoints(cp, flush_interval=0.05), poll_interval=POLL) as first:
            lines = aiter(first)
            (await take(lines, 1))[0].ack()
            shutil.rmtree(cp)
            async with follow(log, checkpoints=Checkpoints(cp), poll_interval=POLL):
                append(log, "b\n")
                with anyio.fail_after(60):
                    async for line in lines:  # the first notices at its next save, and stops
                        line.ack()
