"""tests/metrics: skipped as a whole without the metrics extra; the registry starts empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")

from streamline._metrics import REGISTRY


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """The process-wide metrics registry, emptied before and after the test."""
    REGISTRY.reset()
    yield
    REGISTRY.reset()


@pytest.fixture
def spans() -> Iterator[object]:
    """A global SDK tracer provider exporting to memory (an ``InMemorySpanExporter``), for this
    test only; skipped without opentelemetry-sdk."""
    pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")
    from otelspans import in_memory_spans

    with in_memory_spans() as exporter:
        yield exporter
