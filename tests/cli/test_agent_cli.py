"""``streamline agent`` through the installed command on the broker: many inputs, one process."""

from __future__ import annotations

from pathlib import Path

from agent_helpers import RunningAgent, agent_toml, read_values, saved_positions
from cliresults import assert_ok, assert_one_error


def numbered(prefix: str, start: int, stop: int) -> bytes:
    return b"".join(b"%s-%06d\n" % (prefix.encode(), n) for n in range(start, stop))


def expected(prefix: str, start: int, stop: int) -> list[bytes]:
    return [b"%s-%06d" % (prefix.encode(), n) for n in range(start, stop)]


def test_check_validates_without_connecting(cli, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        agent_toml(
            tmp_path / "c",
            [{"name": "web", "paths": [str(tmp_path / "web-*.log")], "topic": "web"},
             {"name": "app", "paths": [str(tmp_path / "app.log")], "topic": "app-{hostname}", "multiline": "indented"}],
            extra='[kafka]\nbootstrap_servers = "127.0.0.1:1"\n',  # nothing listens there
        )
    )
    result = cli("agent", "--config", str(config), "--check", env={"STREAMLINE_BOOTSTRAP_SERVERS": ""})
    assert_ok(result)
    assert result.lines == [
        f"{config}: OK: 2 inputs (web -> web, app -> app-{{hostname}}); kafka 127.0.0.1:1; checkpoints in {tmp_path / 'c'}"
    ]
    # -b on the command line wins over the file (and still nothing connects).
    result = cli("agent", "--config", str(config), "--check", "-b", "elsewhere:9092")
    assert_ok(result)
    assert "kafka elsewhere:9092;" in result.stdout


def test_every_mistake_is_one_error_line_and_exit_2(cli, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "c", [{"name": "web", "paths": ["/var/log/*.log"], "topic": "web", "strat": "end"}]))
    line = assert_one_error(cli("agent", "--config", str(config), "--check"), 2)
    assert line == f"streamline: error: {config}: inputs[0].strat: unknown key; did you mean 'start'?"
    # The same mistake stops a real run before anything connects.
    line = assert_one_error(cli("agent", "--config", str(config)), 2)
    assert "inputs[0].strat: unknown key" in line
    assert_one_error(cli("agent", "--config", str(tmp_path / "missing.toml"), "--check"), 2)
    config.write_text(agent_toml(tmp_path / "c", [
        {"name": "a", "paths": ["/var/log/x.log"], "topic": "a"},
        {"name": "b", "paths": ["/var/log/*.log"], "topic": "b"},
    ]))
    line = assert_one_error(cli("agent", "--config", str(config), "--check"), 2)
    assert "inputs[1].paths[0]: '/var/log/*.log' matches every file of inputs[0].paths[0]" in line
    line = assert_one_error(cli("agent", "--config", str(config), "--check", "--acks", "2"), 2)
    assert "acks must be one of" in line
    config.write_text(agent_toml(tmp_path / "c", [{"name": "a", "paths": [str(tmp_path / "none.log")], "topic": "a"}]))
    line = assert_one_error(cli("agent", "--config", str(config), "--must-exist"), 2)
    assert line.endswith(f"inputs[0] (a): {tmp_path / 'none.log'}: No such file or directory (--must-exist)"), line


def test_two_inputs_ship_to_two_topics_with_their_own_checkpoints_and_resume(
    cli, kafka_bootstrap: str, new_topic, tmp_path: Path
) -> None:
    web_topic, app_topic = new_topic(partitions=2), new_topic(partitions=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "web-1.log").write_bytes(numbered("web1", 0, 300))
    (logs / "web-2.log").write_bytes(numbered("web2", 0, 200))
    (logs / "app.log").write_bytes(numbered("app", 0, 400))
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "state", [
        {"name": "web", "paths": ["logs/web-*.log"], "topic": web_topic, "start": "beginning", "key": "{name}"},
        {"name": "app", "paths": ["logs/app.log"], "topic": app_topic, "start": "beginning"},
    ]))
    result = cli("agent", "--config", str(config), "--once", "-q", timeout=120)
    assert_ok(result)
    assert "web: shipped 500 lines" in result.stderr and f"to {web_topic}" in result.stderr
    assert "app: shipped 400 lines" in result.stderr and f"to {app_topic}" in result.stderr
    # Each input's checkpoints are its own, in a directory named after it.
    assert saved_positions(tmp_path / "state" / "web") == {"web-1.log": 300 * 12, "web-2.log": 200 * 12}
    assert saved_positions(tmp_path / "state" / "app") == {"app.log": 400 * 11}

    # Restart: only what was appended since is shipped.
    with open(logs / "web-1.log", "ab") as f:
        f.write(numbered("web1", 300, 350))
    with open(logs / "app.log", "ab") as f:
        f.write(numbered("app", 400, 410))
    result = cli("agent", "--config", str(config), "--once", "-q", timeout=120)
    assert_ok(result)
    assert "web: shipped 50 lines" in result.stderr and "app: shipped 10 lines" in result.stderr

    web = read_values(kafka_bootstrap, web_topic, 550)
    assert sorted(web) == sorted(expected("web1", 0, 350) + expected("web2", 0, 200))
    app = read_values(kafka_bootstrap, app_topic, 410)
    assert app == expected("app", 0, 410)  # one partition: in order, exactly once


