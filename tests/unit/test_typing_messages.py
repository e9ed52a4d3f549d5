"""Typed messages are typed (issue 15 point 2): mypy (strict) sees ``msg.value`` as the
stream's value type, a bare ``Message`` is still ``Message[bytes, bytes]``, and misuse is an
error; ``examples/typed_orders.py`` type-checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]

SNIPPET = """
import msgspec
from streamline import Message, MessageStream, Producer, consume


class Order(msgspec.Struct):
    id: int


def old_style(msg: Message) -> bytes:
    return msg.value


async def main() -> None:
    async with Producer(value=Order) as producer:
        await producer.send("orders", Order(1), key="k")
        await producer.send_many("orders", [Order(2), ("k", Order(3))])
    async for msg in consume("orders", value=Order, key=str):
        reveal_type(msg.value)
        reveal_type(msg.key)
    async for raw in consume("logs"):
        reveal_type(raw.value)
    async for text in consume("logs", value="text"):
        reveal_type(text.value)
    stream: MessageStream[Order, bytes] = consume("orders", value=Order)
    async with stream:
        async for batch in stream.batches():
            reveal_type(batch[0].value)
    async for bad in consume("orders", value=Order):
        bad.value.nope
"""


def check(tmp_path: Path, source: str, target: str) -> str:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(source))
    stdout, stderr, _ = mypy_api.run(
        [
            "--strict", "--no-error-summary", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path.parent / "mypy-cache-typed"),
            str(snippet if target == "snippet" else ROOT / target),
        ]
    )
    return stdout + stderr


def test_message_values_have_the_stream_s_type(tmp_path: Path) -> None:
    lines = check(tmp_path, SNIPPET, "snippet").splitlines()
    notes = [line.split("Revealed type is ")[1] for line in lines if "Revealed type" in line]
    assert [n.replace("builtins.", "") for n in notes] == ['"snippet.Order"', '"str | None"', '"bytes"', '"str"', '"snippet.Order"']
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and '"Order" has no attribute "nope"' in errors[0], lines


def test_the_typed_orders_example_passes_mypy(tmp_path: Path) -> None:
    output = check(tmp_path, "", "examples/typed_orders.py")
    assert ": error:" not in output, output
