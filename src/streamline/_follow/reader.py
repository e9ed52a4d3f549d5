"""The engine of a follower: which files to read, in what order, and when they rotate.

Pull-based: nothing is read until the consumer asks for the next batch, so a slow consumer
slows reading (backpressure) and at most one chunk per file is in memory. All work happens in
the consumer's task; blocking calls go to worker threads, one call per chunk, never per line.

Each followed path owns a chain of open files: a renamed (rotated) or deleted file stays at the
head of its path's chain and is read to its end before the next file at that path is read.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import stat as stat_module
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

import anyio

from .checkpoints import Checkpoints, FileCheckpoint, record_identity
from .files import (
    NotARegularFileError,
    Opened,
    check_readable,
    find_by_identity,
    find_rotated,
    open_file,
    read_turn,
    scan,
    scan_all,
)
from .framing import Framed, LineFramer, LineTooLongError, LongLinePolicy
from .identity import FileIdentity
from .lines import FollowerStats, LineBatch
from .watch import ChangeWaiter

Start = Literal["end", "beginning"] | int

#: Seconds a finished, forgotten file is still recognised when looking for rotated files.
FORGOTTEN_MEMORY = 600.0


@dataclass
class ReaderOptions:
    start: Start
    reopen: bool
    must_exist: bool
    notify: bool
    poll_interval: float
    max_line_bytes: int
    long_lines: LongLinePolicy
    stop_at_eof: bool


class TrackedFile:
    """One open file: its descriptor, how far it was read, and its line framer."""

    def __init__(
        self, path: str, opened: Opened, position: int, options: ReaderOptions, store: Checkpoints
    ) -> None:
        self.path = path  # the followed path (stays the same after a rotation)
        self.fd = opened.fd
        self.identity = opened.identity
        self.size = opened.size
        self.position = position  # next byte to read
        self.framer = LineFramer(
            offset=position, max_line_bytes=options.max_line_bytes, long_lines=options.long_lines
        )
        self.checkpoint = store.track(self.identity, path, position)
        self.rotated = False  # no longer at its path: read to the end, then finish

    @property
    def pending(self) -> bool:
        return self.size != self.position


@dataclass
class _Finished:
    """A file read to its end and closed; remembered so a glob does not read it again."""

    identity: FileIdentity
    position: int
    checkpoint: FileCheckpoint
    signature: tuple[int, int, int] | None = None  # (size, mtime, ctime) when last verified


class Reader:
    """Finds, opens, reads and closes the files of one follower; see :meth:`next_batch`."""

    def __init__(
        self,
        paths: list[str],
        options: ReaderOptions,
        stats: FollowerStats,
        checkpoints: Checkpoints | None,
    ) -> None:
        self.options = options
        self.stats = stats
        self.paths = [p for p in paths if not glob.has_magic(p)]
        self.patterns = [p for p in paths if glob.has_magic(p)]
        # Without a user store, a private one in memory keeps ack() working and cheap.
        self.checkpoints = checkpoints or _MemoryCheckpoints()
        self._persist = checkpoints is not None
        self.chains: dict[str, deque[TrackedFile]] = {}
        self._by_key: dict[str, TrackedFile] = {}
        self._finished: dict[str, _Finished] = {}  # closed files, by key, until gone
        self._recently_forgotten: dict[tuple[int, int], float] = {}  # (dev, inode) -> when
        self._ready: deque[LineBatch] = deque()
        self._cursor = 0
        self._opened_any = False
        self._retired: set[str] = set()  # paths not reopened (reopen=False)
        self._seen_at: dict[str, float] = {}  # when a scan last saw a followed file at a path
        self._ended = False
        self._next_scan = 0.0
        self._waiter = ChangeWaiter(notify=options.notify)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Load checkpoints, check the paths and open the files that exist."""
        if self._persist:
            await self.checkpoints.open()
        found = await anyio.to_thread.run_sync(scan, self.paths, self.patterns)
        if self.options.must_exist:
            for path in self.paths:
                if found[path] is None:
                    raise FileNotFoundError(2, "No such file", path)
            for pattern in self.patterns:
                if not any(fnmatch.fnmatch(path, pattern) for path in found):
                    raise FileNotFoundError(2, "No file matches", pattern)
        for path in self.paths:
            stat = found[path]
            if stat is not None and stat_module.S_ISDIR(stat.st_mode):
                raise IsADirectoryError(21, "Is a directory", path)
            if stat is not None:
                # Unreadable, a FIFO, a device: say so now, naming the file, rather than wait.
                await anyio.to_thread.run_sync(check_readable, path)
        await self._resume_rotated(found)
        await self._reconcile(found, initial=True)

    async def close(self) -> None:
        """Close every file and save acknowledged positions."""
        self._waiter.close()
        for chain in self.chains.values():
            for file in chain:
                os.close(file.fd)
        self.chains.clear()
        self._by_key.clear()
        self.stats.files = 0
        if self._persist:
            await self.checkpoints.close()

    # -- reading ---------------------------------------------------------------------------
    async def next_batch(self) -> LineBatch | None:
        """The next batch of lines, waiting for one as long as needed; ``None`` at the end."""
        while not self._ready:
            if self._ended:
                return None
            if time.monotonic() >= self._next_scan:
                await self._scan()
            file = self._next_pending()
            if file is not None:
                await self._turn(file)
                continue
            if self._finish_drained():
                continue
            if self.options.stop_at_eof:
                await self._scan()
                if self._next_pending() is None and not self._finish_drained():
                    self._end()
                continue
            if not self.options.reopen and self._opened_any and not self.chains:
                self._end()
                continue
            if self._persist:
                await self.checkpoints.flush_if_due()
            await self._waiter.wait(max(0.0, self._next_scan - time.monotonic()))
            await self._scan()
        if self._persist:
            await self.checkpoints.flush_if_due()  # also while busy, not only when idle
        return self._ready.popleft()

    def _next_pending(self) -> TrackedFile | None:
        """Round-robin over paths: the head of the next chain that has bytes to read."""
        heads = [chain[0] for chain in self.chains.values() if chain]
        for step in range(len(heads)):
            file = heads[(self._cursor + step) % len(heads)]
            if file.pending:
                self._cursor = (self._cursor + step + 1) % len(heads)
                return file
        return None

    async def _turn(self, file: TrackedFile) -> None:
        turn = await anyio.to_thread.run_sync(read_turn, file.fd, file.identity, file.position)
        file.size = turn.size
        if turn.reset:  # truncated or replaced in place: a new epoch of the same path
            self.stats.truncations += 1
            assert turn.identity is not None
            file.identity = turn.identity
            file.position = 0
            file.framer = LineFramer(
                max_line_bytes=self.options.max_line_bytes, long_lines=self.options.long_lines
            )
            self._by_key[file.identity.key] = file
            file.checkpoint = self.checkpoints.track(file.identity, file.path, 0)
            return
        if turn.identity is not None:
            file.identity = file.checkpoint.identity = turn.identity
        if turn.data:
            file.position += len(turn.data)
            self._emit(file, self._frame(file, turn.data))
        self._count_behind()

    def _count_behind(self) -> None:
        self.stats.bytes_behind = sum(
            max(0, file.size - file.framer.position) for file in self._tracked()
        )

    def _frame(self, file: TrackedFile, data: bytes | None) -> Framed:
        framer = file.framer
        split, skipped = framer.split_long_lines, framer.skipped_long_lines
        try:
            framed = framer.feed(data) if data is not None else framer.flush()
        except LineTooLongError as exc:
            raise LineTooLongError(f"{file.path}: {exc}") from None
        self.stats.split_long_lines += framer.split_long_lines - split
        self.stats.skipped_long_lines += framer.skipped_long_lines - skipped
        return framed

    def _emit(self, file: TrackedFile, framed: Framed) -> None:
        for start, end in framed.discarded:  # skipped long lines count as done
            file.checkpoint.ranges.ack(start, end)
        if framed.lines:
            self._ready.append(LineBatch(file.path, file.identity, framed, file.checkpoint))
            self.stats.lines += len(framed.lines)
            self.stats.bytes += framed.end - framed.start
        elif framed.end > framed.start:
            file.checkpoint.ranges.ack(framed.start, framed.end)

    def _finish_drained(self) -> bool:
        """Close rotated or deleted files that were read to their end; True if any was."""
        finished = False
        for path, chain in list(self.chains.items()):
            while chain and chain[0].rotated and not chain[0].pending:
                self._finish(chain.popleft())
                finished = True
            if not chain:
                del self.chains[path]
        return finished

    def _finish(self, file: TrackedFile) -> None:
        """The file will not grow any more for us: emit its unterminated last line, close it."""
        self._emit(file, self._frame(file, None))
        os.close(file.fd)
        self._by_key.pop(file.identity.key, None)
        self._finished[file.identity.key] = _Finished(file.identity, file.position, file.checkpoint)
        self.stats.files -= 1

    def _end(self) -> None:
        for chain in self.chains.values():
            for file in chain:
                file.rotated = True
        self._finish_drained()
        self._ended = True

    # -- finding files ---------------------------------------------------------------------
    async def _scan(self) -> None:
        """One look at every path, pattern, open file and watched directory (one thread hop)."""
        self._next_scan = time.monotonic() + self.options.poll_interval
        open_files = self._tracked()
        directories = {os.path.dirname(os.path.abspath(p)) for p in self.paths}
        directories |= {_static_prefix(p) for p in self.patterns}
        found, sizes, existing = await anyio.to_thread.run_sync(
            scan_all, self.paths, self.patterns, [file.fd for file in open_files], directories
        )
        for file, size in zip(open_files, sizes, strict=False):
            file.size = size
        await self._reconcile(found, initial=False)
        self._count_behind()
        self._waiter.watch(existing)

    async def _reconcile(self, found: dict[str, os.stat_result | None], initial: bool) -> None:
        """Mark rotated and deleted files; open files that appeared."""
        now = time.time()
        for path, chain in self.chains.items():
            current = chain[-1]
            if current.rotated:
                continue
            stat = found.get(path)
            if stat is not None and (stat.st_dev, stat.st_ino) == (
                current.identity.device,
                current.identity.inode,
            ):
                self._seen_at[path] = now
                continue
            current.rotated = True  # renamed away or deleted: read it to its end
            self.stats.rotations += 1
            if not self.options.reopen:
                self._retired.add(path)
        for path, stat in found.items():
            if stat is None or path in self._retired:
                continue
            key = f"{stat.st_dev}:{stat.st_ino}"
            if key in self._by_key:
                continue
            done = self._finished.get(key)
            signature = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            if done is not None and done.signature == signature:
                continue  # verified before as read to its end (e.g. a rotated file a glob matches)
            chain = self.chains.get(path)
            if chain and not chain[-1].rotated:
                continue  # the file there is followed; a replacement waits for the next scan
            if not initial and path in self._seen_at and path in self.paths:
                # Files that came and went at this path since we last looked at it.
                known = {(f.identity.device, f.identity.inode) for f in self._tracked()}
                known |= {(d.identity.device, d.identity.inode) for d in self._finished.values()}
                known |= self._recently_forgotten.keys()
                known.add((stat.st_dev, stat.st_ino))
                since = self._seen_at[path] - 1.0  # slack: file times are coarse
                for between in await anyio.to_thread.run_sync(find_rotated, path, since, known):
                    if (file := await self._open(path, between, start=0)) is not None:
                        file.rotated = True  # no longer at the path: read it to its end
                        self.stats.rotations += 1
            if await self._open(path, path, start=None if initial else 0):
                self._seen_at[path] = now
            elif key in self._finished:
                self._finished[key].signature = signature
        # Forget finished files that are gone and fully acknowledged.
        seen = {f"{stat.st_dev}:{stat.st_ino}" for stat in found.values() if stat is not None}
        for key, done in list(self._finished.items()):
            if key not in seen and done.checkpoint.position >= done.position:
                del self._finished[key]
                self.checkpoints.forget(key)
                # A rotated-away file still sits next to the path (app.log.1): remember it for a
                # while so a later rotation's look for files "in between" does not read it again.
                self._recently_forgotten[(done.identity.device, done.identity.inode)] = time.monotonic()
        horizon = time.monotonic() - FORGOTTEN_MEMORY
        for identity, when in list(self._recently_forgotten.items()):
            if when < horizon:
                del self._recently_forgotten[identity]

    async def _open(self, path: str, real_path: str, start: Start | None) -> TrackedFile | None:
        """Open ``real_path`` as the next file of ``path``'s chain.

        ``start=None`` applies the follower's start option (files present at start-up).
        """
        store = self.checkpoints
        try:
            with anyio.CancelScope(shield=True):  # a cancelled open must not leak the descriptor
                opened = await anyio.to_thread.run_sync(open_file, real_path, store.saved_position)
        except (FileNotFoundError, IsADirectoryError, PermissionError, NotARegularFileError):
            return None  # gone again, or not a file: the next scan decides
        key = opened.identity.key
        if key in self._by_key:
            os.close(opened.fd)
            return None
        previous = self._finished.pop(key, None)
        if previous is not None and previous.identity.matches(opened.fd):
            if previous.position >= opened.size:
                os.close(opened.fd)
                self._finished[key] = previous  # read to its end already
                return None
            position = previous.position  # written to after we finished it
        elif opened.saved is not None:
            position = opened.saved if opened.saved <= opened.size else 0
        elif start is None and any(r["path"] == path for r in store.records.values()):
            position = 0  # appeared at a checkpointed path since the last run
        elif start is None:
            start = self.options.start
            if start == "end":
                position = opened.line_end
            elif start == "beginning":
                position = 0
            else:
                position = min(int(start), opened.size)
        else:
            position = int(start)
        file = TrackedFile(path, opened, position, self.options, store)
        self.chains.setdefault(path, deque()).append(file)
        self._by_key[key] = file
        self._opened_any = True
        self.stats.files += 1
        self.stats.files_opened += 1
        return file

    async def _resume_rotated(self, found: dict[str, os.stat_result | None]) -> None:
        """At start-up, find files rotated while we were stopped (by identity) and resume them."""
        present = {f"{stat.st_dev}:{stat.st_ino}" for stat in found.values() if stat is not None}
        for key, record in list(self.checkpoints.records.items()):
            if key in present or record["path"] not in self.paths:
                continue
            identity = record_identity(record)
            moved = await anyio.to_thread.run_sync(find_by_identity, record["path"], identity)
            if moved is None:
                self.checkpoints.forget(key)  # the file is gone
            else:
                file = await self._open(record["path"], moved, start=None)
                if file is not None:
                    file.rotated = True  # drain it before the file now at its path
                    self.stats.rotations += 1

    def _tracked(self) -> list[TrackedFile]:
        return [file for chain in self.chains.values() for file in chain]


def _static_prefix(pattern: str) -> str:
    """The directory part of a glob before its first wildcard."""
    parts = os.path.abspath(pattern).split(os.sep)
    static = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        static.append(part)
    return os.sep.join(static) or os.sep


class _MemoryCheckpoints(Checkpoints):
    """The store of a follower without ``checkpoints=``: tracks acknowledgements, saves nothing."""

    def __init__(self) -> None:
        super().__init__(os.devnull)

__all__ = ["Reader", "ReaderOptions", "Start"]
