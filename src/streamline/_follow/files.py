"""Blocking file-system work of a follower, done in worker threads in as few calls as possible.

Every function here runs in a worker thread: one call opens a file, one call reads up to a
chunk (with its checks), one call looks at every followed path.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat as stat_module
from dataclasses import dataclass

from .identity import FileIdentity, fingerprint, identify

CHUNK_BYTES = 1 << 20  # one read; NOTES.md: chunked reads are ~750x faster than per-line reads
END_LOOKBACK = 64 * 1024  # start="end" backs up to the last line start within this many bytes
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")
#: Descriptor exhaustion: never a reason to give a file up; try again later.
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
#: How many bytes before a position are remembered, to notice a file rewritten under it.
TAIL_BYTES = 1024
#: Magic numbers of compressed files: shipping their bytes as lines would ship garbage.
COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


@dataclass
class Opened:
    """A file just opened: descriptor, identity, size, and where an "end" start would be."""

    fd: int
    identity: FileIdentity
    size: int
    line_end: int  # offset after the last newline (start of a partial last line), or size
    saved: int | None  # checkpointed position, when the store knew this file
    compressed: str | None = None  # "gzip", "bzip2"...: the format its first bytes announce
    real_path: str = ""  # symlinks resolved: where change notifications name it


@dataclass
class Turn:
    """The outcome of one read turn on an open file."""

    size: int
    data: bytes = b""
    reset: bool = False  # truncated, or replaced in place: read again from 0
    identity: FileIdentity | None = None  # new or grown identity
    recent: bytes | None = None  # the last TAIL_BYTES before the position after this turn


class NotARegularFileError(OSError):
    """A FIFO, socket or device where a log file was expected."""


def check_readable(path: str) -> None:
    """Raise what opening ``path`` for following would raise (permission, directory, FIFO...)."""
    os.close(open_file(path).fd)


def path_problems(paths: list[str]) -> list[OSError]:
    """What is wrong with explicit (non-glob) ``paths``: missing, a directory, unreadable, not a
    regular file; one error each, naming the path. Globs matching nothing are a problem too.

        for problem in path_problems(["/var/log/app.log"]): print(problem)
    """
    problems: list[OSError] = []
    for path in paths:
        if glob.has_magic(path):
            if not glob.glob(path):
                problems.append(FileNotFoundError(2, "No file matches", path))
            continue
        try:
            check_readable(path)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = path
            problems.append(exc)
    return problems


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
        head = os.pread(fd, 8, 0)
        compressed = next((name for magic, name in COMPRESSED_MAGIC.items() if head.startswith(magic)), None)
    except BaseException:
        os.close(fd)
        raise
    return Opened(fd, identity, stat.st_size, line_end, saved, compressed, os.path.realpath(path))


def bytes_before(fd: int, position: int) -> bytes:
    """The last :data:`TAIL_BYTES` (or fewer, near the start) before ``position``."""
    start = max(0, position - TAIL_BYTES)
    return os.pread(fd, position - start, start)


def read_turn(
    fd: int, identity: FileIdentity, position: int, recent: bytes | None, chunk: int = CHUNK_BYTES
) -> Turn:
    """Read up to ``chunk`` bytes at ``position``, first checking the file is still the same.

    Size below the position means truncation; a larger size but different first bytes, or
    different bytes just before ``position`` than ``recent`` (what we read there), means the
    file was truncated and rewritten (or replaced in place) past our position. Both restart
    the file at 0. ``recent=None``: not known yet, read it now.
    """
    stat = os.fstat(fd)
    if stat.st_size < position or (
        stat.st_size > position
        and (
            not identity.matches(fd, stat)
            or (recent and os.pread(fd, len(recent), position - len(recent)) != recent)
        )
    ):
        return Turn(stat.st_size, reset=True, identity=identify(fd, stat))
    if recent is None:
        recent = bytes_before(fd, position)
    if stat.st_size == position:
        return Turn(stat.st_size, recent=recent)
    data = os.pread(fd, chunk, position)
    size = max(stat.st_size, position + len(data))
    grown = identity.grown(fd, size)
    if len(data) >= TAIL_BYTES:
        recent = data[-TAIL_BYTES:]
    elif data:
        recent = (recent + data)[-TAIL_BYTES:]
    return Turn(size, data, identity=grown if grown is not identity else None, recent=recent)


def rewritten(fd: int, identity: FileIdentity, position: int, recent: bytes | None, stat: os.stat_result) -> Turn | None:
    """A reset :class:`Turn` if a file read to its end (``position``, its size now) holds other
    bytes than we read: truncated and rewritten to the same size, which only a "written" event
    tells (:func:`read_turn` sees it once the file grows). ``None`` if it is the same.

        turn = rewritten(fd, identity, position, recent, os.fstat(fd))
    """
    if stat.st_size != position or position == 0:
        return None
    if identity.matches(fd, stat) and (not recent or os.pread(fd, len(recent), position - len(recent)) == recent):
        return None
    return Turn(stat.st_size, reset=True, identity=identify(fd, stat))


def excluded(path: str, exclude: list[str]) -> bool:
    """Does an ``exclude`` pattern match ``path`` (the whole path, or its file name)?"""
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in exclude)


def scan_all(
    paths: list[str],
    patterns: list[str],
    exclude: list[str],
    fds: list[int],
    directories: set[str],
) -> tuple[dict[str, os.stat_result | None], list[int], set[str]]:
    """One look at everything: :func:`scan`, then open files' sizes, then which directories exist
    (``directories`` may hold glob patterns: the directories they match are returned).

    Paths are looked at before sizes, so a file renamed away is measured after its rename.
    """
    found = scan(paths, patterns, exclude)
    sizes = [os.fstat(fd).st_size for fd in fds]
    existing: set[str] = set()
    for directory in directories:
        if glob.has_magic(directory):
            existing.update(d for d in glob.glob(directory) if os.path.isdir(d))
        elif os.path.isdir(directory):
            existing.add(directory)
    return found, sizes, existing


def scan(
    paths: list[str], patterns: list[str], exclude: list[str] | None = None
) -> dict[str, os.stat_result | None]:
    """Stat every explicit path (``None`` when missing) and every regular file a pattern matches
    (except those an ``exclude`` pattern matches, by full path or by name)."""
    found: dict[str, os.stat_result | None] = {}
    for path in paths:
        try:
            found[path] = os.stat(path)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            found[path] = None
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if exclude and excluded(path, exclude):
                continue
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


def rotation_directories(path: str) -> list[str]:
    """Where a rotated ``path`` may be: next to it, and next to what it links to (kubelet's
    ``/var/log/containers/*.log`` symlinks rotate next to their targets)."""
    directories = [os.path.dirname(path) or "."]
    target = os.path.dirname(os.path.realpath(path))
    if target not in directories and os.path.abspath(directories[0]) != target:
        directories.append(target)
    return directories


def find_by_identity(path: str, identity: FileIdentity) -> str | None:
    """Where the file ``identity`` went: a file next to ``path`` (or its link target) with it."""
    entries: list[os.DirEntry[str]] = []
    for directory in rotation_directories(path):
        try:
            entries.extend(os.scandir(directory))
        except OSError as exc:
            if exc.errno in OUT_OF_DESCRIPTORS:
                raise  # not "gone": the caller tries again later
            continue
    for entry in entries:
        try:
            stat = entry.stat()
        except OSError:
            continue
        if (stat.st_dev, stat.st_ino) != (identity.device, identity.inode):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno in OUT_OF_DESCRIPTORS:
                raise
            return None
        try:
            return entry.path if identity.matches(fd) else None
        finally:
            os.close(fd)
    return None


def find_copy(path: str, identity: FileIdentity, position: int, recent: bytes | None) -> str | None:
    """After ``path`` was truncated in place: a copy of it (logrotate ``copytruncate``'s
    ``path.1``) that holds the bytes from ``position`` on, if one is next to it.

    A copy has another inode, the same first bytes as the file had, at least ``position``
    bytes, and the same bytes just before ``position`` (``recent``).
    """
    directory, name = os.path.split(path)
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return None
    best: tuple[float, str] | None = None
    for entry in entries:
        if entry.name == name or not entry.name.startswith(name) or entry.name.endswith(COMPRESSED_SUFFIXES):
            continue
        try:
            stat = entry.stat()
            if not stat_module.S_ISREG(stat.st_mode) or stat.st_ino == identity.inode:
                continue
            if stat.st_size < max(position, identity.fingerprint_size):
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            head = os.pread(fd, identity.fingerprint_size, 0)
            if fingerprint(head) != identity.fingerprint:
                continue
            if recent and os.pread(fd, len(recent), position - len(recent)) != recent:
                continue
        except OSError:
            continue
        finally:
            os.close(fd)
        if best is None or stat.st_mtime > best[0]:
            best = (stat.st_mtime, entry.path)  # the newest copy: the latest rotation
    return best[1] if best else None
