"""The engine of a follower: which files to read, in what order, and when they rotate.

Pull-based: nothing is read until the consumer asks for the next batch, so a slow consumer
slows reading (backpressure) and at most one chunk per file is in memory. All work happens in
the consumer's task; blocking calls go to worker threads, one call per chunk, never per line.

Each followed path owns a chain of files, oldest first: a renamed (rotated) or deleted file
stays in its path's chain, open, and is read while it keeps growing (a writer that has not
reopened yet still appends to it); it is closed once it has been quiet for ``rotate_wait``
seconds. Within a chain, older files are read first; every file's lines come in order.

Descriptors are bounded: at most ``max_open_files`` files at their paths are open; beyond that
the least recently active ones are closed and reopened (identity checked) when they grow.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import stat as stat_module
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import anyio

from .checkpoints import Checkpoints, FileCheckpoint, record_identity
from .events import EventFramer, Grouper
from .files import (
    OUT_OF_DESCRIPTORS,
    TAIL_BYTES,
    NotARegularFileError,
    Opened,
    Turn,
    check_readable,
    excluded,
    find_by_identity,
    find_copy,
    find_rotated,
    open_file,
    read_turn,
    rewritten,
    scan,
    scan_all,
)
from .framing import Framed, LineFramer, LineTooLongError, LongLinePolicy
from .identity import FileIdentity
from .lines import FollowerStats, LineBatch
from .watch import BUSY_GAP, MODIFIED, WRITTEN, ChangeWaiter

Start = Literal["end", "beginning"] | int

log = logging.getLogger("streamline.follow")

#: Seconds a finished, forgotten file is still recognised when looking for rotated files.
FORGOTTEN_MEMORY = 600.0
#: With change notification on every watched directory, a full look at every path and file
#: (40 ms of CPU for 2,000 files) happens this often; changes are seen at once anyway.
RESCAN_SECONDS = 5.0
#: Up to this many new bytes of a notified file are read in the event loop, not a worker thread.
INLINE_READ_BYTES = 64 * 1024
#: Descriptor exhaustion: not fatal, the file is tried again at a later scan.
_OUT_OF_DESCRIPTORS = OUT_OF_DESCRIPTORS


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
    rotate_wait: float = 30.0
    max_open_files: int = 512
    max_partial_bytes: int = 64 << 20
    exclude: list[str] = field(default_factory=list)
    #: Joins lines into events (multiline, container partial lines); None: one line, one record.
    events: Callable[[], Grouper] | None = None
    event_timeout: float = 5.0
    #: While lines keep coming, reads are at least this far apart (seconds; see ``follow``).
    linger: float = BUSY_GAP

    def framer(self, offset: int = 0) -> LineFramer | EventFramer:
        lines = LineFramer(offset=offset, max_line_bytes=self.max_line_bytes, long_lines=self.long_lines)
        if self.events is None:
            return lines
        return EventFramer(lines, self.events(), timeout=self.event_timeout)


class TrackedFile:
    """One followed file: its descriptor (``None`` while closed to save descriptors), how far it
    was read, and its line framer."""

    def __init__(
        self, path: str, opened: Opened, position: int, options: ReaderOptions, store: Checkpoints
    ) -> None:
        self.path = path  # the followed path (stays the same after a rotation)
        self.fd: int | None = opened.fd
        self.identity = opened.identity
        self.size = opened.size
        self.position = position  # next byte to read
        self.framer = options.framer(position)
        self.checkpoint = store.track(self.identity, path, position)
        self.real_path = opened.real_path  # where notifications name it (symlinks resolved)
        self.rotated = False  # no longer at its path: read while it grows, finish once quiet
        self.active_at = time.monotonic()  # when it last grew (or was opened)
        self.recent: bytes | None = None  # the bytes just before ``position`` (None: not read yet)
        self.wait_for = 0  # partial line released to save memory: read again past this size

    @property
    def pending(self) -> bool:
        return self.size != self.position and self.size > self.wait_for


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
        self._ignored: set[str] = set()  # keys of files not to ship (compressed)
        self._warned: dict[str, str] = {}  # path -> the problem last reported for it
        self._open_count = 0
        self._by_real: dict[str, TrackedFile] = {}  # open files at their paths, by real path
        self._all_watched = False  # notification covers every directory we look at
        self._rewritten: list[tuple[TrackedFile, Turn]] = []  # rewritten in place, same size
        self._held = 0  # bytes held in framers: partial last lines
        self._ended = False
        self._next_scan = 0.0
        self._next_expiry = 0.0  # when held events are next checked for their timeout
        self._waiter = ChangeWaiter(notify=options.notify, busy_gap=options.linger)
        self._stop_listening: Callable[[], None] = _nothing
        #: One line per problem with a path (missing, unreadable, a directory, compressed).
        self.warnings: deque[str] = deque(maxlen=100)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Load checkpoints, check the paths and open the files that exist.

        A missing, unreadable or non-file path is a warning (``must_exist``: an error).
        """
        if self._persist:
            await self.checkpoints.open()
            # An acknowledgement while we wait makes a save due: end the wait by then.
            self._stop_listening = self.checkpoints.on_acknowledged(self._waiter.wake_by)
        found = await anyio.to_thread.run_sync(scan, self.paths, self.patterns, self.options.exclude)
        for path in self.paths:
            stat = found[path]
            problem: OSError | None = None
            if stat is None:
                problem = FileNotFoundError(2, "No such file", path)
            elif stat_module.S_ISDIR(stat.st_mode):
                problem = IsADirectoryError(21, "Is a directory", path)
                found[path] = None  # never opened; reported once
                self._retired.add(path)
            else:
                try:  # unreadable, a FIFO, a device: say so now, naming the file
                    await anyio.to_thread.run_sync(check_readable, path)
                except OSError as exc:
                    problem = exc
            if problem is not None:
                if self.options.must_exist:
                    raise problem
                self._warn(path, _describe(problem) + ("" if stat is not None else "; waiting for it"))
        for pattern in self.patterns:
            if not any(fnmatch.fnmatch(path, pattern) for path in found):
                if self.options.must_exist:
                    raise FileNotFoundError(2, "No file matches", pattern)
                self._warn(pattern, "no file matches (yet)")
        await self._resume_rotated(found)
        await self._reconcile(found, initial=True)

    async def close(self) -> None:
        """Close every file and save acknowledged positions."""
        self._waiter.close()
        stop_listening, self._stop_listening = self._stop_listening, _nothing
        stop_listening()
        for chain in self.chains.values():
            for file in chain:
                self._close_fd(file)
        self.chains.clear()
        self._by_key.clear()
        self.stats.files = 0
        if self._persist:
            await self.checkpoints.close()

    def _warn(self, path: str, problem: str) -> None:
        """Report a problem with a path once (again only if the problem changes)."""
        if self._warned.get(path) == problem:
            return
        self._warned[path] = problem
        message = f"{path}: {problem}"
        self.warnings.append(message)
        self.stats.warnings += 1
        log.warning("%s", message)

    # -- reading ---------------------------------------------------------------------------
    async def next_batch(self) -> LineBatch | None:
        """The next batch of lines, waiting for one as long as needed; ``None`` at the end."""
        while not self._ready:
            if self._ended:
                return None
            if self.options.events is not None and self._expire_events():
                continue
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
            if self._persist and self.checkpoints.due:  # (no coroutine per cycle when not due)
                await self.checkpoints.flush()
            until = self._next_scan
            if self._persist:  # acknowledgements arrive while we wait: save them in time
                save_at = self.checkpoints.save_due_at  # None: nothing to save until an ack comes
                if save_at is not None:
                    until = min(until, save_at)
                if not self._waiter.wakeable:  # an ack cannot end this wait (wake_by): look each interval
                    until = min(until, time.monotonic() + self.checkpoints.flush_interval)
            if self._has_rotated():  # renamed or deleted files: no notification reaches us
                until = min(until, time.monotonic() + self.options.poll_interval)
            if self.options.events is not None:  # a held event is handed out at its timeout
                until = min(until, self._event_deadline())
            changes = await self._waiter.wait(max(0.0, until - time.monotonic()))
            if changes and self._all_watched and self._grown_only(changes):
                self._check_rotated()
            elif changes or time.monotonic() >= self._next_scan:
                await self._scan()
            else:
                self._check_rotated()
            while self._rewritten:  # rewritten in place: read again from 0, like a truncation
                file, turn = self._rewritten.pop()
                if file.fd is not None:
                    await self._restart(file, turn)
        if self._persist and self.checkpoints.due:  # also while busy, not only when idle
            await self.checkpoints.flush()
        return self._ready.popleft()

    def _expire_events(self) -> bool:
        """Hand out held events whose continuation did not come in time (at most every 50 ms:
        it looks at every file)."""
        now = time.monotonic()
        if now < self._next_expiry:
            return False
        self._next_expiry = now + 0.05
        emitted = False
        for file in self._tracked():
            framer = file.framer
            # Not while the file has unread bytes: the continuation may be in them.
            if isinstance(framer, EventFramer) and framer.deadline is not None and not file.pending:
                held = framer.pending
                framed = framer.expire(now)
                if framed is not None:
                    self._held += framer.pending - held
                    self._emit(file, framed)
                    emitted = emitted or bool(framed.lines)
        return emitted

    def _event_deadline(self) -> float:
        deadlines = [
            f.framer.deadline
            for f in self._tracked()
            if isinstance(f.framer, EventFramer) and f.framer.deadline is not None
        ]
        return max(min(deadlines), self._next_expiry) if deadlines else float("inf")

    def _grown_only(self, changes: set[tuple[int, str]]) -> bool:
        """If every change is a write to an open file we follow: update their sizes and say so
        (no full look needed); False if a full look is needed (files added, removed...)."""
        by_real = self._by_real
        files: dict[TrackedFile, bool] = {}  # file -> its path must be looked at
        for kind, path in changes:
            file = by_real.get(path)
            if file is None and (kind == MODIFIED or kind == WRITTEN) and not self._follows(path):
                continue  # another file in a watched directory (syslog next to our logs)
            if (kind != MODIFIED and kind != WRITTEN) or file is None or file.fd is None or file.rotated:
                return False
            # "Modified" may be a deletion or rename (link count); "written" is bytes only.
            files[file] = files.get(file, False) or kind == MODIFIED
        now = time.monotonic()
        for file, look in files.items():
            try:
                at_path = os.stat(file.path) if look else None  # still at its path?
                stat = os.fstat(file.fd)  # type: ignore[arg-type]  # checked above
            except OSError:
                return False
            if at_path is not None and (at_path.st_dev, at_path.st_ino) != (stat.st_dev, stat.st_ino):
                return False
            if stat.st_size != file.size:
                file.size, file.active_at = stat.st_size, now
            elif stat.st_size == file.position:  # changed, not grown: maybe rewritten in place
                try:
                    turn = rewritten(file.fd, file.identity, file.position, file.recent, stat)  # type: ignore[arg-type]
                except OSError:
                    return False
                if turn is not None:
                    self._rewritten.append((file, turn))
        return True

    def _has_rotated(self) -> bool:
        for chain in self.chains.values():
            if chain[0].rotated:
                return True
        return False

    def _check_rotated(self) -> None:
        """Sizes of renamed or deleted files still open (cheap: few, and fstat only)."""
        now = time.monotonic()
        for chain in self.chains.values():
            for file in chain:
                if file.rotated and file.fd is not None:
                    try:
                        size = os.fstat(file.fd).st_size
                    except OSError:
                        continue
                    if size != file.size:
                        file.size, file.active_at = size, now

    def _next_pending(self) -> TrackedFile | None:
        """Round-robin over paths: in each chain, the oldest file that has bytes to read."""
        if len(self.chains) == 1:  # one path (ship's usual case; this runs twice a cycle): no turns
            for chain in self.chains.values():
                for file in chain:
                    if file.pending:
                        self._cursor = 0
                        return file
            return None
        chains = list(self.chains.values())
        for step in range(len(chains)):
            index = (self._cursor + step) % len(chains)
            for file in chains[index]:
                if file.pending:
                    self._cursor = (index + 1) % len(chains)
                    return file
        return None

    async def _turn(self, file: TrackedFile) -> None:
        if file.fd is None and not await self._reopen(file):
            return
        assert file.fd is not None
        recent = file.recent
        if self._all_watched and recent is not None and file.size - file.position <= INLINE_READ_BYTES:
            # A few lines just written (page cache) of a file notification watches: read them
            # here; a thread hop would cost more than the read, and add its wait to the latency.
            turn = read_turn(file.fd, file.identity, file.position, recent, INLINE_READ_BYTES)
        else:
            turn = await anyio.to_thread.run_sync(read_turn, file.fd, file.identity, file.position, recent)
        file.size = turn.size
        if turn.reset:  # truncated or replaced in place: a new epoch of the same path
            await self._restart(file, turn)
            return
        if turn.identity is not None:
            file.identity = file.checkpoint.identity = turn.identity
        before = file.position
        file.recent = turn.recent
        if turn.data:
            file.position += len(turn.data)
            file.active_at = time.monotonic()
            held = file.framer.pending
            framed = self._frame(file, turn.data)
            self._held += file.framer.pending - held
            if self._persist and framed.lines:
                window = _bytes_before(recent, turn.data, before, framed.end)
                if window is not None:
                    file.checkpoint.mark(framed.end, window)
            self._emit(file, framed)
            if self._held > self.options.max_partial_bytes:
                self._release_partial_lines()
        if len(self._by_key) <= 16:  # with many files, only at full looks (it costs O(files))
            self._count_behind()

    async def _restart(self, file: TrackedFile, turn: Turn) -> None:
        """The file was truncated (or rewritten) under us: read it again from 0.

        logrotate's ``copytruncate`` copies the file first: if a copy holding the rest of what
        we had not read yet sits next to it, that rest is read from the copy.
        """
        assert file.fd is not None
        self.stats.truncations += 1
        old_identity, old_position, old_recent = file.identity, file.framer.position, file.recent
        new_identity = turn.identity
        assert new_identity is not None
        self._held -= file.framer.pending
        copied = False
        if not file.rotated:  # a file at its path: maybe logrotate's copytruncate
            recent_at_framer = old_recent if old_position == file.position else None
            copy = await anyio.to_thread.run_sync(
                find_copy, file.path, old_identity, old_position, recent_at_framer
            )
            if copy is not None and (rest := await self._open(file.path, copy, start=old_position)):
                rest.rotated = True
                self._move_before(rest, file)
                self.stats.copies_read += 1
                copied = True  # a held event is read again from the copy
        if not copied and isinstance(file.framer, EventFramer):
            held = file.framer.expire(float("inf"))  # its lines were read; the file no longer has them
            if held is not None:
                self._emit(file, held)
        self._by_key.pop(old_identity.key, None)
        file.identity = new_identity
        file.position = 0
        file.recent = None
        file.wait_for = 0
        file.framer = self.options.framer(0)
        self._by_key[file.identity.key] = file
        file.checkpoint = self.checkpoints.track(file.identity, file.path, 0)

    def _move_before(self, moved: TrackedFile, file: TrackedFile) -> None:
        chain = self.chains[file.path]
        chain.remove(moved)
        chain.insert(chain.index(file), moved)

    def _release_partial_lines(self) -> None:
        """Too many bytes held in partial lines across files: forget the largest ones held by
        files that are not growing; they are read again from the file once it grows."""
        candidates = sorted(
            (f for f in self._tracked() if f.framer.pending and not f.pending and not f.rotated),
            key=lambda f: f.framer.pending,
            reverse=True,
        )
        for file in candidates:
            if self._held <= self.options.max_partial_bytes // 2:
                break
            self._held -= file.framer.pending
            file.wait_for = file.size
            file.position = file.framer.position
            file.recent = None
            file.framer = self.options.framer(file.position)
            self.stats.partial_lines_released += 1

    def _count_behind(self) -> None:
        behind = 0
        for chain in self.chains.values():  # plain loops: this runs after every read of few files
            for file in chain:
                unread = file.size - file.framer.position
                if unread > 0:
                    behind += unread
        self.stats.bytes_behind = behind

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
            file.checkpoint.ack(start, end)
        if framed.lines:
            self._ready.append(LineBatch(file.path, file.identity, framed, file.checkpoint))
            self.stats.lines += len(framed.lines)
            self.stats.bytes += framed.end - framed.start
        elif framed.end > framed.start:
            file.checkpoint.ack(framed.start, framed.end)

    def _finish_drained(self) -> bool:
        """Close rotated or deleted files read to their end and quiet for ``rotate_wait``."""
        finished = False
        horizon = time.monotonic() - self.options.rotate_wait
        for path, chain in list(self.chains.items()):
            for file in [f for f in chain if f.rotated and not f.pending and f.active_at <= horizon]:
                chain.remove(file)
                self._finish(file)
                finished = True
            if not chain:
                del self.chains[path]
        return finished

    def _finish(self, file: TrackedFile) -> None:
        """The file will not grow any more for us: emit its unterminated last line, close it."""
        self._held -= file.framer.pending
        self._emit(file, self._frame(file, None))
        self._close_fd(file)
        self._by_key.pop(file.identity.key, None)
        if self._by_real.get(file.real_path) is file:
            del self._by_real[file.real_path]
        self._finished[file.identity.key] = _Finished(file.identity, file.position, file.checkpoint)
        self.stats.files -= 1

    def _end(self) -> None:
        for chain in self.chains.values():
            for file in chain:
                file.rotated = True
                file.active_at = float("-inf")
        self._finish_drained()
        self._ended = True

    # -- descriptors -----------------------------------------------------------------------
    def _close_fd(self, file: TrackedFile) -> None:
        if file.fd is not None:
            os.close(file.fd)
            file.fd = None
            self._open_count -= 1
            self.stats.files_open = self._open_count

    def _make_room(self, keep: TrackedFile | None = None) -> bool:
        """Close the least recently active file at its path if the limit is reached."""
        if self._open_count < self.options.max_open_files:
            return True
        candidates = [
            f for f in self._tracked() if f.fd is not None and not f.rotated and f is not keep
        ]
        candidates.sort(key=lambda f: (f.pending, f.active_at))  # idle ones first, oldest first
        for file in candidates:
            self._close_fd(file)
            self.stats.files_closed_idle += 1
            if self._open_count < self.options.max_open_files:
                return True
        return self._open_count < self.options.max_open_files

    async def _reopen(self, file: TrackedFile) -> bool:
        """Open again a file closed to save descriptors; False if not possible now."""
        if not self._make_room(keep=file):
            return False
        try:
            with anyio.CancelScope(shield=True):
                opened = await anyio.to_thread.run_sync(open_file, file.path)
        except OSError as exc:
            if exc.errno in _OUT_OF_DESCRIPTORS:
                self.stats.descriptor_shortages += 1
            return False  # gone or renamed: the next scan looks for it by identity
        if opened.identity.key != file.identity.key or not await anyio.to_thread.run_sync(
            file.identity.matches, opened.fd
        ):
            os.close(opened.fd)
            return False
        file.fd = opened.fd
        file.size = max(file.size, opened.size)
        self._open_count += 1
        self.stats.files_open = self._open_count
        return True
    # -- finding files ---------------------------------------------------------------------
    async def _scan(self) -> None:
        """One look at every path, pattern, open file and watched directory (one thread hop).

        Shielded: a timeout around the iterator that keeps cancelling the look half-way
        (e.g. one as long as ``poll_interval``) would otherwise starve it.
        """
        with anyio.CancelScope(shield=True):
            await self._scan_now()

    async def _scan_now(self) -> None:
        self._next_scan = time.monotonic() + self.options.poll_interval
        open_files = [file for file in self._tracked() if file.fd is not None]
        fds = [file.fd for file in open_files if file.fd is not None]
        directories = {os.path.dirname(os.path.abspath(p)) for p in self.paths}
        directories |= {_static_prefix(p) for p in self.patterns}
        # Directories a pattern's wildcards match, and where symlinked files really live.
        directories |= {os.path.dirname(p) for p in self.patterns if glob.has_magic(os.path.dirname(p))}
        directories |= {os.path.dirname(real) for real in self._by_real}
        found, sizes, existing = await anyio.to_thread.run_sync(
            scan_all,
            self.paths,
            self.patterns,
            self.options.exclude,
            fds,
            directories,
        )
        now = time.monotonic()
        for file, size in zip(open_files, sizes, strict=False):
            if size != file.size:
                file.size = size
                file.active_at = now
        await self._reconcile(found, initial=False)
        self._count_behind()
        self._waiter.watch(existing)
        wanted = sum(1 for d in directories if not glob.has_magic(d))
        self._all_watched = self._waiter.notifying and len(existing) >= wanted
        interval = RESCAN_SECONDS if self._all_watched else self.options.poll_interval
        self._next_scan = time.monotonic() + max(interval, self.options.poll_interval)

    async def _reconcile(self, found: dict[str, os.stat_result | None], initial: bool) -> None:
        """Mark rotated and deleted files; open files that appeared."""
        now = time.time()
        for path, chain in list(self.chains.items()):
            current = chain[-1]
            if current.rotated:
                continue
            stat = found.get(path)
            if stat is not None and (stat.st_dev, stat.st_ino) == (
                current.identity.device,
                current.identity.inode,
            ):
                self._seen_at[path] = now
                if current.fd is None and stat.st_size != current.size:  # closed to save fds
                    current.size = stat.st_size
                    current.active_at = time.monotonic()
                continue
            if current.fd is None:
                outcome = await self._find_closed(current)
                if outcome == "later":
                    continue
                if outcome == "gone":
                    self.stats.rotations += 1
                    if not self.options.reopen:
                        self._retired.add(path)
                    continue
            current.rotated = True  # renamed away or deleted: read while it grows, then finish
            current.active_at = time.monotonic()
            self._by_real.pop(current.real_path, None)
            self.stats.rotations += 1
            if not self.options.reopen:
                self._retired.add(path)
        for path, stat in found.items():
            if stat is None or path in self._retired:
                continue
            key = f"{stat.st_dev}:{stat.st_ino}"
            if key in self._by_key or key in self._ignored:
                continue
            done = self._finished.get(key)
            signature = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            if done is not None and done.signature == signature:
                continue  # verified before as read to its end (e.g. a rotated file a glob matches)
            followed = self.chains.get(path)
            if followed and not followed[-1].rotated:
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
        self._make_room()
        try:
            with anyio.CancelScope(shield=True):  # a cancelled open must not leak the descriptor
                opened = await anyio.to_thread.run_sync(open_file, real_path, store.saved_position)
        except FileNotFoundError:
            return None  # gone again: the next scan decides
        except (IsADirectoryError, PermissionError, NotARegularFileError) as exc:
            self._warn(real_path, _describe(exc))
            return None  # the next scan tries again (permissions may be fixed)
        except OSError as exc:
            if exc.errno not in _OUT_OF_DESCRIPTORS:
                raise
            self.stats.descriptor_shortages += 1
            return None  # out of descriptors: never fatal, tried again at the next scan
        self._warned.pop(real_path, None)
        key = opened.identity.key
        if key in self._by_key:
            os.close(opened.fd)
            return None
        if opened.compressed and path not in self.paths:
            os.close(opened.fd)
            self._ignored.add(key)
            self.stats.skipped_files += 1
            self._warn(real_path, f"{opened.compressed}-compressed, not shipped (use --exclude to silence)")
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
        if real_path == path:  # at its path (not a rotated file found next to it)
            self._by_real[file.real_path] = file
        self._opened_any = True
        self._open_count += 1
        self.stats.files_open = self._open_count
        self.stats.files += 1
        self.stats.files_opened += 1
        return file

    async def _find_closed(self, file: TrackedFile) -> str:
        """A file closed to save descriptors is no longer at its path: find it by identity and
        open it to read the rest (``"found"``); ``"gone"`` if it no longer exists (what was read
        is handed out); ``"later"`` if descriptors are short now (tried again at the next look)."""
        try:
            moved = await anyio.to_thread.run_sync(find_by_identity, file.path, file.identity)
        except OSError:  # out of descriptors
            self.stats.descriptor_shortages += 1
            return "later"
        if moved is not None:
            if not self._make_room(keep=file):
                return "later"
            try:
                with anyio.CancelScope(shield=True):
                    opened = await anyio.to_thread.run_sync(open_file, moved)
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self.stats.descriptor_shortages += 1
                    return "later"
                opened = None
            if opened is not None and opened.identity.key == file.identity.key:
                file.fd = opened.fd
                file.size = opened.size
                self._open_count += 1
                self.stats.files_open = self._open_count
                return "found"
            if opened is not None:
                os.close(opened.fd)
        # Gone: what was read is handed out; a partial last line is flushed by _finish.
        self._by_real.pop(file.real_path, None)
        file.rotated = True
        file.active_at = float("-inf")
        file.size = file.position
        return "gone"

    async def _resume_rotated(self, found: dict[str, os.stat_result | None]) -> None:
        """At start-up, find files rotated while we were stopped (by identity) and resume them."""
        present = {f"{stat.st_dev}:{stat.st_ino}" for stat in found.values() if stat is not None}
        for key, record in list(self.checkpoints.records.items()):
            path = record["path"]
            if key in present or not self._follows(path):
                continue
            if self.options.exclude and excluded(path, self.options.exclude):
                continue  # excluded since it was saved (a reload): not ours now; the record stays
            identity = record_identity(record)
            moved = await anyio.to_thread.run_sync(find_by_identity, path, identity)
            if moved is None:
                self.checkpoints.forget(key)  # the file is gone
            else:
                file = await self._open(path, moved, start=None)
                if file is not None:
                    # Drained before the file now at its path, and, like any renamed file, kept
                    # open until quiet for rotate_wait: its writer may not have reopened yet
                    # (a restart in the middle of a rotation).
                    file.rotated = True
                    self.stats.rotations += 1

    def _follows(self, path: str) -> bool:
        """Is ``path`` one of ours: an explicit path, or a match of a pattern?"""
        return path in self.paths or any(fnmatch.fnmatch(path, p) for p in self.patterns)

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


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _bytes_before(recent: bytes | None, data: bytes, position: int, end: int) -> bytes | None:
    """The last TAIL_BYTES before offset ``end``, from ``data`` read at ``position`` and the
    ``recent`` bytes before ``position``; ``None`` if they are not all at hand."""
    into = end - position
    if into >= TAIL_BYTES:
        return data[into - TAIL_BYTES : into]
    wanted = min(TAIL_BYTES, end)
    if into >= 0:
        window = (recent or b"") + data[:into]
    elif recent is not None and -into <= len(recent):
        window = recent[: len(recent) + into]
    else:
        return None
    window = window[-wanted:]
    return window if len(window) == wanted else None


def _nothing() -> None:
    pass


class _MemoryCheckpoints(Checkpoints):
    """The store of a follower without ``checkpoints=``: tracks acknowledgements, saves nothing."""

    def __init__(self) -> None:
        super().__init__(os.devnull)

__all__ = ["Reader", "ReaderOptions", "Start"]
