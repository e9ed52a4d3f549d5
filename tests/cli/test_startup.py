"""Start-up (issue 18 point 5): what the installed command imports, not how long it takes (the
wall times are in ``python -m benchmarks --case cli``).

- ``--help``/``--version`` are answered without typer (stored help texts, see test_help.py);
- a command imports its own module only, and no pydantic (typer >= 0.22 would, per value);
- ``import streamline`` imports no aiokafka, and every public name stays importable and listed.

The typer internals the CLI relies on live in ``streamline/cli/_typer_glue.py``; the first test
fails loudly, naming what changed, when a typer release moves them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")

#: Prints, at exit, which interesting modules the command imported (as JSON on stderr's last line).
PROBE = """
import atexit, json, sys
def report():
    names = sorted(m for m in sys.modules if m.split(".")[0] in ("typer", "pydantic", "aiokafka", "rich", "cramjam", "pathlib")
                   or m.startswith("streamline.cli._"))
    sys.stderr.write("\\n" + json.dumps(names) + "\\n")
atexit.register(report)
sys.argv = ["streamline", *sys.argv[1:]]
from streamline.cli import main
main()
"""


def imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_") and k != "COLUMNS"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL)
    return proc, set(json.loads(proc.stderr.splitlines()[-1]))


def test_the_typer_internals_the_cli_uses_are_there() -> None:
    import typer.core
    import typer.main
    from typer._coercion import RuntimeParam

    assert hasattr(typer.core._TyperParameter, "get_runtime_param")
    arg = set(dir(typer.core.TyperArgument))
    assert {"_usage_display_name", "_rich_display_name", "display_type_rich", "display_name_raw"} <= arg
    assert callable(typer.main.get_command_from_info) and callable(typer.main.get_group_from_info)
    assert "_coerce_value" in RuntimeParam.__abstractmethods__
    # And they are used: the CLI's parameters convert without pydantic.
    from streamline.cli._helpgen import root_command

    produce = root_command().get_command(None, "produce")
    partition = next(p for p in produce.params if p.name == "partition")
    assert type(partition.get_runtime_param()).__name__ == "_PlainParam"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], ["topics", "create", "--help"]])
def test_help_and_version_need_no_typer(args: list[str]) -> None:
    proc, modules = imported(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: streamline" if args != ["--version"] else "streamline 0.1.0")
    assert not {m for m in modules if m.startswith(("typer", "aiokafka", "pydantic"))}, modules
    assert modules <= {"streamline.cli._fast", "streamline.cli._helptexts"}, modules


def test_ship_runs_without_typer(tmp_path) -> None:
    # A following ship keeps no CLI framework in memory: its command line is read from the
    # stored option table (tests/cli/test_ship_fast_read.py). --must-exist fails before connecting.
    proc, modules = imported("ship", str(tmp_path / "missing.log"), "--topic", "t", "--must-exist")
    assert proc.returncode == 2, proc.stderr
    assert "(--must-exist)" in proc.stderr
    assert not {m for m in modules if m.startswith(("typer", "pydantic", "rich"))}, modules
    assert "streamline.cli._shiprun" in modules and "streamline.cli._ship" not in modules, modules


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_a_shipping_process_keeps_out_what_it_does_not_use(kafka_bootstrap, new_topic, tmp_path, compression) -> None:
    # Memory of a following ship (issue 18 point 3): no CLI framework, no pathlib (1 MB with what
    # it imports), and aiokafka's snappy/lz4/zstd library (1.5 MB) only when --compression needs it.
    topic = new_topic(partitions=1)
    log = tmp_path / "access.log"
    log.write_bytes(b"GET / 200\n" * 10)
    extra = ["--compression", compression] if compression else []
    proc, modules = imported("-b", kafka_bootstrap, "ship", str(log), "--topic", topic, "--from", "beginning",
                             "--once", "--checkpoints", str(tmp_path / "checkpoints"), *extra)
    assert proc.returncode == 0, proc.stderr
    assert "shipped 10 lines" in proc.stderr
    assert "aiokafka.producer" in modules and "streamline.cli._shiprun" in modules, modules
    assert not {m for m in modules if m.startswith(("typer", "pydantic", "rich", "pathlib"))}, modules
    assert ("cramjam.cramjam" in modules) == (compression is not None), modules


def test_a_command_imports_its_own_module_and_no_pydantic() -> None:
    # An invalid topic name fails after parsing, before connecting: no broker needed.
    proc, modules = imported("produce", "bad topic!", "--value", "x")
    assert proc.returncode == 2, proc.stderr
    assert "invalid topic name" in proc.stderr
    assert "streamline.cli._produce" in modules
    others = {"_consume", "_ship", "_topics", "_groups", "_top", "_follow", "_broker", "_demo", "_run_pipeline"}
    assert not {m for m in modules if m.rsplit(".", 1)[-1] in others}, modules
    assert not {m for m in modules if m.startswith(("pydantic", "rich"))}, modules


def test_import_streamline_is_lazy_and_every_public_name_is_there() -> None:
    code = (
        "import sys, streamline\n"
        "assert not [m for m in sys.modules if m.startswith('aiokafka')], 'import streamline pulled aiokafka'\n"
        "names = set(dir(streamline))\n"
        "missing = set(streamline.__all__) - names\n"
        "assert not missing, missing\n"
        "ns = {}\n"
        "exec('from streamline import *', ns)\n"
        "assert set(streamline.__all__) <= set(ns), set(streamline.__all__) - set(ns)\n"
        "assert ns['Producer'] is streamline.Producer and ns['consume'] is streamline.consume\n"
        "import streamline._producer\n"
        "assert streamline.Producer is streamline._producer.Producer\n"
        "try:\n"
        "    streamline.NoSuchThing\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchThing' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_every_lazy_export_names_the_module_that_defines_it() -> None:
    import importlib

    import streamline

    assert set(streamline._EXPORTS) == set(streamline.__all__)
    for name, module in streamline._EXPORTS.items():
        assert hasattr(importlib.import_module(module, "streamline"), name), (name, module)


def test_stored_help_from_other_sources_is_not_used(monkeypatch, capsys) -> None:
    from streamline.cli import _fast, _helptexts

    monkeypatch.setitem(_helptexts.HELP, "", "stale help\n")
    monkeypatch.setenv("COLUMNS", "100")
    assert _fast.answer(["--help"])  # rendered from these sources: used
    assert capsys.readouterr().out == "stale help\n"
    monkeypatch.setattr(_helptexts, "FINGERPRINT", "00000000")  # an edit or merge since: typer answers
    assert not _fast.answer(["--help"])
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(_helptexts, "FINGERPRINT", _fast.fingerprint())
    monkeypatch.setattr(_helptexts, "TYPER", "00000000")  # another typer release: it renders anew
    assert not _fast.answer(["--help"])
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(_helptexts, "TYPER", _fast.typer_fingerprint())
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setattr(_helptexts, "FINGERPRINT", _fast.fingerprint())
    assert not _fast.answer(["--help"])  # narrower than the stored texts: typer wraps them itself
    assert _fast.answer(["--version"])
    assert capsys.readouterr().out == "streamline 0.1.0\n"
