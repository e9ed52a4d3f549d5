"""Blocking file-system work of a follower, done in worker threads in as few calls as possible.

Every function here runs in a worker thread: one call opens a file, one call reads up to a
chunk (with its checks), one call looks at every followed path.
"""

from __future__ import annotations

import errno
import glob
import os
import stat as stat_module
from dataclasses import dataclass

from .identity import FileIdentity, identify

CHUNK_BYTES = 1 << 20  # one read; NOTES.md: chunked reads are ~750x faster than per-line reads
END_LOOKBACK = 64 * 1024  # start="end" backs up to the last line start within this many bytes
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


@dataclass
class Opened:
    """A file just opened: descriptor, identity, size, and where an "end" start would be."""

    fd: int
    identity: FileIdentity
    size: int
    line_end: int  # offset after the last newline (start of a partial last line), or size
    saved: int | None  # checkpointed position, when the store knew this file


@dataclass
class Turn:
    """The outcome of one read turn on an open file."""

    size: int
    data: bytes = b""
    reset: bool = False  # truncated, or replaced in place: read again from 0
    identity: FileIdentity | None = None  # new or grown identity


class NotARegularFileError(OSError):
    """A FIFO, socket or device where a log file was expected."""


def check_readable(path: str) -> None:
    """Raise what opening ``path`` for following would raise (permission, directory, FIFO...)."""
    os.close(open_file(path).fd)


def open_file(path: str, saved_position: object = None) -> Opened:
    """Open ``path`` for following; ``IsADirectoryError`` for a directory, ``NotARegularFileError``
    for a FIFO or device (opened non-blocking, so a FIFO without a writer cannot hang us)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        stat = os.fstat(fd)
        if stat_module.S_ISDIR(stat.st_mode):
            raise IsADirectoryError(21, "Is a directory", path)
        if not stat_module.S_ISREG(stat.st_mode):
            raise NotARegularFileError(errno.EINVAL, "Not a regular file", path)
        identity = identify(fd, stat)
        tail_start = max(0, stat.st_size - END_LOOKBACK)
        tail = os.pread(fd, stat.st_size - tail_start, tail_start)
        newline = tail.rfind(b"\n")
        line_end = tail_start + newline + 1 if newline >= 0 else stat.st_size
        saved = saved_position(fd, stat) if callable(saved_position) else None
    except BaseException:
        os.close(fd)
        raise
    return Opened(fd, identity, stat.st_size, line_end, saved)


def read_turn(fd: int, identity: FileIdentity, position: int) -> Turn:
    """Read up to :data:`CHUNK_BYTES` at ``position``, first checking the file is still the same.

    Size below the position means truncation; same size or more but different first bytes
    means truncated and regrown (or rewritten in place). Both restart the file at 0.
    """
    stat = os.fstat(fd)
    if stat.st_size < position or (stat.st_size > position and not identity.matches(fd, stat)):
        return Turn(stat.st_size, reset=True, identity=identify(fd, stat))
    if stat.st_size == position:
        return Turn(stat.st_size)
    data = os.pread(fd, CHUNK_BYTES, position)
    size = max(stat.st_size, position + len(data))
    grown = identity.grown(fd, size)
    return Turn(size, data, identity=grown if grown is not identity else None)


def scan_all(
    paths: list[str], patterns: list[str], fds: list[int], directories: set[str]
) -> tuple[dict[str, os.stat_result | None], list[int], set[str]]:
    """One look at everything: :func:`scan`, then open files' sizes, then which directories exist.

    Paths are looked at before sizes, so a file renamed away is measured after its rename.
    """
    found = scan(paths, patterns)
    sizes = [os.fstat(fd).st_size for fd in fds]
    return found, sizes, {d for d in directories if os.path.isdir(d)}


def scan(paths: list[str], patterns: list[str]) -> dict[str, os.stat_result | None]:
    """Stat every explicit path (``None`` when missing) and every regular file a pattern matches."""
    found: dict[str, os.stat_result | None] = {}
    for path in paths:
        try:
            found[path] = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            found[path] = None
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                stat = os.stat(path)
            except OSError:
                continue  # vanished between glob and stat
            if stat_module.S_ISREG(stat.st_mode):
                found.setdefault(path, stat)
    return found


def find_rotated(path: str, since: float, known: set[tuple[int, int]]) -> list[str]:
    """Files in ``path``'s directory named like ``path.1``/``path-2024..`` and written since ``since``.

    Used after a rotation, to find files that came and went at ``path`` between two looks
    (two rotations within one poll interval), oldest first.
    """
    directory, name = os.path.split(path)
    candidates: list[tuple[float, str]] = []
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return []
    for entry in entries:
        if entry.name == name or not entry.name.startswith(name):
            continue
        if entry.name.endswith(COMPRESSED_SUFFIXES):
            continue
        try:
            stat = entry.stat()
        except OSError:
            continue
        if not stat_module.S_ISREG(stat.st_mode) or (stat.st_dev, stat.st_ino) in known:
            continue
        if stat.st_mtime >= since:
            candidates.append((stat.st_mtime, entry.path))
    return [candidate for _, candidate in sorted(candidates)]


def find_by_identity(path: str, identity: FileIdentity) -> str | None:
    """Where the file ``identity`` went: a file in ``path``'s directory with that identity."""
    directory = os.path.dirname(path) or "."
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            stat = entry.stat()
        except OSError:
            continue
        if (stat.st_dev, stat.st_ino) != (identity.device, identity.inode):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            return entry.path if identity.matches(fd) else None
        finally:
            os.close(fd)
    return None
