"""Checks applied to user input before any network call; each failure is one clear line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._errors import ConfigurationError

TOPIC_RULE = "topic names are 1-249 characters of a-z, A-Z, 0-9, '.', '_', '-' and not '.' or '..'"
_TOPIC_RE = re.compile(r"[a-zA-Z0-9._-]{1,249}")

Acks = Literal[0, 1, "all"]
ACKS: tuple[Acks, ...] = (0, 1, "all")
#: Partitioner names: key hashes of Java ("hash" = "murmur2"), librdkafka ("consistent_random") and
#: sarama ("fnv1a"), then the key-blind ones.
PARTITIONERS = ("hash", "murmur2", "consistent_random", "fnv1a", "random", "round_robin")
COMPRESSIONS = ("gzip", "snappy", "lz4", "zstd")
START_END = ("end", "latest", "newest")
START_BEGINNING = ("beginning", "earliest", "oldest")

#: Where a consumer starts: ``"end"``, ``"beginning"``, an offset for every partition, or a time.
if TYPE_CHECKING:
    from datetime import datetime

    Start = str | int | datetime

Bytesish = bytes | bytearray | memoryview | str


def check_topic(topic: object) -> str:
    """Return ``topic`` if it is a legal Kafka topic name, else raise :class:`ConfigurationError`."""
    if not isinstance(topic, str):
        raise ConfigurationError(f"topic must be a string (got {type(topic).__name__}); {TOPIC_RULE}")
    if topic in (".", "..") or not _TOPIC_RE.fullmatch(topic):
        raise ConfigurationError(f"invalid topic name {topic!r}: {TOPIC_RULE}")
    return topic


def check_topics(topics: str | Iterable[str]) -> list[str]:
    """Accept one topic or several; validate each; reject an empty list."""
    names = [topics] if isinstance(topics, str) else list(topics)
    if not names:
        raise ConfigurationError("at least one topic is required")
    return [check_topic(t) for t in names]


def check_acks(acks: object) -> Acks:
    """Normalise ``acks``: ``0``, ``1`` or ``"all"`` (also ``"0"``, ``"1"``, ``-1``)."""
    normal = {0: 0, 1: 1, -1: "all", "0": 0, "1": 1, "-1": "all", "all": "all"}
    key = acks.lower() if isinstance(acks, str) else acks
    if isinstance(key, bool) or key not in normal:  # True == 1 in Python; refuse it
        raise ConfigurationError(f"acks must be one of 0, 1, 'all' (got {acks!r})")
    return normal[key]  # type: ignore[return-value]


def check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    """Reject a value not in ``allowed``, listing what is allowed."""
    if not isinstance(value, str) or value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def check_compression(compression: str | None) -> str | None:
    """``None`` or one of Kafka's codecs."""
    if compression is None or compression == "none":
        return None
    return check_choice("compression", compression, COMPRESSIONS)


def check_partition(partition: object) -> int | None:
    """An explicit partition must be a non-negative int."""
    if partition is None:
        return None
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ConfigurationError(f"partition must be a non-negative integer (got {partition!r})")
    return partition


def parse_start(start: Start) -> str | int | datetime:
    """Normalise a consumer start position.

    Returns ``"end"``, ``"beginning"``, a non-negative ``int`` offset, or an aware ``datetime``.
    Strings holding digits are offsets; ISO-8601 strings are times. A time without a zone is
    local time (Python's rule for naive datetimes); times before 1970 are refused (Kafka
    timestamps start there).

    >>> parse_start("latest"), parse_start("oldest"), parse_start("42")
    ('end', 'beginning', 42)
    """
    from datetime import datetime

    allowed = "end (latest, newest), beginning (earliest, oldest), an offset >= 0, or an ISO-8601 time"
    if isinstance(start, datetime):
        return _after_epoch(start)
    if isinstance(start, bool):
        raise ConfigurationError(f"start must be one of {allowed} (got {start!r})")
    if isinstance(start, int):
        if start < 0:
            raise ConfigurationError(f"start offset must be >= 0 (got {start})")
        return start
    if isinstance(start, str):
        text = start.strip().lower()
        if text in START_END:
            return "end"
        if text in START_BEGINNING:
            return "beginning"
        if text.isdigit():
            return int(text)
        if text.startswith("-") and text[1:].isdigit():
            raise ConfigurationError(f"start offset must be >= 0 (got {start})")
        try:
            when = datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return _after_epoch(when)
    raise ConfigurationError(f"start must be one of {allowed} (got {start!r})")


