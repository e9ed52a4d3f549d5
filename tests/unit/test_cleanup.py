"""finish(): cleanup that a native task.cancel() cannot cut short."""

import asyncio

import pytest

from streamline._cleanup import finish


async def test_cleanup_finishes_despite_native_cancel_then_the_cancel_is_raised() -> None:
    steps: list[str] = []
    started = asyncio.Event()
    release = asyncio.Event()

    async def cleanup() -> str:
        started.set()
        await release.wait()
        steps.append("saved")
        return "done"

    task = asyncio.ensure_future(finish(cleanup()))
    await started.wait()
    task.cancel()
    task.cancel()  # twice, as an impatient caller would
    await asyncio.sleep(0)
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["saved"]


async def test_without_cancel_the_result_is_returned() -> None:
    async def cleanup() -> int:
        return 7

    assert await finish(cleanup()) == 7
