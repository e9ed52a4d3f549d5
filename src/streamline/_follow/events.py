"""Joining lines into events: multiline (stack traces) and container partial lines.

An :class:`EventFramer` sits on a file's :class:`~.framing.LineFramer` and has the same face
(``feed``, ``flush``, ``position``, ``pending``), so the reader keeps one framer per file and
nothing else changes for it. What it hands out are whole events; an event still open (its
continuation may come) is held, and the framed range it hands out ends where the held event
starts. So a checkpoint never falls inside an event: a kill between lines of an event re-reads
the whole event, and a rotated file's last event is never joined with the next file's lines
(each file has its own framer).

Groupers are pure: lines in, complete events out. ``Multiline`` follows Filebeat's
``pattern``/``negate``/``match``; ``cri`` and ``docker`` reassemble the partial lines of the
container runtimes (CRI's ``P``/``F`` flag, docker json-file's ``log`` without a final ``\\n``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Literal, Protocol

from .._errors import ConfigurationError
from .framing import Framed, LineFramer

ContainerFormat = Literal["cri", "docker"]

#: Ready patterns: (pattern, negate, match). ``python`` is stateful, see :class:`_PythonTraceback`.
PRESETS: dict[str, tuple[str, bool, str]] = {
    # Continuation lines start with whitespace (Java's "\tat ..."), or "Caused by: ".
    "indented": (r"^(?:[ \t]|Caused by: )", False, "after"),
    # An event starts with a timestamp: ISO 8601 (optionally bracketed), syslog, common log.
    "timestamp": (
        r"^\[?(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"
        r"|\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2})",
        True,
        "after",
    ),
    "python": (r"^[ \t]", False, "after"),  # plus the traceback's head, tail and chaining lines
}

_Lines = tuple[list[bytes], list[int], list[int]]


class Grouper(Protocol):
    """Lines (with their first byte and end) in, complete events out, in file order."""

    @property
    def held_start(self) -> int | None:
        """First byte of the first held line; None when nothing is held."""

    @property
    def held_bytes(self) -> int:
        """Bytes of the held lines."""

    def add(self, lines: list[bytes], offsets: list[int], ends: list[int]) -> _Lines: ...

    def flush(self) -> _Lines: ...


class MultilineGrouper:
    """Filebeat's multiline: a line that matches ``pattern`` (inverted by ``negate``) belongs
    to the previous line's event (``match="after"``) or to the next line's (``"before"``).

    An event reaching ``max_lines`` or ``max_bytes`` is handed out and the next continuation
    starts a new event: nothing is dropped (Filebeat drops the lines past ``max_lines``).

        grouper = MultilineGrouper(r"^\\s", match="after")
        grouper.add([b"boom", b"  at x", b"next"], [0, 5, 12], [5, 12, 17])[0]   # [b"boom\\n  at x"]
    """

    def __init__(
        self,
        pattern: str,
        *,
        negate: bool = False,
        match: str = "after",
        max_lines: int = 500,
        max_bytes: int = 10 << 20,
        python: bool = False,
        content: ContainerFormat | None = None,
    ) -> None:
        try:
            self._search = re.compile(pattern.encode()).search
        except re.error as exc:
            raise ConfigurationError(f"multiline pattern {pattern!r} is not a valid regex: {exc}") from None
        if match not in ("after", "before"):
            raise ConfigurationError(f"multiline match must be 'after' or 'before' (got {match!r})")
        if max_lines < 1 or max_bytes < 1:
            raise ConfigurationError("multiline max_lines and max_bytes must be at least 1")
        self.negate = negate
        self.after = match == "after"
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._traceback = _PythonTraceback() if python else None
        # Container lines: the pattern looks at the log text, the event is one container line.
        self._text: Callable[[bytes], bytes] | None = _CONTENT[content][0] if content else None
        self._join: Callable[[list[bytes]], bytes] = _CONTENT[content][1] if content else b"\n".join
        self._parts: list[bytes] = []
        self._start = 0
        self._end = 0
        self.held_bytes = 0
        self.held_start: int | None = None

    def _continues(self, line: bytes) -> bool:
        if self._text is not None:
            line = self._text(line)
        if self._traceback is not None:
            return self._traceback.continues(line, self._search(line) is not None)
        return (self._search(line) is not None) != self.negate

    def add(self, lines: list[bytes], offsets: list[int], ends: list[int]) -> _Lines:
        out: list[bytes] = []
        out_offsets: list[int] = []
        out_ends: list[int] = []
        for line, offset, end in zip(lines, offsets, ends, strict=True):
            continues = self._continues(line)
            parts = self._parts
            if parts and (
                len(parts) >= self.max_lines or self.held_bytes + 1 + len(line) > self.max_bytes
            ):
                self._emit(out, out_offsets, out_ends)  # full: the line starts a new event
                parts = self._parts
            if self.after:
                if parts and not continues:
                    self._emit(out, out_offsets, out_ends)
                self._hold(line, offset, end)
            else:
                self._hold(line, offset, end)
                if not continues:  # the line that ends the event
                    self._emit(out, out_offsets, out_ends)
        return out, out_offsets, out_ends

    def flush(self) -> _Lines:
        out: list[bytes] = []
        offsets: list[int] = []
        ends: list[int] = []
        if self._parts:
            self._emit(out, offsets, ends)
        return out, offsets, ends

    def _hold(self, line: bytes, offset: int, end: int) -> None:
        if not self._parts:
            self._start = offset
            self.held_start = offset
            self.held_bytes = len(line)
        else:
            self.held_bytes += 1 + len(line)
        self._parts.append(line)
        self._end = end

    def _emit(self, out: list[bytes], offsets: list[int], ends: list[int]) -> None:
        parts = self._parts
        out.append(parts[0] if len(parts) == 1 else self._join(parts))
        offsets.append(self._start)
        ends.append(self._end)
        self._parts = []
        self.held_bytes = 0
        self.held_start = None


class _PythonTraceback:
    """The ``python`` preset: indented lines continue an event, and so does a traceback's head
    (``Traceback (most recent call last):``), its last line (the exception, not indented), and
    the lines chaining one traceback to the next."""

    _HEAD = b"Traceback (most recent call last):"
    _CHAIN = (b"During handling of the above exception", b"The above exception was the direct cause")

    def __init__(self) -> None:
        self._state = "none"  # "frames": inside a traceback; "tail": just after its last line

    def continues(self, line: bytes, indented: bool) -> bool:
        state = self._state
        if line.startswith(self._HEAD):
            self._state = "frames"
            return True
        if indented:
            return True
        if state == "frames":  # the exception line ends the traceback
            self._state = "tail"
            return True
        if state == "tail" and (not line or line.startswith(self._CHAIN)):
            return True  # chained tracebacks: blank lines and "During handling ..."
        self._state = "none"
        return False


class ContainerGrouper:
    """Reassemble container runtime partial lines; complete lines pass through unchanged.

    ``cri``: ``<time> <stream> <P|F> <text>``; ``P`` lines are joined with the next lines of
    the same stream up to an ``F`` one; the joined event is written back as one ``F`` line.
    ``docker`` (json-file): a ``log`` value that does not end in ``\\n`` continues in the next
    record of that stream; the joined event is written back as one JSON record. While any
    stream has an open event, later lines wait too, so the events come out in file order and
    a handed-out range never covers a held line. ``max_bytes`` caps a joined event.
    """

    def __init__(self, kind: ContainerFormat, *, max_bytes: int = 1 << 20) -> None:
        if kind not in ("cri", "docker"):
            raise ConfigurationError(f"container format must be 'cri' or 'docker' (got {kind!r})")
        self.kind = kind
        self.max_bytes = max_bytes
        self._split: Callable[[bytes], tuple[bytes, bytes, bool] | None] = (
            _cri_partial if kind == "cri" else _docker_partial
        )
        # Held events in file order: [stream, parts(list of raw lines), offset, end, open]
        self._held: list[list[object]] = []
        self._open: dict[bytes, list[object]] = {}
        self.held_bytes = 0
        self.held_start: int | None = None

    def add(self, lines: list[bytes], offsets: list[int], ends: list[int]) -> _Lines:
        out: list[bytes] = []
        out_offsets: list[int] = []
        out_ends: list[int] = []
        split = self._split
        for line, offset, end in zip(lines, offsets, ends, strict=True):
            parsed = split(line)
            if parsed is None or (not parsed[2] and not self._held):
                # Not a container line (the parser decides), or a complete line: as it is.
                if not self._held:
                    out.append(line)
                    out_offsets.append(offset)
                    out_ends.append(end)
                else:
                    self._held.append([b"", [line], offset, end, False])
                continue
            stream, _, partial = parsed
            event = self._open.get(stream)
            if event is None:
                event = [stream, [line], offset, end, partial]
                self._held.append(event)
                if self.held_start is None:
                    self.held_start = offset
            else:
                parts: list[bytes] = event[1]  # type: ignore[assignment]
                parts.append(line)
                event[3] = end
                event[4] = partial
            self.held_bytes += len(line)
            if partial and self.held_bytes <= self.max_bytes:
                self._open[stream] = event
            else:
                self._open.pop(stream, None)
                event[4] = False
            if not self._open:  # every held event is complete: hand them all out
                self._emit_all(out, out_offsets, out_ends)
        return out, out_offsets, out_ends

    def flush(self) -> _Lines:
        out: list[bytes] = []
        offsets: list[int] = []
        ends: list[int] = []
        self._emit_all(out, offsets, ends)
        return out, offsets, ends

    def _emit_all(self, out: list[bytes], offsets: list[int], ends: list[int]) -> None:
        for _, parts, offset, end, _ in self._held:
            assert isinstance(parts, list)
            out.append(parts[0] if len(parts) == 1 else self._join(parts))
            offsets.append(offset)  # type: ignore[arg-type]
            ends.append(end)  # type: ignore[arg-type]
        self._held = []
        self._open = {}
        self.held_bytes = 0
        self.held_start = None

    def _join(self, parts: list[bytes]) -> bytes:
        if self.kind == "cri":
            pieces = [part.split(b" ", 3) for part in parts]
            first = pieces[0]
            text = b"".join(p[3] if len(p) > 3 else b"" for p in pieces)
            return b"%s %s F %s" % (first[0], first[1], text)
        records = [json.loads(part) for part in parts]
        joined = dict(records[0])
        joined["log"] = "".join(r.get("log", "") for r in records)
        return json.dumps(joined, ensure_ascii=False, separators=(",", ":")).encode()


def _cri_partial(line: bytes) -> tuple[bytes, bytes, bool] | None:
    """``(stream, text, partial)`` of a CRI log line, or None if it is not one."""
    pieces = line.split(b" ", 3)
    if len(pieces) < 3 or pieces[2] not in (b"F", b"P"):
        return None
    return pieces[1], pieces[3] if len(pieces) > 3 else b"", pieces[2] == b"P"


def _cri_text(line: bytes) -> bytes:
    pieces = line.split(b" ", 3)
    return pieces[3] if len(pieces) > 3 else b""


def _cri_join(lines: list[bytes]) -> bytes:
    first = lines[0].split(b" ", 3)
    if len(first) < 3:  # not a CRI line: joined as they are
        return b"\n".join(lines)
    return b"%s %s F %s" % (first[0], first[1], b"\n".join(_cri_text(line) for line in lines))


def _docker_text(line: bytes) -> bytes:
    try:
        record = json.loads(line)
        text = record["log"]
    except (ValueError, TypeError, KeyError):
        return line
    return text.encode() if isinstance(text, str) else line


def _docker_join(lines: list[bytes]) -> bytes:
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("log"), str):
            return b"\n".join(lines)
        records.append(record)
    joined = dict(records[0])
    joined["log"] = "".join(r["log"] if r["log"].endswith("\n") else r["log"] + "\n" for r in records)
    return json.dumps(joined, ensure_ascii=False, separators=(",", ":")).encode()


_CONTENT: dict[str, tuple[Callable[[bytes], bytes], Callable[[list[bytes]], bytes]]] = {
    "cri": (_cri_text, _cri_join),
    "docker": (_docker_text, _docker_join),
}


class ChainedGrouper:
    """Container reassembly first, then multiline on the reassembled lines (Java in a pod)."""

    def __init__(self, first: Grouper, second: Grouper) -> None:
        self.first = first
        self.second = second

    @property
    def held_start(self) -> int | None:
        start = self.second.held_start  # holds earlier lines than the first when both hold
        return start if start is not None else self.first.held_start

    @property
    def held_bytes(self) -> int:
        return self.first.held_bytes + self.second.held_bytes

    def add(self, lines: list[bytes], offsets: list[int], ends: list[int]) -> _Lines:
        return self.second.add(*self.first.add(lines, offsets, ends))

    def flush(self) -> _Lines:
        out = self.second.add(*self.first.flush())
        _extend(out, self.second.flush())
        return out


_DOCKER_COMPLETE = b'\\n","stream":'
_DOCKER_STREAM = b'"stream":"'


def _docker_partial(line: bytes) -> tuple[bytes, bytes, bool] | None:
    """``(stream, b"", partial)`` of a docker json-file record, or None if it is not one."""
    if _DOCKER_COMPLETE in line:  # the usual case, without decoding: ends in "\n"
        return b"", b"", False
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("log"), str):
        return None
    stream = str(record.get("stream", "")).encode()
    return stream, b"", not record["log"].endswith("\n")


def _cri_stream(line: bytes) -> bytes:
    """A CRI line's stream (``stdout``/``stderr``); ``b""`` for a line that is not CRI."""
    pieces = line.split(b" ", 3)
    return pieces[1] if len(pieces) >= 3 and pieces[2] in (b"F", b"P") else b""


