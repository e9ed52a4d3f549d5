"""The public Pipeline/Stage/sink API is typed: mypy (strict) accepts correct use and rejects a
stage function of the wrong type (issue 13 point 8)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
import asyncio
from collections.abc import AsyncIterator, Awaitable

from streamline import Batch, OnError, Pipeline, Sink, Stage



def parse(line: bytes) -> dict[str, str] | None:
    return {"line": line.decode()} if line else None


async def enrich(record: dict[str, str]) -> list[dict[str, str]]:
    return [record, record]


def words(values: list[bytes]) -> list[bytes]:
    return values


class Printer:
    name = "printer"

    async def submit(self, batch: Batch) -> Awaitable[None]:
        return asyncio.sleep(0)


async def lines() -> AsyncIterator[bytes]:
    yield b"a"


def collect(values: list[object]) -> None:
    pass


async def main() -> None:
    parsing: Stage[bytes, dict[str, str]] = Stage(parse, name="parse", on_error=OnError(retries=1, then="skip"))
    enriching: Stage[dict[str, str], dict[str, str]] = Stage(enrich)
    sink: Sink = Printer()
    await Pipeline(lines(), parsing, enriching, Stage(words, batch=True), to=collect).run()
    await Pipeline(lines(), parse, to=[collect, sink]).run()
"""

BAD = """
from collections.abc import AsyncIterator

from streamline import Pipeline, Stage


def parse(line: bytes) -> int:
    return len(line)


async def lines() -> AsyncIterator[bytes]:
    yield b"a"


parsing: Stage[str, int] = Stage(parse)    # wrong input type
Stage(42)                                   # not a function
Pipeline(lines(), parse, to=42)             # not a sink
"""


def check(tmp_path: Path, source: str) -> tuple[str, int]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(source))
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path.parent / "mypy-cache"),  # shared by both snippets of one session
            str(snippet),
        ]
    )
    return stdout + stderr, status


def test_typed_use_of_pipeline_and_stage_passes_mypy(tmp_path: Path) -> None:
    output, status = check(tmp_path, GOOD)
    assert status == 0, output


def test_a_stage_function_of_the_wrong_type_is_a_mypy_error(tmp_path: Path) -> None:
    output, status = check(tmp_path, BAD)
    assert status == 1, output
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert len(errors) == 3, output
    assert any(":15:" in line for line in errors), output  # Stage[str, int] = Stage(parse)
    assert any(":16:" in line for line in errors), output  # Stage(42)
    assert any(":17:" in line for line in errors), output  # to=42
