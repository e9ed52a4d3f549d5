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


# Keys and values that json.dumps writes differently from their raw bytes (or not at all as
# text), and a few it writes as they are; each is put into a batch that is otherwise plain.
SPECIAL = [
    b'"', b"\\", b"\x7f", "é😀\u2028".encode(), b"\xff", b"\xc3", b"\xa9", b"", b"%s %d %%",
    *(bytes([c]) for c in range(32)),
]


def _batch(topic: str = "t", *, keys: bool, values: bool, n: int = 5, special: bytes | None = None) -> list[Message]:
    batch = [
        Message.create(topic, 3, 100 + i, key=b"k%d" % i if keys else None, value=b"v%d" % i if values else None,
                       timestamp=1_700_000_000_000 + i // 2)
        for i in range(n)
    ]
    if special is not None:
        m = batch[2]
        batch[2] = Message.create(topic, 3, m.offset, key=special + b"k" if keys else None,
                                  value=b"v" + special if values else None, timestamp=m.timestamp)
    return batch


def _expected(batch: list[Message]) -> bytes:
    return "".join(reference_json(m) + "\n" for m in batch).encode()


@pytest.mark.parametrize("keys", [True, False])
@pytest.mark.parametrize("values", [True, False])
def test_json_of_plain_batches_takes_the_block_path_and_matches_json_dumps(keys: bool, values: bool) -> None:
    from streamline.cli._consume_format import _render_json_plain

    batch = _batch(keys=keys, values=values)
    # The block path takes batches with values (byte-exact); null values go the general way.
    assert _render_json_plain(batch) == (_expected(batch) if values else None)
    assert render_json(batch) == _expected(batch)
    assert render_json(_batch("a%db%%", keys=keys, values=values)) == _expected(_batch("a%db%%", keys=keys, values=values))


@pytest.mark.parametrize("special", SPECIAL, ids=repr)
@pytest.mark.parametrize("keys,values", [(True, True), (True, False), (False, True)])
def test_json_of_a_batch_with_one_odd_key_or_value_matches_json_dumps(special: bytes, keys: bool, values: bool) -> None:
    batch = _batch(keys=keys, values=values, special=special)
    assert render_json(batch) == _expected(batch)


def test_json_of_mixed_batches_matches_json_dumps() -> None:
    mixed_keys = _batch(keys=True, values=True)
    mixed_keys[1] = Message.create("t", 3, 101, key=None, value=b"v", timestamp=5)
    mixed_values = _batch(keys=False, values=True)
    mixed_values[4] = Message.create("t", 3, 104, value=None, timestamp=-1)
    headers = _batch(keys=False, values=True)
    headers[0] = Message.create("t", 3, 100, value=b"v", headers=[("h", b"x")])
    listed = _batch(keys=False, values=True)
    listed[3] = Message.create("t", 3, 103, value=b"v", headers=[])  # empty, but a list
    for batch in (mixed_keys, mixed_values, headers, listed, ODD[::-1]):
        assert render_json(batch) == _expected(batch)


def reference_template(template: str, batch: list[Message]) -> bytes:
    """A template line as the CLI wrote it before templates were compiled: str.format_map per message."""

    def text(data: bytes | None) -> str:
        return data.decode("utf-8", "replace") if data is not None else ""

    return "".join(
        (template + "\n").format_map({
            "topic": m.topic, "partition": m.partition, "offset": m.offset, "key": text(m.key),
            "value": text(m.value), "timestamp": m.timestamp, "timestamp_iso": iso_time(m.timestamp),
            "headers": ",".join(f"{name}={text(value)}" for name, value in m.headers),
        })
        for m in batch
    ).encode()


TEMPLATES = [
    "{offset} {value}",
    "{topic}/{partition}/{offset} {key}={value} [{headers}] {timestamp_iso} {timestamp}",
    "{key}{value}",  # raw fields side by side: the general renderer
    "{value}{offset}{partition}{key}",
    "{key}é{value} 100% %s %d %% {{literal}}",
    "{offset:>8} {value!r} {key!s:5}",  # specs and conversions: the general renderer
    "{{no fields}}",
    "{headers}|{value}",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_match_format_map_for_every_kind_of_batch(template: str) -> None:
    render = renderer(template)
    batches = [ODD, ODD[::-1], ODD[2:3], _batch(keys=True, values=True), _batch(keys=False, values=False)]
    batches += [_batch(keys=True, values=True, special=s) for s in SPECIAL]
    batches += [[*ODD[:1], Message.create("t", 0, 9, key=b"\xc3", value=b"\xa9")]]  # halves of one character
    for batch in batches:
        assert render(batch) == reference_template(template, batch), batch
    assert render([]) == b""


def test_plain_templates_are_compiled() -> None:
    from streamline.cli._consume_format import _compile_template

    assert _compile_template("{offset} {value}") is not None
    assert _compile_template("{topic} {partition} {key}:{value} {timestamp} {timestamp_iso} {headers}") is not None
    assert _compile_template("{key}{value}") is None
    assert _compile_template("{offset:>8}") is None
    assert _compile_template("{value!r}") is None


def test_printing_collects_less_and_restores_the_collector_after() -> None:
    import gc

    from streamline.cli._consume import _collecting_less

    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with _collecting_less():
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
