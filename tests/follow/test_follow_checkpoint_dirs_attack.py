"""Checkpoint directories as users give them (relative, through a symlink, unicode names) and
checkpoint files written by the previous release: positions are saved where asked and read
back, so a second run repeats nothing and misses nothing. (Checkpoints keep plain path strings
since ship stopped importing pathlib.)"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from streamline import Pipeline, follow


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as file:
        file.write(data)


async def run_once(log: Path | str, checkpoints: str) -> list[bytes]:
    """Ship what the file holds (from the checkpoint, else its start) and return it."""
    got: list[bytes] = []

    async def sink(values: list[bytes]) -> None:
        got.extend(values)

    await Pipeline(follow(str(log), start="beginning", checkpoints=checkpoints, stop_at_eof=True), to=sink).run()
    return got


@pytest.mark.parametrize("form", ["relative", "dot-relative", "symlink", "unicode", "trailing-slash"])
async def test_positions_are_saved_where_asked_and_read_back(tmp_path: Path, monkeypatch, form: str) -> None:
    log = tmp_path / "ünïcode lög.log" if form == "unicode" else tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\n")
    if form in ("relative", "dot-relative"):
        monkeypatch.chdir(tmp_path)
        given, real = ("state/ck" if form == "relative" else "./state/../ck"), tmp_path / ("state/ck" if form == "relative" else "ck")
        if form == "dot-relative":
            (tmp_path / "state").mkdir()
    elif form == "symlink":
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real")
        given, real = str(tmp_path / "link"), tmp_path / "real"
    elif form == "unicode":
        given = str(tmp_path / "chëckpöints ✓")
        real = Path(given)
    else:
        given, real = str(tmp_path / "ck") + os.sep, tmp_path / "ck"
    assert await run_once(log, given) == [b"one", b"two"]
    saved = json.loads((real / "checkpoints.json").read_text())["files"]
    assert [r["offset"] for r in saved.values()] == [8]
    append(log, b"three\n")
    assert await run_once(log, given) == [b"three"]


async def test_a_checkpoint_file_of_the_previous_release_is_read(tmp_path: Path) -> None:
    # The layout the release before plain-string paths wrote (version 1), byte for byte in keys.
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\n")
    stat = log.stat()
    head = log.read_bytes()[:1024]
    record = {
        "path": str(log),
        "device": stat.st_dev,
        "inode": stat.st_ino,
        "fingerprint_size": len(head),
        "fingerprint": hashlib.sha256(head).hexdigest(),
        "offset": 2,  # "a\n" was acknowledged, "b\n" not
        "updated": 1796223577.0616426,
        "tail_size": 2,
        "tail": hashlib.sha256(b"a\n").hexdigest(),
    }
    store = tmp_path / "c"
    store.mkdir()
    (store / "checkpoints.json").write_text(
        json.dumps({"version": 1, "files": {f"{stat.st_dev}:{stat.st_ino}": record}}, indent=1)
    )
    assert await run_once(log, str(store)) == [b"b"]
    saved = json.loads((store / "checkpoints.json").read_text())
    assert saved["version"] == 1
    assert [r["offset"] for r in saved["files"].values()] == [4]
