"""How ``streamline consume`` writes messages: one ``bytes`` block per fetched batch.

Every format renders a whole batch at once (no per-message ``print``/``flush``): ``text`` (the
tutorial's line), ``json`` (one object per line), ``value`` (the raw value bytes per line) or a
template with ``{placeholder}`` fields (:data:`FIELDS`).

Keys and values are spliced in as the bytes they are, with one ``%`` format per line, and the
block is checked once: valid UTF-8, and for JSON nothing that json would escape. A batch that
fails the check (or has headers, null values, ...) takes the general path, message by message
through json's encoder or ``str.format_map``; both write the same bytes (tests/cli/test_consume_format.py).
"""

from __future__ import annotations

import base64
import json
import json.encoder
import string
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from operator import attrgetter
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
    if not blob.isascii():  # ASCII is valid UTF-8; only other blocks need decoding to tell
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
    # Byte for byte what json.dumps(..., ensure_ascii=False) writes (see the unit tests), at a
    # fraction of the cost per message: bytes spliced in as they are when nothing in the batch
    # needs escaping (checked once for the whole block), else each string through json's encoder.
    if not batch:
        return b""
    blob = _render_json_plain(batch)
    return blob if blob is not None else _render_json_escaped(batch)


class _Tails(dict[int, bytes]):
    """``, "headers": [], "timestamp": T, "timestamp_iso": "..."}\n`` per timestamp, made once:
    a batch's messages often share their millisecond, a run its seconds."""

    def __missing__(self, millis: int) -> bytes:
        if len(self) >= 65_536:
            self.clear()
        tail = self[millis] = f', "headers": [], "timestamp": {millis}, "timestamp_iso": "{iso_time(millis)}"}}\n'.encode()
        return tail


_tails = _Tails()
# What json's encoder escapes in a string (every control character, the quote, the backslash).
_ESCAPED = bytes(range(32)) + b'"\\'
_key_of, _value_of = attrgetter("key"), attrgetter("value")


def _render_json_plain(batch: Sequence[Any]) -> bytes | None:
    """The block for a batch of messages without headers, with a value each, and keys all null
    or all present, where no key or value needs a JSON escape; None for any other batch."""
    first = batch[0]
    head = f'{{"topic": {_quote(first.topic)}, "partition": {first.partition}, "offset": '.encode()
    keyed = first.key is not None
    line = head.replace(b"%", b"%%") + (b'%d, "key": "%s", "value": "%s"%s' if keyed else b'%d, "key": null, "value": "%s"%s')
    tails = _tails
    try:  # a null value (or key, when keyed) raises TypeError: bytes are formatted, not None
        if keyed:
            rows = [line % (m.offset, m.key, m.value, tails[m.timestamp]) for m in batch if not m.headers]
        else:
            rows = [line % (m.offset, m.value, tails[m.timestamp]) for m in batch if m.key is None and not m.headers]
    except TypeError:
        return None
    if len(rows) != len(batch):
        return None
    # A key or value with a quote, a backslash or a control character needs escaping (these are
    # single ASCII bytes, never part of a UTF-8 sequence, so the joined bytes tell).
    fields = b"".join(map(_value_of, batch))
    if keyed:
        fields += b"".join(map(_key_of, batch))
    if len(fields.translate(None, _ESCAPED)) != len(fields):
        return None
    blob = b"".join(rows)
    # Non-ASCII must be valid UTF-8: in the block, fields are separated by ASCII quotes, so it is
    # valid exactly when every key and value is.
    if not fields.isascii():
        try:
            blob.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return blob


def _render_json_escaped(batch: Sequence[Any]) -> bytes:
    """Every key, value and header through json's own string encoder (the general case)."""
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
        else:
            if value and value[:1] in _JSON_OPENERS:
                v = _nested_json(value) or v
        h = _encode_json([[name, encode_bytes(data)] for name, data in m.headers]) if m.headers else "[]"
        lines.append(
            f'{head}{m.offset}, "key": {k}, '
            f'"value": {v}, "headers": {h}, "timestamp": {m.timestamp}, "timestamp_iso": "{last_iso}"}}\n'
        )
    return "".join(lines).encode("utf-8")


#: First bytes of a value that may be a JSON object or array (printed nested, not as a string).
_JSON_OPENERS = (b"{", b"[")


