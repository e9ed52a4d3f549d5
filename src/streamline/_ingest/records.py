"""From an event (a line, or lines joined) to the record sent: parsers, headers, envelope.

Parsers (:class:`~streamline.Parser`):

- ``json``: the event must be a JSON object; the value sent is the event unchanged.
- ``regex``: the pattern's named groups become a JSON object, which is the value sent.
- ``cri`` / ``docker``: the container's log text is the value sent (docker's final ``\\n``
  removed); its stream (``stdout``/``stderr``) and time are metadata.

An event that does not parse follows ``on_invalid``: ``send`` it unchanged with a
``streamline.parse_error`` header (in an envelope: a ``parse_error`` field), ``skip`` it
(counted, its position still checkpointed), or ``stop`` with a :class:`ParseError`.

Metadata (:class:`~streamline.Metadata`): ``headers`` adds Kafka headers named ``host``,
``path``, ``offset`` (the event's first byte in the file), ``input``, ``stream``; static
``fields`` are headers too. ``envelope=True`` sends instead a JSON object::

    {"@timestamp": ..., "host": ..., "path": ..., "offset": ..., "input": ..., <fields>,
     "stream": ... (container parsers), "message": "<the event text>"}

With the ``json`` and ``regex`` parsers the parsed fields are merged into the envelope in place
of ``message``; on a name clash the envelope's own keys and the static fields win (Filebeat's
``overwrite_keys: false``). ``@timestamp`` is the container's time for ``cri``/``docker``, else
the time the event was read (UTC, ISO 8601, milliseconds).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any

from .._errors import ConfigurationError, StreamlineError
from .._models import Record
from .._producer import RecordColumns
from .spec import InputSpec
from .templates import KeyTemplate

HEADER_NAMES = ("host", "path", "offset", "input", "stream")
PARSE_ERROR_HEADER = "streamline.parse_error"


class ParseError(StreamlineError):
    """An event did not parse and the input's parser says ``on_invalid="stop"``."""


class _Parsed:
    __slots__ = ("error", "fields", "message", "stream", "time")

    def __init__(
        self,
        message: bytes,
        fields: dict[str, Any] | None = None,
        stream: str | None = None,
        time: str | None = None,
        error: str | None = None,
    ) -> None:
        self.message = message  # the value sent without an envelope
        self.fields = fields  # parsed fields (json, regex)
        self.stream = stream
        self.time = time
        self.error = error


_raw_decode = json.JSONDecoder().raw_decode  # on str: twice as fast as json.loads(bytes)


def _loads(line: bytes) -> Any:
    """``json.loads(line)``, faster for the usual line (UTF-8, no surrounding whitespace)."""
    try:
        text = line.decode()
        value, end = _raw_decode(text)
        if end == len(text) or not text[end:].strip():
            return value
    except ValueError:
        pass
    return json.loads(line)  # the rare cases, and the right error message


def _parse_json(line: bytes) -> _Parsed:
    try:
        value = _loads(line)
    except ValueError as exc:
        return _Parsed(line, error=f"not JSON: {exc}")
    if not isinstance(value, dict):
        return _Parsed(line, error=f"not a JSON object (a {type(value).__name__})")
    return _Parsed(line, value)


def _regex_parser(pattern: str) -> Callable[[bytes], _Parsed]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigurationError(f"parser regex {pattern!r} is not valid: {exc}") from None
    if not regex.groupindex:
        raise ConfigurationError(f"parser regex {pattern!r} has no named group (?P<name>...)")
    search = regex.search

    def parse(line: bytes) -> _Parsed:
        match = search(line.decode("utf-8", "replace"))
        if match is None:
            return _Parsed(line, error="does not match the parser regex")
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        return _Parsed(json.dumps(fields, ensure_ascii=False).encode(), fields)

    return parse


def _parse_cri(line: bytes) -> _Parsed:
    pieces = line.split(b" ", 3)
    if len(pieces) < 3 or pieces[2] not in (b"F", b"P") or pieces[1] not in (b"stdout", b"stderr"):
        return _Parsed(line, error="not a CRI log line (<time> <stream> <P|F> <text>)")
    text = pieces[3] if len(pieces) > 3 else b""
    return _Parsed(text, stream=pieces[1].decode(), time=pieces[0].decode("utf-8", "replace"))


