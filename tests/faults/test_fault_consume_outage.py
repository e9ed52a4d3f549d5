"""A consumer never ends silently: without a group, a broker that goes away is retried; the
library raises BrokerUnavailableError only when asked for a bound; ``streamline consume`` says
so once every few seconds and exits 1 with one line when --timeout gives up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from streamline import Admin, BrokerUnavailableError, Producer, consume

pytestmark = pytest.mark.faults

STREAMLINE = str(Path(sys.executable).with_name("streamline"))


async def _topic_with_one_message(bootstrap: str, topic: str) -> None:
    async with Admin(bootstrap) as admin:
        await admin.create_topic(topic, partitions=1)
    async with Producer(bootstrap) as producer:
        await producer.send(topic, "before")


async def test_a_lost_broker_is_retried_and_reported_only_when_bounded(proxied_broker) -> None:
    bootstrap, proxy = proxied_broker.bootstrap, proxied_broker.proxy
    await _topic_with_one_message(bootstrap, "outage")
    async with consume("outage", bootstrap_servers=bootstrap, start="beginning",
                       partition_refresh_interval=0.5) as stream:
        assert (await stream.__anext__()).text == "before"
        proxy.cut()
        with anyio.fail_after(90):
            while stream.unreachable_for is None:
                with anyio.move_on_after(0.5):
                    await stream.__anext__()
        proxy.restore()
        async with Producer(bootstrap) as producer:
            await producer.send("outage", "after")
        with anyio.fail_after(90):
            msg = await stream.__anext__()
        assert msg.text == "after"
        assert stream.unreachable_for is None

    bounded = consume("outage", bootstrap_servers=bootstrap, start="end", partition_refresh_interval=0.5,
                      unreachable_timeout=2)
    with pytest.raises(BrokerUnavailableError, match="no answer for"):
        async with bounded:
            proxy.cut()
            with anyio.fail_after(90):
                async for _ in bounded:
                    pass


async def test_cli_consume_reports_an_outage_and_exits_1_when_it_gives_up(proxied_broker) -> None:
    bootstrap, proxy = proxied_broker.bootstrap, proxied_broker.proxy
    await _topic_with_one_message(bootstrap, "cli-outage")
    proc = subprocess.Popen(
        [STREAMLINE, "-b", bootstrap, "consume", "cli-outage", "--from", "beginning", "--timeout", "12"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        assert line.endswith(b"Value:before\n")
        proxy.cut()
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < 120:
            await asyncio.sleep(0.2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode == 1, text
    lines = text.splitlines()
    assert lines[-1].startswith("streamline: error: cannot reach Kafka at"), text
    assert any("unreachable for" in line for line in lines), text
    assert "Traceback" not in text and "CancelledError" not in text, text
    assert len(lines) <= 6, text  # a few lines, not a flood
