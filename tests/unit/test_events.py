"""Joining lines into events (multiline, container partial lines): pure logic, no files."""

from __future__ import annotations

import json

import pytest

from streamline import ConfigurationError
from streamline._follow.events import ContainerGrouper, EventFramer, MultilineGrouper, multiline_grouper
from streamline._follow.framing import LineFramer


def frame_all(grouper, data: bytes, *, chunk: int = 7, max_line_bytes: int = 1 << 20, long_lines="split"):
    """Feed ``data`` in small chunks, then flush; return (events, offsets, ends, ranges handed out)."""
    framer = EventFramer(LineFramer(max_line_bytes=max_line_bytes, long_lines=long_lines), grouper)
    events, offsets, ends, ranges = [], [], [], []
    for i in range(0, len(data), chunk):
        framed = framer.feed(data[i : i + chunk])
        collect(framed, events, offsets, ends, ranges)
    collect(framer.flush(), events, offsets, ends, ranges)
    return events, offsets, ends, ranges


def collect(framed, events, offsets, ends, ranges):
    o, e = framed.spans()
    events += framed.lines
    offsets += o
    ends += e
    ranges.append((framed.start, framed.end))


def assert_contiguous(ranges, total):
    position = 0
    for start, end in ranges:
        assert start == position
        assert end >= start
        position = end
    assert position == total


JAVA = (
    b"2024-01-01 12:00:00 ERROR boom\n"
    b"java.lang.IllegalStateException: bad\n"
    b"\tat com.example.A.run(A.java:10)\n"
    b"\tat com.example.B.run(B.java:20)\n"
    b"Caused by: java.io.IOException: disk\n"
    b"\t... 2 more\n"
    b"2024-01-01 12:00:01 INFO fine\n"
)


def test_indented_preset_joins_a_java_stack_trace() -> None:
    events, offsets, ends, ranges = frame_all(multiline_grouper(None, preset="indented"), JAVA)
    assert events == [
        b"2024-01-01 12:00:00 ERROR boom",
        b"java.lang.IllegalStateException: bad\n\tat com.example.A.run(A.java:10)\n"
        b"\tat com.example.B.run(B.java:20)\nCaused by: java.io.IOException: disk\n\t... 2 more",
        b"2024-01-01 12:00:01 INFO fine",
    ]
    assert_contiguous(ranges, len(JAVA))
    assert offsets[1] == JAVA.index(b"java.lang") and ends[1] == JAVA.index(b"2024-01-01 12:00:01")


def test_timestamp_preset_keeps_lines_without_a_timestamp_with_their_event() -> None:
    events, *_ = frame_all(multiline_grouper(None, preset="timestamp"), JAVA)
    assert len(events) == 2
    assert events[0].startswith(b"2024-01-01 12:00:00 ERROR boom\njava.lang")
    assert events[0].endswith(b"\t... 2 more")


def test_python_preset_joins_a_chained_traceback_with_its_log_line() -> None:
    data = (
        b"2024-01-01 12:00:00 ERROR failed\n"
        b"Traceback (most recent call last):\n"
        b'  File "a.py", line 1, in <module>\n'
        b"    f()\n"
        b"KeyError: 'x'\n"
        b"\n"
        b"During handling of the above exception, another exception occurred:\n"
        b"\n"
        b"Traceback (most recent call last):\n"
        b'  File "a.py", line 3, in <module>\n'
        b"ValueError: boom\n"
        b"2024-01-01 12:00:01 INFO next\n"
        b"plain line\n"
    )
    events, *_ = frame_all(multiline_grouper(None, preset="python"), data)
    assert events[0].startswith(b"2024-01-01 12:00:00 ERROR failed\nTraceback")
    assert events[0].endswith(b"ValueError: boom")
    assert events[1:] == [b"2024-01-01 12:00:01 INFO next", b"plain line"]


def test_negate_after_and_before() -> None:
    data = b"A1\nx\ny\nA2\nA3\nz\n"
    after = frame_all(MultilineGrouper(r"^A", negate=True, match="after"), data)[0]
    assert after == [b"A1\nx\ny", b"A2", b"A3\nz"]
    # "before": lines ending in a backslash continue into the next line
    data = b"one \\\ntwo \\\nthree\nfour\n"
    before = frame_all(MultilineGrouper(r"\\$", match="before"), data)[0]
    assert before == [b"one \\\ntwo \\\nthree", b"four"]