def _parse_docker(line: bytes) -> _Parsed:
    try:
        record = _loads(line)
    except ValueError as exc:
        return _Parsed(line, error=f"not a docker json-file record: {exc}")
    if not isinstance(record, dict) or not isinstance(record.get("log"), str):
        return _Parsed(line, error='not a docker json-file record (no "log" string)')
    text: str = record["log"]
    if text.endswith("\n"):
        text = text[:-1]
    stream, time = record.get("stream"), record.get("time")
    return _Parsed(
        text.encode(),
        stream=stream if isinstance(stream, str) else None,
        time=time if isinstance(time, str) else None,
    )


def parser_for(kind: str, pattern: str | None = None) -> Callable[[bytes], _Parsed]:
    """The parse function for a :class:`~streamline.Parser` kind (checked here)."""
    if kind == "regex":
        if not pattern:
            raise ConfigurationError("the regex parser needs a pattern with named groups")
        return _regex_parser(pattern)
    if pattern is not None:
        raise ConfigurationError(f"a pattern is only for the regex parser (not {kind})")
    parsers = {"json": _parse_json, "cri": _parse_cri, "docker": _parse_docker}
    if kind not in parsers:
        raise ConfigurationError(f"parser must be one of json, regex, cri, docker (got {kind!r})")
    return parsers[kind]