def _nested_json(value: bytes) -> str | None:
    """A value that is a JSON object or array, as compact one-line JSON (None: it is not).

    ``consume --format json`` nests such values (``"value": {"id": 7}``) instead of quoting
    them; ``produce --format json`` accepts them back (re-encoded compactly)."""
    import orjson  # only once a value looks like JSON: start-up stays free of it

    try:
        return orjson.dumps(orjson.loads(value)).decode("utf-8")
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None


def render_value(batch: Sequence[Any]) -> bytes:
    values = [m.value if m.value is not None else b"" for m in batch]
    values.append(b"")
    return b"\n".join(values)


#: A message's fields as a template sees them (types only): checks a template's format specs.
_SAMPLE = {
    "topic": "t", "partition": 0, "offset": 0, "key": "", "value": "", "timestamp": 0,
    "timestamp_iso": "1970-01-01T00:00:00.000Z", "headers": "",
}


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
    line = template + "\n"
    try:  # a conversion or format spec that cannot apply to its field ({value:d}): said now
        line.format_map(_SAMPLE)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bad --format template {template!r}: {exc}") from None
    compiled = _compile_template(template)
    wanted = set(names)

    def render_each(batch: Sequence[Any]) -> bytes:
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

    if compiled is None:
        return render_each

    def render(batch: Sequence[Any]) -> bytes:
        if not batch:
            return b""
        first = batch[0]
        rows = compiled[1](batch, compiled[0], first.topic.encode(), first.partition, _isos)
        if len(rows) != len(batch):
            return render_each(batch)  # a batch with headers
        blob = b"".join(rows)
        if not blob.isascii():
            try:  # keys and values are spliced raw: invalid UTF-8 is replaced the slow way
                blob.decode("utf-8")
            except UnicodeDecodeError:
                return render_each(batch)
        return blob

    return render


class _Isos(dict[int, bytes]):
    """ISO-8601 times as bytes, made once per millisecond value (bounded)."""

    def __missing__(self, millis: int) -> bytes:
        if len(self) >= 65_536:
            self.clear()
        iso = self[millis] = iso_time(millis).encode()
        return iso


_isos = _Isos()
# How a template field is formatted in the compiled form: the % conversion, and the expression
# for message ``m`` (topic, partition and the ISO-time cache are arguments of the function).
_COMPILED_FIELDS = {
    "topic": (b"%s", "topic"),
    "partition": (b"%d", "partition"),
    "offset": (b"%d", "m.offset"),
    "key": (b"%s", "(m.key or b'')"),
    "value": (b"%s", "(m.value or b'')"),
    "timestamp": (b"%d", "m.timestamp"),
    "timestamp_iso": (b"%s", "isos[m.timestamp]"),
    "headers": (b"", ""),  # only while every message has none: then it is empty
}
_Rows = Callable[[Sequence[Any], bytes, bytes, int, dict[int, bytes]], list[bytes]]


def _compile_template(template: str) -> tuple[bytes, _Rows] | None:
    """A ``%`` format and a function making every message's line with it, or None where the
    general renderer must do it: format specs or conversions (``{offset:>8}``, ``{key!r}``), or
    two raw fields side by side (``{key}{value}``: invalid UTF-8 could not be told apart)."""
    line = b""
    exprs: list[str] = []
    headers = False
    raw_last = False  # the line so far ends with a key or value
    try:
        for literal, name, spec, conversion in string.Formatter().parse(template + "\n"):
            if literal:
                line += literal.encode("utf-8").replace(b"%", b"%%")
                raw_last = False
            if name is None:
                continue
            if spec or conversion:
                return None
            raw = name in ("key", "value")
            if raw and raw_last:
                return None
            raw_last = raw
            conv, expr = _COMPILED_FIELDS[name]
            line += conv
            if expr:
                exprs.append(expr)
            headers = headers or name == "headers"
    except UnicodeEncodeError:
        return None
    # Generated from the fixed table above only (the template's text is in `line`, not code).
    keep = " if not m.headers" if headers else ""
    args = f"({', '.join(exprs)},)" if exprs else "()"
    source = f"lambda batch, line, topic, partition, isos: [line % {args} for m in batch{keep}]"
    rows: _Rows = eval(source, {})
    return line, rows


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
