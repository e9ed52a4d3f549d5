"""The consume output formats, as pure functions (no broker): byte-exact against ``json.dumps``."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from streamline import Message
from streamline.cli._consume_format import (
    encode_bytes,
    iso_time,
    render_json,
    render_text,
    render_value,
    renderer,
)


def reference_json(m: Message) -> str:
    """The JSON line as the CLI wrote it before batching (json.dumps, default separators)."""
    return json.dumps(
        {
            "topic": m.topic,
            "partition": m.partition,
            "offset": m.offset,
            "key": encode_bytes(m.key),
            "value": encode_bytes(m.value),
            "headers": [[name, encode_bytes(value)] for name, value in m.headers],
            "timestamp": m.timestamp,
            "timestamp_iso": iso_time(m.timestamp),
        },
        ensure_ascii=False,
    )


ODD = [
    Message.create("t", 0, 0, key=None, value=None),
    Message.create("t", 0, 1, key=b"k", value=b'quote " backslash \\ tab \t nl \n nul \x00 \x7f'),
    Message.create("t", 0, 2, key="ключ".encode(), value="😀 é \u2028".encode(), timestamp=1_700_000_000_123),
    Message.create("t", 0, 3, key=b"\xff\xfe", value=b"\x80abc", headers=[("h", b"x"), ("bin", b"\xff"), ("n", None)]),
    Message.create("t", 0, 4, key=b"", value=b"", timestamp=1_700_000_000_123),
]


def test_json_is_byte_identical_to_json_dumps() -> None:
    expected = "".join(reference_json(m) + "\n" for m in ODD).encode()
    assert render_json(ODD) == expected
    for line in expected.decode().split("\n")[:-1]:  # not splitlines(): U+2028 is no line end here
        json.loads(line)


def test_text_and_value() -> None:
    assert render_text(ODD[:1]) == b"Partition:0 Offset:0 Key: Value:\n"
    assert render_text(ODD[3:4]) == "Partition:0 Offset:3 Key:\ufffd\ufffd Value:\ufffdabc\n".encode()
    assert render_value([ODD[0], ODD[3]]) == b"\n\x80abc\n"
    # One invalid key among valid messages: only it is replaced, the others stay as they are.
    assert render_text([ODD[2], ODD[3], ODD[4]]) == (
        "Partition:0 Offset:2 Key:ключ Value:😀 é \u2028\n"
        "Partition:0 Offset:3 Key:\ufffd\ufffd Value:\ufffdabc\n"
        "Partition:0 Offset:4 Key: Value:\n"
    ).encode()
    assert render_text(ODD[1:3]) == (
        'Partition:0 Offset:1 Key:k Value:quote " backslash \\ tab \t nl \n nul \x00 \x7f\n'
        "Partition:0 Offset:2 Key:ключ Value:😀 é \u2028\n"
    ).encode()


def test_iso_time_is_utc_with_milliseconds() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00.000Z"
    text = iso_time(1_700_000_000_123)
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == datetime.fromtimestamp(1_700_000_000.123, timezone.utc)


def test_template_fields() -> None:
    render = renderer("{topic}/{partition}/{offset} {key}={value} [{headers}] {timestamp_iso}")
    assert render(ODD[2:3]) == "t/0/2 ключ=😀 é \u2028 [] 2023-11-14T22:13:20.123Z\n".encode()


@pytest.mark.parametrize("bad", ["{nope}", "{value", "yaml", "{0}"])
def test_bad_formats_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        renderer(bad)