def _now() -> str:
    from datetime import datetime, timezone  # only for --envelope (datetime costs ~0.45 MB)

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordBuilder:
    """Turns a batch of one file's events into the records :meth:`Producer.submit_many` sends.

    ``items(batch)`` is given to the sink; counters ``invalid`` (events that did not parse)
    and ``skipped`` (of those, not sent) can be read any time.

        builder = RecordBuilder(InputSpec("app", ("app.log",), "logs", parser=Parser("json")))
        sink = TopicSink(producer, "logs", items=builder.items)
    """

    def __init__(self, spec: InputSpec, *, max_value_bytes: int = 1 << 20) -> None:
        metadata = spec.metadata
        unknown = [h for h in metadata.headers if h not in HEADER_NAMES]
        if unknown:
            raise ConfigurationError(
                f"unknown metadata header {unknown[0]!r}; use {', '.join(HEADER_NAMES)} (or fields)"
            )
        self.spec = spec
        self.parse = parser_for(spec.parser.kind, spec.parser.pattern) if spec.parser else None
        self.on_invalid = spec.parser.on_invalid if spec.parser else "send"
        if self.on_invalid not in ("send", "skip", "stop"):
            raise ConfigurationError(f"on_invalid must be send, skip or stop (got {self.on_invalid!r})")
        self.key = KeyTemplate(spec.key, input_name=spec.name) if spec.key else None
        self.headers = tuple(metadata.headers)
        self.fields = {str(k): str(v) for k, v in metadata.fields.items()}
        self.static_headers = [(k, v.encode()) for k, v in self.fields.items()]
        self.envelope = metadata.envelope
        self.max_value_bytes = max_value_bytes
        self.host = socket.gethostname()
        self._host = self.host.encode()
        self._input = spec.name.encode()
        self.invalid = 0
        self.skipped = 0

    @property
    def needs_offsets(self) -> bool:
        return self.envelope or "offset" in self.headers

    def items(self, batch: Any) -> list[Any]:
        origin = batch.origin
        path: str = origin.path
        lines: list[bytes] = batch.values
        offsets: Sequence[int] = origin.line_offsets() if self.needs_offsets else ()
        now = _now() if self.envelope else ""
        parse = self.parse
        header_plan = self._header_plan(path)
        key = self.key
        if parse is None:  # the value is the line (or its envelope): nothing can be invalid
            if self.envelope:
                values = self._plain_envelopes(lines, path, offsets, now)
            else:
                values = lines
            keys = [key.for_line(path, line) for line in lines] if key is not None else None
            if header_plan is None:
                return values if keys is None else list(zip(keys, values, strict=True))
            return self._columns(header_plan, values, keys, offsets)  # type: ignore[return-value]
        out: list[Any] = []
        for index, line in enumerate(lines):
            parsed = parse(line)
            if parsed.error is not None:
                self.invalid += 1
                if self.on_invalid == "skip":
                    self.skipped += 1
                    continue
                if self.on_invalid == "stop":
                    offset = (offsets or origin.line_offsets())[index]
                    raise ParseError(f"{path}: event at byte {offset} {parsed.error} (on_invalid=stop)")
            offset = offsets[index] if offsets else 0
            event_key = None if key is None else key.for_line(path, parsed.message)
            value = self._envelope(parsed, path, offset, now) if self.envelope else parsed.message
            headers = self._headers(header_plan, parsed, offset)
            if headers:
                out.append(Record(value, key=event_key, headers=headers))
            elif event_key is not None:
                out.append((event_key, value))
            else:
                out.append(value)
        return out

    def _header_plan(self, path: str) -> list[tuple[str, bytes | None]] | None:
        """The headers of one batch (one file): values known now, ``None`` for the per-event ones
        (offset, stream); ``None`` if there are no headers at all."""
        if not self.headers and not self.static_headers:
            return None
        known = {"host": self._host, "path": path.encode(), "input": self._input, "offset": None, "stream": None}
        plan: list[tuple[str, bytes | None]] = [(name, known[name]) for name in self.headers]
        plan.extend(self.static_headers)
        return plan

    @staticmethod
    def _columns(
        plan: list[tuple[str, bytes | None]], values: list[bytes], keys: list[bytes] | None, offsets: Sequence[int]
    ) -> RecordColumns:
        """The records of unparsed events as columns: only ``offset`` varies (there is no stream);
        the producer sends them without an object per record."""
        fixed = [(name, value) for name, value in plan if value is not None]
        at = next((i for i, (name, value) in enumerate(plan) if value is None and name == "offset"), None)
        if at is None:
            return RecordColumns(values, keys=keys, headers=fixed)
        varying = [b"%d" % offset for offset in offsets]
        return RecordColumns(values, keys=keys, headers=fixed, varying=("offset", varying, at))

    def _headers(
        self, plan: list[tuple[str, bytes | None]] | None, parsed: _Parsed, offset: int
    ) -> list[tuple[str, bytes]]:
        headers: list[tuple[str, bytes]] = []
        for name, value in plan or ():
            if value is not None:
                headers.append((name, value))
            elif name == "offset":
                headers.append(("offset", b"%d" % offset))
            elif parsed.stream is not None:
                headers.append(("stream", parsed.stream.encode()))
        if parsed.error is not None and not self.envelope:
            headers.append((PARSE_ERROR_HEADER, parsed.error.encode()))
        return headers

    def _plain_envelopes(self, lines: list[bytes], path: str, offsets: Sequence[int], now: str) -> list[bytes]:
        """The envelope of unparsed lines, built as text around each message (no dict per line);
        the same JSON as :meth:`_envelope`."""
        dumps = json.dumps
        head = dumps({"@timestamp": now, "host": self.host, "path": path})[:-1] + ', "offset": '
        middle = ", " + dumps({"input": self.spec.name, **self.fields})[1:-1] + ', "message": '
        limit = self.max_value_bytes
        out: list[bytes] = []
        for line, offset in zip(lines, offsets, strict=True):
            value = f"{head}{offset}{middle}{dumps(line.decode('utf-8', 'replace'), ensure_ascii=False)}}}".encode()
            if len(value) > limit:
                value = self._envelope(_Parsed(line), path, offset, now)
            out.append(value)
        return out

    def _envelope(self, parsed: _Parsed, path: str, offset: int, now: str) -> bytes:
        envelope: dict[str, Any] = {
            "@timestamp": parsed.time or now,
            "host": self.host,
            "path": path,
            "offset": offset,
            "input": self.spec.name,
        }
        envelope.update(self.fields)
        if parsed.stream is not None:
            envelope["stream"] = parsed.stream
        if parsed.error is not None:
            envelope["parse_error"] = parsed.error
        if parsed.fields is None:
            envelope["message"] = parsed.message.decode("utf-8", "replace")
        else:
            for name, field_value in parsed.fields.items():
                envelope.setdefault(name, field_value)  # metadata and static fields win
        value = json.dumps(envelope, ensure_ascii=False).encode()
        excess = len(value) - self.max_value_bytes
        if excess > 0 and "message" in envelope:  # escaping made it too long: cut the message
            envelope["message"] = envelope["message"][: max(0, len(envelope["message"]) - excess * 6 - 64)]
            envelope["truncated"] = True
            value = json.dumps(envelope, ensure_ascii=False).encode()
        return value
