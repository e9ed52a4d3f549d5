"""Parsers, headers and the envelope: what an event becomes before it is sent (no broker)."""

from __future__ import annotations

import json
import socket

import pytest

from streamline import ConfigurationError, InputSpec, Metadata, ParseError, Parser, Record
from streamline._ingest.records import RecordBuilder, _Parsed
from streamline._ingest.templates import KeyTemplate, TopicTemplate, line_bytes_for


class _Origin:
    def __init__(self, path: str, offsets: list[int]) -> None:
        self.path = path
        self._offsets = offsets

    def line_offsets(self) -> list[int]:
        return self._offsets


class _Batch:
    def __init__(self, values: list[bytes], path: str = "/var/log/app.log", offsets: list[int] | None = None) -> None:
        self.values = values
        self.origin = _Origin(path, offsets if offsets is not None else [i * 100 for i in range(len(values))])


def spec(**kwargs) -> InputSpec:
    return InputSpec("web", ("/var/log/app.log",), "logs", **kwargs)


def test_json_parser_sends_valid_objects_unchanged_and_flags_the_rest() -> None:
    builder = RecordBuilder(spec(parser=Parser("json")))
    items = builder.items(_Batch([b'{"a": 1}', b"not json", b"[1, 2]"]))
    assert items[0] == b'{"a": 1}'
    assert isinstance(items[1], Record) and items[1].value == b"not json"
    assert dict(items[1].headers)["streamline.parse_error"].startswith(b"not JSON")
    assert b"not a JSON object" in dict(items[2].headers)["streamline.parse_error"]
    assert builder.invalid == 2 and builder.skipped == 0


def test_invalid_events_can_be_skipped_or_stop_the_input() -> None:
    skipping = RecordBuilder(spec(parser=Parser("json", on_invalid="skip")))
    assert skipping.items(_Batch([b"{}", b"oops", b'{"b": 2}'])) == [b"{}", b'{"b": 2}']
    assert skipping.skipped == 1
    stopping = RecordBuilder(spec(parser=Parser("json", on_invalid="stop")))
    with pytest.raises(ParseError, match=r"/var/log/app.log: event at byte 100 not JSON"):
        stopping.items(_Batch([b"{}", b"oops"]))


def test_regex_parser_turns_named_groups_into_a_json_object() -> None:
    builder = RecordBuilder(spec(parser=Parser("regex", pattern=r"^(?P<ip>\S+) \S+ (?P<user>\S+) (?P<rest>.*)")))
    items = builder.items(_Batch([b"10.0.0.1 - alice GET /", b"short"]))
    assert json.loads(items[0]) == {"ip": "10.0.0.1", "user": "alice", "rest": "GET /"}
    assert items[1].value == b"short" and builder.invalid == 1


def test_cri_and_docker_parsers_send_the_text_and_keep_the_stream() -> None:
    builder = RecordBuilder(spec(parser=Parser("cri"), metadata=Metadata(headers=("stream",))))
    [item] = builder.items(_Batch([b"2024-01-01T00:00:00Z stderr F oh no"]))
    assert item.value == b"oh no" and item.headers == [("stream", b"stderr")]
    builder = RecordBuilder(spec(parser=Parser("docker"), metadata=Metadata(headers=("stream",))))
    line = json.dumps({"log": "hello\n", "stream": "stdout", "time": "2024-01-01T00:00:00Z"}).encode()
    [item] = builder.items(_Batch([line]))
    assert item.value == b"hello" and item.headers == [("stream", b"stdout")]


def test_headers_carry_the_chosen_metadata_and_static_fields() -> None:
    metadata = Metadata(headers=("host", "path", "offset", "input"), fields={"env": "prod"})
    builder = RecordBuilder(spec(metadata=metadata, key="{field1}"))
    [item] = builder.items(_Batch([b"k1 rest"], offsets=[4096]))
    assert item.value == b"k1 rest" and item.key == b"k1"
    assert item.headers == [
        ("host", socket.gethostname().encode()),
        ("path", b"/var/log/app.log"),
        ("offset", b"4096"),
        ("input", b"web"),
        ("env", b"prod"),
    ]


