"""Help and usage as a user reads them (issue 19 point 6): metavars, order, one example per
command, the usage line on a missing argument, and the README's synopsis equal to the CLI's.

``streamline PATH --help`` is answered from texts stored in ``streamline/cli/_helptexts.py``
(start-up, see test_startup.py); these tests hold them equal to what typer renders today.
After changing any help: ``python -m streamline.cli._helpgen`` (and ``... synopsis`` for the README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cliresults import assert_ok, assert_one_error

from streamline.cli._helpgen import README_BLOCK, command_paths, help_texts, render, synopsis
from streamline.cli._helptexts import HELP

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")
README = Path(__file__).resolve().parents[2] / "README.md"
REGENERATE = "run `python -m streamline.cli._helpgen` and commit streamline/cli/_helptexts.py and README.md"


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """What typer renders for every command path at 80 columns (the stored texts' width)."""
    return help_texts()


@dataclass
class Ran:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def __str__(self) -> str:
        return f"streamline {' '.join(self.args)} -> exit {self.returncode}\nstdout: {self.stdout!r}\nstderr: {self.stderr!r}"


def run(*args: str, env: dict[str, str] | None = None) -> Ran:
    """The installed command without a broker (no STREAMLINE_* settings but ``env``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_") and k != "COLUMNS"}
    proc = subprocess.run([STREAMLINE, *args], capture_output=True, env={**clean, **(env or {})}, timeout=60,
                          stdin=subprocess.DEVNULL)
    return Ran(args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def test_stored_help_texts_equal_what_typer_renders(rendered: dict[str, str]) -> None:
    from streamline.cli._fast import fingerprint, typer_fingerprint
    from streamline.cli._helptexts import FINGERPRINT, TYPER

    # Otherwise the stored texts are ignored (typer answers: right, but slow).
    assert fingerprint() == FINGERPRINT, REGENERATE
    if typer_fingerprint() != TYPER:  # a typer release newer than the texts: typer answers --help
        pytest.skip(f"another typer than the stored help texts were rendered with: {REGENERATE}")
    assert set(HELP) == set(rendered), REGENERATE
    for path, text in rendered.items():
        assert HELP[path] == text, f"`streamline {path} --help` changed: {REGENERATE}"


@pytest.mark.parametrize("path", ["", "produce", "consume", "topics", "topics create", "groups reset-offsets"])
def test_the_installed_command_prints_the_same_help_as_typer(path: str, rendered: dict[str, str]) -> None:
    for flag in ("--help", "-h"):
        result = run(*path.split(), flag)
        assert_ok(result)
        assert result.stdout == rendered[path]


def test_a_narrow_terminal_gets_typers_own_narrower_help() -> None:
    result = run("topics", "create", "--help", env={"COLUMNS": "60"})
    assert_ok(result)
    assert result.stdout == render(("topics", "create"), columns=60)
    assert max(len(line) for line in result.lines) <= 60
    assert result.stdout != HELP["topics create"]


def test_help_after_options_or_of_an_unknown_command_still_works() -> None:
    # Not stored: typer answers (global options before the command, help after the options).
    result = run("-b", "127.0.0.1:1", "produce", "--help")
    assert_ok(result)
    assert result.stdout == HELP["produce"]
    assert_one_error(run("nope", "--help"), 2)


def _name_column(text: str) -> list[str]:
    """The option/argument column (what precedes the help text) of every entry."""
    names = []
    section = ""
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line
        elif section in ("Options:", "Arguments:") and re.match(r"^  \S", line):
            names.append(re.split(r"\s{2,}", line.strip())[0])
    return names


def test_metavars_read_like_words_not_types(rendered: dict[str, str]) -> None:
    for path, text in rendered.items():
        usage = text.splitlines()[0]
        assert usage.startswith(f"Usage: streamline {path}".rstrip()), usage
        for piece in [usage, *_name_column(text)]:
            assert not re.search(r"<[^>]*>|\{\w+\}", piece), f"`streamline {path} --help`: {piece!r}"
    assert "Usage: streamline produce [OPTIONS] TOPIC" in rendered["produce"]
    assert "-p, --partition N" in rendered["consume"]
    assert "-c, --config K=V" in rendered["topics create"]
    assert "--checkpoints DIR" in rendered["ship"]
    assert "--exclude PATTERN" in rendered["follow"]
    assert "Usage: streamline top [OPTIONS] [ADDR:PORT]" in rendered["top"]
    assert "-b, --bootstrap-servers HOST:PORT" in rendered[""]


def test_every_command_and_group_has_exactly_one_example(rendered: dict[str, str]) -> None:
    for path, text in rendered.items():
        examples = [line for line in text.splitlines() if line.strip().startswith("Example:")]
        assert len(examples) == 1, f"`streamline {path} --help` has {len(examples)} examples"
        if path:  # the example runs this command
            example = text[text.index("Example:"):].split("\n\n")[0]
            assert re.search(rf"streamline .*\b{path.split()[0]}\b", example, re.S), (path, example)


def test_commands_are_listed_in_the_order_of_the_data_flow(rendered: dict[str, str]) -> None:
    text = rendered[""]
    listed = [line.split()[0] for line in text[text.index("Commands:"):].splitlines()[1:] if line.strip()]
    assert listed == ["produce", "consume", "ship", "agent", "run", "topics", "groups", "cluster", "top", "follow",
                      "broker", "demo"]


def test_the_readme_synopsis_is_the_clis() -> None:
    text = README.read_text()
    block = text[text.index(README_BLOCK) + len(README_BLOCK):]
    block = block[: block.index("```\n")]
    assert block == synopsis(), f"README's CLI synopsis is stale: {REGENERATE}"
    # Every command path appears in it, and every visible option of every command.
    for command, path in command_paths():
        if path and not hasattr(command, "list_commands"):
            assert f"streamline {' '.join(path)}" in block
            for param in command.params:
                if param.param_type_name == "option" and not param.hidden and param.name != "help":
                    assert max(param.opts, key=len) in block, (path, param.opts)


def test_a_missing_argument_shows_the_usage_line() -> None:
    line = assert_one_error(run("produce"), 2)
    assert "Missing argument 'TOPIC'" in line
    assert "Usage: streamline produce [OPTIONS] TOPIC" in line
    line = assert_one_error(run("groups", "reset-offsets", "g"), 2)
    assert "Missing option '--topic'" in line and "Usage: streamline groups reset-offsets" in line


@pytest.mark.parametrize(
    "args, expected",
    [
        (("produce", "t", "--partition", "abc"), "'abc' is not a whole number"),
        (("produce", "t", "--max-message-bytes", "5"), "must be >= 1024 (got 5)"),
        (("consume", "t", "--timeout", "soon"), "'soon' is not a number"),
        (("broker", "--port", "70000"), "must be <= 65535 (got 70000)"),
        (("produce", "t", "--connect-timeout", "x"), "'x' is not a number"),
    ],
)
def test_bad_option_values_are_one_line_naming_the_option(args: tuple[str, ...], expected: str) -> None:
    line = assert_one_error(run(*args), 2)
    assert expected in line
    assert "Invalid value for '--" in line


def test_every_command_takes_the_global_options_once() -> None:
    """Hidden copies of the global options are added to every command and group, except where
    the command has an option of that name itself (its own wins; no flag is declared twice)."""
    root = next(command_paths())[0]
    global_flags = {flag for p in root.params if p.name not in ("help", "version") for flag in p.opts}
    for command, path in command_paths():
        if not path:
            continue
        flags = [flag for p in command.params for flag in (*p.opts, *p.secondary_opts)]
        assert len(flags) == len(set(flags)), (path, sorted(flags))
        assert global_flags <= set(flags), (path, global_flags - set(flags))


def test_global_options_work_after_the_command_name(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    # The environment points nowhere: only -b after the command name can reach the broker.
    env = {"STREAMLINE_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    sent = cli("produce", topic, "--value", "after", "-b", cli.bootstrap, "--connect-timeout", "20", env=env)
    assert_ok(sent)
    assert sent.stdout == "partition: 0, offset: 0\n"
    read = cli("consume", topic, "--from", "beginning", "--exit-at-end", "-f", "value",
               "--bootstrap-servers", cli.bootstrap, "--log-level", "info", env=env)
    assert_ok(read)
    assert read.stdout == "after\n"
    listed = cli("topics", "list", "-b", cli.bootstrap, env=env)
    assert_ok(listed)
    assert topic in listed.lines
    grouped = cli("topics", "-b", cli.bootstrap, "list", env=env)  # between a group and its command
    assert_ok(grouped)
    assert topic in grouped.lines
    # After the command wins over before it (the nearer one), as with kcat's repeated options.
    both = cli("-b", "127.0.0.1:1", "topics", "list", "-b", cli.bootstrap, env=env)
    assert_ok(both)
    # A bad value after the command is the same one-line usage error as before it.
    assert "must be one of" in assert_one_error(cli("topics", "list", "--log-level", "loud"), 2)
