"""Topic and key templates of an input, and how long a line may be to fit in one record.

Placeholders: ``{name}`` (file name), ``{path}``, ``{hostname}``, ``{input}`` (the input's name);
a key template also ``{field1}`` .. ``{field9}`` (whitespace-separated fields of the line, like
awk's ``$1``; missing fields are empty).
"""

from __future__ import annotations

import os
import re
import socket
import string
from collections.abc import Callable
from typing import Any

from .._errors import ConfigurationError
from .._validation import check_topic

_FILE_PLACEHOLDERS = {"path", "name", "hostname", "input"}
_FIELDS = {f"field{i}" for i in range(1, 10)}

#: Room a record needs besides its value: the record batch header (61 bytes), the record's
#: own header (up to ~25 bytes of varints and attributes), with margin.
RECORD_OVERHEAD = 512


def _placeholders(template: str, what: str) -> list[str]:
    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:  # "{field1" and the like
        raise ConfigurationError(f"{what} template {template!r} is not valid: {exc}") from None


class KeyTemplate:
    """A compiled key template; :meth:`for_line` gives one line's key.

        KeyTemplate("{hostname}-{field1}").for_line("/var/log/a.log", b"10.0.0.1 GET /")
    """

    def __init__(self, template: str, *, input_name: str = "", what: str = "--key") -> None:
        names = _placeholders(template, what)
        unknown = [n for n in names if n not in _FILE_PLACEHOLDERS | _FIELDS]
        if unknown:
            raise ConfigurationError(
                f"{what} template has unknown placeholder {{{unknown[0]}}}; use {{path}}, {{name}}, "
                "{hostname}, {input} or {field1}..{field9}"
            )
        self.template = template
        self.fields = sorted(int(n[5:]) for n in names if n.startswith("field"))
        self.host = socket.gethostname()
        self.input_name = input_name
        self._per_file: dict[str, bytes] = {}

    def _base(self, path: str) -> dict[str, str]:
        return {"path": path, "name": os.path.basename(path), "hostname": self.host, "input": self.input_name}

    def for_file(self, path: str) -> bytes:
        """The key of every line of ``path`` (a template without ``{fieldN}``)."""
        key = self._per_file.get(path)
        if key is None:
            if len(self._per_file) > 10_000:
                self._per_file.clear()
            key = self._per_file[path] = self.template.format(**self._base(path)).encode()
        return key

    def for_line(self, path: str, line: bytes) -> bytes:
        """The key of one line of ``path``."""
        if not self.fields:
            return self.for_file(path)
        values = self._base(path)
        parts = line.split(None, self.fields[-1])
        for i in self.fields:
            values[f"field{i}"] = parts[i - 1].decode("utf-8", "replace") if len(parts) >= i else ""
        return self.template.format(**values).encode()


def compile_key_template(template: str, *, input_name: str = "") -> Callable[[Any], list[Any]]:
    """Turn ``--key`` into a function from a batch of lines to ``(key, line)`` items."""
    key = KeyTemplate(template, input_name=input_name)
    if not key.fields:

        def constant_per_file(batch: Any) -> list[Any]:
            value = key.for_file(batch.origin.path)
            return [(value, line) for line in batch.values]

        return constant_per_file

    def per_line(batch: Any) -> list[Any]:
        path = batch.origin.path
        for_line = key.for_line
        return [(for_line(path, line), line) for line in batch.values]

    return per_line


_NOT_IN_TOPICS = re.compile(r"[^A-Za-z0-9._-]")


class TopicTemplate:
    """A topic name, or a template of one resolved per file (characters a topic name cannot
    hold, such as ``/`` in a path, become ``_``).

        TopicTemplate("logs-{name}").for_file("/var/log/nginx/access.log")   # "logs-access.log"
    """

    def __init__(self, template: str, *, input_name: str = "", what: str = "--topic") -> None:
        names = _placeholders(template, what)
        unknown = [n for n in names if n not in _FILE_PLACEHOLDERS]
        if unknown:
            raise ConfigurationError(
                f"{what} template has unknown placeholder {{{unknown[0]}}}; use {{path}}, {{name}}, "
                "{hostname} or {input}"
            )
        self.template = template
        self.constant = not names
        self.host = socket.gethostname()
        self.input_name = input_name
        if self.constant:
            check_topic(template)
        else:  # the fixed parts must be legal too
            check_topic(template.format(path="x", name="x", hostname="x", input="x"))
        self._per_file: dict[str, str] = {}

    def for_file(self, path: str) -> str:
        if self.constant:
            return self.template
        topic = self._per_file.get(path)
        if topic is None:
            name = self.template.format(
                path=path.strip("/"), name=os.path.basename(path), hostname=self.host, input=self.input_name
            )
            topic = _NOT_IN_TOPICS.sub("_", name)[:249]
            if len(self._per_file) > 10_000:
                self._per_file.clear()
            self._per_file[path] = topic
        return topic


def line_bytes_for(
    max_message_bytes: int, key_template: str | None, *, headers: bool = False, envelope: bool = False
) -> int:
    """The longest line (piece or event) that still fits in one record of ``max_message_bytes``.

    A key made of fields of the line can be as long as the line itself, so such a key halves
    the room; ``{path}``/``{name}``/``{hostname}`` keys take at most a path's length (4 KiB).
    Headers take up to a path's length again; an envelope repeats the path and escapes the
    line's text, so it halves the room too (an event that still does not fit after escaping
    has its message cut, see :mod:`streamline._ingest.records`).
    """
    room = max_message_bytes - RECORD_OVERHEAD
    if key_template:
        if "{field" in key_template:
            room = (room - 4096 - len(key_template)) // 2
        else:
            room -= 4096 + len(key_template)
    if headers:
        room -= 4096 + 512
    if envelope:
        room = (room - 4096 - 512) // 2
    return max(1, room)
