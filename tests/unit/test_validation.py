"""Input validation: every rejection is a ConfigurationError stating the rule."""

from datetime import datetime, timezone

import pytest

from streamline import ConfigurationError, Producer, consume
from streamline._validation import (
    check_acks,
    check_compression,
    check_headers,
    check_topic,
    parse_header_arg,
    parse_start,
    to_bytes,
)


@pytest.mark.parametrize("name", ["logs", "a", "A.b_c-9", "x" * 249, "..."])
def test_legal_topic_names(name: str) -> None:
    assert check_topic(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "x" * 250, "has space", "slash/", "ümlaut", "tab\t"])
def test_illegal_topic_names_state_the_rule(name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"1-249 characters of a-z, A-Z, 0-9"):
        check_topic(name)


@pytest.mark.parametrize("given,expected", [(0, 0), (1, 1), ("all", "all"), (-1, "all"), ("0", 0), ("ALL", "all")])
def test_acks_normalised(given: object, expected: object) -> None:
    assert check_acks(given) == expected


@pytest.mark.parametrize("bad", [2, "most", True, None, "leader"])
def test_bad_acks_list_allowed_values(bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"0, 1, 'all'"):
        check_acks(bad)


def test_start_aliases_and_offsets() -> None:
    assert [parse_start(s) for s in ("end", "latest", "newest")] == ["end"] * 3
    assert [parse_start(s) for s in ("beginning", "earliest", "oldest")] == ["beginning"] * 3
    assert parse_start(5) == 5 and parse_start("17") == 17


def test_start_times_are_timezone_aware() -> None:
    assert parse_start("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert parse_start("2026-01-02T03:04:05").tzinfo is not None
    naive = datetime(2026, 1, 1)
    assert parse_start(naive) == naive.astimezone()  # local time, as Python reads naive datetimes
    assert parse_start(naive).timestamp() == naive.timestamp()


@pytest.mark.parametrize("bad", ["yesterday", -1, "-3", True, 1.5, "2026-13-45"])
def test_bad_start_lists_allowed_values(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="start"):
        parse_start(bad)  # type: ignore[arg-type]


def test_compression_choices() -> None:
    assert check_compression(None) is None and check_compression("zstd") == "zstd"
    with pytest.raises(ConfigurationError, match="gzip, snappy, lz4, zstd"):
        check_compression("brotli")


def test_values_accept_bytes_and_str() -> None:
    assert to_bytes("é", "value") == "é".encode()
    assert to_bytes(bytearray(b"x"), "value") == b"x"
    with pytest.raises(ConfigurationError, match="value must be bytes or str"):
        to_bytes(42, "value")  # type: ignore[arg-type]


def test_headers() -> None:
    assert check_headers({"a": "1", "b": b"2"}) == [("a", b"1"), ("b", b"2")]
    assert check_headers(None) is None
    with pytest.raises(ConfigurationError, match="non-empty strings"):
        check_headers([("", b"x")])
    with pytest.raises(ConfigurationError, match="key=value"):
        parse_header_arg("novalue")


def test_producer_rejects_bad_options_before_connecting() -> None:
    # The bootstrap address is unroutable on purpose: validation must fail first.
    for kwargs, match in [
        ({"acks": "most"}, "acks"),
        ({"partitioner": "sticky"}, "partitioner"),
        ({"compression": "brotli"}, "compression"),
        ({"linger_ms": -1}, "linger_ms"),
    ]:
        with pytest.raises(ConfigurationError, match=match):
            Producer("127.0.0.1:1", **kwargs)  # type: ignore[arg-type]


def test_consume_rejects_bad_options_before_connecting() -> None:
    with pytest.raises(ConfigurationError, match="invalid topic name"):
        consume("bad topic", bootstrap_servers="127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="start"):
        consume("ok", bootstrap_servers="127.0.0.1:1", start="sometime")
    with pytest.raises(ConfigurationError, match="at least one topic"):
        consume([], bootstrap_servers="127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="fetch_max_wait"):
        consume("ok", bootstrap_servers="127.0.0.1:1", fetch_max_wait=0)


@pytest.mark.parametrize("before", ["1969-12-31T23:59:59Z", "1900-01-01", datetime(1969, 7, 20, tzinfo=timezone.utc)])
def test_start_times_before_1970_are_refused(before: object) -> None:
    with pytest.raises(ConfigurationError, match="before 1970"):
        parse_start(before)  # type: ignore[arg-type]
