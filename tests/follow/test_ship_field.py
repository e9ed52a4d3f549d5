"""`streamline ship` on input that used to stop it (issue 11, points 4 and 8): lines longer
than a record, files without newlines or with ``\\r`` separators, binary and compressed
files, paths it cannot read."""

from __future__ import annotations

import bz2
import gzip
import os
import subprocess
import sys

from shipping import read_topic

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def ship_once(bootstrap: str, topic: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    return subprocess.run(
        [STREAMLINE, "-b", bootstrap, "ship", *args, "--topic", topic, "--from", "beginning",
         "--checkpoints", str(tmp_path / "cp"), "--once", "-q"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )


async def test_lines_longer_than_a_record_are_split_into_pieces_that_fit(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "app.log"
    huge = os.urandom(3 * 1024 * 1024).replace(b"\n", b"n").replace(b"\r", b"r")  # no line ending
    log.write_bytes(b"before\n" + huge + b"\nafter\n")
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(log))
    assert done.returncode == 0, done.stderr
    assert "split 1 long lines" in done.stderr
    seen = await read_topic(kafka_bootstrap, topic, 3, timeout=60)
    values = list(seen)
    pieces = [v for v in values if v not in (b"before", b"after")]
    assert b"before" in seen and b"after" in seen
    assert all(len(p) <= 1_048_576 - 512 for p in pieces)
    assert len(pieces) >= 3 and b"".join(pieces) == huge  # one partition: in order
    # Run again: nothing is left to ship and nothing fails (the checkpoint moved past it).
    again = ship_once(kafka_bootstrap, topic, tmp_path, str(log))
    assert again.returncode == 0, again.stderr
    assert "shipped 0 lines" in again.stderr


async def test_no_newline_carriage_returns_and_binary_content_ship(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    cr = tmp_path / "cr.log"
    cr.write_bytes(b"".join(b"record %07d\r" % i for i in range(200_000)))  # 3 MiB of \r-only lines
    binary = tmp_path / "core.bin"
    binary.write_bytes(os.urandom(2 * 1024 * 1024))  # a stray binary file
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(cr), str(binary), "--max-line-bytes", "100000")
    assert done.returncode == 0, done.stderr
    seen = await read_topic(kafka_bootstrap, topic, 10, timeout=60)
    assert all(len(value) <= 100_000 for value in seen)
    assert sum(len(value) * count for value, count in seen.items()) >= len(cr.read_bytes()) - 2


async def test_skip_policy_counts_what_it_dropped(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "app.log"
    log.write_bytes(b"short\n" + b"x" * 5000 + b"\nlast\n")
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(log), "--max-line-bytes", "1000", "--long-lines", "skip")
    assert done.returncode == 0, done.stderr
    assert "skipped 1 long lines" in done.stderr
    seen = await read_topic(kafka_bootstrap, topic, 2, timeout=60)
    assert set(seen) == {b"short", b"last"}


def test_max_line_bytes_must_fit_the_record_limit(kafka_bootstrap, tmp_path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"x\n")
    done = ship_once(kafka_bootstrap, "t", tmp_path, str(log), "--max-line-bytes", "2000000")
    assert done.returncode == 2
    assert "--max-message-bytes" in done.stderr and "Traceback" not in done.stderr


async def test_compressed_files_a_glob_matches_are_skipped_with_a_warning(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    (tmp_path / "app.log").write_bytes(b"plain\n")
    (tmp_path / "app.log.1").write_bytes(gzip.compress(b"zipped\n" * 100))
    (tmp_path / "app.log.2").write_bytes(bz2.compress(b"zipped\n" * 100))
    (tmp_path / "app.log.3").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 50)  # zstd magic
    (tmp_path / "app.log.4").write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 50)  # xz magic
    (tmp_path / "debug.log").write_bytes(b"excluded\n")
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(tmp_path / "*.log*"), "--exclude", "debug.*")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "compressed, not shipped" in line]
    assert len(warnings) == 4, done.stderr
    assert any("gzip" in w for w in warnings) and any("zstd" in w for w in warnings)
    seen = await read_topic(kafka_bootstrap, topic, 1, timeout=60)
    assert set(seen) == {b"plain"}


async def test_unreadable_paths_are_one_warning_each_and_must_exist_makes_them_errors(
    kafka_bootstrap, new_topic, tmp_path
) -> None:
    topic = new_topic(partitions=1)
    good = tmp_path / "good.log"
    good.write_bytes(b"shipped\n")
    missing = tmp_path / "missing.log"
    directory = tmp_path / "adir"
    directory.mkdir()
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(good), str(missing), str(directory))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 2, done.stderr
    assert any(str(missing) in w and "No such file" in w for w in warnings)
    assert any(str(directory) in w and "Is a directory" in w for w in warnings)
    assert "2 warnings" in done.stderr  # in the summary, as in the status line
    assert set(await read_topic(kafka_bootstrap, topic, 1, timeout=60)) == {b"shipped"}
    strict = ship_once(kafka_bootstrap, topic, tmp_path, str(good), str(missing), "--must-exist")
    assert strict.returncode == 2
    assert str(missing) in strict.stderr and "Traceback" not in strict.stderr


async def test_unwritable_checkpoint_directory_is_a_warning_unless_strict(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file where the checkpoint directory's parent should be")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    base = [STREAMLINE, "-b", kafka_bootstrap, "ship", str(log), "--topic", topic, "--from", "beginning",
            "--checkpoints", str(blocker / "cp"), "--once", "-q"]
    done = subprocess.run(base, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 0, done.stderr
    assert "not usable" in done.stderr and "shipped 1 line " in done.stderr
    assert set(await read_topic(kafka_bootstrap, topic, 1, timeout=60)) == {b"one"}
    strict = subprocess.run(base + ["--strict-checkpoints"], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL, env=env)
    assert strict.returncode == 1
    lines = strict.stderr.strip().splitlines()
    assert len(lines) == 1 and "not usable" in lines[0] and "Traceback" not in strict.stderr


async def test_a_ship_whose_checkpoint_directory_was_taken_over_stops(kafka_bootstrap, new_topic, tmp_path) -> None:
    import asyncio
    import fcntl
    import shutil
    import time

    topic = new_topic(partitions=1)
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    cp = tmp_path / "cp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    ship = subprocess.Popen(
        [STREAMLINE, "-b", kafka_bootstrap, "ship", str(log), "--topic", topic, "--from", "beginning",
         "--checkpoints", str(cp), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not (cp / "checkpoints.json").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        shutil.rmtree(cp)  # someone "cleans up" the directory, and another follower takes it
        cp.mkdir()
        with open(cp / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a second ship does at start
            _, err = await asyncio.to_thread(ship.communicate, timeout=60)
        assert ship.returncode == 1, err
        assert "another follower holds it" in err and "Traceback" not in err
    finally:
        if ship.poll() is None:
            ship.terminate()
            ship.communicate(timeout=120)


def test_default_line_limit_leaves_room_for_the_record_and_its_key() -> None:
    from streamline.cli._ship import RECORD_OVERHEAD, line_bytes_for

    assert line_bytes_for(1_048_576, None) == 1_048_576 - RECORD_OVERHEAD
    named = line_bytes_for(1_048_576, "{hostname}-{name}")
    assert named < 1_048_576 - RECORD_OVERHEAD - 4096  # a path-sized key still fits
    fields = line_bytes_for(1_048_576, "{field1}")
    assert 2 * fields + RECORD_OVERHEAD + 4096 <= 1_048_576  # a key as long as the line fits too
