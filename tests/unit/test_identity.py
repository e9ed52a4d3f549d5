"""File identity: device + inode + fingerprint of the first bytes (growing for short files)."""

from __future__ import annotations

import os

from streamline._follow.identity import FINGERPRINT_BYTES, fingerprint, identify


def test_identity_of_a_long_file_covers_one_kib(tmp_path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"a" * 5000)
    fd = os.open(path, os.O_RDONLY)
    try:
        identity = identify(fd)
        stat = os.fstat(fd)
        assert (identity.device, identity.inode) == (stat.st_dev, stat.st_ino)
        assert identity.fingerprint_size == FINGERPRINT_BYTES and identity.complete
        assert identity.fingerprint == fingerprint(b"a" * 1024)
        assert identity.key == f"{stat.st_dev}:{stat.st_ino}"
        assert identity.matches(fd)
    finally:
        os.close(fd)


def test_short_file_fingerprint_grows_and_old_prefix_still_matches(tmp_path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"hello\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        short = identify(fd)
        assert short.fingerprint_size == 6 and not short.complete
        with open(path, "ab") as file:
            file.write(b"x" * 3000)
        assert short.matches(fd)  # the stored 6-byte prefix is still the file's start
        grown = short.grown(fd, os.fstat(fd).st_size)
        assert grown.fingerprint_size == FINGERPRINT_BYTES and grown.key == short.key
        assert grown.grown(fd, 10_000) is grown  # complete: no more reads
    finally:
        os.close(fd)


def test_reused_inode_with_different_content_is_another_file(tmp_path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"first file\n")
    fd = os.open(path, os.O_RDONLY)
    before = identify(fd)
    os.close(fd)
    path.write_bytes(b"second file\n")  # same inode, new content
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.fstat(fd).st_ino == before.inode
        assert not before.matches(fd)
    finally:
        os.close(fd)


def test_different_inode_same_content_is_another_file(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"same\n")
    (tmp_path / "b").write_bytes(b"same\n")
    fa, fb = os.open(tmp_path / "a", os.O_RDONLY), os.open(tmp_path / "b", os.O_RDONLY)
    try:
        assert identify(fa).fingerprint == identify(fb).fingerprint
        assert not identify(fa).matches(fb)
    finally:
        os.close(fa)
        os.close(fb)


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        identity = identify(fd)
        assert identity.fingerprint_size == 0 and identity.matches(fd)
    finally:
        os.close(fd)
