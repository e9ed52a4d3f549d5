"""Typed values on the command line (issue 15 point 5): ``produce --format json
--skip-invalid``, nested JSON values in ``consume --format json``, Avro with ``--value-schema``."""

from __future__ import annotations

import json
from pathlib import Path

from cliresults import assert_ok, assert_one_error

from streamline import AvroCodec, Producer, consume

SCHEMA = {
    "type": "record", "name": "Order",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "blob", "type": ["null", "bytes"], "default": None},
    ],
}


async def values(bootstrap: str, topic: str, total: int) -> list[bytes | None]:
    got: list[bytes | None] = []
    async with consume(topic, start="beginning", bootstrap_servers=bootstrap) as stream:
        async for msg in stream:
            got.append(msg.value)
            if len(got) == total:
                break
    return got


async def test_skip_invalid_sends_the_good_lines_and_names_the_first_bad_one(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    data = b'{"value": "a"}\n{oops\n{"value": "b"}\n[1]\n{"value": {"nested": ["\xc3\xbc", 1]}}\n'
    result = cli("produce", topic, "-f", "json", "--skip-invalid", input=data)
    assert_ok(result)
    assert "produced 3 messages" in result.stderr
    assert "skipped 2 invalid lines, the first: line 2: not JSON" in result.stderr
    assert await values(kafka_bootstrap, topic, 3) == [b"a", b"b", '{"nested":["ü",1]}'.encode()]
    # without it: one error naming the line, nothing from that line on
    other = new_topic(partitions=1)
    error = assert_one_error(cli("produce", other, "-f", "json", input=data), 2)
    assert "line 2: not JSON" in error and "sent the 1 message before it" in error


async def test_consume_json_nests_json_values_and_they_replay(cli, kafka_bootstrap, new_topic) -> None:
    source, copy = new_topic(partitions=1), new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send(source, {"id": 7, "customer": "Zoë", "lines": [{"sku": "ß"}]}, codec="json")
        await producer.send(source, b"[1, 2]")
        await producer.send(source, b"{not json")
        await producer.send(source, b"42")  # a JSON scalar stays a string: "42"
    dumped = cli("consume", source, "--from", "beginning", "--exit-at-end", "-f", "json")
    assert_ok(dumped)
    shown = [json.loads(line)["value"] for line in dumped.lines]
    assert shown == [{"id": 7, "customer": "Zoë", "lines": [{"sku": "ß"}]}, [1, 2], "{not json", "42"]
    assert '"customer":"Zoë"' in dumped.lines[0]  # UTF-8, not \\u escapes
    assert_ok(cli("produce", copy, "-f", "json", input=dumped.stdout.encode()))
    assert await values(kafka_bootstrap, copy, 4) == [
        b'{"id":7,"customer":"Zo\xc3\xab","lines":[{"sku":"\xc3\x9f"}]}', b"[1,2]", b"{not json", b"42",
    ]


async def test_value_schema_decodes_avro(cli, kafka_bootstrap, new_topic, tmp_path: Path) -> None:
    topic = new_topic(partitions=1)
    schema = tmp_path / "order.avsc"
    schema.write_text(json.dumps(SCHEMA))
    async with Producer(kafka_bootstrap, value=AvroCodec(schema)) as producer:
        await producer.send(topic, {"id": 1, "customer": "Zoë 東京", "tags": ["a", "ü"], "blob": b"\xff"})
        await producer.send(topic, b"\x00", codec=bytes)  # not a whole record
    result = cli("consume", topic, "--from", "beginning", "--exit-at-end", "-f", "json", "--value-schema", str(schema))
    assert_ok(result)
    first, second = (json.loads(line) for line in result.lines)
    assert first["value"] == {"id": 1, "customer": "Zoë 東京", "tags": ["a", "ü"], "blob": {"base64": "/w=="}}
    assert second["value"] == "\x00"
    assert result.stderr.count("does not decode as Avro") == 1 and "@1:" in result.stderr
    text = cli("consume", topic, "--from", "beginning", "--exit-at-end", "-n", "1", "--value-schema", str(schema))
    assert_ok(text)
    assert text.stdout.startswith('Partition:0 Offset:0 Key: Value:{"id":1,"customer":"Zoë 東京"')


def test_a_bad_schema_file_is_one_usage_error(cli, tmp_path: Path) -> None:
    missing = assert_one_error(cli("consume", "t", "--value-schema", str(tmp_path / "nope.avsc")), 2)
    assert "cannot read Avro schema" in missing
    (tmp_path / "bad.avsc").write_text("{")
    assert "is not JSON" in assert_one_error(cli("consume", "t", "--value-schema", str(tmp_path / "bad.avsc")), 2)