def test_envelope_wraps_the_message_and_merges_parsed_fields() -> None:
    builder = RecordBuilder(spec(metadata=Metadata(envelope=True, fields={"env": "prod"})))
    [item] = builder.items(_Batch([b"GET / \xff"], offsets=[7]))
    assert item.headers == [("env", b"prod")]  # static fields: in the envelope and as headers
    record = json.loads(item.value)
    assert record["message"] == "GET / \ufffd"
    assert (record["path"], record["offset"], record["input"], record["env"]) == ("/var/log/app.log", 7, "web", "prod")
    assert record["host"] == socket.gethostname() and record["@timestamp"].endswith("Z")
    parsed = RecordBuilder(spec(parser=Parser("json"), metadata=Metadata(envelope=True)))
    [value] = parsed.items(_Batch([b'{"level": "info", "path": "mine", "msg": "x"}']))
    record = json.loads(value)
    assert record["level"] == "info" and record["msg"] == "x"
    assert record["path"] == "/var/log/app.log"  # metadata wins a clash
    assert "message" not in record
    cri = RecordBuilder(spec(parser=Parser("cri"), metadata=Metadata(envelope=True)))
    [value] = cri.items(_Batch([b"2024-05-06T07:08:09.1Z stdout F text"]))
    record = json.loads(value)
    assert (record["@timestamp"], record["stream"], record["message"]) == ("2024-05-06T07:08:09.1Z", "stdout", "text")


def test_an_envelope_too_long_after_escaping_has_its_message_cut() -> None:
    builder = RecordBuilder(spec(metadata=Metadata(envelope=True)), max_value_bytes=2000)
    [value] = builder.items(_Batch([b"\x01" * 1000]))  # each byte escapes to 6
    assert len(value) <= 2000
    assert json.loads(value)["truncated"] is True


def test_bad_parser_and_metadata_settings_are_one_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="no named group"):
        RecordBuilder(spec(parser=Parser("regex", pattern=r"\S+")))
    with pytest.raises(ConfigurationError, match="not valid"):
        RecordBuilder(spec(parser=Parser("regex", pattern=r"(?P<x>")))
    with pytest.raises(ConfigurationError, match="needs a pattern"):
        RecordBuilder(spec(parser=Parser("regex")))
    with pytest.raises(ConfigurationError, match="unknown metadata header 'pid'"):
        RecordBuilder(spec(metadata=Metadata(headers=("pid",))))


def test_templates() -> None:
    assert TopicTemplate("logs-{name}").for_file("/var/log/nginx/access.log") == "logs-access.log"
    assert TopicTemplate("{input}.{path}", input_name="web").for_file("/var/log/a b.log") == "web.var_log_a_b.log"
    with pytest.raises(ConfigurationError, match=r"unknown placeholder \{field1\}"):
        TopicTemplate("t-{field1}")
    with pytest.raises(ConfigurationError, match="invalid topic name"):
        TopicTemplate("bad topic {name}")
    key = KeyTemplate("{input}/{field2}", input_name="web")
    assert key.for_line("/a.log", b"one two three") == b"web/two"
    assert key.for_line("/a.log", b"one") == b"web/"
    assert line_bytes_for(1_048_576, None, envelope=True) < line_bytes_for(1_048_576, None) // 2 + 1


def test_the_fast_envelope_is_the_same_json_as_the_general_one() -> None:
    builder = RecordBuilder(spec(metadata=Metadata(envelope=True, fields={"env": "prod", "q": 'a"b'})))
    lines = [b"plain", b'quote " and \\ backslash', "ünïcode".encode(), b"\x00\x1f ctl", b"bad \xff"]
    fast = builder.items(_Batch(lines))
    general = [builder._envelope(_Parsed(line), "/var/log/app.log", i * 100, "") for i, line in enumerate(lines)]
    for item, expected in zip(fast, general, strict=True):
        got, want = json.loads(item.value), json.loads(expected)
        got.pop("@timestamp"), want.pop("@timestamp")
        assert got == want
        assert list(json.loads(item.value)) == list(json.loads(expected))  # same key order
