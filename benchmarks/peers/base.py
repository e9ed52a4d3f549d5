"""What the peer cases share: sizes per scale, skip reasons, per-run ratios, the order of variants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .._support import Context, Row


@dataclass(frozen=True)
class PeerSizes:
    ship_lines: int = 300_000
    latency_rate: int = 1_000
    latency_seconds: float = 10.0
    produce_messages: int = 100_000
    consume_messages: int = 100_000

    @classmethod
    def of(cls, scale: str) -> PeerSizes:
        if scale == "smoke":
            return cls(ship_lines=5_000, latency_rate=200, latency_seconds=1.5, produce_messages=3_000,
                       consume_messages=3_000)
        if scale == "full":
            return cls(ship_lines=2_000_000, latency_seconds=30.0, produce_messages=300_000, consume_messages=400_000)
        return cls()


def label(name: str) -> str:
    """``streamline --once`` -> ``streamline-once``: the shipper in topic and directory names."""
    return key(name).replace("_", "-")


def key(name: str) -> str:
    """``streamline --once`` -> ``streamline_once``: the shipper's prefix in the result keys."""
    return re.sub(r"\W+", "_", name).strip("_")


class PeerCase:
    """What the three cases share: the scale, skip reasons, the order of the variants per run."""

    NAME = "peers"
    MAX_RUNS: int | None = None
    WHAT = ""

    def __init__(self) -> None:
        self.scale = "quick"
        #: peer name -> why it was not measured (reset by every measure()).
        self.skipped: dict[str, str] = {}
        self._runs = 0
        #: per-run ratios (streamline / peer), key -> one value per run, for the spread in the table.
        self.history: dict[str, list[float]] = {}

    def add_ratios(self, result: dict[str, float], pairs: list[tuple[str, str, str]]) -> None:
        """``result[name] = result[ours] / result[theirs]`` for each pair measured in this run."""
        for name, ours, theirs in pairs:
            if ours in result and theirs in result and result[theirs] > 0:
                result[name] = result[ours] / result[theirs]
                self.history.setdefault(name, []).append(result[name])

    def ratio(self, m: dict[str, float], name: str) -> str:
        """The median of the per-run ratios, with their range when there were several runs."""
        if name not in m:
            return "-"
        runs = self.history.get(name, [])
        spread = f" ({min(runs):.2f}-{max(runs):.2f})" if len(runs) > 1 else ""
        return f"{m[name]:.2f}x{spread}"

    def sizes(self, ctx: Context) -> PeerSizes:
        return PeerSizes.of("smoke" if ctx.smoke else self.scale)

    def ordered(self, items: list[Any]) -> list[Any]:
        """``items`` rotated by one more place each run."""
        self._runs += 1
        shift = (self._runs - 1) % max(1, len(items))
        return items[shift:] + items[:shift]

    def extra_report(self, m: dict[str, float]) -> dict[str, Any]:
        return {"skipped": dict(self.skipped)} if self.skipped else {}

    def skip_rows(self) -> list[Row]:
        return [Row(self.NAME, f"{name}: {self.WHAT}", f"skipped: {reason}", "-", "-", "reference", "skip")
                for name, reason in self.skipped.items()]
