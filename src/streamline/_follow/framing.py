"""Turning a stream of byte chunks into lines: the pure, I/O-free part of following a file.

Whole chunks are split in C (``bytes.split``); Python-level work per line happens only on the
rare paths (``\\r\\n`` endings, over-long lines).
"""

from __future__ import annotations

from itertools import accumulate
from typing import Literal

from .._errors import StreamlineError
from .._validation import check_choice, check_number

LongLinePolicy = Literal["split", "skip", "error"]
LONG_LINE_POLICIES = ("split", "skip", "error")


class LineTooLongError(StreamlineError):
    """A line exceeded ``max_line_bytes`` while following with ``long_lines="error"``."""


class Framed:
    """What one :meth:`LineFramer.feed` produced: lines from byte ``start`` up to byte ``end``.

    ``offsets``/``ends`` are ``None`` when every line ends with exactly one ``\\n`` and none
    was dropped, so they follow from ``start`` and the line lengths (see :meth:`spans`).
    ``discarded`` lists the ``(start, end)`` byte ranges of skipped over-long lines.
    """

    __slots__ = ("discarded", "end", "ends", "lines", "offsets", "start")

    def __init__(
        self,
        lines: list[bytes],
        start: int,
        end: int,
        offsets: list[int] | None = None,
        ends: list[int] | None = None,
        discarded: list[tuple[int, int]] | None = None,
    ) -> None:
        self.lines = lines
        self.start = start
        self.end = end
        self.offsets = offsets
        self.ends = ends
        self.discarded = discarded or []

    def spans(self) -> tuple[list[int], list[int]]:
        """Return ``(offsets, ends)``: each line's first byte and the byte after its ending."""
        if self.offsets is not None and self.ends is not None:
            return self.offsets, self.ends
        ends = list(accumulate((len(line) + 1 for line in self.lines), initial=self.start))
        return ends[:-1], ends[1:]


