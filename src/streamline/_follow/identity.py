"""Which file is this? Device, inode and a fingerprint of the first bytes.

Device and inode alone break when a deleted file's inode is reused (Filebeat #40197, Vector
#23076); a fingerprint alone breaks on files that start alike. Together they identify a file
across renames, and a reused inode with different content is a different file.

Short files: the fingerprint covers ``min(size, 1024)`` bytes and grows with the file until
it covers 1 KiB, then stays fixed. ``fingerprint_size`` records how many bytes it covers, so
a stored identity is checked against a file by hashing that many of its first bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace

FINGERPRINT_BYTES = 1024


def fingerprint(data: bytes) -> str:
    """Return the fingerprint (SHA-256, hex) of a file's first bytes.

        fingerprint(b"GET / HTTP/1.1")[:8]   # 'e8b6a1c5'-like hex digest prefix
    """
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """A file's identity: device, inode and a fingerprint of its first ``fingerprint_size`` bytes.

        identity = identify(fd)
        identity.key                # "2049:1835102" - device and inode
        identity.matches(other_fd)  # same inode and same first bytes?
    """

    device: int
    inode: int
    fingerprint_size: int
    fingerprint: str

    @property
    def key(self) -> str:
        """``"device:inode"``: stable while the file is open; checkpoints are stored under it."""
        return f"{self.device}:{self.inode}"

    @property
    def complete(self) -> bool:
        """True once the fingerprint covers :data:`FINGERPRINT_BYTES` and no longer changes."""
        return self.fingerprint_size >= FINGERPRINT_BYTES

    def matches(self, fd: int, stat: os.stat_result | None = None) -> bool:
        """Is the open file ``fd`` this file (same inode, same first ``fingerprint_size`` bytes)?"""
        stat = stat or os.fstat(fd)
        if (stat.st_dev, stat.st_ino) != (self.device, self.inode):
            return False
        if stat.st_size < self.fingerprint_size:
            return False
        head = os.pread(fd, self.fingerprint_size, 0) if self.fingerprint_size else b""
        return len(head) == self.fingerprint_size and fingerprint(head) == self.fingerprint

    def grown(self, fd: int, size: int) -> FileIdentity:
        """This identity with its fingerprint extended over up to 1 KiB of a file now ``size`` long."""
        if self.complete or size <= self.fingerprint_size:
            return self
        head = os.pread(fd, FINGERPRINT_BYTES, 0)
        return replace(self, fingerprint_size=len(head), fingerprint=fingerprint(head))


def identify(fd: int, stat: os.stat_result | None = None) -> FileIdentity:
    """Return the identity of the open file ``fd`` (blocking: call it off the event loop).

        fd = os.open("access.log", os.O_RDONLY)
        identity = identify(fd)
    """
    stat = stat or os.fstat(fd)
    head = os.pread(fd, FINGERPRINT_BYTES, 0)
    return FileIdentity(stat.st_dev, stat.st_ino, len(head), fingerprint(head))
