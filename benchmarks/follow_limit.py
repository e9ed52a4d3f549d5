"""The hand-written floor of following a file into Kafka: what ``ship``'s following cost is judged against.

    python -m benchmarks.follow_limit BOOTSTRAP TOPIC PATH [--client aiokafka|rdkafka] [--gap 0.005]

The least a follower can do per cycle: inotify on the file itself (``IN_MODIFY``, through libc),
at most one read per busy gap (5 ms, as ``ship``), the new bytes split into lines, sent with
``acks=all`` to the next partition in turn — and nothing else: no checkpoints, no rotation or
truncation checks, no back-pressure, no retries, no shutdown drain, no metrics. ``bench_latency``
runs it as the contenders ``limit`` (asyncio + aiokafka, one ``create_batch``/``send_batch`` per
cycle, the answer counted by a done-callback) and ``limit-rdkafka`` (a blocking loop + the
confluent-kafka wheel's librdkafka, the library rsyslog's omkafka uses, linger 0 as the gap
already batches, delivery reports served with ``poll(0)``), so the CPU of one cycle can be split into what the stack costs
and what ``ship`` adds to it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import os
import select
import time

IN_MODIFY = 0x2
CHUNK = 1 << 20


def notifier(path: str) -> int:
    """A non-blocking inotify descriptor watching ``path`` for writes."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd: int = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0 or libc.inotify_add_watch(fd, os.fsencode(path), IN_MODIFY) < 0:
        raise OSError(ctypes.get_errno(), "inotify")
    return fd


class Lines:
    """The file's new complete lines since the last call."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.tail = b""

    def read(self) -> list[bytes]:
        data = os.read(self.fd, CHUNK)
        if not data:
            return []
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        return lines


async def follow_aiokafka(bootstrap: str, topic: str, path: str, gap: float) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False)
    await producer.start()
    partitions = len(await producer.partitions_for(topic))
    loop = asyncio.get_running_loop()
    inotify, lines, turn, acked = notifier(path), Lines(path), 0, [0]
    woken = asyncio.Event()

    def wake() -> None:  # the descriptor stays readable until read: stop watching it meanwhile
        loop.remove_reader(inotify)
        woken.set()

    last = 0.0
    while True:
        loop.add_reader(inotify, wake)
        await woken.wait()
        woken.clear()
        if (wait := last + gap - loop.time()) > 0:
            await asyncio.sleep(wait)
        try:
            os.read(inotify, 65536)
        except BlockingIOError:
            pass
        last = loop.time()
        batch_lines = lines.read()
        if not batch_lines:
            continue
        batch = producer.create_batch()
        for value in batch_lines:
            batch.append(key=None, value=value, timestamp=None)
        turn += 1
        future = await producer.send_batch(batch, topic, partition=turn % partitions)
        future.add_done_callback(lambda f, n=len(batch_lines): acked.__setitem__(0, acked[0] + n))


def follow_rdkafka(bootstrap: str, topic: str, path: str, gap: float) -> None:
    from confluent_kafka import Producer

    acked = [0]

    def delivered(error: object, message: object) -> None:
        acked[0] += 1

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "enable.idempotence": False,
        "queue.buffering.max.messages": 1_000_000,
    })
    inotify, lines = notifier(path), Lines(path)
    last = 0.0
    while True:
        select.select([inotify], [], [], 1.0)
        if (wait := last + gap - time.monotonic()) > 0:
            time.sleep(wait)
        try:
            os.read(inotify, 65536)
        except BlockingIOError:
            pass
        last = time.monotonic()
        for value in lines.read():
            producer.produce(topic, value, on_delivery=delivered)
        producer.poll(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("path")
    parser.add_argument("--client", choices=("aiokafka", "rdkafka"), default="aiokafka")
    parser.add_argument("--gap", type=float, default=0.005)
    args = parser.parse_args()
    if args.client == "rdkafka":
        follow_rdkafka(args.bootstrap, args.topic, args.path, args.gap)
    else:
        asyncio.run(follow_aiokafka(args.bootstrap, args.topic, args.path, args.gap))


if __name__ == "__main__":
    main()
