"""Small batches that queue up while the sinks are busy are submitted as one (adaptive batching)."""

from __future__ import annotations

import json

import anyio

from streamline import Checkpoints, Pipeline, follow
from streamline._pipeline.batch import AckToken, Batch, FileOrigin, NoOrigin
from streamline._pipeline.pipeline import MERGE_MAX_BYTES, MERGE_MAX_VALUES, merge_waiting


def file_batch(path: str, values: list[bytes], acked: list[str], name: str, index: list[int] | None = None) -> Batch:
    return Batch(values, AckToken(lambda: acked.append(name)), FileOrigin(path, ()), index, sum(map(len, values)))


async def test_waiting_batches_of_one_file_merge_in_order_and_acknowledge_each_original() -> None:
    acked: list[str] = []
    send, receive = anyio.create_memory_object_stream[Batch](8)
    first = file_batch("a.log", [b"1", b"2"], acked, "first")
    for name, values in [("second", [b"3"]), ("third", [b"4", b"5"])]:
        send.send_nowait(file_batch("a.log", values, acked, name))
    send.send_nowait(file_batch("b.log", [b"x"], acked, "other file"))
    send.send_nowait(file_batch("a.log", [b"6"], acked, "after the other file"))
    merged, held = merge_waiting(first, receive)
    assert merged.values == [b"1", b"2", b"3", b"4", b"5"]
    assert merged.origin.path == "a.log" and merged.size == 5  # type: ignore[attr-defined]
    assert held is not None and held.values == [b"x"]  # not merged, handed back, not lost
    assert receive.receive_nowait().values == [b"6"]  # the rest stays in the channel
    assert acked == []
    merged.token.release()
    assert acked == ["first", "second", "third"]
    send.close()
    receive.close()


async def test_nothing_waiting_or_nothing_mergeable_leaves_the_batch_as_it_is() -> None:
    acked: list[str] = []
    send, receive = anyio.create_memory_object_stream[Batch](8)
    lone = file_batch("a.log", [b"1"], acked, "lone")
    assert merge_waiting(lone, receive) == (lone, None)
    big = file_batch("a.log", [b"v"] * MERGE_MAX_VALUES, acked, "big")
    send.send_nowait(file_batch("a.log", [b"w"], acked, "small"))
    assert merge_waiting(big, receive) == (big, None)  # already large: sent as it is
    assert receive.receive_nowait().values == [b"w"]
    filtered = file_batch("a.log", [b"1"], acked, "filtered", index=[3])  # a stage dropped values
    assert merge_waiting(filtered, receive) == (filtered, None)
    plain = Batch([b"1"], AckToken(None), NoOrigin())
    send.send_nowait(Batch([b"2"], AckToken(None), NoOrigin()))
    assert merge_waiting(plain, receive) == (plain, None)  # not lines of a file
    send.close()
    receive.close()


async def test_a_batch_that_would_overflow_the_merge_is_held_not_lost() -> None:
    acked: list[str] = []
    send, receive = anyio.create_memory_object_stream[Batch](8)
    send.send_nowait(file_batch("a.log", [b"y"] * MERGE_MAX_VALUES, acked, "large"))
    merged, held = merge_waiting(file_batch("a.log", [b"x"], acked, "small"), receive)
    assert merged.values == [b"x"] and held is not None and len(held.values) == MERGE_MAX_VALUES
    # Few values but many bytes (long lines): merged only up to MERGE_MAX_BYTES, so what is in
    # flight stays as bounded as before.
    long_line = b"z" * (MERGE_MAX_BYTES // 3)
    for _ in range(4):
        send.send_nowait(file_batch("a.log", [long_line], acked, "long"))
    merged, held = merge_waiting(file_batch("a.log", [long_line], acked, "long"), receive)
    assert len(merged.values) == 3 and merged.size <= MERGE_MAX_BYTES
    assert held is not None and held.values == [long_line]
    assert receive.receive_nowait().values == [long_line]
    send.close()
    receive.close()


async def test_a_slow_sink_gets_every_line_once_in_order_and_checkpoints_follow_delivery(tmp_path) -> None:
    log, checkpoints = tmp_path / "app.log", tmp_path / "ckpt"
    log.write_bytes(b"")
    got: list[bytes] = []
    calls = [0]
    release = anyio.Event()

    async def slow_sink(values: list[bytes]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            await release.wait()  # the first delivery hangs while lines keep coming
        got.extend(values)

    total = 400
    follower = follow(str(log), start="beginning", checkpoints=Checkpoints(checkpoints))
    pipeline = Pipeline(follower, to=slow_sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run)
        with anyio.fail_after(60):
            for i in range(total):
                with open(log, "ab") as f:
                    f.write(b"line %d\n" % i)
                if i % 20 == 0:
                    await anyio.sleep(0.005)  # let the follower read in between: many small batches
            while calls[0] == 0:
                await anyio.sleep(0.01)
            release.set()
            while len(got) < total:
                await anyio.sleep(0.01)
        pipeline.stop()
    assert got == [b"line %d" % i for i in range(total)]
    saved = json.loads((checkpoints / "checkpoints.json").read_text())["files"]
    assert [record["offset"] for record in saved.values()] == [log.stat().st_size]  # every merged ack landed