def _after_epoch(when: datetime, name: str = "start time") -> datetime:
    """An aware time (naive means local time) at or after 1970-01-01 UTC."""
    try:
        aware = when if when.tzinfo else when.astimezone()
        seconds = aware.timestamp()
    except (OverflowError, OSError, ValueError):
        seconds = -1.0
    if seconds < 0:
        raise ConfigurationError(f"{name} {when.isoformat()} is before 1970-01-01 UTC (Kafka timestamps start there)")
    return aware


def to_bytes(value: Bytesish | None, what: str) -> bytes | None:
    """``str`` becomes UTF-8; bytes-like stays; anything else is a clear error."""
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ConfigurationError(f"{what} must be bytes or str (got {type(value).__name__})")


def check_headers(
    headers: Iterable[tuple[str, Bytesish]] | dict[str, Bytesish] | None,
) -> list[tuple[str, bytes]] | None:
    """Headers as ``[(name, bytes)]`` from a dict or pairs; names are non-empty strings."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    result: list[tuple[str, bytes]] = []
    try:
        for name, value in items:
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"header names must be non-empty strings (got {name!r})")
            result.append((name, to_bytes(value, f"header {name!r}") or b""))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(
            "headers must be a dict or a list of (name, value) pairs"
        ) from None
    return result


def parse_header_arg(text: str) -> tuple[str, bytes]:
    """Parse a CLI ``--header key=value``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ConfigurationError(f"header {text!r} must look like key=value")
    return name, value.encode("utf-8")


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    allow_none: bool = False,
) -> Any:
    """The one check for numeric options: a number (an ``int`` when ``integer``) in range.

    >>> check_number("linger_ms", 5, minimum=0, integer=True)
    5
    >>> check_number("tick_interval", 0, above=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    streamline.ConfigurationError: tick_interval must be a number > 0 (got 0)

    ``minimum`` is inclusive, ``above`` exclusive. ``bool`` is refused (``True == 1`` in Python).
    Raises :class:`ConfigurationError` with one line naming the option and the rule.
    """
    if value is None and allow_none:
        return None
    kind = "an integer" if integer else "a number"
    rules = []
    if minimum is not None:
        rules.append(f">= {minimum:g}")
    if above is not None:
        rules.append(f"> {above:g}")
    if maximum is not None:
        rules.append(f"<= {maximum:g}")
    rule = f"{name} must be {kind}" + (f" {' and '.join(rules)}" if rules else "")
    types: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, types) or value != value:  # NaN != NaN
        raise ConfigurationError(f"{rule} (got {value!r})")
    number = float(value)  # type: ignore[arg-type]  # checked just above
    if (
        (minimum is not None and number < minimum)
        or (above is not None and number <= above)
        or (maximum is not None and number > maximum)
    ):
        raise ConfigurationError(f"{rule} (got {value!r})")
    return value


def check_time(when: object, name: str = "time") -> datetime:
    """An aware ``datetime`` from a ``datetime`` or an ISO-8601 string; naive times are local time.

    Naive times follow Python's rule (``datetime.timestamp()``): they mean the machine's local
    time. Kafka timestamps start at 1970, so earlier times are refused.

    >>> check_time("2026-01-02T03:04:05Z").isoformat()
    '2026-01-02T03:04:05+00:00'
    """
    from datetime import datetime

    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(
                f"{name} must be an ISO-8601 time such as 2026-01-31T12:00:00Z (got {when!r})"
            ) from None
    if not isinstance(when, datetime):
        raise ConfigurationError(f"{name} must be a datetime or an ISO-8601 string (got {when!r})")
    return _after_epoch(when, name)


def __getattr__(name: str) -> Any:
    # ``Start`` names datetime, imported on first use: a shipper never parses a time (~0.45 MB).
    if name == "Start":
        from datetime import datetime

        return str | int | datetime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
