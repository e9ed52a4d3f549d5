"""What a follower hands out: lines, batches of consecutive lines of one file, and counters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .checkpoints import FileCheckpoint
from .framing import Framed
from .identity import FileIdentity


class Line:
    """One line of a followed file, without its line ending.

        async for line in follow("access.log"):
            print(line.path, line.offset, line.text)
            line.ack()   # with checkpoints: this line is done
    """

    __slots__ = ("_checkpoint", "data", "end_offset", "identity", "offset", "path")

    def __init__(
        self,
        path: str,
        identity: FileIdentity,
        offset: int,
        end_offset: int,
        data: bytes,
        checkpoint: FileCheckpoint,
    ) -> None:
        self.path = path
        self.identity = identity
        self.offset = offset  # the line's first byte
        self.end_offset = end_offset  # the byte after its line ending
        self.data = data
        self._checkpoint = checkpoint

    @property
    def text(self) -> str:
        """The line decoded as UTF-8; invalid bytes become U+FFFD."""
        return self.data.decode("utf-8", "replace")

    def ack(self) -> None:
        """Acknowledge this line: its checkpoint may advance past it (once earlier lines are)."""
        self._checkpoint.ack(self.offset, self.end_offset)

    def __repr__(self) -> str:
        return f"Line(path={self.path!r}, offset={self.offset}, data={self.data[:60]!r})"


class LineBatch:
    """Consecutive lines of one file covering bytes ``[start_offset, end_offset)``.

    The fast path: ``data`` is the list of line contents, and one :meth:`ack` acknowledges the
    whole range. Iterating gives :class:`Line` objects.

        async for batch in follower.batches():
            await ship(batch.data)
            batch.ack()
    """

    __slots__ = ("_checkpoint", "_framed", "data", "end_offset", "identity", "path", "start_offset")

    def __init__(
        self, path: str, identity: FileIdentity, framed: Framed, checkpoint: FileCheckpoint
    ) -> None:
        self.path = path
        self.identity = identity
        self.start_offset = framed.start
        self.end_offset = framed.end
        self.data = framed.lines
        self._framed = framed
        self._checkpoint = checkpoint

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Line]:
        offsets, ends = self._framed.spans()
        path, identity, checkpoint = self.path, self.identity, self._checkpoint
        for offset, end, data in zip(offsets, ends, self.data, strict=False):
            yield Line(path, identity, offset, end, data, checkpoint)

    @property
    def lines(self) -> list[Line]:
        """The batch as :class:`Line` objects."""
        return list(self)

    @property
    def bytes(self) -> int:
        """Number of file bytes the batch covers, line endings included."""
        return self.end_offset - self.start_offset

    def ack(self) -> None:
        """Acknowledge every line of the batch in one call."""
        self._checkpoint.ack(self.start_offset, self.end_offset)

    def split(self, size: int, unit: str = "lines") -> list[LineBatch]:
        """Cut into batches of at most ``size`` lines (or about ``size`` bytes); ranges stay contiguous."""
        if (len(self.data) <= size) if unit == "lines" else (self.bytes <= size):
            return [self]
        offsets, ends = self._framed.spans()
        if unit == "lines":
            cuts = list(range(size, len(self.data), size))
        else:
            cuts, piece_start = [], self.start_offset
            for index, end in enumerate(ends):
                if end - piece_start > size and index > (cuts[-1] if cuts else 0):
                    cuts.append(index)
                    piece_start = ends[index - 1]
        pieces = []
        for low, high in zip([0, *cuts], [*cuts, len(self.data)], strict=False):
            start = self.start_offset if low == 0 else ends[low - 1]
            end = self.end_offset if high == len(self.data) else ends[high - 1]
            framed = Framed(self.data[low:high], start, end, offsets[low:high], ends[low:high])
            pieces.append(LineBatch(self.path, self.identity, framed, self._checkpoint))
        return pieces

    def __repr__(self) -> str:
        return (
            f"LineBatch(path={self.path!r}, lines={len(self.data)}, "
            f"offsets={self.start_offset}..{self.end_offset})"
        )


@dataclass
class FollowerStats:
    """Counters of one follower; read them any time as ``follower.stats``.

        print(follower.stats.lines, follower.stats.skipped_long_lines)
    """

    lines: int = 0  #: lines handed out
    bytes: int = 0  #: file bytes covered by handed-out batches
    files: int = 0  #: files followed now (open, or closed until they grow)
    files_open: int = 0  #: descriptors held now (at most ``max_open_files`` plus rotated files)
    files_opened: int = 0
    files_closed_idle: int = 0  #: times a file was closed to stay under ``max_open_files``
    descriptor_shortages: int = 0  #: opens that failed with EMFILE/ENFILE (retried later)
    rotations: int = 0  #: files that were renamed or deleted and then read until quiet
    truncations: int = 0  #: files truncated (or rewritten in place) and read again from 0
    copies_read: int = 0  #: truncations whose unread rest was read from a copy (copytruncate)
    skipped_long_lines: int = 0  #: lines dropped by ``long_lines="skip"``
    split_long_lines: int = 0  #: lines cut into pieces by ``long_lines="split"``
    skipped_files: int = 0  #: files a pattern matched that were not shipped (compressed)
    partial_lines_released: int = 0  #: partial lines dropped from memory, to be read again
    warnings: int = 0  #: problems reported with paths (see ``Follower.warnings``)
    bytes_behind: int = 0  #: bytes in open files not yet handed out, as of the last check

    def status_parts(self) -> list[str]:
        """Short figures for a status line: only the ones that are not zero.

            stats.status_parts()   # ['split 2 long lines', '1 warning']
        """
        parts = []
        if self.split_long_lines:
            parts.append(f"split {self.split_long_lines} long lines")
        if self.skipped_long_lines:
            parts.append(f"skipped {self.skipped_long_lines} long lines")
        if self.skipped_files:
            parts.append(f"skipped {self.skipped_files} files")
        if self.warnings:
            parts.append(f"{self.warnings} warning{'s' if self.warnings != 1 else ''}")
        return parts
