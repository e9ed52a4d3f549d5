"""``build_input``: inputs built from specs run concurrently with one shared producer, each with
its own checkpoints, topics from templates (the contract ``streamline agent`` relies on)."""

from __future__ import annotations

import asyncio
import json
import os

import anyio

from streamline import InputSpec, Metadata, Multiline, Parser, Producer, build_input, consume


async def read_values(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[bytes]:
    values: list[bytes] = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        iterator = stream.batches().__aiter__()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(values) < count and loop.time() < deadline:
            try:
                batch = await asyncio.wait_for(iterator.__anext__(), deadline - loop.time())
            except (asyncio.TimeoutError, StopAsyncIteration):
                break
            values.extend(m.value for m in batch)
    return values


async def test_two_inputs_share_one_producer_and_keep_their_own_checkpoints(kafka_bootstrap, new_topic, tmp_path) -> None:
    web_topic, app_topic = new_topic(partitions=2), new_topic(partitions=1)
    access = tmp_path / "access.log"
    access.write_bytes(b"".join(b"GET /%d 200\n" % i for i in range(500)))
    app = tmp_path / "app.log"
    app.write_bytes(b"".join(b'{"n": %d}\n' % i for i in range(300)) + b"torn\n")
    specs = [
        InputSpec("web", (str(access),), web_topic, start="beginning"),
        InputSpec(
            "app", (str(app),), app_topic, start="beginning", parser=Parser("json", on_invalid="skip"),
            metadata=Metadata(envelope=True),
        ),
    ]
    async with Producer(kafka_bootstrap) as producer:
        built = [
            build_input(spec, producer=producer, checkpoints_dir=str(tmp_path / "ckpt" / spec.name), once=True)
            for spec in specs
        ]
        async with anyio.create_task_group() as group:
            for one in built:
                group.start_soon(one.pipeline.run)
    web = await read_values(kafka_bootstrap, web_topic, 500)
    assert sorted(web) == sorted(b"GET /%d 200" % i for i in range(500))
    records = [json.loads(v) for v in await read_values(kafka_bootstrap, app_topic, 300)]
    assert sorted(r["n"] for r in records) == list(range(300)) and {r["input"] for r in records} == {"app"}
    assert built[1].records is not None and built[1].records.skipped == 1
    assert built[1].status_parts() == ["1 event did not parse, 1 skipped"]
    for spec, size in (("web", access.stat().st_size), ("app", app.stat().st_size)):
        saved = json.loads((tmp_path / "ckpt" / spec / "checkpoints.json").read_text())["files"]
        assert [r["offset"] for r in saved.values()] == [size]  # each input's own directory


async def test_topic_template_sends_each_file_to_its_own_topic(kafka_bootstrap, new_topic, tmp_path) -> None:
    base = new_topic(partitions=1)
    first, second = f"{base}-a.log", f"{base}-b.log"
    # The two per-file topics are created by the broker on first produce.
    (tmp_path / "a.log").write_bytes(b"one\n  cont\ntwo\n")
    (tmp_path / "b.log").write_bytes(b"three\n")
    spec = InputSpec(
        "multi", (str(tmp_path / "*.log"),), base + "-{name}", start="beginning",
        multiline=Multiline(preset="indented"),
    )
    async with Producer(kafka_bootstrap) as producer:
        built = build_input(spec, producer=producer, checkpoints_dir=str(tmp_path / "ckpt"), once=True)
        await built.pipeline.run()
    assert sorted(await read_values(kafka_bootstrap, first, 2)) == [b"one\n  cont", b"two"]
    assert await read_values(kafka_bootstrap, second, 1) == [b"three"]
    assert os.path.isdir(tmp_path / "ckpt")
