"""SIGHUP: ``streamline agent`` re-reads its file; unchanged inputs lose and repeat nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agent_helpers import RunningAgent, agent_toml, read_values, saved_positions
from shipping import line


class ContinuousWriter(threading.Thread):
    """Appends numbered lines, 20 every 50 ms, until :meth:`finish`."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.written = 0
        self._finished = threading.Event()

    def run(self) -> None:
        with open(self.path, "ab") as f:
            while not self._finished.is_set():
                f.write(b"".join(line(self.written + i) + b"\n" for i in range(20)))
                f.flush()
                self.written += 20
                time.sleep(0.05)  # pacing the writer, not synchronising the test

    def advanced_past(self, mark: int, timeout: float = 60.0) -> int:
        """Wait until more than ``mark`` lines were written; returns the count."""
        deadline = time.monotonic() + timeout
        while self.written <= mark and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.written > mark, "the writer stalled"
        return self.written

    def finish(self) -> int:
        self._finished.set()
        self.join(30)
        return self.written


def http_get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def numbered(prefix: str, start: int, stop: int) -> bytes:
    return b"".join(b"%s-%06d\n" % (prefix.encode(), n) for n in range(start, stop))


def expected(prefix: str, start: int, stop: int) -> list[bytes]:
    return [b"%s-%06d" % (prefix.encode(), n) for n in range(start, stop)]


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_reloads_add_remove_change_and_refuse_while_an_unchanged_input_ships_exactly_once(
    kafka_bootstrap: str, new_topic, tmp_path: Path
) -> None:
    steady_t, gone_t, change_t, new_t = (new_topic(partitions=1) for _ in range(4))
    steady, gone, change, new = (tmp_path / f"{n}.log" for n in ("steady", "gone", "change", "new"))
    for path in (steady, gone, change, new):
        path.touch()
    append(gone, numbered("gone", 0, 100))
    state = tmp_path / "state"
    inputs = {
        "steady": {"name": "steady", "paths": [str(steady)], "topic": steady_t, "start": "beginning"},
        "gone": {"name": "gone", "paths": [str(gone)], "topic": gone_t, "start": "beginning"},
        "change": {"name": "change", "paths": [str(change)], "topic": change_t, "start": "beginning"},
        "new": {"name": "new", "paths": [str(new)], "topic": new_t, "start": "beginning"},
    }
    config = tmp_path / "agent.toml"

    def write_config(*names: str, extra: str = "", **changes: dict[str, object]) -> None:
        chosen = [inputs[n] | changes.get(n, {}) for n in names]
        config.write_text(agent_toml(state, chosen, extra=extra))

    write_config("steady", "gone", "change")
    agent = RunningAgent(kafka_bootstrap, config, "-q", log=tmp_path / "agent.log")
    writer = ContinuousWriter(steady)  # lines keep arriving across every reload
    changing = ContinuousWriter(change)  # ... and to the input that restarts
    try:
        assert read_values(kafka_bootstrap, gone_t, 100) == expected("gone", 0, 100)
        writer.start()
        changing.start()
        mark = writer.advanced_past(0)

        # 1. An input is added: it starts; the others are not touched.
        append(new, numbered("new", 0, 50))
        write_config("steady", "gone", "change", "new")
        agent.reload()
        text = agent.wait_for("streamline: reloaded ", 1)
        mark = writer.advanced_past(mark)
        assert f"reloaded {config}: started new; 3 unchanged" in text
        assert read_values(kafka_bootstrap, new_t, 50) == expected("new", 0, 50)

        # 2. An input changes while its file grows: it drains, stops and starts again from its
        #    checkpoints, losing and repeating nothing.
        changing_mark = changing.advanced_past(0)
        write_config("steady", "gone", "change", "new", change={"key": "{name}", "long_lines": "skip"})
        agent.reload()
        text = agent.wait_for("streamline: reloaded ", 2)
        mark = writer.advanced_past(mark)
        assert f"reloaded {config}: restarted change; 3 unchanged" in text
        assert text.count("streamline: change: shipped ") == 1  # the old one's final figures
        changing.advanced_past(changing_mark)

        # 3. An input is removed: it drains and stops, its checkpoints saved.
        write_config("steady", "change", "new", change={"key": "{name}", "long_lines": "skip"})
        agent.reload()
        text = agent.wait_for("streamline: reloaded ", 3)
        mark = writer.advanced_past(mark)
        assert f"reloaded {config}: stopped gone; 3 unchanged" in text
        assert "gone: shipped 100 lines" in text
        assert saved_positions(state / "gone") == {"gone.log": 100 * 12}
        append(gone, numbered("gone", 100, 120))  # nobody ships these any more

        # 4. A file with a mistake is refused; the running config stays. A Kafka change
        #    needs a restart, and says so.
        config.write_text("bogus = 1\n" + config.read_text())
        agent.reload()
        text = agent.wait_for("reload refused", 1)
        mark = writer.advanced_past(mark)
        assert f"streamline: error: reload refused, the running configuration stays: {config}: bogus: unknown key" in text
        write_config("steady", "change", "new", extra="[kafka]\nacks = 1\n", change={"key": "{name}", "long_lines": "skip"})
        agent.reload()
        text = agent.wait_for("streamline: reloaded ", 4)
        assert "kafka changed in" in text and "takes a restart of the agent" in text
        assert f"reloaded {config}: 3 unchanged" in text

        writer.advanced_past(mark)
        total = writer.finish()
        changed_total = changing.finish()
        append(new, numbered("new", 50, 60))
        steady_values = read_values(kafka_bootstrap, steady_t, total, timeout=120)
        change_values = read_values(kafka_bootstrap, change_t, changed_total, timeout=120)
        new_values = read_values(kafka_bootstrap, new_t, 60)
        assert "steady: shipped" not in agent.text()  # never stopped, not even for a moment
        assert agent.stop() == 0
    finally:
        writer.finish()
        changing.finish()
        agent.kill()
    # Exactly once, in order, on the broker: nothing lost, nothing repeated across four reloads.
    assert steady_values == [line(n) for n in range(total)]
    assert change_values == [line(n) for n in range(changed_total)]
    assert new_values == expected("new", 0, 60)
    assert read_values(kafka_bootstrap, gone_t, 100) == expected("gone", 0, 100)
    text = agent.text()
    assert f"steady: shipped {total:,} lines" in text
    assert "Traceback" not in text


