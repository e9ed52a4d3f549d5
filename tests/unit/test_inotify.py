"""The Linux inotify backend of the follower's change waiter: what each file-system change is
reported as (the kinds watchfiles uses, plus "written" for a change to a file's bytes), and that
losing a watched directory is noticed."""

from __future__ import annotations

import os
import select
import sys

import pytest

from streamline._follow import inotify
from streamline._follow.inotify import ADDED, DELETED, MODIFIED, WRITTEN, Inotify

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and inotify.available()), reason="Linux inotify")


def changes_after(notify: Inotify) -> set[tuple[int, str]]:
    """Wait (generously) until the descriptor is readable, then read what is queued."""
    readable, _, _ = select.select([notify.fileno()], [], [], 10.0)
    assert readable, "no inotify event within 10 s"
    return notify.read()


def test_nothing_queued_reads_empty_without_waiting(tmp_path) -> None:
    notify = Inotify()
    try:
        notify.watch({str(tmp_path)})
        assert notify.read() == set()
    finally:
        notify.close()


def test_create_write_rename_delete_are_reported_like_watchfiles(tmp_path) -> None:
    notify = Inotify()
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    try:
        notify.watch({str(tmp_path)})
        log.write_bytes(b"")
        assert (ADDED, str(log)) in changes_after(notify)
        with open(log, "ab") as f:
            f.write(b"one\n")
        assert changes_after(notify) == {(WRITTEN, str(log))}
        log.rename(rotated)
        assert changes_after(notify) == {(DELETED, str(log)), (ADDED, str(rotated))}
        rotated.unlink()
        assert (DELETED, str(rotated)) in changes_after(notify)
        assert notify.read() == set()
    finally:
        notify.close()


def test_an_attribute_change_is_modified_not_written(tmp_path) -> None:
    """Only a change to the file's bytes is "written" (the reader then need not look at the
    path); any other change to it stays "modified", and the reader looks."""
    notify = Inotify()
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    try:
        notify.watch({str(tmp_path)})
        os.chmod(log, 0o600)
        assert changes_after(notify) == {(MODIFIED, str(log))}
    finally:
        notify.close()


def test_many_writes_drain_in_one_read(tmp_path) -> None:
    notify = Inotify()
    log = tmp_path / "busy.log"
    log.write_bytes(b"")
    try:
        notify.watch({str(tmp_path)})
        with open(log, "ab", buffering=0) as f:
            for i in range(5000):  # more events than one 64 KiB read holds
                f.write(b"%d\n" % i)
        assert changes_after(notify) == {(WRITTEN, str(log))}
        assert notify.read() == set()
    finally:
        notify.close()


def test_a_removed_directory_is_reported_and_marks_the_watch_lost(tmp_path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    notify = Inotify()
    try:
        notify.watch({str(directory)})
        directory.rmdir()
        assert (DELETED, str(directory)) in changes_after(notify)
        assert notify.lost
        directory.mkdir()
        notify.watch({str(directory)})  # watched again once it is back
        assert not notify.lost
        (directory / "new.log").write_bytes(b"x\n")
        assert (ADDED, str(directory / "new.log")) in changes_after(notify)
    finally:
        notify.close()


def test_watch_set_changes_and_failures(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    notify = Inotify()
    try:
        notify.watch({str(a), str(b)})
        notify.watch({str(b)})  # a no longer watched
        (a / "x.log").write_bytes(b"x\n")
        (b / "y.log").write_bytes(b"y\n")
        assert {path for _, path in changes_after(notify)} == {str(b / "y.log")}
        with pytest.raises(OSError):
            notify.watch({str(tmp_path / "missing")})
    finally:
        notify.close()
        notify.close()  # idempotent
    with pytest.raises(OSError):
        os.fstat(notify.fileno() if notify.fileno() >= 0 else -1)


def test_a_moved_directory_is_not_reported_under_its_old_name(tmp_path) -> None:
    directory, moved = tmp_path / "logs", tmp_path / "logs.old"
    directory.mkdir()
    notify = Inotify()
    try:
        notify.watch({str(directory)})
        directory.rename(moved)
        assert (DELETED, str(directory)) in changes_after(notify)
        assert notify.lost
        (moved / "late.log").write_bytes(b"x\n")  # the old watch must not name this logs/late.log
        directory.mkdir()
        notify.watch({str(directory)})
        (directory / "new.log").write_bytes(b"y\n")
        changes = changes_after(notify)
        assert (ADDED, str(directory / "new.log")) in changes
        assert all("late.log" not in path for _, path in changes)
    finally:
        notify.close()


def test_the_same_name_in_two_directories_is_named_by_its_own_directory(tmp_path) -> None:
    """Paths are remembered per watch and name: app.log here is not app.log there, also after
    the set of watched directories changed."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    notify = Inotify()
    try:
        notify.watch({str(a), str(b)})
        for directory in (a, b, a):
            (directory / "app.log").write_bytes(b"x\n")
            assert {path for _, path in changes_after(notify)} == {str(directory / "app.log")}
        notify.watch({str(b)})
        notify.watch({str(a), str(b)})  # a watched again (under a new watch descriptor)
        for directory in (a, b):
            (directory / "app.log").write_bytes(b"y\n")
            assert {path for _, path in changes_after(notify)} == {str(directory / "app.log")}
    finally:
        notify.close()
