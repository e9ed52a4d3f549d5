"""`streamline ship` on the real broker: exactly what was written arrives, across --once runs,
SIGKILLs, rotations, and a broker outage; memory stays bounded."""

import asyncio
import os
import random
import signal
import time

import pytest

from shipping import Writer, line, read_topic, rss_mb, start_ship
from tcp_proxy import proxied_broker
from streamline import Admin


def wait_until_open(pid: int, path, deadline: float = 120.0) -> None:
    """Wait until process ``pid`` holds ``path`` open (it follows it), for at most ``deadline`` seconds."""
    target = str(path)
    give_up = time.monotonic() + deadline
    while True:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            pytest.fail(f"process {pid} ended before it opened {target}")
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return
            except OSError:
                pass  # closed meanwhile
        assert time.monotonic() < give_up, f"process {pid} did not open {target} within {deadline:g} s"
        time.sleep(0.05)


def expected(total: int) -> set:
    return {line(i) for i in range(total)}


@pytest.mark.timeout(600)  # hang guard: every wait inside is a condition with its own deadline
async def test_ship_once_and_checkpoints_win_over_from(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=4)
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(line(i) + b"\n" for i in range(20_000)))
    ckpt = tmp_path / "ckpt"
    first = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, "--once")
    assert first.wait(120) == 0
    with open(log, "ab") as f:
        f.write(b"".join(line(i) + b"\n" for i in range(20_000, 25_000)))
    second = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, "--once")  # --from beginning again
    assert second.wait(120) == 0
    seen = await read_topic(kafka_bootstrap, topic, 25_000, timeout=240)
    assert set(seen) == expected(25_000)
    assert max(seen.values()) == 1  # the checkpoint won: nothing shipped twice


@pytest.mark.timeout(600)  # hang guard: every wait inside is a condition with its own deadline
async def test_sigkill_and_restart_loses_nothing(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=4)
    log, ckpt, out = tmp_path / "access.log", tmp_path / "ckpt", tmp_path / "ship.out"
    rate, total = 20_000, 200_000
    writer = Writer(log, total, rate)
    writer.start()
    kills = 0
    ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, log=out)
    rng = random.Random(7)
    while writer.is_alive() and kills < 4:
        await asyncio.sleep(rng.uniform(1.5, 2.5))  # kills further apart than the 1 s checkpoint interval
        ship.send_signal(signal.SIGKILL)
        ship.wait()
        kills += 1
        ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, log=out)
    writer.join()
    seen = await read_topic(kafka_bootstrap, topic, total, timeout=240)
    ship.send_signal(signal.SIGTERM)
    assert ship.wait(120) == 0, out.read_text()
    assert kills >= 3
    assert set(seen) == expected(total), f"missing {len(expected(total) - set(seen))} lines"
    duplicates = sum(seen.values()) - len(seen)
    # At most about one checkpoint interval (1 s) of lines per kill, at the writer's rate,
    # plus the save's own latency: bounded by 2 s of writing per kill.
    assert duplicates <= kills * rate * 2, duplicates


@pytest.mark.timeout(600)  # hang guard: every wait inside is a condition with its own deadline
async def test_rotation_while_shipping_loses_nothing(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=2)
    log, ckpt, out = tmp_path / "app.log", tmp_path / "ckpt", tmp_path / "ship.out"
    log.touch()
    total = 60_000
    ship = start_ship(kafka_bootstrap, topic, [str(log)], ckpt, log=out)
    # Rotating before ship opened the file would move lines out of its sight (not a loss ship
    # could prevent): start writing once it follows the file, however long its start-up takes.
    await asyncio.to_thread(wait_until_open, ship.pid, log)
    writer = Writer(log, total, 30_000, rotate_every=7_000)
    writer.start()
    await asyncio.to_thread(writer.join)
    seen = await read_topic(kafka_bootstrap, topic, total, timeout=240)  # returns as soon as all arrived
    ship.send_signal(signal.SIGTERM)
    assert ship.wait(120) == 0, out.read_text()
    assert writer.rotations >= 5
    assert set(seen) == expected(total)
    assert max(seen.values()) == 1


@pytest.mark.faults
@pytest.mark.timeout(600)  # hang guard: a 30 s outage plus conditions with their own deadlines
async def test_broker_outage_memory_bounded_and_resumes_by_itself(tmp_path) -> None:
    """A 30 s outage (connections cut by a proxy) while the file grows by ~60 MB."""
    with proxied_broker() as (proxy, _):
        bootstrap = f"127.0.0.1:{proxy.port}"
        async with Admin(bootstrap) as admin:
            await admin.create_topic("outage", partitions=4)
        log, ckpt, out = tmp_path / "access.log", tmp_path / "ckpt", tmp_path / "ship.out"
        log.write_bytes(b"".join(line(i) + b"\n" for i in range(50_000)))
        ship = start_ship(bootstrap, "outage", [str(log)], ckpt, log=out)
        await asyncio.sleep(2)
        proxy.cut()
        total, peak = 50_000, 0.0
        started = time.monotonic()
        while time.monotonic() - started < 30:
            with open(log, "ab") as f:
                f.write(b"".join(line(i) + b"\n" for i in range(total, total + 20_000)))
            total += 20_000
            peak = max(peak, rss_mb(ship.pid))
            await asyncio.sleep(0.5)
        assert ship.poll() is None, "ship must survive the outage"
        proxy.restore()
        seen = await read_topic(bootstrap, "outage", total, timeout=240)
        peak = max(peak, rss_mb(ship.pid))
        ship.send_signal(signal.SIGTERM)
        assert ship.wait(120) == 0, out.read_text()
    grown_mb = (total - 50_000) * (len(line(0)) + 1) / 1e6
    assert grown_mb > 50
    assert set(seen) == expected(total), f"missing {len(expected(total) - set(seen))} lines"
    assert peak < 150, f"peak RSS {peak:.0f} MB while the broker was unreachable"
