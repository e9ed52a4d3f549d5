"""``--metrics`` on the real commands against the broker, scraped as Prometheus would."""

from __future__ import annotations

import socket
import subprocess

from scraping import STREAMLINE, env_for, free_port, get, lines_in_topic, samples, stop, value, wait_for


def test_ship_serves_metrics_that_match_the_topic(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=2)
    log = tmp_path / "access.log"
    total = 2_500
    log.write_bytes(b"".join(b"GET /%d 200\n" % i for i in range(total)))
    port = free_port()
    proc = subprocess.Popen(
        [STREAMLINE, "ship", str(log), "--topic", topic, "--from", "beginning", "-q",
         "--checkpoints", str(tmp_path / "c")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env_for(kafka_bootstrap, STREAMLINE_METRICS=f"127.0.0.1:{port}"),  # the environment variable
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: value(get(f"{url}/metrics")[1], "streamline_pipeline_delivered_total") == total,
                 what="every line delivered")
        text = get(f"{url}/metrics")[1]
        assert value(text, "streamline_follow_lines_total") == total
        assert value(text, "streamline_follow_bytes_total") == log.stat().st_size
        assert value(text, "streamline_follow_files_open") == 1
        assert value(text, "streamline_follow_file_size_bytes", path=str(log)) == log.stat().st_size
        assert value(text, "streamline_tracked_objects", kind="producer") == 1
        assert value(text, "streamline_producers_connected") == 1
        assert "process_cpu_seconds_total" in samples(text)
        wait_for(lambda: value(get(f"{url}/metrics")[1], "streamline_follow_file_acknowledged_bytes",
                               path=str(log)) == log.stat().st_size, what="the file acknowledged to its end")
        status, body = get(f"{url}/healthz")
        assert status == 200 and body.startswith("ok")
        status, body = get(f"{url}/readyz")
        assert status == 200 and "producer connected" in body

        top = subprocess.run([STREAMLINE, "top", str(port), "--once", "--interval", "0.2"],
                             capture_output=True, env=env_for(kafka_bootstrap, COLUMNS="80"), timeout=60)
        assert top.returncode == 0, top.stderr
        screen = top.stdout.decode()
        assert f"delivered {total / 1000:.1f}k" in screen, screen
        assert "follow    lines" in screen and "behind 0 B" in screen and "access.log" in screen
        assert "checkpoint saved" in screen
        assert "ready: producer connected" in screen
        assert all(len(row) <= 80 for row in screen.splitlines()), screen
    finally:
        err = stop(proc)
    assert f"metrics on http://127.0.0.1:{port}/metrics" in err
    assert lines_in_topic(kafka_bootstrap, topic, total) == total


def test_readiness_is_false_until_the_broker_answers(silent_broker, tmp_path) -> None:
    port = free_port()
    log = tmp_path / "a.log"
    log.write_text("x\n")
    proc = subprocess.Popen(
        [STREAMLINE, "-b", silent_broker, "ship", str(log), "--topic", "t", "-q", "--metrics", str(port),
         "--checkpoints", str(tmp_path / "c")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(silent_broker),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(f"{url}/healthz")[0] == 200, what="the endpoint up")
        status, body = get(f"{url}/readyz")
        assert status == 503 and "not connected" in body
    finally:
        proc.kill()
        proc.communicate(timeout=60)


def test_a_port_in_use_is_one_line_and_exit_1(kafka_bootstrap, tmp_path) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [STREAMLINE, "ship", str(log), "--topic", "t", "--once", "--metrics", f"127.0.0.1:{port}",
             "--checkpoints", str(tmp_path / "c")],
            capture_output=True, env=env_for(kafka_bootstrap), timeout=60,
        )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert err == f"streamline: error: metrics address 127.0.0.1:{port} is already in use\n"


def test_a_malformed_address_is_usage_exit_2(kafka_bootstrap, tmp_path) -> None:
    done = subprocess.run(
        [STREAMLINE, "ship", str(tmp_path / "a.log"), "--topic", "t", "--once", "--metrics", "localhost:web"],
        capture_output=True, env=env_for(kafka_bootstrap), timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1 and "--metrics expects [HOST:]PORT" in done.stderr.decode()


def test_top_against_nothing_is_one_line_and_exit_1() -> None:
    done = subprocess.run([STREAMLINE, "top", str(free_port()), "--once"], capture_output=True, timeout=60)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("streamline: error: cannot read http://127.0.0.1:")


def test_consume_readiness_waits_for_the_group_assignment(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    produced = subprocess.run([STREAMLINE, "produce", topic, "--value", "hello"], capture_output=True,
                              env=env_for(kafka_bootstrap), timeout=60)
    assert produced.returncode == 0, produced.stderr
    port = free_port()
    proc = subprocess.Popen(
        [STREAMLINE, "consume", topic, "--group", f"g-{port}", "--from", "beginning", "--metrics", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(kafka_bootstrap),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        first = wait_for(lambda: get(f"{url}/readyz") if get(f"{url}/healthz")[0] == 200 else None,
                         what="the endpoint up")
        # Joining takes seconds on the embedded broker; whichever answer came first, it ends ready.
        assert first[0] in (200, 503)  # type: ignore[index]
        wait_for(lambda: get(f"{url}/readyz")[0] == 200, what="ready after the group assignment")
        assert "has partitions" in get(f"{url}/readyz")[1]
        assert proc.stdout is not None
        assert b"Value:hello" in proc.stdout.readline()
        assert "streamline_event_loop_lag_seconds" in samples(get(f"{url}/metrics")[1])
    finally:
        stop(proc)


def test_run_serves_the_pipeline_metrics(tmp_path) -> None:
    (tmp_path / "pipes.py").write_text(
        "import asyncio\n"
        "from streamline import Pipeline\n"
        "async def numbers():\n"
        "    for i in range(1000):\n"
        "        yield i\n"
        "    await asyncio.Event().wait()  # keep running until stopped\n"
        "pipeline = Pipeline(numbers(), to=lambda values: None)\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [STREAMLINE, "run", f"{tmp_path / 'pipes.py'}:pipeline", "--metrics", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for("127.0.0.1:9"),
    )
    try:
        wait_for(lambda: value(get(f"http://127.0.0.1:{port}/metrics")[1], "streamline_pipeline_delivered_total")
                 == 1000, what="1000 values delivered")
        assert value(get(f"http://127.0.0.1:{port}/metrics")[1], "streamline_pipeline_items_total") == 1000
    finally:
        stop(proc)


def test_many_files_keep_per_file_labels_bounded(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    files = 130
    for i in range(files):
        (logs / f"app-{i:03}.log").write_bytes(b"line %d\n" % i * 10)
    port = free_port()
    proc = subprocess.Popen(
        [STREAMLINE, "ship", str(logs / "*.log"), "--topic", topic, "--from", "beginning", "-q",
         "--checkpoints", str(tmp_path / "c"), "--metrics", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(kafka_bootstrap),
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: value(get(url)[1], "streamline_pipeline_delivered_total") == files * 10,
                 what="every line delivered")
        series = samples(get(url)[1])["streamline_follow_file_size_bytes"]
        paths = {dict(labels)["path"] for labels in series}
        assert len(paths) == 101 and "other" in paths  # 100 files by name, 30 summed under "other"
        total_size = sum((logs / f"app-{i:03}.log").stat().st_size for i in range(files))
        assert sum(series.values()) == total_size  # every open file counted once
    finally:
        stop(proc)
