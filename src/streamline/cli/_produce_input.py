"""How ``streamline produce`` reads standard input records: delimiters, key separators,
tombstones and JSON lines. A parser raises ``ValueError`` for a bad record (the caller names the
line number and stops there)."""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from collections.abc import Callable
from typing import Any

from .._models import Record

#: ``parse(record, key, headers, partition)`` -> a Record, or None for an empty record to skip.
Parser = Callable[[bytes, "bytes | None", Any, "int | None"], "Record | None"]

JSON_FIELDS = ("value", "key", "headers", "partition", "timestamp")
#: What ``consume --format json`` writes besides: accepted (so its output can be replayed), ignored.
IGNORED_FIELDS = ("topic", "offset", "timestamp_iso")


def parse_delimiter(text: str) -> bytes:
    """``--delimiter`` with backslash escapes (``\\n``, ``\\0``, ``\\t``, ``\\r\\n``) as bytes."""
    try:
        delim = codecs.decode(text.encode("utf-8"), "unicode_escape").encode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError, ValueError):
        raise ValueError(f"--delimiter {text!r} has a bad escape") from None
    if not delim:
        raise ValueError("--delimiter must not be empty")
    return delim


def record_parser(
    input_format: str, *, key_separator: str | None, null: bool, key: str | None
) -> Parser | None:
    """The parser for these options; None when records are plain values (the fast path)."""
    if input_format not in ("text", "json"):
        raise ValueError(f"--format must be text or json (got {input_format!r})")
    if input_format == "json":
        if key_separator is not None:
            raise ValueError("--key-separator reads text lines; drop it with --format json")
        return _json_record
    if key_separator is not None:
        if not key_separator:
            raise ValueError("--key-separator must not be empty")
        if key is not None:
            raise ValueError("--key and --key-separator both give the key; use one")
        sep = key_separator.encode("utf-8")

        def keyed(raw: bytes, _key: bytes | None, headers: Any, partition: int | None) -> Record | None:
            if not raw:
                return None
            k, found, v = raw.partition(sep)
            if not found:
                raise ValueError(f"no key separator {key_separator!r}")
            return Record(v if v or not null else None, key=k, headers=headers, partition=partition)

        return keyed
    if null:
        def tombstones(raw: bytes, key: bytes | None, headers: Any, partition: int | None) -> Record | None:
            return Record(raw or None, key=key, headers=headers, partition=partition)

        return tombstones
    return None


def _json_record(raw: bytes, key: bytes | None, headers: Any, partition: int | None) -> Record | None:
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, and bytes that are not UTF-8
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = [name for name in obj if name not in JSON_FIELDS and name not in IGNORED_FIELDS]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (use {', '.join(JSON_FIELDS)})")
    if "value" not in obj:
        raise ValueError('no "value" (null for a tombstone)')
    part = obj.get("partition", partition)
    if part is not None and (isinstance(part, bool) or not isinstance(part, int) or part < 0):
        raise ValueError(f'"partition" must be a number >= 0 (got {part!r})')
    stamp = obj.get("timestamp")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0):
        raise ValueError(f'"timestamp" must be milliseconds since the epoch (got {stamp!r})')
    value = obj["value"]
    return Record(
        _json_value(value) if isinstance(value, (dict, list)) and not _is_base64(value) else _bytes(value, "value"),
        key=_bytes(obj["key"], "key") if "key" in obj else key,
        headers=_headers(obj["headers"]) if "headers" in obj else headers,
        partition=part,
        timestamp_ms=stamp,
    )


def _is_base64(data: Any) -> bool:
    return isinstance(data, dict) and list(data) == ["base64"]


def _json_value(data: Any) -> bytes:
    """A nested JSON value (object or array, as ``consume -f json`` prints JSON values) as
    compact JSON bytes."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _bytes(data: Any, what: str) -> bytes | None:
    """A string (UTF-8), null, or ``{"base64": "..."}`` as bytes."""
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, dict) and list(data) == ["base64"] and isinstance(data["base64"], str):
        try:
            return base64.b64decode(data["base64"], validate=True)
        except binascii.Error:
            raise ValueError(f'"{what}" has invalid base64') from None
    raise ValueError(f'"{what}" must be a string, null or {{"base64": "..."}} (got {json.dumps(data)})')


def _headers(data: Any) -> list[tuple[str, bytes]] | None:
    """``{"name": "value"}`` or ``[["name", "value"], ...]`` (as ``consume -f json`` writes)."""
    pairs = data.items() if isinstance(data, dict) else data
    if not isinstance(data, (dict, list)):
        raise ValueError('"headers" must be an object or a list of [name, value] pairs')
    result: list[tuple[str, bytes]] = []
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) and pair[0]):
            raise ValueError(f'"headers" entries must be [name, value] with a non-empty name (got {pair!r})')
        result.append((pair[0], _bytes(pair[1], f"header {pair[0]}") or b""))
    return result or None
