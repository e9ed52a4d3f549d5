"""send_many's checks on records with keys and headers (the compiled-builder path) and on
:class:`RecordColumns`, and null values: all before any network call (the producer here
is never started, so getting as far as "not started" means every check passed)."""

from __future__ import annotations

import pytest

from streamline import ConfigurationError, DeliveryError, Producer, Record, StreamlineError
from streamline._producer import RecordColumns

NOT_STARTED = "not started"


def producer(**options: object) -> Producer:
    return Producer("127.0.0.1:1", max_message_bytes=4096, **options)  # type: ignore[arg-type]


async def test_records_with_valid_keys_and_headers_pass_every_check() -> None:
    shared = [("host", b"web-1"), ("path", b"/var/log/app.log")]
    items = [
        Record(b"a", headers=shared),
        Record(b"b", key=b"k", headers=[*shared, ("offset", b"7")]),
        Record(None, key=b"k"),  # a tombstone with its key
        Record(b"c", headers=[("ünïcode", b"\x00\xff"), ("empty", b"")]),
    ]
    with pytest.raises(StreamlineError, match=NOT_STARTED):
        await producer().send_many("t", items)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        pytest.param([("h", 7)], "header 'h' must be bytes or str", id="int-value"),
        pytest.param([("", b"x")], "non-empty strings", id="empty-name"),
        pytest.param([(b"h", b"x")], "non-empty strings", id="bytes-name"),
        pytest.param([("h", b"x", b"y")], "dict or a list of", id="three-elements"),
    ],
)
async def test_a_bad_header_names_its_item_and_sends_nothing(headers: list, fragment: str) -> None:
    items = [Record(b"ok", headers=[("h", b"x")]) for _ in range(5)]
    items.insert(3, Record(b"bad", headers=headers))
    with pytest.raises(ConfigurationError, match=fragment):
        await producer().send_many("t", items)


async def test_headers_count_towards_the_size_limit() -> None:
    items = [Record(b"v", headers=[("h", b"x")]) for _ in range(4)]
    items.append(Record(b"v", headers=[("big", b"x" * 5000)]))
    with pytest.raises(DeliveryError, match=r"item 4 is too large"):
        await producer().send_many("t", items)


async def test_headers_given_as_str_or_dict_still_take_the_general_path() -> None:
    items = [Record(b"a", headers={"h": "x"}), Record("b", headers=[("h", "y")]), Record(b"c", headers=(("h", b"z"),))]
    p = producer()
    keyed, _ = p._prepare(items)
    assert [keyed[i][2] for i in range(3)] == [[("h", b"x")], [("h", b"y")], [("h", b"z")]]


def test_a_shared_headers_list_is_copied_once_and_never_handed_on_as_given() -> None:
    shared = [("host", b"a")]
    keyed, _ = producer()._prepare([Record(b"1", headers=shared), Record(b"2", headers=shared)])
    assert keyed[0][2] == keyed[1][2] == shared
    assert keyed[0][2] is not shared  # changing the caller's list later changes nothing queued


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(Record(None), id="record"),
        pytest.param((None, None), id="pair"),
        pytest.param(Record(None, headers=[("h", b"x")]), id="record-with-headers"),
    ],
)
async def test_a_null_value_without_a_key_passes_the_checks(item: object) -> None:
    # Kafka takes it (only a compacted topic refuses records without a key), and a dead letter
    # or a mirror of such a record must be able to send it as it was read.
    with pytest.raises(StreamlineError, match=NOT_STARTED):
        await producer().send_many("t", [b"a", b"b", item, b"c"])
    with pytest.raises(StreamlineError, match=NOT_STARTED):
        await producer().send("t", None)


