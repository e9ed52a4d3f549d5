"""`streamline ship --parser cri --multiline ...` on a pod log where stdout and stderr write
stack traces at the same time: each stream's events arrive whole and unmixed, with their stream."""

from __future__ import annotations

from test_ship_ingest import read_messages, ship_once


def cri(stream: str, flag: str, text: str, second: int) -> bytes:
    return f"2024-05-06T07:08:{second % 60:02d}.000000001Z {stream} {flag} {text}\n".encode()


async def test_interleaved_stdout_and_stderr_traces_arrive_unmixed(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "pod_app_0.log"
    lines: list[bytes] = []
    expected: list[tuple[bytes, bytes]] = []
    for n in range(50):  # each round: a stdout trace and a stderr trace, their lines alternating
        out = [f"ERROR out {n}", *(f"\tat out.F{n}.f{k}(F.java:{k})" for k in range(n % 4))]
        err = [f"WARN err {n}", *(f"\tat err.G{n}.g{k}(G.java:{k})" for k in range(3 - n % 4))]
        for k in range(max(len(out), len(err))):
            if k < len(out):
                lines.append(cri("stdout", "F", out[k], n))
            if k < len(err):
                lines.append(cri("stderr", "F", err[k], n))
        expected += [("\n".join(out).encode(), b"stdout"), ("\n".join(err).encode(), b"stderr")]
    log.write_bytes(b"".join(lines))
    done = ship_once(
        kafka_bootstrap, topic, tmp_path, str(log), "--parser", "cri", "--multiline", "indented", "--header", "stream"
    )
    assert done.returncode == 0, done.stderr
    messages = await read_messages(kafka_bootstrap, topic, len(expected))
    got = [(m.value, dict(m.headers)["stream"]) for m in messages]
    assert sorted(got) == sorted(expected)
    for stream in (b"stdout", b"stderr"):  # each stream in the order it wrote (one partition)
        assert [v for v, s in got if s == stream] == [v for v, s in expected if s == stream]
