"""Codecs (issue 15): round trips with non-ASCII, nested and optional fields; bad input fails
clearly; what ``value=`` accepts; decoding a fetched batch and the failure bookkeeping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pydantic
import pytest

from streamline import (
    AutoCodec,
    AvroCodec,
    Codec,
    ConfigurationError,
    JsonCodec,
    Message,
    PydanticCodec,
    StructCodec,
    TextCodec,
)
from streamline._codecs import as_codec
from streamline._consume.decoding import Decoding
from streamline._consume.progress import Progress


class Line(msgspec.Struct):
    sku: str
    qty: int


class Order(msgspec.Struct):
    id: int
    customer: str
    lines: list[Line]
    note: str | None = None
    tags: dict[str, list[int]] = {}


class PLine(pydantic.BaseModel):
    sku: str
    qty: int


class POrder(pydantic.BaseModel):
    id: int
    customer: str
    lines: list[PLine]
    note: str | None = None


NASTY = "Zoë 東京 🚀 \"quoted\" \\ \n tab\t \u2028"


def test_text_round_trip_and_strict_utf8() -> None:
    codec = TextCodec()
    assert codec.decode(codec.encode(NASTY)) == NASTY
    with pytest.raises(UnicodeDecodeError):
        codec.decode(b"\xff\xfe")
    with pytest.raises(TypeError, match="expected str, got bytes"):
        codec.encode(b"x")  # type: ignore[arg-type]


def test_json_round_trip_nested_non_ascii_and_bad_input() -> None:
    codec = JsonCodec()
    doc = {"name": NASTY, "nested": {"list": [1, 2.5, None, True, {"deep": ["ü"]}]}, "empty": {}}
    data = codec.encode(doc)
    assert codec.decode(data) == doc
    assert json.loads(data) == doc  # standard JSON, readable by any client
    for bad in (b"{not json", b"", b"[1,", b"\xff"):
        with pytest.raises(ValueError):
            codec.decode(bad)
    with pytest.raises(TypeError):
        codec.encode({1, 2})


def test_struct_round_trip_optional_fields_and_validation() -> None:
    codec = StructCodec(Order)
    full = Order(1, NASTY, [Line("ß", 2), Line("東", 3)], note="✓", tags={"a": [1]})
    assert codec.decode(codec.encode(full)) == full
    minimal = codec.decode(b'{"id": 2, "customer": "x", "lines": []}')
    assert (minimal.note, minimal.tags) == (None, {})  # optional fields take their defaults
    with pytest.raises(msgspec.ValidationError, match=r"Expected `int`, got `str` - at `\$.id`"):
        codec.decode(b'{"id": "2", "customer": "x", "lines": []}')
    with pytest.raises(msgspec.ValidationError, match="missing required field `customer`"):
        codec.decode(b'{"id": 2, "lines": []}')
    with pytest.raises(msgspec.DecodeError):
        codec.decode(b"\x00\x01")
    with pytest.raises(TypeError, match="expected Order, got dict"):
        codec.encode({"id": 1})  # type: ignore[arg-type]


def test_pydantic_round_trip_optional_fields_and_validation() -> None:
    codec = PydanticCodec(POrder)
    full = POrder(id=1, customer=NASTY, lines=[PLine(sku="ß", qty=2)], note="✓")
    assert codec.decode(codec.encode(full)) == full
    assert codec.decode(b'{"id": 2, "customer": "x", "lines": []}').note is None
    with pytest.raises(pydantic.ValidationError):
        codec.decode(b'{"id": "two", "customer": "x", "lines": []}')
    with pytest.raises(pydantic.ValidationError):
        codec.decode(b"{not json")
    with pytest.raises(TypeError):
        codec.encode(Order(1, "x", []))  # type: ignore[arg-type]


SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line", "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}],
        }}},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


def test_avro_round_trip_from_a_schema_file_and_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "order.avsc"
    path.write_text(json.dumps(SCHEMA))
    codec = AvroCodec(path)
    record = {"id": 7, "customer": NASTY, "lines": [{"sku": "ß", "qty": 2}], "note": None}
    assert codec.decode(codec.encode(record)) == record
    assert codec.decode(codec.encode({**record, "note": "✓"}))["note"] == "✓"
    with pytest.raises(Exception):  # noqa: B017 - fastavro raises several kinds
        codec.decode(b"\x02")  # truncated
    with pytest.raises(ValueError, match="left over"):
        codec.decode(codec.encode(record) + b"junk")
    with pytest.raises(Exception):  # noqa: B017
        codec.encode({"id": "seven"})
    with pytest.raises(ConfigurationError, match="cannot read Avro schema"):
        AvroCodec(tmp_path / "missing.avsc")
    (tmp_path / "bad.avsc").write_text('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(ConfigurationError, match="invalid Avro schema"):
        AvroCodec(tmp_path / "bad.avsc")


def test_what_value_accepts() -> None:
    assert as_codec(None) is None and as_codec(bytes) is None and as_codec("bytes") is None
    assert isinstance(as_codec(str), TextCodec) and isinstance(as_codec("text"), TextCodec)
    assert isinstance(as_codec("json"), JsonCodec) and isinstance(as_codec(json), JsonCodec)
    assert isinstance(as_codec(Order), StructCodec) and isinstance(as_codec(POrder), PydanticCodec)
    assert isinstance(as_codec("auto"), AutoCodec)
    custom = TextCodec()
    assert as_codec(custom) is custom
    for bad in (int, "yaml", 3, dict):
        with pytest.raises(ConfigurationError, match="value= must be bytes, str"):
            as_codec(bad)
    assert isinstance(TextCodec(), Codec) and isinstance(StructCodec(Order), Codec)


def test_auto_codec_picks_by_content_type_and_falls_back() -> None:
    auto = AutoCodec()
    assert auto.decode_with_headers(b'{"a": 1}', [("Content-Type", b"application/json; charset=utf-8")]) == {"a": 1}
    assert auto.decode_with_headers("ü".encode(), [("content-type", b"text/plain")]) == "ü"
    assert auto.decode_with_headers(b"\x00", []) == b"\x00"  # no header: the fallback (bytes)
    strict = AutoCodec(JsonCodec())
    with pytest.raises(ValueError, match="no codec for content-type 'text/plain'"):
        strict.decode_with_headers(b"x", [("content-type", b"text/plain")])
    with pytest.raises(ValueError, match="no content-type header"):
        strict.decode_with_headers(b"x", [])


def test_import_streamline_does_not_import_codec_libraries() -> None:
    code = (
        "import sys, streamline; streamline.consume; streamline.Producer; streamline.Codec; "
        "print(sorted(m for m in ('msgspec', 'pydantic', 'fastavro', 'orjson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- decoding a fetched batch --------------------------------------------------------------------


def messages(values: list[bytes | None], start: int = 0) -> list[Message]:
    return [Message.create("t", 0, start + i, value=v, key=b"k%d" % i) for i, v in enumerate(values)]


class _Failures:
    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    async def undecodable(self, msg, error, policy) -> None:  # type: ignore[no-untyped-def]
        self.seen.append((msg.offset, str(error)))


def decoding(progress: Progress, policy, *, manual: bool = False, key=None) -> tuple[Decoding, _Failures]:  # type: ignore[no-untyped-def]
    failures = _Failures()
    return Decoding(
        StructCodec(Line), key, progress=progress, manual=manual, policy=lambda: policy,
        failures=lambda: failures,  # type: ignore[arg-type,return-value]
    ), failures


GOOD = b'{"sku": "a", "qty": 1}'


async def test_a_batch_decodes_in_place_and_keeps_its_bytes() -> None:
    dec, _ = decoding(Progress(manual=False), None, key=TextCodec())
    batch = messages([GOOD, GOOD])
    [out] = await dec.apply({("t", 0): batch}, {("t", 0): None})
    assert out is batch and [m.value for m in out] == [Line("a", 1)] * 2
    assert [(m.raw_value, m.key, m.raw_key) for m in out] == [(GOOD, "k0", b"k0"), (GOOD, "k1", b"k1")]
    assert out[0].text == GOOD.decode()


async def test_skipped_failures_move_the_auto_commit_past_them_even_at_the_end() -> None:
    from streamline import OnError

    progress = Progress(manual=False)
    dec, failures = decoding(progress, OnError(then="skip"))
    batch = messages([b"bad", GOOD, b"bad", GOOD, None, b"{}"], start=10)
    [out] = await dec.apply({("t", 0): batch}, {("t", 0): 10})
    assert [m.offset for m in out] == [11, 13]
    assert [o for o, _ in failures.seen] == [10, 12, 14, 15]
    assert "tombstone" in failures.seen[2][1] and "missing required field" in failures.seen[3][1]
    assert out[0].value == Line("a", 1)
    assert progress.committable() == {}
    progress.mark(("t", 0), 12)  # 11 processed: the commit may pass 10, not 12
    assert progress.committable() == {("t", 0): 12}
    progress.mark(("t", 0), 14)  # 13 processed: the trailing failures 14, 15 count as processed
    assert progress.committable() == {("t", 0): 16}
    # the next fetch is all failures: chained from where the last one ended
    [] = await dec.apply({("t", 0): messages([b"x", b"y"], start=16)}, {("t", 0): 16})
    assert progress.committable() == {("t", 0): 18}


async def test_a_first_batch_of_failures_is_processed_at_once() -> None:
    from streamline import OnError

    progress = Progress(manual=False)
    dec, _ = decoding(progress, OnError(then="skip"))
    assert await dec.apply({("t", 0): messages([b"x"], start=5)}, {("t", 0): None}) == []
    assert progress.committable() == {("t", 0): 6}


async def test_manual_mode_acknowledges_the_failures() -> None:
    from streamline import OnError

    progress = Progress(manual=True)
    dec, _ = decoding(progress, OnError(then="skip"), manual=True)
    batch = messages([GOOD, b"bad", GOOD, b"bad"])
    progress.deliver(("t", 0), batch)
    [out] = await dec.apply({("t", 0): batch}, {("t", 0): None})
    assert progress.committable() == {}
    progress.ack(out)
    assert progress.committable() == {("t", 0): 4}


async def test_stop_keeps_what_came_before_and_raises_on_the_next_fetch() -> None:
    progress = Progress(manual=False)
    dec, failures = decoding(progress, None)
    [out] = await dec.apply({("t", 0): messages([GOOD, b"bad", GOOD])}, {("t", 0): None})
    assert [m.offset for m in out] == [0] and failures.seen == []
    assert dec.error is not None
    assert str(dec.error).startswith("t[0]@1: value does not decode as Line: DecodeError: JSON is malformed")