def _docker_stream(line: bytes) -> bytes:
    """A docker json-file record's stream; ``b""`` for a line that is not such a record.

    Inside a JSON string every ``"`` is escaped, so ``"stream":"`` is only ever the key."""
    at = line.find(_DOCKER_STREAM)
    if at >= 0:
        start = at + len(_DOCKER_STREAM)
        end = line.find(b'"', start)
        if end >= 0:
            return line[start:end]
    try:
        record = json.loads(line)
    except ValueError:
        return b""
    stream = record.get("stream") if isinstance(record, dict) else None
    return stream.encode() if isinstance(stream, str) else b""


class PerStreamGrouper:
    """Multiline per stream of a container log: stdout and stderr interleave in one file, and
    a line of one stream never joins (or cuts) an event of the other (Filebeat and Fluent Bit
    run their multiline parsers per stream too).

    Each stream has its own :class:`MultilineGrouper`; complete events wait until they can be
    handed out in file order (by first line) such that the handed-out range ends before every
    held line *and* after every line of every event handed out: with interleaved streams an
    event is not one contiguous byte range, and a checkpoint must never fall inside one (a
    restart there would send its tail as an event of its own). While one stream's event is
    open the other streams' complete events wait behind it, as :class:`ContainerGrouper`'s
    partial lines do; past ``max_bytes`` held in all, the oldest open event is handed out as
    it is (as a multiline ``max_bytes`` cut does), so memory stays bounded.
    """

    def __init__(self, make: Callable[[], MultilineGrouper], stream_of: Callable[[bytes], bytes], *, max_bytes: int) -> None:
        self._make = make
        self._stream_of = stream_of
        self.max_bytes = max_bytes
        self._streams: dict[bytes, MultilineGrouper] = {}
        # Complete events not handed out yet: (first byte, end, event), in file order.
        self._waiting: list[tuple[int, int, bytes]] = []
        self._waiting_bytes = 0

    @property
    def held_start(self) -> int | None:
        starts = [g.held_start for g in self._streams.values() if g.held_start is not None]
        if self._waiting:
            starts.append(self._waiting[0][0])
        return min(starts) if starts else None

    @property
    def held_bytes(self) -> int:
        return self._waiting_bytes + sum(g.held_bytes for g in self._streams.values())

    def _grouper(self, stream: bytes) -> MultilineGrouper:
        grouper = self._streams.get(stream)
        if grouper is None:
            grouper = self._streams[stream] = self._make()
        return grouper

    def add(self, lines: list[bytes], offsets: list[int], ends: list[int]) -> _Lines:
        stream_of = self._stream_of
        run = 0  # runs of lines of one stream go to its grouper together
        current = stream_of(lines[0]) if lines else b""
        for index in range(1, len(lines) + 1):
            stream = stream_of(lines[index]) if index < len(lines) else None
            if stream == current:
                continue
            self._wait(self._grouper(current).add(lines[run:index], offsets[run:index], ends[run:index]))
            run = index
            if stream is not None:
                current = stream
        while self.held_bytes > self.max_bytes and self._cut_oldest():
            pass
        return self._ready()

    def flush(self) -> _Lines:
        for grouper in self._streams.values():
            self._wait(grouper.flush())
        return self._ready(everything=True)

    def _wait(self, events: _Lines) -> None:
        if not events[0]:
            return
        waiting = self._waiting
        ordered = not waiting or waiting[-1][0] < events[1][0]
        for event, offset, end in zip(*events, strict=True):
            waiting.append((offset, end, event))
            self._waiting_bytes += len(event)
        if not ordered:
            waiting.sort()

    def _cut_oldest(self) -> bool:
        """Hand the open event that started first to the waiting ones; False if none is open."""
        open_streams = [g for g in self._streams.values() if g.held_start is not None]
        if not open_streams:
            return False
        self._wait(min(open_streams, key=lambda g: g.held_start or 0).flush())
        return True

    def _ready(self, *, everything: bool = False) -> _Lines:
        """The waiting events that can be handed out now (see the class docstring)."""
        waiting = self._waiting
        out: _Lines = ([], [], [])
        if not waiting:
            return out
        if everything:
            count = len(waiting)
        else:
            starts = [g.held_start for g in self._streams.values() if g.held_start is not None]
            cut = min(starts) if starts else None
            count = 0
            last_end = -1
            for index, (_, end, _) in enumerate(waiting):
                last_end = max(last_end, end)
                # The range handed out would end at the next waiting event or the first held line.
                boundary = waiting[index + 1][0] if index + 1 < len(waiting) else cut
                if cut is not None and boundary is not None:
                    boundary = min(boundary, cut)
                if boundary is None or last_end <= boundary:
                    count = index + 1
        for offset, end, event in waiting[:count]:
            out[0].append(event)
            out[1].append(offset)
            out[2].append(end)
            self._waiting_bytes -= len(event)
        del waiting[:count]
        return out


