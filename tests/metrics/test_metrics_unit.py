"""The registry, the collector and the HTTP endpoint, in-process (no broker)."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
from dataclasses import dataclass

import pytest
from scraping import samples, value

from streamline._errors import ConfigurationError, StreamlineError
from streamline._follow import follow
from streamline._metrics import (
    MAX_FILE_LABELS,
    REGISTRY,
    observe_handler,
    parse_address,
    record_committed,
    record_consumed,
    record_highwater,
    record_rebalance,
    record_revoked,
    require_prometheus_client,
    serve_metrics,
    track,
)
from streamline._metrics.collector import exposition, new_registry
from streamline._pipeline.stats import PipelineStats

pytestmark = pytest.mark.usefixtures("clean_registry")


def scrape_text() -> str:
    return exposition(new_registry()).decode()


class Pipeline:  # the collector infers the kind from the class name
    def __init__(self) -> None:
        self.stats = PipelineStats()


def test_pipeline_counters_are_read_at_scrape_time() -> None:
    pipeline = Pipeline()
    track(pipeline)
    pipeline.stats.items = 7
    pipeline.stats.delivered = 5
    pipeline.stats.in_flight = 2
    text = scrape_text()
    assert value(text, "streamline_pipeline_items_total") == 7
    assert value(text, "streamline_pipeline_delivered_total") == 5
    assert value(text, "streamline_pipeline_in_flight_batches") == 2
    pipeline.stats.delivered = 9
    assert value(scrape_text(), "streamline_pipeline_delivered_total") == 9


def test_counters_never_go_backwards_when_objects_go_or_restart() -> None:
    first, second = Pipeline(), Pipeline()
    track(first)
    track(second)
    first.stats.delivered, second.stats.delivered = 10, 3
    first.stats.in_flight = 4
    assert value(scrape_text(), "streamline_pipeline_delivered_total") == 13
    # A second run replaces the stats object; the first run's counts stay in the total.
    first.stats = PipelineStats()
    first.stats.delivered = 1
    track(first)
    assert value(scrape_text(), "streamline_pipeline_delivered_total") == 14
    del first
    gc.collect()
    text = scrape_text()
    assert value(text, "streamline_pipeline_delivered_total") == 14  # retired, still counted
    assert value(text, "streamline_pipeline_in_flight_batches") == 0  # a gauge: gone with its owner
    assert value(text, "streamline_tracked_objects", kind="pipeline") == 1


def test_an_object_from_before_a_reset_adds_nothing_when_it_goes() -> None:
    """reset() forgets what was tracked (each test starts from zero): an object of an earlier
    test collected later must not add its counters to this one's totals."""
    earlier = Pipeline()
    track(earlier)
    earlier.stats.delivered = 7
    REGISTRY.reset()
    now = Pipeline()
    track(now)
    now.stats.delivered = 2
    del earlier
    gc.collect()
    assert value(scrape_text(), "streamline_pipeline_delivered_total") == 2


def test_consumer_lag_committed_rebalances_and_handler_histogram() -> None:
    record_consumed("g", "orders", 0, 10, position=110)
    record_highwater("g", "orders", 0, 150)
    record_committed("g", "orders", 0, 105)
    record_consumed("g", "orders", 1, 5, position=5)
    record_highwater("g", "orders", 1, 5)
    for seconds in (0.0005, 0.02, 0.02, 3.0):
        observe_handler("g", seconds)
    record_rebalance("g")
    text = scrape_text()
    labels0 = {"group": "g", "topic": "orders", "partition": "0"}
    assert value(text, "streamline_consumer_lag_messages", **labels0) == 40
    assert value(text, "streamline_consumer_lag_messages", group="g", topic="orders", partition="1") == 0
    assert value(text, "streamline_consumer_committed_offset", **labels0) == 105
    assert value(text, "streamline_consumer_messages_total", **labels0) == 10
    assert value(text, "streamline_consumer_rebalances_total", group="g") == 1
    assert value(text, "streamline_consumer_handler_duration_seconds_count", group="g") == 4
    assert value(text, "streamline_consumer_handler_duration_seconds_bucket", group="g", le="0.001") == 1
    assert value(text, "streamline_consumer_handler_duration_seconds_bucket", group="g", le="0.025") == 3
    assert value(text, "streamline_consumer_handler_duration_seconds_bucket", group="g", le="+Inf") == 4
    # A revoked partition's gauges go; its message counter stays.
    record_rebalance("g", revoked=[("orders", 0)])
    text = scrape_text()
    assert value(text, "streamline_consumer_lag_messages", **labels0) is None
    assert value(text, "streamline_consumer_messages_total", **labels0) == 10
    assert value(text, "streamline_consumer_rebalances_total", group="g") == 2
    record_revoked("g", [("orders", 1)])  # a tracked stream counts its own rebalances: only the gauges go
    text = scrape_text()
    assert value(text, "streamline_consumer_position", group="g", topic="orders", partition="1") is None
    assert value(text, "streamline_consumer_rebalances_total", group="g") == 2


class Stream:
    def __init__(self, group: str | None) -> None:
        self.group = group
        self.rebalances = 3
        self._consumer: object | None = None

    def assignment(self) -> set[tuple[str, int]]:
        return {("orders", 0), ("orders", 1)} if self._consumer is not None else set()


