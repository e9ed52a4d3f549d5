"""The hand-written limit of shipping a file to Kafka with aiokafka: what ``ship --once`` is judged against.

    python -m benchmarks.ship_limit BOOTSTRAP TOPIC PATH [--partitions 4]

1 MiB reads, lines split in memory, contiguous slices per partition appended to
``create_batch()`` batches (512 KiB, streamline's default) and handed over with ``send_batch``,
every acknowledgement gathered at the end; no checkpoints, no rotation checks, no
backpressure beyond aiokafka's buffer. Prints the number of acknowledged lines. Run as a
subprocess, like ``streamline ship --once``, so both pay interpreter start-up and imports.
"""

from __future__ import annotations

import argparse
import asyncio
import os

CHUNK = 1 << 20
BATCH_BYTES = 512 * 1024


async def ship(bootstrap: str, topic: str, path: str, partitions: int) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=BATCH_BYTES,
        max_request_size=BATCH_BYTES + 65536, enable_idempotence=False,
    )
    await producer.start()
    try:
        futures = []
        sent = 0
        turn = 0
        tail = b""
        fd = os.open(path, os.O_RDONLY)
        try:
            while True:
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                lines = chunk.split(b"\n")
                lines[0] = tail + lines[0]
                tail = lines.pop()
                size = -(-len(lines) // partitions)
                for start in range(0, len(lines), size):
                    partition = turn % partitions
                    turn += 1
                    batch = producer.create_batch()
                    for value in lines[start : start + size]:
                        if batch.append(key=None, value=value, timestamp=None) is None:
                            futures.append(await producer.send_batch(batch, topic, partition=partition))
                            batch = producer.create_batch()
                            batch.append(key=None, value=value, timestamp=None)
                    if batch.record_count():
                        futures.append(await producer.send_batch(batch, topic, partition=partition))
                sent += len(lines)
        finally:
            os.close(fd)
        await asyncio.gather(*futures)
        return sent
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("path")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    print(asyncio.run(ship(args.bootstrap, args.topic, args.path, args.partitions)))


if __name__ == "__main__":
    main()