def test_a_failed_input_is_started_again_by_a_reload(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    topic, other_topic = new_topic(partitions=1), new_topic(partitions=1)
    state = tmp_path / "state"
    (state / "bad").mkdir(parents=True)
    (state / "bad" / "checkpoints.json").write_text("{not json")  # this input cannot start
    (tmp_path / "bad.log").write_bytes(numbered("bad", 0, 30))
    (tmp_path / "ok.log").write_bytes(numbered("ok", 0, 30))
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(state, [
        {"name": "bad", "paths": [str(tmp_path / "bad.log")], "topic": topic, "start": "beginning"},
        {"name": "ok", "paths": [str(tmp_path / "ok.log")], "topic": other_topic, "start": "beginning"},
    ]))
    agent = RunningAgent(kafka_bootstrap, config, "-q", "--metrics", "127.0.0.1:0", log=tmp_path / "agent.log")
    try:
        text = agent.wait_for("streamline: error: input bad stopped: ")
        assert "checkpoints.json" in text
        url = text.split("streamline: metrics on ", 1)[1].split()[0].removesuffix("/metrics")
        assert read_values(kafka_bootstrap, other_topic, 30) == expected("ok", 0, 30)  # the other one runs on
        status, body = http_get(url + "/readyz")
        assert status == 503 and "input bad failed" in body, body
        assert http_get(url + "/healthz")[0] == 200
        (state / "bad" / "checkpoints.json").unlink()  # the operator repairs it, then reloads
        agent.reload()
        text = agent.wait_for("streamline: reloaded ")
        assert "restarted bad; 1 unchanged" in text
        assert read_values(kafka_bootstrap, topic, 30) == expected("bad", 0, 30)
        until(lambda: http_get(url + "/readyz")[0] == 200)
        assert agent.stop() == 0
    finally:
        agent.kill()
