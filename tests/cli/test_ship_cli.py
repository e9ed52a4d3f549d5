"""`streamline ship` as a user runs it: status output on a terminal and in logs, bad input."""

import os
import pty
import select
import signal
import subprocess
import sys
import time

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def env_for(bootstrap: str) -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")} | {
        "STREAMLINE_BOOTSTRAP_SERVERS": bootstrap
    }


def test_status_line_on_a_terminal(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "access.log"
    log.write_bytes(b"x\n" * 1000)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [STREAMLINE, "ship", str(log), "--topic", topic, "--from", "beginning", "--checkpoints", str(tmp_path / "c")],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env_for(kafka_bootstrap),
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and b"checkpoint" not in output:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                output += os.read(leader, 4096)
            except OSError:
                break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 0
    os.close(leader)
    text = output.decode(errors="replace")
    assert "\r" in text  # redrawn in place
    for figure in ("lines/s", "MB/s", "1 file |", "behind", "checkpoint"):
        assert figure in text, (figure, text)


def test_status_is_logged_periodically_when_not_on_a_terminal(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "access.log"
    log.write_bytes(b"y\n" * 100)
    proc = subprocess.Popen(
        [STREAMLINE, "ship", str(log), "--topic", topic, "--from", "beginning", "--checkpoints",
         str(tmp_path / "c"), "--status-every", "0.5"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(kafka_bootstrap),
    )
    assert proc.stderr is not None
    logged = []
    deadline = time.monotonic() + 120
    while len(logged) < 2 and time.monotonic() < deadline:  # two periodic lines, however slow the start
        logged.append(proc.stderr.readline().decode())
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    text = "".join(logged) + err.decode()
    assert proc.returncode == 0
    lines = [ln for ln in text.splitlines() if "lines/s" in ln]
    assert len(lines) >= 2 and all(ln.startswith("streamline: ") for ln in lines)
    assert "\r" not in text
    assert "shipped 100 lines" in text


def test_corrupt_checkpoint_stops_with_one_line_naming_it(kafka_bootstrap, tmp_path) -> None:
    store = tmp_path / "c"
    store.mkdir()
    (store / "checkpoints.json").write_text("{not json")
    log = tmp_path / "a.log"
    log.write_text("z\n")
    done = subprocess.run(
        [STREAMLINE, "ship", str(log), "--topic", "t", "--checkpoints", str(store), "--once"],
        capture_output=True, env=env_for(kafka_bootstrap), timeout=120,
    )
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err.count("\n") == 1 and err.startswith("streamline: error:") and "checkpoints.json" in err
    # The file was not rewritten behind the user's back: it can still be inspected or repaired.
    assert (store / "checkpoints.json").read_text() == "{not json"


def test_bad_arguments_exit_2(kafka_bootstrap, tmp_path) -> None:
    for args, fragment in [
        (["--topic", "bad topic"], "invalid topic name"),
        (["--topic", "t", "--from", "middle"], "--from must be one of beginning, end"),
        (["--topic", "t", "--key", "{nope}"], "unknown placeholder {nope}"),
    ]:
        done = subprocess.run(
            [STREAMLINE, "ship", str(tmp_path / "a.log"), *args, "--once"],
            capture_output=True, env=env_for(kafka_bootstrap), timeout=120,
        )
        err = done.stderr.decode()
        assert done.returncode == 2, (args, err)
        assert fragment in err and "Traceback" not in err and err.count("\n") == 1


def test_a_checkpoint_directory_under_home_is_expanded(kafka_bootstrap, new_topic, tmp_path) -> None:
    # `--checkpoints=~/x` reaches us unexpanded (the shell expands ~ only at a word's start): the
    # positions go under $HOME, not into a directory named "~" in the working directory.
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    log = tmp_path / "a.log"
    log.write_text("one\ntwo\n")
    done = subprocess.run(
        [STREAMLINE, "ship", str(log), "--topic", new_topic(partitions=1), "--checkpoints=~/state", "--from", "beginning", "--once"],
        capture_output=True, env=env_for(kafka_bootstrap) | {"HOME": str(home)}, cwd=work, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert (home / "state" / "checkpoints.json").is_file()
    assert not (work / "~").exists()