def test_max_lines_and_max_bytes_cut_events_without_dropping_lines() -> None:
    data = b"start\n" + b"".join(b" c%d\n" % i for i in range(7))
    events = frame_all(MultilineGrouper(r"^ ", max_lines=3), data)[0]
    assert events == [b"start\n c0\n c1", b" c2\n c3\n c4", b" c5\n c6"]
    events = frame_all(MultilineGrouper(r"^ ", max_bytes=12), data)[0]
    assert b"\n".join(events) == data.rstrip(b"\n")  # every byte is still there
    assert all(len(e) <= 12 for e in events)


def test_a_held_event_is_not_handed_out_and_the_range_stops_before_it() -> None:
    framer = EventFramer(LineFramer(), MultilineGrouper(r"^\s"), timeout=5.0)
    framed = framer.feed(b"first\nsecond\n  cont\n")
    assert framed.lines == [b"first"]
    assert (framed.start, framed.end) == (0, 6)  # the checkpoint may not go past "second"
    assert framer.position == 6 and framer.pending == len(b"second\n  cont")
    assert framer.deadline is not None
    assert framer.expire(framer.deadline - 1) is None  # not yet
    expired = framer.expire(framer.deadline)
    assert expired is not None and expired.lines == [b"second\n  cont"]
    assert (expired.start, expired.end) == (6, 20)
    assert framer.deadline is None and framer.position == 20
    framed = framer.feed(b"  late\n")  # a continuation after the timeout starts a new event
    assert framed.lines == [] and framer.position == 20


def test_partial_last_line_stays_held_until_flush() -> None:
    framer = EventFramer(LineFramer(), MultilineGrouper(r"^\s"))
    assert framer.feed(b"a\n  b\n  c").lines == []
    flushed = framer.flush()
    assert flushed.lines == [b"a\n  b\n  c"] and flushed.end == 9


def test_pieces_of_over_long_lines_are_events_of_their_own() -> None:
    data = b"head\n" + b"x" * 25 + b"\n  cont\nnext\n"
    events, _, _, ranges = frame_all(MultilineGrouper(r"^\s"), data, max_line_bytes=10, chunk=4)
    assert events == [b"head", b"x" * 10, b"x" * 10, b"x" * 5, b"  cont", b"next"]
    assert_contiguous(ranges, len(data))


def test_crlf_lines_are_grouped_too() -> None:
    data = b"boom\r\n  at x\r\nnext\r\n"
    events, _, ends, ranges = frame_all(MultilineGrouper(r"^\s"), data)
    assert events == [b"boom\n  at x", b"next"]
    assert ends == [14, 20]
    assert_contiguous(ranges, len(data))


def test_every_byte_range_is_handed_out_once_whatever_the_chunking() -> None:
    data = JAVA * 5
    for chunk in (1, 3, 17, 100, len(data)):
        events, offsets, ends, ranges = frame_all(multiline_grouper(None, preset="indented"), data, chunk=chunk)
        assert_contiguous(ranges, len(data))
        assert len(events) == 15
        assert all(e > o for o, e in zip(offsets, ends, strict=True))


def test_bad_multiline_settings_are_one_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="not a valid regex"):
        MultilineGrouper("(")
    with pytest.raises(ConfigurationError, match="exactly one"):
        multiline_grouper("x", preset="indented")
    with pytest.raises(ConfigurationError, match="unknown multiline preset"):
        multiline_grouper(None, preset="java")
    with pytest.raises(ConfigurationError, match="after"):
        MultilineGrouper("x", match="sideways")


# -- container runtimes ---------------------------------------------------------------------


def cri(stream: str, flag: str, text: str, t: int = 0) -> bytes:
    return f"2024-01-01T00:00:{t:02d}.000000000Z {stream} {flag} {text}\n".encode()


def test_cri_partial_lines_are_joined_into_one_full_line() -> None:
    data = cri("stdout", "P", "hello ") + cri("stdout", "P", "big ", 1) + cri("stdout", "F", "world", 2)
    data += cri("stderr", "F", "alone", 3)
    events, offsets, ends, ranges = frame_all(ContainerGrouper("cri"), data)
    assert events == [b"2024-01-01T00:00:00.000000000Z stdout F hello big world", cri("stderr", "F", "alone", 3)[:-1]]
    assert offsets[0] == 0 and ends[0] == len(data) - len(cri("stderr", "F", "alone", 3))
    assert_contiguous(ranges, len(data))


def test_cri_interleaved_streams_wait_for_every_open_event() -> None:
    lines = [cri("stdout", "P", "a1 "), cri("stderr", "P", "b1 "), cri("stdout", "F", "a2"), cri("stderr", "F", "b2")]
    framer = EventFramer(LineFramer(), ContainerGrouper("cri"))
    assert framer.feed(b"".join(lines[:3])).lines == []  # stderr still open: nothing handed out
    framed = framer.feed(lines[3])
    assert [e.split(b" ", 3)[3] for e in framed.lines] == [b"a1 a2", b"b1 b2"]
    assert (framed.start, framed.end) == (0, sum(map(len, lines)))


