"""Helpers for the metrics tests: scrape an endpoint and parse it with prometheus_client's parser."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from streamline._metrics import REGISTRY  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """``(status, body)`` of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of an exposition: ``{name: {sorted labels: value}}`` (parsed, so the format is checked)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    series = samples(text).get(name, {})
    return series.get(tuple(sorted(labels.items())))


def wait_for(condition: Callable[[], object], deadline: float = 90.0, what: str = "condition") -> object:
    """Poll ``condition`` until truthy; fail after a generous deadline (never a timing assertion)."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            last = condition()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """The process-wide metrics registry, emptied before and after the test."""
    REGISTRY.reset()
    yield
    REGISTRY.reset()
