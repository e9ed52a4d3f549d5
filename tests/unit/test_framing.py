"""LineFramer: arbitrary chunking frames into the same lines as a plain split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamline._follow.framing import Framed, LineFramer, LineTooLongError


def reference(data: bytes, limit: int, policy: str) -> list[tuple[int, int, bytes]]:
    """(offset, end_offset, data) of every line, by a plain split, final unterminated included."""
    out = []
    pos = 0
    raw_lines = data.split(b"\n")
    for index, raw in enumerate(raw_lines):
        terminated = index < len(raw_lines) - 1
        if not terminated and raw == b"":
            break
        end = pos + len(raw) + (1 if terminated else 0)
        line = raw[:-1] if terminated and raw.endswith(b"\r") else raw
        if len(line) <= limit:
            out.append((pos, end, line))
        elif policy == "split":
            pieces = [(pos + i, pos + i + len(line[i : i + limit]), line[i : i + limit]) for i in range(0, len(line), limit)]
            pieces[-1] = (pieces[-1][0], end, pieces[-1][2])
            out.extend(pieces)
        pos = end
    return out


def collect(framed: Framed) -> list[tuple[int, int, bytes]]:
    offsets, ends = framed.spans()
    assert len(offsets) == len(ends) == len(framed.lines)
    return list(zip(offsets, ends, framed.lines))


def frame_in_chunks(data: bytes, cuts: list[int], limit: int, policy: str):
    framer = LineFramer(max_line_bytes=limit, long_lines=policy)
    got: list[tuple[int, int, bytes]] = []
    discarded: list[tuple[int, int]] = []
    position = 0
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for low, high in zip(bounds, bounds[1:]):
        framed = framer.feed(data[low:high])
        assert framed.start == position  # batches tile the file
        position = framed.end
        got += collect(framed)
        discarded += framed.discarded
    final = framer.flush()
    assert final.start == position
    got += collect(final)
    discarded += final.discarded
    assert final.end == len(data)
    return framer, got, discarded


# Bytes rich in line endings and \r, plus arbitrary binary.
line_bytes = st.lists(
    st.one_of(st.sampled_from([b"\n", b"\r\n", b"\r", b"a", b"\x00", b"\xff\xfe", b"\xe2\x82"]), st.binary(max_size=12)),
    max_size=40,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=line_bytes, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunking_gives_plain_split(data: bytes, cuts: list[int]) -> None:
    _, got, discarded = frame_in_chunks(data, cuts, limit=1 << 20, policy="split")
    assert got == reference(data, 1 << 20, "split")
    assert discarded == []


@settings(max_examples=400, deadline=None)
@given(
    data=line_bytes,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    limit=st.integers(min_value=1, max_value=9),
    policy=st.sampled_from(["split", "skip"]),
)
def test_long_line_policies_match_reference(data: bytes, cuts: list[int], limit: int, policy: str) -> None:
    framer, got, discarded = frame_in_chunks(data, cuts, limit, policy)
    expected = reference(data, limit, policy)
    assert got == expected
    # Every byte is either in a line (with its ending) or in a discarded range, exactly once.
    covered = sorted([(s, e) for s, e, _ in got] + discarded)
    position = 0
    for start, end in covered:
        assert start == position
        position = end
    assert position == len(data)
    if policy == "skip":
        long_lines = sum(1 for s, e, _ in reference(data, 1 << 20, "split") if len(_) > limit)
        assert framer.skipped_long_lines == long_lines
        assert framer.split_long_lines == 0
    else:
        long_lines = sum(1 for s, e, line in reference(data, 1 << 20, "split") if len(line) > limit)
        assert framer.split_long_lines == long_lines


def test_partial_line_is_held_until_newline() -> None:
    framer = LineFramer()
    assert framer.feed(b"GET /ind").lines == []
    assert framer.pending == 8
    framed = framer.feed(b"ex.html\nnext")
    assert framed.lines == [b"GET /index.html"]
    assert (framed.start, framed.end) == (0, 16)
    assert framer.position == 16


def test_crlf_split_across_chunks() -> None:
    framer = LineFramer()
    assert framer.feed(b"one\r").lines == []
    framed = framer.feed(b"\ntwo\r\n")
    assert framed.lines == [b"one", b"two"]
    assert framed.spans() == ([0, 5], [5, 10])


def test_lone_carriage_return_and_binary_pass_through() -> None:
    data = b"a\rb\x00\xff\xfe\n\xc3\x28\n"
    assert LineFramer().feed(data).lines == [b"a\rb\x00\xff\xfe", b"\xc3\x28"]


def test_error_policy_raises() -> None:
    framer = LineFramer(max_line_bytes=4, long_lines="error")
    assert framer.feed(b"1234\r\n").lines == [b"1234"]  # the \r is not part of the line
    with pytest.raises(LineTooLongError, match="byte 6"):
        framer.feed(b"12345\n")


def test_error_policy_raises_on_long_unterminated_tail() -> None:
    framer = LineFramer(max_line_bytes=4, long_lines="error")
    with pytest.raises(LineTooLongError):
        framer.feed(b"123456")


def test_split_emits_pieces_before_the_newline_arrives() -> None:
    framer = LineFramer(max_line_bytes=4)
    framed = framer.feed(b"abcdefghij")
    assert framed.lines == [b"abcd", b"efgh"]  # bounded memory: pieces go out as they fill
    assert framer.split_long_lines == 1
    assert framer.feed(b"\n").lines == [b"ij"]
    assert framer.split_long_lines == 1


def test_skip_counts_and_reports_discarded_range() -> None:
    framer = LineFramer(max_line_bytes=3, long_lines="skip")
    framed = framer.feed(b"ok\ntoo long\nok2\n")
    assert framed.lines == [b"ok", b"ok2"]
    assert framed.discarded == [(3, 12)]
    assert framer.skipped_long_lines == 1


@pytest.mark.parametrize("bad", [{"max_line_bytes": 0}, {"long_lines": "truncate"}])
def test_invalid_options(bad: dict) -> None:
    with pytest.raises(ValueError):
        LineFramer(**bad)


@pytest.mark.parametrize("policy", ["split", "skip"])
@pytest.mark.parametrize("extra", [0, 1, 2])
def test_one_long_line_among_many_short_ones_is_caught_at_the_exact_bound(policy: str, extra: int) -> None:
    # n lines cover ``limit + n`` bytes when one has limit + 1 bytes and the others none: the
    # framer only looks at every line's length from that bound on, so this is the edge.
    limit = 50
    data = b"\n" * 20 + b"x" * (limit + extra) + b"\n" + b"\n" * 20
    framer = LineFramer(max_line_bytes=limit, long_lines=policy)
    framed = framer.feed(data)
    assert collect(framed) == reference(data, limit, policy)
    assert (framer.split_long_lines if policy == "split" else framer.skipped_long_lines) == (1 if extra else 0)