def test_docker_split_records_are_joined() -> None:
    def rec(log: str, stream: str = "stdout") -> bytes:
        return json.dumps({"log": log, "stream": stream, "time": "2024-01-01T00:00:00Z"}).encode() + b"\n"

    big = "x" * 16384
    data = rec(big) + rec(big) + rec("end\n") + rec("next\n", "stderr")
    events, *_ = frame_all(ContainerGrouper("docker"), data, chunk=5000)
    assert len(events) == 2
    assert json.loads(events[0])["log"] == big + big + "end\n"
    assert json.loads(events[1]) == json.loads(rec("next\n", "stderr"))


def test_container_lines_that_do_not_parse_pass_through() -> None:
    events, *_ = frame_all(ContainerGrouper("cri"), b"not a cri line\n" + cri("stdout", "F", "ok"))
    assert events[0] == b"not a cri line"


def test_multiline_on_container_lines_matches_and_joins_the_log_text() -> None:
    from streamline._follow.events import ChainedGrouper

    data = (
        cri("stdout", "F", "ERROR boom")
        + cri("stdout", "P", "\tat a.B(")
        + cri("stdout", "F", "B.java:1)", 1)
        + cri("stdout", "F", "\tat c.D(D.java:2)", 2)
        + cri("stdout", "F", "INFO next", 3)
    )
    grouper = ChainedGrouper(ContainerGrouper("cri"), multiline_grouper(None, preset="indented", content="cri"))
    events, _, _, ranges = frame_all(grouper, data, chunk=11)
    assert events == [
        b"2024-01-01T00:00:00.000000000Z stdout F ERROR boom\n\tat a.B(B.java:1)\n\tat c.D(D.java:2)",
        cri("stdout", "F", "INFO next", 3)[:-1],
    ]
    assert_contiguous(ranges, len(data))

    def rec(log: str) -> bytes:
        return json.dumps({"log": log, "stream": "stderr", "time": "t"}).encode() + b"\n"

    data = rec("Traceback (most recent call last):\n") + rec('  File "a.py", line 1\n') + rec("KeyError: 1\n") + rec("ok\n")
    grouper = ChainedGrouper(ContainerGrouper("docker"), multiline_grouper(None, preset="python", content="docker"))
    events, *_ = frame_all(grouper, data)
    assert [json.loads(e)["log"] for e in events] == [
        'Traceback (most recent call last):\n  File "a.py", line 1\nKeyError: 1\n', "ok\n"
    ]


def frame_with_checkpoints(make_grouper, data: bytes, chunk: int):
    """Frame ``data`` in chunks; return the events and, per handed-out range, (its end, how many
    events were handed out up to it)."""
    framer = EventFramer(LineFramer(), make_grouper())
    events, offsets, ends, ranges, marks = [], [], [], [], []
    for i in range(0, len(data), chunk):
        collect(framer.feed(data[i : i + chunk]), events, offsets, ends, ranges)
        marks.append((ranges[-1][1], len(events)))
    collect(framer.flush(), events, offsets, ends, ranges)
    marks.append((ranges[-1][1], len(events)))
    assert_contiguous(ranges, len(data))
    return events, offsets, marks


def assert_every_checkpoint_resumes_cleanly(make_grouper, data: bytes, chunk: int) -> list[bytes]:
    """A checkpoint is the end of a handed-out range: reading again from any of them (a kill
    there) must hand out exactly the events not handed out before it, none cut in two."""
    events, _, marks = frame_with_checkpoints(make_grouper, data, chunk)
    for position, handed in marks:
        again, _, _ = frame_with_checkpoints(make_grouper, data[position:], chunk)
        assert again == events[handed:], f"resuming at byte {position}"
    return events


def java_in_a_pod(grouper_kind: str = "cri") -> bytes:
    """stdout and stderr each writing multiline events, their lines interleaved in one file."""
    lines = [
        cri("stdout", "F", "ERROR boom", 0),
        cri("stderr", "F", "WARN other", 1),
        cri("stdout", "F", "\tat a.B(B.java:1)", 2),
        cri("stderr", "F", "\tat x.Y(Y.java:9)", 3),
        cri("stdout", "P", "\tat c.D(", 4),
        cri("stderr", "F", "INFO second on stderr", 5),
        cri("stdout", "F", "D.java:2)", 6),
        cri("stdout", "F", "INFO next", 7),
        cri("stderr", "F", "\tat q.R(R.java:3)", 8),
        cri("stdout", "F", "INFO last", 9),
    ]
    return b"".join(lines)


