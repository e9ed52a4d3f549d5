"""Linux inotify through libc, read from the event loop: a change wakes the follower at once.

watchfiles (the fallback elsewhere) polls its event queue from a worker thread every few
milliseconds, so a change waits for the next poll and an idle follower still wakes up to
check. Here the inotify descriptor is non-blocking and the event loop waits on it
(``anyio.wait_readable``): no thread, no poll, nothing to do while nothing changes.

Events are reported the way watchfiles reports them, ``{(kind, path)}`` with kinds 1 added,
2 modified, 3 deleted, so the reader does not care which backend it has; one more kind, 4
written, says the change was to the file's bytes (``IN_MODIFY``), not to its attributes or link
count (``IN_ATTRIB``, what a deletion elsewhere looks like): a written file is still where it
was, so the reader need not look at its path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from typing import Any

ADDED, MODIFIED, DELETED, WRITTEN = 1, 2, 3, 4

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004  # link count (a deletion or a rename elsewhere), permissions
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
WATCHED = (
    IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
    | IN_MOVE_SELF | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
_READ_BYTES = 64 * 1024
_MAX_NAMES = 1024  # paths remembered for events (a directory of dated logs keeps adding names)

_libc: Any = None


def _load() -> Any:
    """libc with inotify, or None (not Linux, or no such functions)."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                # The process's own symbols include libc's (glibc and musl alike); no
                # ctypes.util.find_library, which may run ldconfig.
                libc = ctypes.CDLL(None, use_errno=True)
                libc.inotify_init1.argtypes = [ctypes.c_int]
                libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc or None


def available() -> bool:
    """True where this backend can work (Linux with inotify in libc)."""
    return _load() is not None


class Inotify:
    """One inotify instance watching a set of directories (not recursively).

        notify = Inotify()
        notify.watch({"/var/log"})
        await anyio.wait_readable(notify.fileno())
        changes = notify.read()     # {(2, "/var/log/syslog")}
        notify.close()

    ``OSError`` from the constructor or :meth:`watch` means no notification (inotify limits,
    a directory gone): the caller polls instead.
    """

    def __init__(self) -> None:
        libc = _load()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        self._libc = libc
        fd: int = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))
        self._fd = fd
        self._paths: dict[int, str] = {}  # watch descriptor -> directory
        self._wds: dict[str, int] = {}
        # (watch descriptor, name) -> path: a busy file's events name it again and again.
        self._names: dict[tuple[int, bytes], str] = {}
        self.lost = False  # a watch went away (directory deleted or moved): watch() again

    def fileno(self) -> int:
        return self._fd

    def watch(self, directories: set[str] | frozenset[str]) -> None:
        """Watch exactly these directories from now on."""
        for directory in [d for d in self._wds if d not in directories]:
            wd = self._wds.pop(directory)
            self._paths.pop(wd, None)
            self._names.clear()  # watch descriptors may be reused
            self._libc.inotify_rm_watch(self._fd, wd)
        for directory in directories:
            if directory in self._wds:
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), WATCHED)
            if wd < 0:
                number = ctypes.get_errno()
                raise OSError(number, os.strerror(number), directory)
            self._wds[directory] = wd
            self._paths[wd] = directory
        self.lost = False

    def read(self) -> set[tuple[int, str]]:
        """Every change queued so far (empty if none; never waits)."""
        changes: set[tuple[int, str]] = set()
        while True:
            try:
                data = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                return changes
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            self._parse(data, changes)
            if len(data) < _READ_BYTES // 2:  # drained (another read would say EAGAIN)
                return changes

    def _parse(self, data: bytes, changes: set[tuple[int, str]]) -> None:
        unpack, header = _EVENT.unpack_from, _EVENT.size
        offset, end = 0, len(data)
        paths, names = self._paths, self._names
        while offset + header <= end:
            wd, mask, _, length = unpack(data, offset)
            name = data[offset + header : offset + header + length].rstrip(b"\0")
            offset += header + length
            if mask & IN_Q_OVERFLOW:
                changes.add((ADDED, ""))  # events were lost: the reader takes a full look
                continue
            directory = paths.get(wd)
            if directory is None:
                continue
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                # Gone, or moved (its watch would report the new place under the old name):
                # forget it; the next watch() adds the directory again if it is back.
                paths.pop(wd, None)
                self._wds.pop(directory, None)
                names.clear()
                if not mask & IN_IGNORED:
                    self._libc.inotify_rm_watch(self._fd, wd)
                self.lost = True
                changes.add((DELETED, directory))
                continue
            path = names.get((wd, name))
            if path is None:
                path = os.path.join(directory, os.fsdecode(name)) if name else directory
                if len(names) >= _MAX_NAMES:
                    names.clear()
                names[(wd, name)] = path
            if mask & (IN_CREATE | IN_MOVED_TO):
                changes.add((ADDED, path))
            elif mask & (IN_DELETE | IN_MOVED_FROM):
                changes.add((DELETED, path))
            elif mask & IN_MODIFY:
                changes.add((WRITTEN, path))
            else:  # IN_ATTRIB
                changes.add((MODIFIED, path))

    def close(self) -> None:
        """Stop watching (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._paths.clear()
            self._wds.clear()
            self._names.clear()
