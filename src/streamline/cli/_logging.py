"""Logging for the command line: one format, one level, and aiokafka's floods condensed.

A library does not configure logging (``streamline`` only has a ``NullHandler``); the CLI does:
``--log-level`` / ``STREAMLINE_LOG_LEVEL`` (default ``warning``) and ``--log-format text|json``.
aiokafka repeats the same warning hundreds of times while a broker is away; each distinct
message passes at most once per interval, followed later by how many were held back.
"""

from __future__ import annotations

import json
import logging
import sys
import time

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")
#: Seconds during which a repeated aiokafka message is shown once.
CONDENSE_INTERVAL = 10.0


class Condense(logging.Filter):
    """Let each distinct message (by logger and template) through once per ``interval``; the
    next one after that says how many were held back."""

    def __init__(self, interval: float = CONDENSE_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        shown_at, held = self._seen.get(key, (-1e18, 0))
        if now - shown_at < self.interval:
            self._seen[key] = (shown_at, held + 1)
            return False
        if held:
            record.msg = f"{record.msg} (repeated {held} more time{'s' if held != 1 else ''} in {self.interval:g}s)"
        self._seen[key] = (now, 0)
        if len(self._seen) > 1000:  # a message with changing text must not grow this forever
            self._seen.clear()
        return True


class TextFormatter(logging.Formatter):
    """``streamline: message`` (``streamline: aiokafka: message`` for aiokafka's)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
        source = "" if record.name.startswith("streamline") else f"{record.name.split('.')[0]}: "
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"streamline: {level}{source}{text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, after clearing a status line drawn on the same terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        from ._pipelines import clear_status_line

        clear_status_line()
        super().emit(record)


_handler: logging.Handler | None = None


def configure(level: str | None = None, fmt: str = "text", *, debug: bool = False) -> None:
    """Send streamline's (and, when asked for, aiokafka's condensed) log records to stderr.

    ``level`` None: warnings of streamline; aiokafka stays quiet, since streamline reports the
    same failures in its own one-line messages. An explicit level applies to aiokafka too.
    """
    global _handler
    chosen = (level or ("debug" if debug else "warning")).lower()
    if chosen not in LEVELS:
        from .._errors import ConfigurationError

        raise ConfigurationError(f"log level must be one of {', '.join(LEVELS)} (got {level!r})")
    if fmt not in FORMATS:
        from .._errors import ConfigurationError

        raise ConfigurationError(f"log format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    numeric = getattr(logging, chosen.upper())
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _Handler(sys.stderr)
    _handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(_handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("streamline").setLevel(numeric)
    kafka = logging.getLogger("aiokafka")
    kafka.setLevel(numeric if (level is not None or debug) else logging.CRITICAL + 1)
    for existing in list(kafka.filters):
        if isinstance(existing, Condense):
            kafka.removeFilter(existing)
    if not debug:
        kafka.addFilter(Condense())
