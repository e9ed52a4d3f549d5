"""``ship --compression snappy|lz4|zstd`` compresses (the record batches on the broker say so)
and every line reads back; a process that deferred cramjam (``defer_cramjam()``, as ship does
without those codecs) still sends and reads snappy/lz4/zstd messages through the library."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

from streamline import consume

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


async def batch_codecs(bootstrap: str, topic: str) -> list[int]:
    """The compression codec of each record batch in partition 0 (attributes & 7), as stored."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        leader = client.cluster.leader_for_partition(TopicPartition(topic, 0))
        response = await client.send(leader, FetchRequest(1000, 1, 16 << 20, 0, [(topic, [(0, 0, 16 << 20)])]))
        records: bytes = response.topics[0][1][0][-1]
    finally:
        await client.close()
    codecs, offset = [], 0
    while offset + 23 <= len(records):  # base offset (8), length (4), then the batch
        (length,) = struct.unpack_from(">i", records, offset + 8)
        (attributes,) = struct.unpack_from(">h", records, offset + 21)
        codecs.append(attributes & 7)
        offset += 12 + length
    return codecs


async def read_back(bootstrap: str, topic: str, count: int) -> list[bytes]:
    got: list[bytes] = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for message in stream:
            got.append(message.value)
            if len(got) == count:
                break
    return got


@pytest.mark.parametrize("codec", ["snappy", "lz4", "zstd"])
async def test_ship_compresses_and_every_line_reads_back(cli, kafka_bootstrap, new_topic, tmp_path, codec) -> None:
    topic = new_topic(partitions=1)
    lines = [b"GET /item/%05d HTTP/1.1 200 %s" % (i, b"x" * 50) for i in range(2000)]
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    result = cli("ship", str(log), "--topic", topic, "--from", "beginning", "--once",
                 "--checkpoints", str(tmp_path / "c"), "--compression", codec)
    assert result.returncode == 0, result
    assert await read_back(kafka_bootstrap, topic, len(lines)) == lines
    codecs = await batch_codecs(kafka_bootstrap, topic)
    assert codecs and set(codecs) == {CODECS[codec]}, codecs


SCRIPT = """
import asyncio, sys
from streamline.cli._memory import defer_cramjam
assert defer_cramjam()
from streamline import Producer, consume
assert "cramjam.cramjam" not in sys.modules

async def main(bootstrap, topic, codec):
    async with Producer(bootstrap_servers=bootstrap, compression=codec) as producer:
        for i in range(50):
            await producer.send(topic, b"value %d" % i)
    assert "cramjam.cramjam" in sys.modules  # loaded when first used
    got = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for message in stream:
            got.append(message.value)
            if len(got) == 50:
                break
    assert got == [b"value %d" % i for i in range(50)], got

asyncio.run(main(*sys.argv[1:]))
print("ok")
"""

CONSUME_ONLY = """
import asyncio, sys
from streamline.cli._memory import defer_cramjam
assert defer_cramjam()
from streamline import consume

async def main(bootstrap, topic):
    got = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for message in stream:
            got.append(message.value)
            if len(got) == 50:
                break
    assert got == [b"value %d" % i for i in range(50)], got
    assert "cramjam.cramjam" in sys.modules

asyncio.run(main(*sys.argv[1:]))
print("ok")
"""


@pytest.mark.parametrize("codec", ["snappy", "lz4", "zstd"])
async def test_a_process_that_deferred_cramjam_sends_and_reads_compressed_messages(kafka_bootstrap, new_topic, codec) -> None:
    topic = new_topic(partitions=1)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, kafka_bootstrap, topic, codec],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert set(await batch_codecs(kafka_bootstrap, topic)) == {CODECS[codec]}
    # A fresh process whose first use of cramjam is a decompression.
    proc = subprocess.run([sys.executable, "-c", CONSUME_ONLY, kafka_bootstrap, topic],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
