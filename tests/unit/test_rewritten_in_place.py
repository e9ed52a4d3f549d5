"""files.rewritten: a file read to its end that holds other bytes at the same size."""

from __future__ import annotations

import os

from streamline._follow.files import bytes_before, rewritten
from streamline._follow.identity import identify


def test_the_same_bytes_are_not_a_rewrite_other_bytes_at_the_same_size_are(tmp_path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"old-0\nold-1\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        identity, recent = identify(fd), bytes_before(fd, 12)
        assert rewritten(fd, identity, 12, recent, os.fstat(fd)) is None
        path.write_bytes(b"new-0\nnew-1\n")  # O_TRUNC and write: same inode, same size
        turn = rewritten(fd, identity, 12, recent, os.fstat(fd))
        assert turn is not None and turn.reset and turn.identity is not None
        assert turn.identity.fingerprint != identity.fingerprint
    finally:
        os.close(fd)


def test_a_rewrite_past_the_first_kib_is_seen_by_the_bytes_before_the_position(tmp_path) -> None:
    head = b"h" * 2047 + b"\n"
    path = tmp_path / "app.log"
    path.write_bytes(head + b"old\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        identity, recent = identify(fd), bytes_before(fd, size)
        path.write_bytes(head + b"new\n")
        assert rewritten(fd, identity, size, recent, os.fstat(fd)) is not None
        # Not read to the end, or grown: read_turn checks it when it reads.
        assert rewritten(fd, identity, size - 1, recent, os.fstat(fd)) is None
    finally:
        os.close(fd)