def test_record_columns_index_to_the_records_they_stand_for() -> None:
    columns = RecordColumns(
        [b"a", b"b", b"c"], keys=[b"k0", None, b"k2"], headers=[("host", b"h"), ("path", b"p")],
        varying=("offset", [b"0", b"2", b"4"], 1),
    )
    assert len(columns) == 3
    assert columns[2] == Record(b"c", key=b"k2", headers=[("host", b"h"), ("offset", b"4"), ("path", b"p")])
    assert list(columns)[1] == Record(b"b", headers=[("host", b"h"), ("offset", b"2"), ("path", b"p")])
    assert RecordColumns([b"x"])[0] == Record(b"x")
    with pytest.raises(ConfigurationError, match="2 keys for 3 values"):
        RecordColumns([b"a", b"b", b"c"], keys=[b"k", b"k"])


@pytest.mark.parametrize(
    ("columns", "error", "fragment"),
    [
        pytest.param(RecordColumns([b"a", 5, b"c"]), ConfigurationError, "item 1: value must be bytes or str", id="value-type"),
        pytest.param(RecordColumns([b"a", b"b"], keys=[b"k", 3]), ConfigurationError, "item 1: key must be bytes", id="key-type"),
        pytest.param(RecordColumns([b"a"], headers=[("", b"x")]), ConfigurationError, "non-empty", id="header-name"),
        pytest.param(
            RecordColumns([b"a", b"b"], varying=("offset", [b"1", 2], 0)), ConfigurationError, "header 'offset'",
            id="varying-type",
        ),
        pytest.param(
            RecordColumns([b"a", b"b", b"c"], varying=("offset", [b"1", b"2", b"3" * 5000], 0)), DeliveryError,
            "item 2 is too large", id="varying-size",
        ),
        pytest.param(RecordColumns([b"a", b"x" * 5000]), DeliveryError, "item 1 is too large", id="value-size"),
    ],
)
async def test_bad_record_columns_name_the_record_and_send_nothing(columns: RecordColumns, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        await producer().send_many("t", columns)


async def test_record_columns_whose_longest_parts_would_not_fit_together_are_checked_one_by_one() -> None:
    columns = RecordColumns(
        [b"v" * 3000, b"w"], keys=[None, b"k"], headers=[("host", b"h")], varying=("offset", [b"1", b"9" * 900], 1)
    )
    assert columns.checked(4096 - 96) is None  # the bulk bound says "maybe too large"
    with pytest.raises(StreamlineError, match=NOT_STARTED):  # but each record fits
        await producer().send_many("t", columns)
    small = RecordColumns([b"v", b"w"], keys=[None, b"k"], headers=[("host", b"h")], varying=("offset", [b"1", b"2"], 0))
    headers, slot, name, varying = small.checked(4096 - 96)  # type: ignore[misc]
    assert (headers, slot, name, list(varying)) == ([("offset", b""), ("host", b"h")], 0, "offset", [b"1", b"2"])


@pytest.mark.parametrize(
    "shape",
    ["bare", "pair", "record", "record-with-headers", "columns"],
)
async def test_the_size_limit_is_the_same_for_every_shape_of_item(shape: str) -> None:
    """A record of key + value + headers + the per-record overhead (96 bytes, as counted) may be
    exactly max_message_bytes, whatever shape it was given in; one byte more is refused. (Keyed
    records used to count the overhead twice: refused 96 bytes early.)"""
    from streamline._producer import _RECORD_OVERHEAD, _checked_headers

    limit = 4096
    _, header_size = _checked_headers([("h", b"x")])  # how one small header is counted

    def item(total: int) -> object:
        if shape == "bare":
            return b"v" * (total - _RECORD_OVERHEAD)
        if shape == "pair":
            return (b"k", b"v" * (total - _RECORD_OVERHEAD - 1))
        if shape == "record":
            return Record(b"v" * (total - _RECORD_OVERHEAD - 1), key=b"k")
        return Record(b"v" * (total - _RECORD_OVERHEAD - header_size), headers=[("h", b"x")])

    async def send(total: int) -> None:
        if shape == "columns":
            columns = RecordColumns([b"v" * (total - _RECORD_OVERHEAD - header_size)], headers=[("h", b"x")])
            await producer().send_many("t", columns)
        else:
            await producer().send_many("t", [item(total)])

    with pytest.raises(StreamlineError, match=NOT_STARTED):
        await send(limit)
    with pytest.raises(DeliveryError, match="too large"):
        await send(limit + 1)
