"""Reading one table of the agent's config file: known keys, expected types, one-line errors.

Every error names the file, the key path and what was expected::

    agent.toml: inputs[2].multiline.pattern: not a valid regular expression: missing ), ... (at position 7)

Key paths are written like ``kafka.acks`` and ``inputs[0].paths[1]`` (list indices from 0).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigurationError


class AgentConfigError(ConfigurationError):
    """A mistake in the agent's config file: one line naming the file, the key path and the rule.

        try:
            load_agent_config("agent.toml")
        except AgentConfigError as exc:
            print(exc)  # agent.toml: inputs[0].topc: unknown key; did you mean 'topic'?
    """


def type_name(value: object) -> str:
    """What a TOML value is, in TOML's words (``a string``, ``an integer``, ``a table``...)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"  # dates and times


def shown(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    if isinstance(value, Mapping):
        return "a table"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """One TOML table at ``key`` in ``file``; reads typed values and reports mistakes.

        table = Table("agent.toml", "kafka", data["kafka"], allowed=("acks", "compression"))
        acks = table.string("acks", default="all")
    """

    def __init__(self, file: str, key: str, data: object, *, allowed: Sequence[str]) -> None:
        self.file = file
        self.key = key
        if not isinstance(data, Mapping):
            raise self.error(f"expected a table (got {type_name(data)})", key)
        self.data: Mapping[str, Any] = data
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(allowed)}"
                raise self.error(f"unknown key{hint}", self.path(name))

    def path(self, name: str) -> str:
        """The key path of ``name`` in this table."""
        return f"{self.key}.{name}" if self.key else name

    def error(self, message: str, key: str | None = None) -> AgentConfigError:
        """The error for ``key`` (this table by default)."""
        where = key if key is not None else self.key
        return AgentConfigError(f"{self.file}: {where}: {message}" if where else f"{self.file}: {message}")

    def has(self, name: str) -> bool:
        return name in self.data

    def _expect(self, name: str, what: str) -> AgentConfigError:
        value = self.data[name]
        return self.error(f"expected {what} (got {type_name(value)} {shown(value)})", self.path(name))

    def string(self, name: str, default: Any = None, *, choices: Sequence[str] | None = None) -> Any:
        """A string (one of ``choices`` when given), or ``default`` when the key is absent."""
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, str):
            raise self._expect(name, "one of " + ", ".join(repr(c) for c in choices) if choices else "a string")
        if choices is not None and value not in choices:
            raise self.error(
                f"expected one of {', '.join(repr(c) for c in choices)} (got {value!r})", self.path(name)
            )
        return value

    def nonempty(self, name: str, default: Any = None) -> Any:
        """A string that is not empty."""
        value = self.string(name, default)
        if value == "":
            raise self.error("expected a non-empty string", self.path(name))
        return value

    def boolean(self, name: str, default: bool) -> bool:
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, bool):
            raise self._expect(name, "true or false")
        return value

    def integer(self, name: str, default: Any, *, minimum: int | None = None) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        rule = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._expect(name, rule)
        if minimum is not None and value < minimum:
            raise self.error(f"expected {rule} (got {value})", self.path(name))
        return value

    def number(self, name: str, default: Any, *, minimum: float | None = None, above: float | None = None) -> Any:
        """An integer or a float (seconds and the like), in range."""
        if name not in self.data:
            return default
        value = self.data[name]
        rule = "a number" + (f" >= {minimum:g}" if minimum is not None else "") + (
            f" > {above:g}" if above is not None else ""
        )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._expect(name, rule)
        if (minimum is not None and value < minimum) or (above is not None and value <= above):
            raise self.error(f"expected {rule} (got {value:g})", self.path(name))
        return float(value)

    def strings(self, name: str, default: Any = (), *, required: bool = False) -> tuple[str, ...]:
        """An array of non-empty strings (a single string is taken as an array of one)."""
        if name not in self.data:
            if required:
                raise self.error("missing; expected an array of strings", self.path(name))
            return tuple(default)
        value = self.data[name]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self._expect(name, "an array of strings")
        if required and not value:
            raise self.error("expected at least one entry (got an empty array)", self.path(name))
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise self.error(
                    f"expected a non-empty string (got {type_name(item)} {shown(item)})", f"{self.path(name)}[{i}]"
                )
        return tuple(value)

    def table(self, name: str, *, allowed: Sequence[str]) -> Table | None:
        """The sub-table ``name``, or None when absent."""
        if name not in self.data:
            return None
        return Table(self.file, self.path(name), self.data[name], allowed=allowed)

    def require(self, name: str, what: str) -> None:
        if name not in self.data:
            raise self.error(f"missing; expected {what}", self.path(name))
