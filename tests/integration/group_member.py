"""One member of a consumer group, run as its own process by test_groups.py.

    python group_member.py BOOTSTRAP TOPIC GROUP LOG [DELAY_SECONDS]

Joins GROUP with ``ack="manual"`` and ``run(concurrency=2)``; for each message it appends
``partition offset`` to LOG, flushes, sleeps DELAY, then acknowledges — so the log is a lower
bound of what may be committed. SIGTERM stops it cleanly (drain, commit, leave); SIGKILL is
the crash under test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from streamline import consume


async def main(bootstrap: str, topic: str, group: str, log_path: str, delay: float) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)

    async def handle(msg) -> None:
        os.write(fd, f"{msg.partition} {msg.offset}\n".encode())  # one write(2): flushed
        await asyncio.sleep(delay)
        msg.ack()

    stream = consume(
        topic, bootstrap_servers=bootstrap, group=group, ack="manual", start="beginning",
        session_timeout=6, commit_interval=0.3, revoke_timeout=3,
    )
    try:
        async with stream:
            await stream.run(handle, concurrency=2)
    except asyncio.CancelledError:
        pass
    finally:
        os.close(fd)


if __name__ == "__main__":
    bootstrap, topic, group, log_path = sys.argv[1:5]
    delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.01
    asyncio.run(main(bootstrap, topic, group, log_path, delay))