def test_sigterm_drains_every_input_and_saves_checkpoints(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    a_topic, b_topic = new_topic(partitions=1), new_topic(partitions=1)
    (tmp_path / "a.log").write_bytes(numbered("a", 0, 2000))
    (tmp_path / "b.log").write_bytes(numbered("b", 0, 1000))
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "state", [
        {"name": "a", "paths": [str(tmp_path / "a.log")], "topic": a_topic, "start": "beginning"},
        {"name": "b", "paths": [str(tmp_path / "b.log")], "topic": b_topic, "start": "beginning"},
    ]))
    agent = RunningAgent(kafka_bootstrap, config, "--status-every", "0.2", log=tmp_path / "agent.log")
    try:
        # Running (not --once): wait until both inputs reported everything shipped.
        agent.wait_for("shipped 2,000", timeout=120)
        agent.wait_for("shipped 1,000", timeout=120)
        assert agent.stop() == 0
    finally:
        agent.kill()
    text = agent.text()
    assert "stopping: draining in-flight data of every input" in text
    assert "a: shipped 2,000 lines" in text and "b: shipped 1,000 lines" in text
    # Off a terminal: one status line per input every --status-every seconds.
    status = [ln for ln in text.splitlines() if "lines/s" in ln]
    assert any(ln.startswith("streamline: a: ") for ln in status), text
    assert any(ln.startswith("streamline: b: ") for ln in status), text
    assert "Traceback" not in text
    assert saved_positions(tmp_path / "state" / "a") == {"a.log": 2000 * 9}
    assert saved_positions(tmp_path / "state" / "b") == {"b.log": 1000 * 9}
    assert read_values(kafka_bootstrap, a_topic, 2000) == expected("a", 0, 2000)


def test_a_file_matched_by_two_inputs_goes_to_the_first_with_one_warning(
    kafka_bootstrap: str, new_topic, tmp_path: Path
) -> None:
    web_topic, app_topic = new_topic(partitions=1), new_topic(partitions=1)
    (tmp_path / "web-app.log").write_bytes(numbered("both", 0, 100))  # matches both globs
    (tmp_path / "web-db.log").write_bytes(numbered("web", 0, 10))
    (tmp_path / "mail-app.log").write_bytes(numbered("app", 0, 20))
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "state", [
        {"name": "web", "paths": [str(tmp_path / "web-*.log")], "topic": web_topic, "start": "beginning"},
        {"name": "app", "paths": [str(tmp_path / "*-app.log")], "topic": app_topic, "start": "beginning"},
    ]))
    agent = RunningAgent(kafka_bootstrap, config, "-q", log=tmp_path / "agent.log")
    try:
        agent.wait_for("matches inputs web and app", timeout=60)
        web = read_values(kafka_bootstrap, web_topic, 110)
        app = read_values(kafka_bootstrap, app_topic, 20)
        assert agent.stop() == 0
    finally:
        agent.kill()
    assert sorted(web) == sorted(expected("both", 0, 100) + expected("web", 0, 10))
    assert app == expected("app", 0, 20)
    text = agent.text()
    warning = f"streamline: warning: {tmp_path / 'web-app.log'} matches inputs web and app; it is shipped by web only (the first)"
    assert text.count(warning) == 1, text


def test_status_line_on_a_terminal_shows_every_input(kafka_bootstrap: str, new_topic, tmp_path: Path) -> None:
    import os
    import pty
    import select
    import signal
    import subprocess
    import time

    from cliresults import STREAMLINE, clean_env

    a_topic, b_topic = new_topic(partitions=1), new_topic(partitions=1)
    (tmp_path / "a.log").write_bytes(numbered("a", 0, 100))
    (tmp_path / "b.log").write_bytes(numbered("b", 0, 100))
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "state", [
        {"name": "alpha", "paths": [str(tmp_path / "a.log")], "topic": a_topic, "start": "beginning"},
        {"name": "beta", "paths": [str(tmp_path / "b.log")], "topic": b_topic, "start": "beginning"},
    ]))
    leader, follower = pty.openpty()
    proc = subprocess.Popen([STREAMLINE, "agent", "--config", str(config)], stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, env=clean_env(kafka_bootstrap))
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 90
    wanted = (b"alpha: ", b"beta: ", b"shipped 100")
    while time.monotonic() < deadline and not all(w in output.rsplit(b"\r", 1)[-1] for w in wanted):
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                output += os.read(leader, 4096)
            except OSError:
                break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    os.close(leader)
    text = output.decode(errors="replace")
    last = text.rsplit("\r", 1)[-1]
    assert "\r" in text  # redrawn in place
    assert "alpha: " in last and "beta: " in last and "lines/s" in last, text
