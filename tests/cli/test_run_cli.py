"""`streamline run module:attr`: exit codes, one-line errors, and the two-signal shutdown."""

import os
import signal
import subprocess
import sys
import textwrap

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")

PIPELINES = textwrap.dedent(
    '''
    import asyncio
    from streamline import OnError, Pipeline, Stage

    async def numbers():
        for i in range(10):
            yield i

    async def forever():
        i = 0
        while True:
            yield i
            i += 1
            await asyncio.sleep(0.01)

    def explode(v):
        if v == 3:
            raise ValueError("three is not allowed")
        return v

    failing = Pipeline(numbers(), Stage(explode, on_error=OnError(retries=1, backoff=0.01)), to=print)

    class StuckSink:
        name = "stuck"
        async def submit(self, batch):
            print("submitted", flush=True)
            return asyncio.get_running_loop().create_future()   # never delivered

    def stuck():
        return Pipeline(forever(), to=StuckSink(), max_in_flight=1, grace=3600)

    async def fine():
        return Pipeline(numbers(), to=lambda values: None)
    '''
)


def run(tmp_path, target: str, **kwargs) -> subprocess.CompletedProcess:
    (tmp_path / "pipes.py").write_text(PIPELINES)
    return subprocess.run([STREAMLINE, "run", f"{tmp_path / 'pipes.py'}:{target}"], capture_output=True, timeout=120, **kwargs)


def test_a_finished_pipeline_exits_0_with_a_summary(tmp_path) -> None:
    done = run(tmp_path, "fine")
    assert done.returncode == 0, done.stderr
    assert b"pipeline finished: 10 in, 10 delivered" in done.stderr


def test_a_failing_stage_exits_1_with_one_line(tmp_path) -> None:
    done = run(tmp_path, "failing")
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "stage 'explode' failed after 2 attempt(s)" in err and "three is not allowed" in err


def test_unknown_target_is_a_usage_error(tmp_path) -> None:
    done = run(tmp_path, "nothing_here")
    assert done.returncode == 2 and b"has no attribute 'nothing_here'" in done.stderr


def test_second_signal_stops_at_once(tmp_path) -> None:
    (tmp_path / "pipes.py").write_text(PIPELINES)
    proc = subprocess.Popen(
        [STREAMLINE, "run", f"{tmp_path / 'pipes.py'}:stuck"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"submitted\n"
    assert proc.stderr is not None
    proc.send_signal(signal.SIGTERM)  # drains: would wait up to the pipeline's grace of an hour
    first = b""
    while b"draining" not in first:  # it says so once the graceful stop began
        line = proc.stderr.readline()
        assert line, f"stderr ended before the drain began: {first!r}"
        first += line
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    # The second signal stops at once: the hour of grace is far beyond this hang guard.
    out, rest = proc.communicate(timeout=120)
    err = first + rest
    assert proc.returncode == 130
    assert b"Traceback" not in err and b"draining" in err
