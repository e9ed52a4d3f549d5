"""Where file positions get saved: acknowledged ranges per file, persisted atomically.

A position only moves over bytes whose lines were acknowledged, in order: acknowledgements may
arrive out of order, and a gap holds the position back until it is filled (at-least-once, the
way Filebeat's registry and Vector's end-to-end acks work; Fluent Bit's save-on-read loses data).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from .._errors import CheckpointError
from .identity import FileIdentity

FILE_NAME = "checkpoints.json"
LOCK_NAME = ".lock"
FORMAT_VERSION = 1


class AckedRanges:
    """Acknowledged byte ranges of one file, and the end of their contiguous prefix.

        ranges = AckedRanges(start=0)
        ranges.ack(10, 20)      # out of order: held back
        ranges.ack(0, 10)
        ranges.position         # 20
    """

    __slots__ = ("_held", "position")

    def __init__(self, start: int = 0) -> None:
        self.position = start
        self._held: list[tuple[int, int]] = []  # heap of ranges beyond a gap

    def ack(self, start: int, end: int) -> None:
        """Mark bytes ``[start, end)`` acknowledged."""
        if start > self.position:
            heapq.heappush(self._held, (start, end))
        elif end > self.position:
            self.position = end
            held = self._held
            while held and held[0][0] <= self.position:
                self.position = max(self.position, heapq.heappop(held)[1])

    @property
    def held(self) -> int:
        """Number of acknowledged ranges waiting for a gap before them to be filled."""
        return len(self._held)


class FileCheckpoint:
    """The acknowledged position of one file (one identity), as the store will save it."""

    __slots__ = ("identity", "path", "ranges")

    def __init__(self, identity: FileIdentity, path: str, start: int) -> None:
        self.identity = identity
        self.path = path
        self.ranges = AckedRanges(start)

    @property
    def position(self) -> int:
        """End of the contiguous acknowledged prefix."""
        return self.ranges.position


class Checkpoints:
    """A directory holding every followed file's acknowledged position, keyed by identity.

    Pass it to :func:`follow`; a follower started again with the same directory resumes each
    file where its acknowledged lines end. Saved atomically every ``flush_interval`` seconds
    and when the follower closes.

        checkpoints = Checkpoints(".streamline/checkpoints")
        async with follow("access.log", checkpoints=checkpoints) as lines:
            async for line in lines:
                await ship(line); line.ack()
    """

    def __init__(self, directory: str | os.PathLike[str], *, flush_interval: float = 1.0) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive (got {flush_interval})")
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.flush_interval = flush_interval
        self.records: dict[str, dict[str, Any]] = {}  # as loaded: key -> record
        self._tracked: dict[str, FileCheckpoint] = {}
        self._last_written: bytes | None = None
        self._last_flush = 0.0
        self._lock_fd: int | None = None
        self._flush_lock: anyio.Lock | None = None

    # -- lifecycle (blocking parts run in a worker thread) -------------------------------
    async def open(self) -> None:
        """Lock the directory and load saved positions; :class:`CheckpointError` if corrupt."""
        await anyio.to_thread.run_sync(self._open_sync)
        self._flush_lock = anyio.Lock()
        # No save yet: the first acknowledged position is written at the first chance, so a
        # process killed soon after it started does not repeat what it already delivered.
        self._last_flush = 0.0

    async def close(self) -> None:
        """Save what is acknowledged and release the directory.

        A store that never opened (e.g. its file is corrupt) writes nothing: the user's file stays
        as it was, to be inspected or repaired.
        """
        try:
            if self._lock_fd is not None:
                await self.flush()
        finally:
            self._tracked.clear()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the flock
                self._lock_fd = None

    def _open_sync(self) -> None:
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(
                f"checkpoint directory {self.directory} is in use by another follower"
            ) from None
        self._lock_fd = fd
        try:
            self.records = self._load()
        except BaseException:
            os.close(fd)
            self._lock_fd = None
            raise
        self._last_written = None

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(raw)
            if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
                raise ValueError(f"expected an object with version {FORMAT_VERSION}")
            files = document["files"]
            if not isinstance(files, dict):
                raise ValueError("'files' is not an object")
            for key, record in files.items():
                _check_record(key, record)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint file {self.path} is corrupt ({exc}); "
                "move it away to start from the configured start position"
            ) from None
        return files

    # -- positions -----------------------------------------------------------------------
    def saved_position(self, fd: int, stat: os.stat_result | None = None) -> int | None:
        """The saved position of the open file ``fd``, if its identity was saved (blocking)."""
        stat = stat or os.fstat(fd)
        record = self.records.get(f"{stat.st_dev}:{stat.st_ino}")
        if record is None or not record_identity(record).matches(fd, stat):
            return None
        return int(record["offset"])

    def track(self, identity: FileIdentity, path: str, start: int) -> FileCheckpoint:
        """Start tracking acknowledgements of a file from ``start``; replaces a previous epoch."""
        checkpoint = FileCheckpoint(identity, path, start)
        self._tracked[identity.key] = checkpoint
        return checkpoint

    def forget(self, key: str) -> None:
        """Drop a file that no longer exists from the store."""
        self._tracked.pop(key, None)
        self.records.pop(key, None)

    def position(self, identity: FileIdentity) -> int | None:
        """The acknowledged position of a file known to this store, or ``None``.

            checkpoints.position(line.identity)  # 4096
        """
        tracked = self._tracked.get(identity.key)
        if tracked is not None:
            return tracked.position
        record = self.records.get(identity.key)
        return None if record is None else int(record["offset"])

    # -- saving --------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The checkpoint file's content for the current acknowledged positions."""
        now = time.time()
        files = dict(self.records)
        for key, tracked in self._tracked.items():
            identity = tracked.identity
            previous = files.get(key)
            if previous is not None and previous["offset"] == tracked.position and (
                previous["fingerprint"] == identity.fingerprint
            ):
                continue  # unchanged: keep its timestamp
            files[key] = {
                "path": tracked.path,
                "device": identity.device,
                "inode": identity.inode,
                "fingerprint_size": identity.fingerprint_size,
                "fingerprint": identity.fingerprint,
                "offset": tracked.position,
                "updated": now,
            }
        self.records = files
        return json.dumps({"version": FORMAT_VERSION, "files": files}, indent=1).encode()

    async def flush(self) -> None:
        """Save acknowledged positions now, if they changed (atomic: temp file, fsync, rename).

        ``flush_interval`` counts from the last actual write, so the first change after a quiet
        spell is saved at once and a busy stream is saved once per interval.
        """
        payload = self.snapshot()
        if payload == self._last_written:
            return
        lock = self._flush_lock or anyio.Lock()
        async with lock:
            await anyio.to_thread.run_sync(self._write, payload)
        self._last_written = payload
        self._last_flush = time.monotonic()

    @property
    def last_saved(self) -> float | None:
        """``time.monotonic()`` of the last save (``None`` before the first)."""
        return self._last_flush or None

    async def flush_if_due(self) -> None:
        """Save if ``flush_interval`` has passed since the last save."""
        if time.monotonic() - self._last_flush >= self.flush_interval:
            await self.flush()

    def _write(self, payload: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".checkpoints-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        directory_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # make the rename itself durable
        finally:
            os.close(directory_fd)


def record_identity(record: dict[str, Any]) -> FileIdentity:
    """The :class:`FileIdentity` a stored record describes."""
    return FileIdentity(
        record["device"], record["inode"], record["fingerprint_size"], record["fingerprint"]
    )


def _check_record(key: str, record: Any) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"record {key!r} is not an object")
    for field, kind in (
        ("path", str),
        ("device", int),
        ("inode", int),
        ("fingerprint_size", int),
        ("fingerprint", str),
        ("offset", int),
    ):
        value = record.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"record {key!r} has no valid {field!r}")
    if record["offset"] < 0 or key != f"{record['device']}:{record['inode']}":
        raise ValueError(f"record {key!r} is inconsistent")
