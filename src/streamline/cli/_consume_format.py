"""How ``streamline consume`` writes messages: one ``bytes`` block per fetched batch.

Every format renders a whole batch at once (no per-message ``print``/``flush``): ``text`` (the
tutorial's line), ``json`` (one object per line), ``value`` (the raw value bytes per line) or a
template with ``{placeholder}`` fields (:data:`FIELDS`).
"""

from __future__ import annotations

import base64
import json
import json.encoder
import string
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

#: The placeholders a ``--format`` template may use, and what each shows.
FIELDS: dict[str, str] = {
    "topic": "topic name",
    "partition": "partition number",
    "offset": "offset",
    "key": "key as UTF-8 text (empty when null)",
    "value": "value as UTF-8 text (empty when null)",
    "timestamp": "milliseconds since the epoch",
    "timestamp_iso": "ISO-8601 time in UTC, e.g. 2024-05-01T12:00:00.123Z",
    "headers": "headers as name=value, comma-separated",
}

#: Renders one batch of messages to the bytes written to standard output.
Render = Callable[[Sequence[Any]], bytes]

_encode_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_quote: Callable[[str], str] = json.encoder.encode_basestring
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def encode_bytes(data: bytes | None) -> Any:
    """JSON for bytes, lossless: a string when valid UTF-8, else ``{"base64": "..."}``; null for None."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def iso_time(millis: int) -> str:
    """``2024-05-01T12:00:00.123Z`` for milliseconds since the epoch (UTC)."""
    from datetime import timedelta

    return (_EPOCH + timedelta(milliseconds=millis)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data is not None else ""


def render_text(batch: Sequence[Any]) -> bytes:
    if not batch:
        return b""
    # Bytes first, checked once as a whole: fields are separated by ASCII, so the block is valid
    # UTF-8 exactly when every key and value is; otherwise decode each with replacement.
    line = b"Partition:%d Offset:" % batch[0].partition + b"%d Key:%s Value:%s\n"
    blob = b"".join([line % (m.offset, m.key or b"", m.value or b"") for m in batch])
    try:
        blob.decode("utf-8")
    except UnicodeDecodeError:
        return _render_text_replacing(batch)
    return blob


def _render_text_replacing(batch: Sequence[Any]) -> bytes:
    return "".join(
        [
            f"Partition:{m.partition} Offset:{m.offset} "
            f"Key:{m.key.decode('utf-8', 'replace') if m.key is not None else ''} "
            f"Value:{m.value.decode('utf-8', 'replace') if m.value is not None else ''}\n"
            for m in batch
        ]
    ).encode("utf-8")


def render_json(batch: Sequence[Any]) -> bytes:
    # Written out by hand with json's own string encoder: byte for byte what json.dumps(...,
    # ensure_ascii=False) writes (see the unit test), at a fraction of the cost per message.
    if not batch:
        return b""
    quote = _quote
    first = batch[0]  # a batch holds one partition: topic and partition are written once
    head = f'{{"topic": {quote(first.topic)}, "partition": {first.partition}, "offset": '
    lines = []
    last_ms, last_iso = -1, ""
    for m in batch:
        if m.timestamp != last_ms:  # a batch often shares its timestamps: format each once
            last_ms, last_iso = m.timestamp, iso_time(m.timestamp)
        key, value = m.key, m.value
        try:
            k = "null" if key is None else quote(key.decode("utf-8"))
        except UnicodeDecodeError:
            k = _encode_json(encode_bytes(key))
        try:
            v = "null" if value is None else quote(value.decode("utf-8"))
        except UnicodeDecodeError:
            v = _encode_json(encode_bytes(value))
        h = _encode_json([[name, encode_bytes(data)] for name, data in m.headers]) if m.headers else "[]"
        lines.append(
            f'{head}{m.offset}, "key": {k}, '
            f'"value": {v}, "headers": {h}, "timestamp": {m.timestamp}, "timestamp_iso": "{last_iso}"}}\n'
        )
    return "".join(lines).encode("utf-8")


def render_value(batch: Sequence[Any]) -> bytes:
    values = [m.value if m.value is not None else b"" for m in batch]
    values.append(b"")
    return b"\n".join(values)


def template_renderer(template: str) -> Render:
    """A renderer for a ``{field}`` template; ``ValueError`` names an unknown or malformed field."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"bad --format template {template!r}: {exc}") from None
    for name in names:
        if name not in FIELDS:
            raise ValueError(
                f"unknown --format field {{{name}}}: use text, json, value or a template "
                f"with {', '.join('{' + f + '}' for f in FIELDS)}"
            )
    wanted = set(names)
    line = template + "\n"

    def render(batch: Sequence[Any]) -> bytes:
        out = []
        for m in batch:
            fields: dict[str, Any] = {"topic": m.topic, "partition": m.partition, "offset": m.offset}
            if "key" in wanted:
                fields["key"] = _text(m.key)
            if "value" in wanted:
                fields["value"] = _text(m.value)
            if "timestamp" in wanted:
                fields["timestamp"] = m.timestamp
            if "timestamp_iso" in wanted:
                fields["timestamp_iso"] = iso_time(m.timestamp)
            if "headers" in wanted:
                fields["headers"] = ",".join(f"{name}={_text(value)}" for name, value in m.headers)
            out.append(line.format_map(fields))
        return "".join(out).encode("utf-8")

    return render


def renderer(output: str) -> Render:
    """The renderer for ``--format``: text, json, value or a template (``ValueError`` if bad)."""
    fixed = {"text": render_text, "json": render_json, "value": render_value}
    if output in fixed:
        return fixed[output]
    if "{" not in output:
        raise ValueError(
            f"--format must be text, json, value or a template with {{fields}} (got {output!r})"
        )
    return template_renderer(output)


def text_renderer(*, key: bool = True, timestamp: bool = False, headers: bool = False) -> Render:
    """The text format with the key, the timestamp and the headers shown or not:
    ``Partition:P Offset:O [Timestamp:T] [Key:K] [Headers:h=v,...] Value:V``."""
    if key and not timestamp and not headers:
        return render_text

    def render(batch: Sequence[Any]) -> bytes:
        out = []
        for m in batch:
            line = f"Partition:{m.partition} Offset:{m.offset} "
            if timestamp:
                line += f"Timestamp:{iso_time(m.timestamp)} "
            if key:
                line += f"Key:{_text(m.key)} "
            if headers:
                line += "Headers:" + ",".join(f"{name}={_text(value)}" for name, value in m.headers) + " "
            out.append(f"{line}Value:{_text(m.value)}\n")
        return "".join(out).encode("utf-8")

    return render
