"""Where file positions get saved: acknowledged ranges per file, persisted atomically.

A position only moves over bytes whose lines were acknowledged, in order: acknowledgements may
arrive out of order, and a gap holds the position back until it is filled (at-least-once, the
way Filebeat's registry and Vector's end-to-end acks work; Fluent Bit's save-on-read loses data).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._errors import CheckpointError
from .._validation import check_number
from .identity import FileIdentity

if TYPE_CHECKING:
    from pathlib import Path

FILE_NAME = "checkpoints.json"
LOCK_NAME = ".lock"
FORMAT_VERSION = 1
#: Records of files no follower tracks any more are dropped this many seconds after their
#: last update (Vector's checkpointer expires records of files that are gone the same way).
EXPIRE_AFTER = 24 * 3600.0
#: A failing save is logged at most once per this many seconds (it is retried every interval).
FAILURE_LOG_INTERVAL = 30.0
#: At most this many "bytes before a batch end" are remembered per file while acks are pending.
MAX_MARKS = 4096
#: The checksum saved with a position covers at most this many bytes before it.
MAX_TAIL = 1024

log = logging.getLogger("streamline.follow")


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
    """The acknowledged position of one file (one identity), as the store will save it.

    ``marks`` maps the end offset of handed-out batches to the bytes just before it, so the
    store can save a checksum of the bytes before the acknowledged position: a file rewritten
    under the position is then noticed at restart, even with the same inode and first KiB.
    """

    __slots__ = ("_store", "identity", "marks", "path", "ranges")

    def __init__(self, identity: FileIdentity, path: str, start: int, store: Checkpoints | None = None) -> None:
        self.identity = identity
        self.path = path
        self.ranges = AckedRanges(start)
        self.marks: dict[int, bytes] = {}
        self._store = store

    def ack(self, start: int, end: int) -> None:
        """Mark bytes ``[start, end)`` acknowledged; the store learns that it has something to save."""
        self.ranges.ack(start, end)
        store = self._store
        if store is not None and not store._acknowledged:  # the first since the last save
            store._note_acknowledged()

    def mark(self, end: int, before: bytes) -> None:
        """Remember the bytes before offset ``end`` (the end of a batch handed out)."""
        marks = self.marks
        if len(marks) >= MAX_MARKS:  # acks not coming: keep the newest; older ends save no checksum
            del marks[next(iter(marks))]
        marks[end] = before

    def tail(self) -> bytes | None:
        """The bytes before the acknowledged position, if remembered; prunes older marks."""
        position = self.ranges.position
        marks = self.marks
        if marks and next(iter(marks)) < position:
            for end in [end for end in marks if end < position]:
                del marks[end]
        return marks.get(position)

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

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        flush_interval: float = 1.0,
        expire_after: float = EXPIRE_AFTER,
        strict: bool = False,
    ) -> None:
        check_number("flush_interval", flush_interval, above=0)
        check_number("expire_after", expire_after, above=0)
        # Plain strings: pathlib (with the urllib.parse it imports) would be 0.35 MB of a
        # following ship's memory, for joining two names.
        self._directory = os.fspath(directory) or "."
        self._path = os.path.join(self._directory, FILE_NAME)
        self.flush_interval = flush_interval
        self.expire_after = expire_after
        self.strict = strict
        self.records: dict[str, dict[str, Any]] = {}  # as loaded: key -> record
        #: Saves that failed (full disk, read-only or missing directory...); each is retried.
        self.save_failures = 0
        #: Why the last save failed, or ``None`` once a save succeeded again.
        self.last_error: str | None = None
        self._tracked: dict[str, FileCheckpoint] = {}
        self._last_written: bytes | None = None
        self._last_flush = 0.0
        self._last_attempt = 0.0
        self._next_expiry = 0.0
        self._unsaved = False
        self._last_failure_log = -FAILURE_LOG_INTERVAL
        self._lock_fd: int | None = None
        self._lock_id: tuple[int, int] | None = None
        self._opened = False
        self._lost: str | None = None  # another process holds the directory now: fatal
        self._flush_lock: anyio.Lock | None = None
        self._acknowledged = False  # an acknowledgement came since the last save began
        self._listeners: list[Callable[[float], None]] = []

    @property
    def directory(self) -> Path:
        """The checkpoint directory."""
        from pathlib import Path

        return Path(self._directory)

    @property
    def path(self) -> Path:
        """The checkpoint file in it."""
        from pathlib import Path

        return Path(self._path)

    # -- lifecycle (blocking parts run in a worker thread) -------------------------------
    async def open(self) -> None:
        """Lock the directory and load saved positions; :class:`CheckpointError` if corrupt.

        A directory that cannot be created or written is a warning (saves are retried, a
        restart may repeat lines) unless ``strict=True``, where it is a :class:`CheckpointError`.
        """
        await anyio.to_thread.run_sync(self._open_sync)
        self._opened = True
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
            if self._opened and self._lost is None:
                await self.flush()
        finally:
            self._tracked.clear()
            self._opened = False
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None
            self._lock_id = None

    def _open_sync(self) -> None:
        try:
            self._lock()
        except OSError as exc:
            if self.strict:
                raise CheckpointError(
                    f"checkpoint directory {self._directory} is not usable: {_reason(exc)}"
                ) from None
            log.warning(
                "checkpoint directory %s is not usable (%s); shipping anyway, "
                "saves are retried, and a restart may repeat lines until they succeed",
                self._directory,
                _reason(exc),
            )
            self.last_error = _reason(exc)
        try:
            self.records = self._load()
        except BaseException:
            self._unlock()
            raise
        self._last_written = None

    def _lock(self) -> None:
        """Create the directory and take its lock; :class:`CheckpointError` if another holds it."""
        import fcntl

        os.makedirs(self._directory, exist_ok=True)
        fd = os.open(os.path.join(self._directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(
                f"checkpoint directory {self._directory} is in use by another follower"
            ) from None
        self._unlock()
        self._lock_fd = fd
        stat = os.fstat(fd)
        self._lock_id = (stat.st_dev, stat.st_ino)

    def _lock_intact(self) -> bool:
        try:
            stat = os.stat(os.path.join(self._directory, LOCK_NAME))
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._lock_id

    def _check_lock(self) -> None:
        """Is our lock file still the directory's lock file? Take it again if the directory was
        deleted or replaced; refuse to go on (:class:`CheckpointError`) if another process did."""
        if self._lock_intact():
            return
        had_lock = self._lock_id is not None
        try:
            self._lock()
        except CheckpointError:
            self._unlock()
            self._lost = (
                f"checkpoint directory {self._directory} was replaced while in use and another "
                "follower holds it now; stopping rather than running unlocked"
            )
            raise CheckpointError(self._lost) from None
        if had_lock:
            log.warning(
                "checkpoint directory %s was removed or replaced; locked it again",
                self._directory,
            )

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            with open(self._path, "rb") as file:
                raw = file.read()
        except (FileNotFoundError, NotADirectoryError):
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
                f"checkpoint file {self._path} is corrupt ({exc}); "
                "move it away to start from the configured start position"
            ) from None
        return files

    # -- positions -----------------------------------------------------------------------
    def saved_position(self, fd: int, stat: os.stat_result | None = None) -> int | None:
        """The saved position of the open file ``fd``, if its identity was saved (blocking).

        The file must also hold the same bytes just before the position as when it was saved
        (when the record has their checksum): a file truncated and rewritten past the position,
        with the same inode and first KiB, is a new file, read from its start.
        """
        stat = stat or os.fstat(fd)
        record = self.records.get(f"{stat.st_dev}:{stat.st_ino}")
        if record is None or not record_identity(record).matches(fd, stat):
            return None
        offset = int(record["offset"])
        if offset > stat.st_size:
            return None
        tail_size = record.get("tail_size")
        if isinstance(tail_size, int) and 0 < tail_size <= offset:
            before = os.pread(fd, tail_size, offset - tail_size)
            if hashlib.sha256(before).hexdigest() != record.get("tail"):
                return None
        return offset

    def track(self, identity: FileIdentity, path: str, start: int) -> FileCheckpoint:
        """Start tracking acknowledgements of a file from ``start``; replaces a previous epoch."""
        checkpoint = FileCheckpoint(identity, path, start, self)
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
        horizon = now - self.expire_after
        files = {
            key: record
            for key, record in self.records.items()
            if key in self._tracked or record.get("updated", now) >= horizon
        }
        for key, tracked in self._tracked.items():
            identity = tracked.identity
            previous = files.get(key)
            position = tracked.position
            if previous is not None and previous["offset"] == position and (
                previous["fingerprint"] == identity.fingerprint
            ):
                continue  # unchanged: keep its timestamp
            record = {
                "path": tracked.path,
                "device": identity.device,
                "inode": identity.inode,
                "fingerprint_size": identity.fingerprint_size,
                "fingerprint": identity.fingerprint,
                "offset": position,
                "updated": now,
            }
            tail = tracked.tail() if position else None
            if tail is not None and len(tail) == min(position, MAX_TAIL):
                record["tail_size"] = len(tail)
                record["tail"] = hashlib.sha256(tail).hexdigest()
            files[key] = record
        self.records = files
        return json.dumps({"version": FORMAT_VERSION, "files": files}, indent=1).encode()

    async def flush(self) -> None:
        """Save acknowledged positions now, if they changed (atomic: temp file, fsync, rename).

        ``flush_interval`` counts from the last actual write, so the first change after a quiet
        spell is saved at once and a busy stream is saved once per interval. A failed save
        (full disk, read-only directory) is logged at most once per
        :data:`FAILURE_LOG_INTERVAL` seconds, counted in ``save_failures`` and retried at the
        next interval; it raises only with ``strict=True``. :class:`CheckpointError` if another
        process took the directory over (it was deleted or replaced while we used it).
        """
        self._acknowledged = False  # what comes from now on is in the next save
        if self._lost is not None:
            raise CheckpointError(self._lost)
        if not self._unsaved and not self._changed():
            return
        # Until a write succeeds, the next flush writes (snapshot() updates ``records``, so
        # comparing with them no longer tells whether the file on disk is up to date).
        self._unsaved = True
        payload = self.snapshot()
        if payload == self._last_written:
            self._unsaved = False
            return
        self._last_attempt = time.monotonic()
        lock = self._flush_lock or anyio.Lock()
        try:
            with anyio.CancelScope(shield=True):  # a save, once decided, completes
                async with lock:
                    await anyio.to_thread.run_sync(self._save, payload)
        except OSError as exc:
            self._failed(exc)
            return
        self._unsaved = False
        if self.last_error is not None:
            log.warning("streamline: checkpoints saved to %s again", self._path)
        self.last_error = None
        self._last_written = payload
        self._last_flush = time.monotonic()

    def _changed(self) -> bool:
        """Could a snapshot differ from the last one written? (cheap: no JSON, no hashing)"""
        if self._last_written is None or self.last_error is not None:
            return True
        if self._opened and not self._lock_intact():  # the directory was deleted or replaced
            return True
        now = time.monotonic()
        if now >= self._next_expiry:  # look for records to expire once a minute
            self._next_expiry = now + 60.0
            return True
        records = self.records
        for key, tracked in self._tracked.items():
            record = records.get(key)
            if (
                record is None
                or record["offset"] != tracked.ranges.position
                or record["fingerprint"] != tracked.identity.fingerprint
            ):
                return True
        return False

    def _failed(self, exc: OSError) -> None:
        self.save_failures += 1
        self.last_error = _reason(exc)
        if self.strict:
            raise CheckpointError(f"saving checkpoints to {self._path} failed: {self.last_error}") from None
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_INTERVAL:
            self._last_failure_log = now
            log.warning(
                "saving checkpoints to %s failed (%s); still shipping, retrying "
                "every %gs (a restart now would repeat lines, not lose them)",
                self._path,
                self.last_error,
                self.flush_interval,
            )

    def _save(self, payload: bytes) -> None:
        if self._opened:
            self._check_lock()
        self._write(payload)

    @property
    def last_saved(self) -> float | None:
        """``time.monotonic()`` of the last save (``None`` before the first)."""
        return self._last_flush or None

    @property
    def due(self) -> bool:
        """True once ``flush_interval`` has passed since the last save (or failed attempt)."""
        return time.monotonic() - max(self._last_flush, self._last_attempt) >= self.flush_interval

    @property
    def save_due_at(self) -> float | None:
        """When (``time.monotonic()``) the next save is due; ``None`` while there is nothing to
        save: no acknowledgement since the last save began and no failed save to retry. Lets
        the savers (the follower, a pipeline) sleep instead of looking every fraction of a second.
        """
        if not (self._acknowledged or self._unsaved):
            return None
        return max(self._last_flush, self._last_attempt) + self.flush_interval

    def on_acknowledged(self, listener: Callable[[float], None]) -> Callable[[], None]:
        """Call ``listener(save_due_at)`` on the first acknowledgement after each save (in the
        acknowledging code: keep it short); returns the function that stops it.

            stop = checkpoints.on_acknowledged(alarm.bring_forward)
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _note_acknowledged(self) -> None:
        self._acknowledged = True
        due = max(self._last_flush, self._last_attempt) + self.flush_interval
        for listener in self._listeners:
            listener(due)

    async def flush_if_due(self) -> None:
        """Save if ``flush_interval`` has passed since the last save (or failed attempt)."""
        if self.due:
            await self.flush()

    def _write(self, payload: bytes) -> None:
        os.makedirs(self._directory, exist_ok=True)
        # A fresh name, created exclusively (what tempfile.mkstemp does; the module costs 0.5 MB
        # of a follower's memory for this one call). The directory lock keeps writers apart.
        temporary = os.path.join(self._directory, f".checkpoints-{os.getpid()}-{time.monotonic_ns()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        directory_fd = os.open(self._directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # make the rename itself durable
        finally:
            os.close(directory_fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


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
