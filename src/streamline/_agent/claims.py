"""Which input a file belongs to: glob checks, overlaps between inputs, first input wins.

A file belongs to one input. What can be seen in the config file alone is an error there: the
same path in two inputs, a path or glob whose every match another input's glob also matches
(``/var/log/app/api.log`` under ``/var/log/app/*.log``) unless that input excludes it. What
only the file system shows (``/var/log/*-app.log`` and ``/var/log/web-*.log`` both match
``web-app.log``) is settled at run time: the file goes to the input listed first — later inputs
exclude the globs of earlier ones that may overlap theirs — and one warning names it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from fnmatch import fnmatchcase

from .._follow.files import excluded, scan
from .._ingest.spec import InputSpec


def glob_problem(pattern: str) -> str | None:
    """What is wrong with a path or glob, or None. Python's ``glob`` without ``recursive``:
    ``*``, ``?`` and ``[...]`` within one path component."""
    if pattern.startswith("~"):
        return "'~' is not expanded here; write the full path"
    if "**" in pattern:
        return "'**' does not recurse here (it matches within one directory level); list each level with '*'"
    if "{" in pattern and "}" in pattern and "," in pattern:
        return "braces {a,b} are not glob syntax here; list each pattern as its own entry"
    if pattern.endswith("/"):
        return "names a directory; match its files with a pattern such as 'dir/*.log'"
    for part in pattern.split("/"):
        opened = part.find("[")
        if opened >= 0 and part.find("]", opened + 2) < 0:
            return f"'[' in {part!r} is not closed by ']' in the same path component"
    return None


def _parts(pattern: str) -> list[str]:
    return os.path.normpath(pattern).split(os.sep)


def _magic(part: str) -> bool:
    return glob.has_magic(part)


def may_overlap(a: str, b: str) -> bool:
    """Can one file be matched by both ``a`` and ``b``? (False only when it certainly cannot.)"""
    pa, pb = _parts(a), _parts(b)
    if len(pa) != len(pb):  # '*' never crosses '/': the depth is fixed
        return False
    for x, y in zip(pa, pb, strict=True):
        if x == y:
            continue
        if not _magic(x) and not _magic(y):
            return False
        if not _magic(y) and not fnmatchcase(y, x):
            return False
        if not _magic(x) and not fnmatchcase(x, y):
            return False
    return True


def covers(general: str, specific: str) -> bool:
    """Does ``general`` match every file ``specific`` matches? (True only when certain enough:
    ``specific``'s text, wildcards and all, is matched by ``general`` part by part.)"""
    pg, ps = _parts(general), _parts(specific)
    if len(pg) != len(ps):
        return False
    return all(g == s or fnmatchcase(s, g) for g, s in zip(pg, ps, strict=True))


def _exclude_hits(pattern: str, spec: InputSpec) -> bool:
    return bool(spec.exclude) and excluded(pattern, list(spec.exclude))


def find_conflict(inputs: Sequence[InputSpec]) -> tuple[int, int, str] | None:
    """The first ``(input index, path index, message)`` of a file claimed by two inputs that the
    config alone shows, or None."""
    for j, later in enumerate(inputs):
        for k, mine in enumerate(later.paths):
            for i, earlier in enumerate(inputs[:j]):
                for m, theirs in enumerate(earlier.paths):
                    where = f"inputs[{i}].paths[{m}] ({theirs!r}, input {earlier.name!r})"
                    if mine == theirs:
                        return j, k, f"{mine!r} is also {where}; a file belongs to one input"
                    if covers(theirs, mine) and not _exclude_hits(mine, earlier):
                        return j, k, (
                            f"every file {mine!r} matches is also matched by {where}; a file belongs to one "
                            f"input: narrow one of them or add {os.path.basename(mine)!r} to that input's exclude"
                        )
                    if covers(mine, theirs) and not _exclude_hits(theirs, later):
                        return j, k, (
                            f"{mine!r} matches every file of {where}; a file belongs to one input: narrow "
                            f"one of them or add {os.path.basename(theirs)!r} to this input's exclude"
                        )
    return None


def first_wins_excludes(inputs: Sequence[InputSpec]) -> list[tuple[str, ...]]:
    """For each input, the paths and globs of earlier inputs its globs must not ship (they may
    match the same files; the earlier input wins). An earlier input's pattern is left out when
    that input excludes what this glob matches (``*.log`` minus ``nginx*`` next to ``nginx*.log``)."""
    result: list[tuple[str, ...]] = []
    for j, later in enumerate(inputs):
        globs = [p for p in later.paths if glob.has_magic(p)]
        extra: list[str] = []
        for earlier in inputs[:j]:
            for theirs in earlier.paths:
                if theirs in extra:
                    continue
                if any(may_overlap(theirs, mine) and not _exclude_hits(mine, earlier) for mine in globs):
                    extra.append(theirs)
        result.append(tuple(extra))
    return result


def _matched(spec: InputSpec) -> set[str]:
    literal = [p for p in spec.paths if not glob.has_magic(p)]
    patterns = [p for p in spec.paths if glob.has_magic(p)]
    found = scan(literal, patterns, list(spec.exclude))
    return {path for path, stat in found.items() if stat is not None}


def claimed_twice(inputs: Sequence[InputSpec]) -> list[tuple[str, str, str]]:
    """Files that exist now and are matched by two inputs: ``(path, first input, other input)``.

    Blocking (globs the file system): run it in a worker thread.
    """
    suspects = {
        j
        for j, later in enumerate(inputs)
        for earlier in inputs[:j]
        if any(may_overlap(a, b) for a in earlier.paths for b in later.paths)
    }
    if not suspects:
        return []
    owner: dict[str, str] = {}
    twice: list[tuple[str, str, str]] = []
    for j, spec in enumerate(inputs):
        for path in sorted(_matched(spec)):
            if path not in owner:
                owner[path] = spec.name
            elif j in suspects:
                twice.append((path, owner[path], spec.name))
    return twice