class EventFramer:
    """A :class:`LineFramer` whose output is whole events (see the module docstring).

    ``timeout``: an event held that long without a new line is handed out by :meth:`expire`.

        framer = EventFramer(LineFramer(), MultilineGrouper(r"^\\s"), timeout=5.0)
        framer.feed(b"boom\\n  at x\\n").lines    # [] - the event may continue
        framer.feed(b"next\\n").lines             # [b"boom\\n  at x"]
    """

    def __init__(self, lines: LineFramer, grouper: Grouper, *, timeout: float = 5.0) -> None:
        self.lines = lines
        self.grouper = grouper
        self.timeout = timeout
        self.max_line_bytes = lines.max_line_bytes
        self.long_lines = lines.long_lines
        self._emitted = lines.position  # end of what was handed out (or dropped) so far
        self._in_long_line = False  # the last line handed to us was a piece of a longer line
        self.deadline: float | None = None  # when the held event is handed out anyway

    @property
    def split_long_lines(self) -> int:
        return self.lines.split_long_lines

    @property
    def skipped_long_lines(self) -> int:
        return self.lines.skipped_long_lines

    @property
    def position(self) -> int:
        """Offset of the first byte not yet handed out: the held event's first line."""
        held = self.grouper.held_start
        return held if held is not None else self.lines.position

    @property
    def pending(self) -> int:
        """Bytes held: the held event and the unterminated last line."""
        return self.grouper.held_bytes + self.lines.pending

    def feed(self, chunk: bytes) -> Framed:
        return self._group(self.lines.feed(chunk), final=False)

    def flush(self) -> Framed:
        """End of the file: hand out the held event and the unterminated last line."""
        return self._group(self.lines.flush(), final=True)

    def expire(self, now: float | None = None) -> Framed | None:
        """Hand out the held event if no line came for ``timeout`` seconds (else ``None``)."""
        if self.deadline is None or (now if now is not None else time.monotonic()) < self.deadline:
            return None
        start = self._emitted
        events, offsets, ends = self.grouper.flush()
        self.deadline = None
        end = self.lines.position
        self._emitted = end
        return Framed(events, start, end, offsets, ends)

    def _group(self, framed: Framed, *, final: bool) -> Framed:
        grouper = self.grouper
        if framed.lines:
            offsets, ends = framed.spans()
            if framed.offsets is None and not self._in_long_line:
                events, event_offsets, event_ends = grouper.add(framed.lines, offsets, ends)
            else:
                events, event_offsets, event_ends = self._add_pieces(framed.lines, offsets, ends, final)
        else:
            events, event_offsets, event_ends = [], [], []
        if final:
            rest = grouper.flush()
            events += rest[0]
            event_offsets += rest[1]
            event_ends += rest[2]
        start = self._emitted
        held = grouper.held_start
        end = held if held is not None else framed.end
        self._emitted = end
        if held is None:
            self.deadline = None
        elif framed.lines:
            self.deadline = time.monotonic() + self.timeout
        return Framed(events, start, end, event_offsets, event_ends, framed.discarded)

    def _add_pieces(self, lines: list[bytes], offsets: list[int], ends: list[int], final: bool) -> _Lines:
        """The slow path (pieces of over-long lines, ``\\r\\n``): a piece is an event of its own."""
        out: tuple[list[bytes], list[int], list[int]] = ([], [], [])
        grouper = self.grouper
        run = 0  # start of a run of whole lines, given to the grouper together
        for index, (line, offset, end) in enumerate(zip(lines, offsets, ends, strict=True)):
            unterminated = end == offset + len(line) and not (final and index == len(lines) - 1)
            if not (unterminated or self._in_long_line):
                continue
            _extend(out, grouper.add(lines[run:index], offsets[run:index], ends[run:index]))
            _extend(out, grouper.flush())
            out[0].append(line)
            out[1].append(offset)
            out[2].append(end)
            self._in_long_line = unterminated  # the piece after the last one ends the line
            run = index + 1
        _extend(out, grouper.add(lines[run:], offsets[run:], ends[run:]))
        return out