class LineFramer:
    """Split a byte stream into lines, holding a partial last line until its ``\\n`` arrives.

    ``\\n`` and ``\\r\\n`` endings are removed; every other byte passes through unchanged.
    Lines longer than ``max_line_bytes`` are split into pieces, skipped (and counted), or raise
    :class:`LineTooLongError`, according to ``long_lines``.

        framer = LineFramer(offset=0)
        framer.feed(b"one\\r\\ntw").lines   # [b"one"]
        framer.feed(b"o\\n").lines          # [b"two"]
        framer.flush().lines               # [] - nothing held
    """

    def __init__(
        self,
        *,
        offset: int = 0,
        max_line_bytes: int = 1_048_576,
        long_lines: LongLinePolicy = "split",
    ) -> None:
        check_number("max_line_bytes", max_line_bytes, minimum=1, integer=True)
        check_choice("long_lines", long_lines, LONG_LINE_POLICIES)
        self.max_line_bytes = max_line_bytes
        self.long_lines = long_lines
        self._tail = b""
        self._start = offset  # offset of the first held byte
        # The held line is already too long: its pieces were emitted ("split") or dropped ("skip").
        self._in_long_line = False
        self.split_long_lines = 0
        self.skipped_long_lines = 0

    @property
    def position(self) -> int:
        """Offset of the first byte not yet emitted as (part of) a line or discarded."""
        return self._start

    @property
    def pending(self) -> int:
        """Number of bytes held back: the unterminated last line."""
        return len(self._tail)

    def feed(self, chunk: bytes) -> Framed:
        """Add the next bytes of the stream; return the lines they completed."""
        start = self._start
        newline = chunk.rfind(b"\n")
        if newline < 0:
            self._tail = self._tail + chunk if self._tail else chunk
            return self._check_tail(Framed([], start, start))
        # Split the chunk itself (no copy of it); the held tail joins its first piece.
        raw = chunk.split(b"\n")
        tail = raw.pop()
        if self._tail:
            raw[0] = self._tail + raw[0]
        end = start + len(self._tail) + len(chunk) - len(tail)
        self._tail = tail
        self._start = end
        if (
            self._in_long_line
            # n lines cover ``end - start`` bytes with their newlines: one line longer than the
            # limit needs at least limit + n bytes, so most chunks need no look at every line.
            or (end - start >= self.max_line_bytes + len(raw) and max(map(len, raw)) > self.max_line_bytes)
            # find(b"\r") is a memchr; ``b"\r\n" in chunk`` would cost 100x more per chunk.
            or chunk.find(b"\r") >= 0
            or raw[0].endswith(b"\r")
        ):
            framed = self._frame_slowly(raw, start, end, terminated=True)
        else:
            framed = Framed(raw, start, end)
        return self._check_tail(framed)

    def flush(self) -> Framed:
        """End of stream: emit the held partial line (if any) as a final, unterminated line."""
        start = self._start
        if not self._tail and not self._in_long_line:
            return Framed([], start, start)
        tail, self._tail = self._tail, b""
        self._start = start + len(tail)
        return self._frame_slowly([tail], start, self._start, terminated=False)

    def _frame_slowly(self, raw: list[bytes], start: int, end: int, *, terminated: bool) -> Framed:
        lines: list[bytes] = []
        offsets: list[int] = []
        ends: list[int] = []
        discarded: list[tuple[int, int]] = []
        limit = self.max_line_bytes
        pos = start
        for line in raw:
            line_end = pos + len(line) + (1 if terminated else 0)
            data = line[:-1] if terminated and line.endswith(b"\r") else line
            continuing, self._in_long_line = self._in_long_line, False
            if len(data) <= limit and not continuing:
                lines.append(data)
                offsets.append(pos)
                ends.append(line_end)
            elif self.long_lines == "skip":
                if not continuing:
                    self.skipped_long_lines += 1
                discarded.append((pos, line_end))
            elif self.long_lines == "error":
                raise LineTooLongError(
                    f"line at byte {pos} is longer than max_line_bytes={limit}"
                )
            else:
                if not continuing:
                    self.split_long_lines += 1
                for piece_start in range(0, len(data), limit):
                    lines.append(data[piece_start : piece_start + limit])
                    offsets.append(pos + piece_start)
                    ends.append(min(pos + piece_start + limit, pos + len(data)))
                ends[-1] = line_end  # the last piece carries the line ending
            pos = line_end
        return Framed(lines, start, end, offsets, ends, discarded)

    def _check_tail(self, framed: Framed) -> Framed:
        """Apply the long-line policy to the held tail once it cannot fit in a line any more.

        The tail may end in the ``\\r`` of a ``\\r\\n`` still to come, so it is only known to be
        too long beyond ``max_line_bytes + 1`` bytes.
        """
        limit = self.max_line_bytes
        tail = self._tail
        if len(tail) <= limit + 1:
            return framed
        pos = self._start
        if self.long_lines == "error":
            raise LineTooLongError(f"line at byte {pos} is longer than max_line_bytes={limit}")
        if framed.offsets is None:
            framed.offsets, framed.ends = framed.spans()
        assert framed.ends is not None
        if self.long_lines == "skip":
            if not self._in_long_line:
                self.skipped_long_lines += 1
            # Keep the last byte: it may be the "\r" of the "\r\n" that ends the line.
            keep = 1
            framed.discarded.append((pos, pos + len(tail) - keep))
        else:
            if not self._in_long_line:
                self.split_long_lines += 1
            keep = len(tail) - ((len(tail) - 2) // limit) * limit  # leaves 2..limit+1 bytes
            for piece_start in range(0, len(tail) - keep, limit):
                framed.lines.append(tail[piece_start : piece_start + limit])
                framed.offsets.append(pos + piece_start)
                framed.ends.append(pos + piece_start + limit)
        self._in_long_line = True
        self._tail = tail[len(tail) - keep :]
        self._start = pos + len(tail) - keep
        framed.end = self._start
        return framed
