"""The description of one log input, shared by ``ship``'s flags and the agent config.

Plain frozen dataclasses: validation of values that need context (regexes compile, topic names,
paths) happens where they are built (the config loader names the file and key path; ``ship``
names the flag), so these stay cheap to compare — the agent's reload compares two specs with
``==`` to decide whether an input changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MultilinePreset = Literal["indented", "python", "timestamp"]
ParserKind = Literal["json", "regex", "cri", "docker"]


@dataclass(frozen=True)
class Multiline:
    """Join continuation lines into one event (Filebeat's ``multiline``).

    A line matching ``pattern`` (inverted by ``negate``) belongs to the previous event
    (``match="after"``) or to the next one (``match="before"``). ``preset`` stands for a ready
    pattern: ``indented`` (continuations start with whitespace: Java stack traces),
    ``python`` (tracebacks), ``timestamp`` (an event starts with a timestamp). An event ends at
    ``max_lines`` lines or ``max_bytes`` bytes, or when no continuation came for ``timeout``
    seconds. A checkpoint never falls inside an event.

        Multiline(preset="indented")
        Multiline(pattern=r"^\\d{4}-\\d{2}-\\d{2}", negate=True, match="after")
    """

    pattern: str | None = None
    negate: bool = False
    match: Literal["after", "before"] = "after"
    preset: MultilinePreset | None = None
    max_lines: int = 500
    max_bytes: int = 10 << 20
    timeout: float = 5.0


@dataclass(frozen=True)
class Parser:
    """Turn each line (event) into a structured record.

    ``json``: the line is a JSON object; ``regex``: ``pattern``'s named groups become a JSON
    object; ``cri`` / ``docker``: container runtime log formats, partial lines reassembled, the
    stream (stdout/stderr) kept as metadata. ``on_invalid`` says what happens to a line that does
    not parse: ``send`` it as it is (with an error header), ``skip`` it (counted), or ``stop``.

        Parser("regex", pattern=r"(?P<ip>\\S+) \\S+ \\S+ \\[(?P<time>[^]]+)\\]")
    """

    kind: ParserKind
    pattern: str | None = None
    on_invalid: Literal["send", "skip", "stop"] = "send"


@dataclass(frozen=True)
class Metadata:
    """Where a record says where it came from.

    ``headers`` names the metadata sent as Kafka headers (any of ``host``, ``path``, ``offset``,
    ``input``, ``stream``); ``envelope=True`` wraps each value in a JSON object
    ``{"@timestamp", "host", "path", "offset", "input", "message", ...}``; ``fields`` are static
    fields added to both (headers and envelope).
    """

    headers: tuple[str, ...] = ()
    envelope: bool = False
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InputSpec:
    """One input: which files, where their lines go, and what happens to them on the way.

    ``topic`` and ``key`` are templates (``{name}``, ``{path}``, ``{hostname}``, ``{input}``;
    ``key`` also ``{field1}``..``{field9}``). ``start`` applies to files without a checkpoint.
    Each input keeps its own checkpoints (a sub-directory named after ``name``).
    """

    name: str
    paths: tuple[str, ...]
    topic: str
    key: str | None = None
    exclude: tuple[str, ...] = ()
    start: Literal["beginning", "end"] = "end"
    long_lines: Literal["split", "skip"] = "split"
    max_line_bytes: int | None = None
    multiline: Multiline | None = None
    parser: Parser | None = None
    metadata: Metadata = field(default_factory=Metadata)