def _extend(out: _Lines, more: _Lines) -> None:
    out[0].extend(more[0])
    out[1].extend(more[1])
    out[2].extend(more[2])


def multiline_grouper(
    pattern: str | None,
    *,
    negate: bool = False,
    match: str = "after",
    preset: str | None = None,
    max_lines: int = 500,
    max_bytes: int = 10 << 20,
    content: ContainerFormat | None = None,
) -> MultilineGrouper | PerStreamGrouper:
    """A :class:`MultilineGrouper` from a pattern or a preset (exactly one of them); on the lines
    of a container log (``content``), one per stream (:class:`PerStreamGrouper`)."""
    if (pattern is None) == (preset is None):
        raise ConfigurationError("multiline needs exactly one of a pattern or a preset")
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigurationError(
                f"unknown multiline preset {preset!r}; use one of {', '.join(sorted(PRESETS))}"
            )
        pattern, negate, match = PRESETS[preset]
    assert pattern is not None
    settings = {"negate": negate, "match": match, "max_lines": max_lines, "max_bytes": max_bytes}
    one = MultilineGrouper(pattern, python=preset == "python", content=content, **settings)  # type: ignore[arg-type]
    if content is None:
        return one

    def make() -> MultilineGrouper:
        return MultilineGrouper(pattern, python=preset == "python", content=content, **settings)  # type: ignore[arg-type]

    return PerStreamGrouper(make, _cri_stream if content == "cri" else _docker_stream, max_bytes=max_bytes)