def test_a_tracked_stream_reports_its_partitions_rebalances_and_readiness() -> None:
    from streamline._metrics import default_readiness

    stream = Stream("g")
    track(stream)
    assert default_readiness() == (False, "consumer not started")
    stream._consumer = object()
    text = scrape_text()
    assert value(text, "streamline_consumer_assigned_partitions", group="g") == 2
    assert value(text, "streamline_consumer_rebalances_total", group="g") == 3
    assert value(text, "streamline_tracked_objects", kind="consumer") == 1
    assert default_readiness() == (True, "consumer has partitions")


@dataclass
class FakeFile:
    path: str
    size: int
    position: int


class FakeReader:
    def __init__(self, files: list[FakeFile]) -> None:
        self.files = files

    def _tracked(self) -> list[FakeFile]:
        return self.files


class Follower:
    def __init__(self, files: list[FakeFile]) -> None:
        self.stats = None
        self._reader = FakeReader(files)


def test_per_file_labels_are_bounded_and_the_rest_summed_under_other() -> None:
    files = [FakeFile(f"/var/log/app-{i:04}.log", 100, 40) for i in range(MAX_FILE_LABELS + 50)]
    follower = Follower(files)
    track(follower)
    series = samples(scrape_text())["streamline_follow_file_behind_bytes"]
    paths = {dict(labels)["path"] for labels in series}
    assert len(paths) == MAX_FILE_LABELS + 1 and "other" in paths
    assert series[(("path", "other"),)] == 50 * 60
    assert sum(series.values()) == len(files) * 60


async def test_a_real_follower_reports_per_file_positions(tmp_path) -> None:
    """Guards the one place that reads the follower's internals: fails loudly when they change."""
    log = tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\nthree\n")
    async with follow(str(log), start="beginning", notify=False) as follower:
        batch = await follower.batches().__anext__()
        assert len(batch) == 3
        text = scrape_text()
        assert value(text, "streamline_follow_lines_total") == 3
        assert value(text, "streamline_follow_file_read_bytes", path=str(log)) == 14
        assert value(text, "streamline_follow_file_size_bytes", path=str(log)) == 14
        assert value(text, "streamline_follow_file_behind_bytes", path=str(log)) == 0
        assert value(text, "streamline_tracked_objects", kind="follower") == 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [("9464", ("127.0.0.1", 9464)), (":9464", ("127.0.0.1", 9464)), ("0.0.0.0:1", ("0.0.0.0", 1)),
     ("[::1]:9464", ("::1", 9464)), ("localhost:0", ("localhost", 0))],
)
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["", "host:", "host:http", "70000", "-1"])
def test_bad_addresses_are_one_configuration_error(address: str) -> None:
    with pytest.raises(ConfigurationError, match="--metrics"):
        parse_address(address)


def test_without_prometheus_client_the_error_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'streamline\[metrics\]'"):
        require_prometheus_client()


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


class Producer:
    def __init__(self) -> None:
        self._producer: object | None = None


async def test_endpoints_metrics_health_and_readiness() -> None:
    async with serve_metrics("127.0.0.1:0") as server:
        status, body = await http_get(server.port, "/metrics")
        assert status == 200 and "streamline_event_loop_lag_seconds" in samples(body)
        status, body = await http_get(server.port, "/healthz")
        assert status == 200 and body.startswith("ok")
        status, body = await http_get(server.port, "/readyz")
        assert status == 503 and "not connected" in body
        producer = Producer()
        track(producer)
        status, body = await http_get(server.port, "/readyz")
        assert status == 503 and "producer not connected" in body
        producer._producer = object()  # what a started Producer holds
        status, body = await http_get(server.port, "/readyz")
        assert status == 200, body
        assert (await http_get(server.port, "/nope"))[0] == 404
        assert (await http_get(server.port, "/metrics", "POST"))[0] == 405
        status, body = await http_get(server.port, "/metrics", "HEAD")
        assert status == 200 and body == ""


async def test_a_custom_readiness_check_and_a_failing_one() -> None:
    state = {"ready": False}
    async with serve_metrics("127.0.0.1:0", ready=lambda: (state["ready"], "joined")) as server:
        assert (await http_get(server.port, "/readyz"))[0] == 503
        state["ready"] = True
        assert await http_get(server.port, "/readyz") == (200, "ready: joined\n")

    def broken() -> bool:
        raise RuntimeError("boom")

    async with serve_metrics("127.0.0.1:0", ready=broken) as server:
        status, body = await http_get(server.port, "/readyz")
        assert status == 503 and "boom" in body


async def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StreamlineError, match=f"127.0.0.1:{port} is already in use") as info:
            async with serve_metrics(f"127.0.0.1:{port}"):
                pass
        assert not isinstance(info.value, ConfigurationError)


async def test_the_loop_lag_ticker_sees_a_blocked_loop() -> None:
    import time

    async with serve_metrics("127.0.0.1:0"):
        await asyncio.sleep(0)
        time.sleep(0.6)  # noqa: ASYNC251 - block the loop on purpose: the measured lag must show it
        deadline = asyncio.get_running_loop().time() + 30
        while REGISTRY.loop_lag == 0 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        # The 0.25 s timer started before the 0.6 s block, so it ran at least 0.35 s late.
        assert REGISTRY.loop_lag >= 0.3


async def test_a_silent_or_garbage_client_does_not_block_the_endpoint() -> None:
    async with serve_metrics("127.0.0.1:0") as server:
        silent = await asyncio.open_connection("127.0.0.1", server.port)  # connects, never speaks
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x00\x01garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400 ")
        writer.close()
        assert (await http_get(server.port, "/healthz"))[0] == 200
        silent[1].close()
