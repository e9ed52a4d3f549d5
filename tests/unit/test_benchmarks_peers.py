"""Benchmark peers: skip reasons when a peer cannot run, rows, configurations (no daemons run here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import linerate  # noqa: E402
from benchmarks.peers import Unavailable, _daemon, _debian, cases, clients, shippers  # noqa: E402


def test_without_apt_the_reason_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(Unavailable, match="apt-get not found"):
        _debian.download("rsyslog", ["rsyslog"], cache=tmp_path)


def test_a_complete_cache_is_used_without_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "debian" / "rsyslog"
    (base / "root").mkdir(parents=True)
    (base / ".unpacked").write_text("rsyslog rsyslog-kafka\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _debian.download("rsyslog", ["rsyslog-kafka", "rsyslog"], cache=tmp_path) == base / "root"
    # Another package list is another cache entry: apt is needed again.
    with pytest.raises(Unavailable):
        _debian.download("rsyslog", ["rsyslog"], cache=tmp_path)


def test_a_failed_download_gives_apts_last_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text("#!/bin/sh\necho 'W: a warning' >&2\necho 'E: Unable to locate package rsyslog' >&2\nexit 100\n")
    fake.chmod(0o755)
    (bin_dir / "dpkg").symlink_to(fake)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # no `apt-get update` retry
    with pytest.raises(Unavailable, match=r"apt-get download rsyslog failed: E: Unable to locate package rsyslog$"):
        _debian.download("rsyslog", ["rsyslog"], cache=tmp_path)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREAMLINE_BENCH_CACHE", str(tmp_path))
    assert _debian.cache_dir() == tmp_path
    monkeypatch.delenv("STREAMLINE_BENCH_CACHE")
    assert _debian.cache_dir() == ROOT / ".bench-cache"


def test_without_confluent_kafka_there_is_no_librdkafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    with pytest.raises(Unavailable, match="pip install confluent-kafka"):
        _debian.wheel_librdkafka()


def test_a_missing_client_library_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faststream.kafka", None)
    with pytest.raises(Unavailable, match=r"faststream not installed \(pip install 'faststream\[kafka\]'\)"):
        clients.require("faststream", "faststream.kafka", "faststream[kafka]")


def test_an_unpacked_root_without_the_daemon_is_unavailable(tmp_path: Path) -> None:
    unpacked = _debian.Unpacked(root=tmp_path, library_path=[])
    with pytest.raises(Unavailable, match=r"rsyslogd or omkafka\.so missing"):
        shippers.Rsyslog(unpacked)
    with pytest.raises(Unavailable, match="kafka module"):
        shippers.SyslogNg(unpacked)


def test_unpacked_env_puts_the_private_libraries_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", "/system")
    env = _debian.Unpacked(root=Path("/r"), library_path=["/r/a", "/r/b"]).env()
    assert env["LD_LIBRARY_PATH"] == "/r/a:/r/b:/system"


def test_skipped_peers_become_rows_and_report_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    reasons = {"rsyslog": "apt-get not found: ...", "syslog-ng": "syslog-ng needs libraries not found here: libx"}
    monkeypatch.setattr(cases, "_prepared", lambda name: reasons.get(name) or shippers.StreamlineShip())
    case = cases.PeersShip()
    ready = case.shippers()
    assert [s.name for s in ready] == ["streamline"]
    assert case.extra_report({}) == {"skipped": reasons}
    rows = case.rows({"lines": 10.0, "streamline_lines_per_s": 5.0, "streamline_cpu_s_per_1m": 1.0})
    assert [(r.verdict, r.baseline) for r in rows] == [("skip", f"skipped: {reason}") for reason in reasons.values()]
    assert all(r.case == "peers_ship" and r.what.split(":")[0] in reasons for r in rows)


def test_peer_rows_show_ratios_against_each_measured_peer() -> None:
    case = cases.PeersShip()
    m = {"lines": 1000.0, "streamline_lines_per_s": 600.0, "streamline_cpu_s_per_1m": 1.0,
         "streamline_once_lines_per_s": 800.0, "streamline_once_cpu_s_per_1m": 0.8,
         "rsyslog_lines_per_s": 200.0, "rsyslog_cpu_s_per_1m": 4.0}
    case.add_ratios(m, case.ratio_pairs())
    assert set(k for k in m if k.startswith("ratio_")) == {
        "ratio_streamline_vs_rsyslog_lines", "ratio_streamline_vs_rsyslog_cpu",
        "ratio_streamline_once_vs_rsyslog_lines", "ratio_streamline_once_vs_rsyslog_cpu"}  # no syslog-ng: none
    follow, once = case.rows(m)
    assert follow.ratio == "3.00x, CPU 0.25x" and "streamline ship vs rsyslog" in follow.what
    assert once.ratio == "4.00x, CPU 0.20x" and "streamline ship --once vs rsyslog" in once.what
    assert follow.verdict == once.verdict == "info"


def test_the_table_shows_the_median_of_per_run_ratios_and_their_range() -> None:
    case = cases.PeersLatency()
    runs = []
    for streamline_p99, rsyslog_p99 in ((10.0, 20.0), (30.0, 20.0), (12.0, 10.0)):
        run = {"streamline_p99_ms": streamline_p99, "rsyslog_p99_ms": rsyslog_p99}
        case.add_ratios(run, case.ratio_pairs())
        runs.append(run)
    assert [r["ratio_p99_ms_vs_rsyslog"] for r in runs] == [0.5, 1.5, 1.2]
    assert case.ratio({"ratio_p99_ms_vs_rsyslog": 1.2}, "ratio_p99_ms_vs_rsyslog") == "1.20x (0.50-1.50)"
    assert case.ratio({}, "ratio_p99_ms_vs_syslog_ng") == "-"


def test_result_keys_and_topic_names_of_shippers() -> None:
    from streamline._validation import check_topic

    names = ("streamline", "streamline --once", "syslog-ng", "rsyslog")
    assert [cases.key(n) for n in names] == ["streamline", "streamline_once", "syslog_ng", "rsyslog"]
    for name in names:
        check_topic(f"bench-peers-latency-{cases.label(name)}-0123abcd")  # raises on a bad name


def test_client_rows_only_for_measured_clients() -> None:
    case = cases.PeersClients()
    m = {"produce_messages": 10.0, "consume_messages": 10.0, "produce_streamline_msgs_per_s": 300.0,
         "produce_faststream_msgs_per_s": 100.0, "consume_streamline_msgs_per_s": 50.0,
         "consume_confluent_msgs_per_s": 100.0, "consume_from_ready_streamline_msgs_per_s": 40.0,
         "consume_from_ready_confluent_msgs_per_s": 20.0}
    case.add_ratios(m, case.ratio_pairs())
    rows = case.rows(m)
    assert [(r.what.split(":")[0], r.ratio) for r in rows] == [
        ("produce 10", "3.00x"), ("consume 10", "0.50x"), ("consume 10", "2.00x")]
    assert "from assign()" in rows[2].what


def test_each_run_starts_with_another_variant() -> None:
    case = cases.PeersClients()
    assert [case.ordered([1, 2, 3]) for _ in range(4)] == [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 2, 3]]


def test_sizes_per_scale() -> None:
    quick, full, smoke = (cases.PeerSizes.of(s) for s in ("quick", "full", "smoke"))
    assert smoke.ship_lines < quick.ship_lines < full.ship_lines
    assert quick.latency_rate == full.latency_rate == 1_000


def test_configurations_name_the_file_topic_and_broker(tmp_path: Path) -> None:
    rsyslog = shippers.Rsyslog.__new__(shippers.Rsyslog)
    conf = rsyslog.config(Path("/logs/app.log"), "t1", "127.0.0.1:9", tmp_path)
    assert 'file="/logs/app.log"' in conf and 'topic="t1"' in conf and 'broker=["127.0.0.1:9"]' in conf
    assert "request.required.acks=-1" in conf and f'workDirectory="{tmp_path}"' in conf
    syslog_ng = shippers.SyslogNg.__new__(shippers.SyslogNg)
    syslog_ng.version = "3.38"
    conf = syslog_ng.config(Path("/logs/app.log"), "t1", "127.0.0.1:9")
    assert conf.startswith("@version: 3.38\n")
    assert 'file("/logs/app.log"' in conf and 'topic("t1")' in conf and '"acks" => "all"' in conf
    assert conf.count("{") == conf.count("}")


def test_a_daemon_that_exits_says_why(tmp_path: Path) -> None:
    daemon = _daemon.Daemon("fake", ["sh", "-c", "echo 'config error on line 3'; exit 3"], env=dict(os.environ),
                            log=tmp_path / "fake.log")
    with daemon:
        assert daemon.process is not None
        daemon.process.wait(30)
        with pytest.raises(RuntimeError, match="fake exited 3: config error on line 3"):
            daemon.check_running()


def test_a_daemon_that_may_exit_fails_only_on_a_bad_status(tmp_path: Path) -> None:
    for status, fails in ((0, False), (4, True)):
        daemon = _daemon.Daemon("once", ["sh", "-c", f"exit {status}"], env=dict(os.environ), log=tmp_path / "l",
                                may_exit=True)
        with daemon:
            assert daemon.process is not None
            daemon.process.wait(30)
            if fails:
                with pytest.raises(RuntimeError, match="once exited 4"):
                    daemon.check_running()
            else:
                daemon.check_running()
            assert daemon.cpu_seconds() >= 0.0


def test_cpu_seconds_of_a_process() -> None:
    sum(range(2_000_000))
    assert _daemon.cpu_seconds(os.getpid()) > 0
    assert _daemon.cpu_seconds(2**22 + 12345) == 0.0  # no such process


def test_latency_summary() -> None:
    values = [float(v) for v in range(1, 101)]
    assert linerate.summary(values) == {"p50_ms": 51.0, "p90_ms": 91.0, "p99_ms": 100.0, "max_ms": 100.0}
    assert linerate.percentile([], 0.5) != linerate.percentile([], 0.5)  # nan


def test_append_to_record_timestamp_only_when_the_timestamps_can_say_it() -> None:
    assert linerate.handed_over([-0.5, 2.0, 3.0, 4.0]) == {"p50_ms": 3.0, "p99_ms": 4.0}  # ms rounding: fine
    whole_seconds = linerate.handed_over([-587.0, 10.0])  # rsyslog: record time before the append
    assert all(v != v for v in whole_seconds.values())
    assert all(v != v for v in linerate.handed_over([]).values())


def test_stamped_lines_carry_their_write_time() -> None:
    line = linerate.stamped(b"line", 7, now_ns=123)
    kind, written, rest = line.split(b" ", 2)
    assert (kind, int(written), rest[:8]) == (b"line", 123, b"00000007")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