def chained_cri_indented():
    from streamline._follow.events import ChainedGrouper

    return ChainedGrouper(ContainerGrouper("cri"), multiline_grouper(None, preset="indented", content="cri"))


@pytest.mark.parametrize("chunk", [7, 64, 100_000])
def test_multiline_in_a_cri_log_groups_each_stream_on_its_own(chunk: int) -> None:
    # Filebeat and Fluent Bit run the multiline parser per stream: a stderr line between two
    # stdout lines of a stack trace must neither join the trace nor cut it.
    data = java_in_a_pod()
    events = assert_every_checkpoint_resumes_cleanly(chained_cri_indented, data, chunk)
    texts = [(e.split(b" ", 3)[1], e.split(b" ", 3)[3]) for e in events]
    assert sorted(texts) == sorted([
        (b"stdout", b"ERROR boom\n\tat a.B(B.java:1)\n\tat c.D(D.java:2)"),
        (b"stderr", b"WARN other\n\tat x.Y(Y.java:9)"),
        (b"stderr", b"INFO second on stderr\n\tat q.R(R.java:3)"),
        (b"stdout", b"INFO next"),
        (b"stdout", b"INFO last"),
    ])
    for stream in (b"stdout", b"stderr"):  # each stream's events in the order they were written
        mine = [text for s, text in texts if s == stream]
        assert mine == sorted(mine, key=lambda text: data.index(text.split(b"\n")[0]))


def test_multiline_per_stream_in_a_docker_log() -> None:
    from streamline._follow.events import ChainedGrouper

    def rec(log: str, stream: str) -> bytes:
        return json.dumps({"log": log, "stream": stream, "time": "t"}).encode() + b"\n"

    data = (
        rec("Traceback (most recent call last):\n", "stderr") + rec("GET / 200\n", "stdout")
        + rec('  File "a.py", line 1\n', "stderr") + rec("GET /x 404\n", "stdout") + rec("KeyError: 1\n", "stderr")
        + rec("ok\n", "stderr")
    )

    def grouper():
        return ChainedGrouper(ContainerGrouper("docker"), multiline_grouper(None, preset="python", content="docker"))

    events = assert_every_checkpoint_resumes_cleanly(grouper, data, 13)
    assert sorted(json.loads(e)["log"] for e in events) == sorted([
        'Traceback (most recent call last):\n  File "a.py", line 1\nKeyError: 1\n', "GET / 200\n", "GET /x 404\n", "ok\n",
    ])


def test_an_event_held_on_one_stream_holds_back_the_checkpoint_not_the_other_stream_forever() -> None:
    # stdout's event stays open (its continuation may come); stderr's complete events wait
    # behind it (file order, and the range handed out never covers a held line), and come out
    # with it at the timeout or the end of the file.
    data = cri("stdout", "F", "ERROR boom", 0) + cri("stderr", "F", "one", 1) + cri("stderr", "F", "two", 2)
    framer = EventFramer(LineFramer(), chained_cri_indented(), timeout=5.0)
    framed = framer.feed(data)
    assert framed.lines == [] and framed.end == 0 and framer.position == 0
    expired = framer.expire(now=framer.deadline)  # type: ignore[arg-type]
    assert expired is not None
    assert [e.split(b" ", 3)[3] for e in expired.lines] == [b"ERROR boom", b"one", b"two"]
    assert expired.end == len(data) and framer.position == len(data)


def test_events_waiting_behind_an_open_one_stay_within_max_bytes() -> None:
    # stdout's trace stays open while stderr writes on: past max_bytes held, the open event
    # is handed out as it is (a max_bytes cut) and its late continuation is an event of its own.
    limit = 400
    grouper = multiline_grouper(None, preset="indented", content="cri", max_bytes=limit)
    framer = EventFramer(LineFramer(), grouper, timeout=5.0)
    lines = [cri("stdout", "F", "ERROR boom", 0)] + [cri("stderr", "F", f"line {n}", 1) for n in range(40)]
    lines.append(cri("stdout", "F", "\tat late.Frame(F.java:1)", 2))
    events, ranges = [], []
    for line in lines:
        framed = framer.feed(line)
        events += framed.lines
        ranges.append((framed.start, framed.end))
        assert framer.pending <= limit + len(line)
    framed = framer.flush()
    events += framed.lines
    ranges.append((framed.start, framed.end))
    assert_contiguous(ranges, sum(map(len, lines)))
    texts = [e.split(b" ", 3)[3] for e in events]
    assert texts[0] == b"ERROR boom"  # cut: handed out first, alone
    assert texts[1:41] == [b"line %d" % n for n in range(40)]
    assert texts[41:] == [b"\tat late.Frame(F.java:1)"]
