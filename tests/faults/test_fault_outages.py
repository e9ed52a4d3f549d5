"""Connection outages injected by a TCP proxy between the clients and a fresh embedded broker:
the producer, the follower pipeline (`streamline ship`) and a group consumer each lose their
connections and recover by themselves, lose nothing, and keep memory bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque

import anyio
import pytest

from faultkit import LONG, RateWriter, report
from shipping import line, read_topic, rss_mb, start_ship, tally
from streamline import Admin, GroupAdmin, Producer, consume

pytestmark = pytest.mark.faults

OUTAGE = 20.0 if LONG else 4.0  # seconds per outage (below the producer's 30 s delivery timeout)
OUTAGES = 3


async def create(bootstrap: str, topic: str, partitions: int) -> None:
    async with Admin(bootstrap) as admin:
        await admin.create_topic(topic, partitions=partitions)


@pytest.mark.timeout(600 if LONG else 120)
async def test_producer_rides_out_outages(proxied_broker) -> None:
    bootstrap, proxy = proxied_broker.bootstrap, proxied_broker.proxy
    await create(bootstrap, "produced", 4)
    acknowledged: set[bytes] = set()
    pending: deque = deque()
    sent = 0
    peak_pending = 0
    rss_before = rss_mb(os.getpid())
    peak_rss = rss_before
    async with Producer(bootstrap, acks="all", delivery_timeout=OUTAGE + 25) as producer:

        async def send_for(seconds: float) -> None:
            nonlocal sent, peak_pending, peak_rss
            stop_at = time.monotonic() + seconds
            while time.monotonic() < stop_at:
                values = [line(sent + i) for i in range(1000)]
                sent += 1000
                delivery = await producer.submit_many("produced", values)
                pending.append((delivery, values))
                peak_pending = max(peak_pending, len(pending))
                while len(pending) >= 8:  # bounded in flight, like `streamline produce`
                    done, batch = pending.popleft()
                    await done
                    acknowledged.update(batch)
                peak_rss = max(peak_rss, rss_mb(os.getpid()))
                await asyncio.sleep(0.02)

        for _ in range(OUTAGES):
            await send_for(1.0)
            proxy.cut()
            async with anyio.create_task_group() as tg:
                tg.start_soon(send_for, OUTAGE)  # blocks once 8 batches wait: backpressure
                await asyncio.sleep(OUTAGE)
                proxy.restore()
        await send_for(1.0)
        while pending:
            done, batch = pending.popleft()
            await done
            acknowledged.update(batch)
    seen = await read_topic(bootstrap, "produced", len(acknowledged), timeout=60)
    missing = acknowledged - set(seen)
    report("outage_producer", outages=OUTAGES, outage_s=OUTAGE, sent=sent, acknowledged=len(acknowledged),
           lost=len(missing), duplicates=sum(seen.values()) - len(seen), peak_in_flight_batches=peak_pending,
           rss_growth_mb=round(peak_rss - rss_before, 1))
    assert len(acknowledged) == sent  # every submitted batch was acknowledged in the end
    assert not missing
    assert peak_pending <= 8
    assert peak_rss - rss_before < 100


@pytest.mark.timeout(600 if LONG else 150)
async def test_ship_rides_out_outages_with_bounded_memory(proxied_broker, tmp_path) -> None:
    bootstrap, proxy = proxied_broker.bootstrap, proxied_broker.proxy
    await create(bootstrap, "shipped", 4)
    log, ckpt, out = tmp_path / "access.log", tmp_path / "ckpt", tmp_path / "ship.out"
    writer = RateWriter(log, 20_000)
    writer.start()
    ship = start_ship(bootstrap, "shipped", [str(log)], ckpt, log=out)
    peak = 0.0
    try:
        for _ in range(OUTAGES):
            await asyncio.sleep(2.0)
            proxy.cut()
            cut_at = time.monotonic()
            while time.monotonic() - cut_at < OUTAGE:
                peak = max(peak, rss_mb(ship.pid))
                await asyncio.sleep(0.25)
            assert ship.poll() is None, "ship must survive the outage"
            proxy.restore()
        await asyncio.sleep(2.0)
    finally:
        writer.stop()
    total = writer.written
    seen = await read_topic(bootstrap, "shipped", total, timeout=90)
    peak = max(peak, rss_mb(ship.pid))
    ship.send_signal(signal.SIGTERM)
    assert ship.wait(40) == 0, out.read_text()[-2000:]
    result = tally(seen, {line(i) for i in range(total)})
    report("outage_ship", outages=OUTAGES, outage_s=OUTAGE, lines=total, lost=len(result.missing),
           corrupted=len(result.corrupted), duplicates=result.duplicates, peak_rss_mb=round(peak))
    assert not result.missing, f"{len(result.missing)} lines lost"
    assert not result.corrupted
    assert peak < 150


@pytest.mark.timeout(600 if LONG else 120)
async def test_group_consumer_rides_out_outages(proxied_broker) -> None:
    bootstrap, proxy = proxied_broker.bootstrap, proxied_broker.proxy
    await create(bootstrap, "grouped", 3)
    total = 3000
    async with Producer(bootstrap) as producer:
        for start in range(0, total, 500):
            await producer.send_many("grouped", [line(i) for i in range(start, start + 500)])
    processed: list[bytes] = []
    rss_before = rss_mb(os.getpid())
    peak_rss = rss_before
    group = "outage-group"

    async def handle(msg) -> None:
        await asyncio.sleep(0.004)  # slow enough that the outages fall mid-stream
        processed.append(msg.value)

    stream = consume("grouped", bootstrap_servers=bootstrap, group=group, start="beginning",
                     session_timeout=10, commit_interval=0.3)
    outages = 0
    async with stream, anyio.create_task_group() as tg:
        tg.start_soon(stream.run, handle)
        with anyio.fail_after(90):
            while len(processed) < 200:
                await asyncio.sleep(0.05)
        for _ in range(OUTAGES):
            if len(set(processed)) >= total:
                break
            proxy.cut()
            outages += 1
            await asyncio.sleep(OUTAGE)
            peak_rss = max(peak_rss, rss_mb(os.getpid()))
            proxy.restore()
            await asyncio.sleep(1.0)
        with anyio.fail_after(90):  # recovers by itself: no restart of the stream
            while len(set(processed)) < total:
                await asyncio.sleep(0.1)
        tg.cancel_scope.cancel()
    async with GroupAdmin(bootstrap) as groups:
        info = await groups.describe_group(group, topics=["grouped"])
    committed = sum(p.committed or 0 for p in info.partitions)
    report("outage_group_consumer", outages=outages, outage_s=OUTAGE, messages=total,
           processed=len(processed), unique=len(set(processed)), committed=committed,
           rebalances=stream.rebalances, rss_growth_mb=round(peak_rss - rss_before, 1))
    assert outages >= 1, "the stream finished before any outage: slow the handler down"
    assert set(processed) == {line(i) for i in range(total)}
    assert committed == total
    assert peak_rss - rss_before < 100
