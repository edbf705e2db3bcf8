"""Files read bounded and written whole.

Reading: JSON and YAML have their size and nesting bounded before a parser sees them. Python's json and PyYAML parsers recurse once per nesting level, so a 100,000-deep file raises RecursionError
(or worse), and `--config /dev/zero` would be read until memory runs out. Here a file is read at most `limit`
bytes, JSON nesting is measured at C speed (numpy over the bracket and quote positions, strings excluded), and
YAML nesting is counted on the parser's event stream, which does not recurse, before anything is composed.

Writing: every file or folder fnsft writes (templates, run status, reports, exports, caches) goes under a
temporary name beside its target and is renamed onto it, so a reader never sees half of one and a failed write
(a full disk, a kill) leaves the old one.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

MAX_DEPTH = 64  # data records and config files nest a handful of levels; templates allow 32
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENING, _CLOSING = b"[{", b"]}"


class TooLarge(ValueError):
    """A file or text is larger, or nests deeper, than its reader allows (the message says which and how much)."""


def read_bounded(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of `path`, refused once more than `limit` are read (a device or pipe never ends)."""
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"larger than {limit:,} bytes; {what} are at most {limit:,} bytes")
    return data


def json_depth(data: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings not counted (vectorised)."""
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    raw = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(raw == _QUOTE)
    slashes = np.flatnonzero(raw == _BACKSLASH)
    if len(quotes) and len(slashes):  # a quote after an odd run of backslashes is escaped
        before = np.searchsorted(slashes, quotes)
        run_key = slashes - np.arange(len(slashes))  # constant along a run of adjacent backslashes
        last = np.maximum(before - 1, 0)
        adjacent = (before > 0) & (slashes[last] == quotes - 1)
        run = np.where(adjacent, before - np.searchsorted(run_key, run_key[last]), 0)
        quotes = quotes[run % 2 == 0]
    is_bracket = np.isin(raw, np.frombuffer(_OPENING + _CLOSING, dtype=np.uint8))
    brackets = np.flatnonzero(is_bracket)
    outside = np.searchsorted(quotes, brackets) % 2 == 0
    brackets = brackets[outside]
    steps = np.where(np.isin(raw[brackets], np.frombuffer(_OPENING, dtype=np.uint8)), 1, -1)
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def check_json_depth(data: bytes | str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a JSON text nested deeper than `max_depth` (cheap when it holds few brackets)."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    depth = json_depth(raw)
    if depth > max_depth:
        raise TooLarge(f"nested {depth} levels deep; at most {max_depth}")


def loads_json(data: bytes | str, max_depth: int = MAX_DEPTH, **options: Any) -> Any:
    """json.loads after the nesting check (a BOM at the start is ignored, as in data files)."""
    check_json_depth(data, max_depth)
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
    return json.loads(text, **options)


def loads_yaml(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """yaml.safe_load after counting the nesting on the (non-recursive) event stream."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise TooLarge(f"nested more than {max_depth} levels deep; at most {max_depth}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.load(text, Loader=loader)


# ---------------------------------------------------------------- writing: whole or not at all


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to, renamed onto `path` when the block ends and removed if it
    raises: readers never see half a file, and a failed write leaves the old file. The file keeps the mode of
    the one it replaces (a new one is readable by all, 0644, rather than mkstemp's owner-only 0600). Temp files
    of writers that were killed (their process id, in the name, is gone) are removed first."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.is_file() else 0o644
    _remove_stale_temps(target)
    handle, temp = tempfile.mkstemp(prefix=f"{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        yield Path(temp)
        os.chmod(temp, mode)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)


def write_json_atomically(data: Any, path: str | os.PathLike) -> Path:
    """Write JSON (one-space indent, final newline) through `atomic_path`; returns the path."""
    with atomic_path(path) as temp, open(temp, "w") as stream:
        json.dump(data, stream, indent=1)
        stream.write("\n")
    return Path(path)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, keep_existing: bool = False) -> Iterator[Path]:
    """A staging folder beside `path` (0755: a shared cache must be readable by every user) to write into,
    renamed onto `path` when the block ends and removed if it raises. An existing `path` is replaced, or with
    `keep_existing` kept (another process finished the same folder first) and the staging folder dropped."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)
    try:
        yield staging
        if target.exists() and not keep_existing:
            shutil.rmtree(target)
        if not target.exists():
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_temps(target: Path) -> None:
    for temp in target.parent.glob(f"{glob.escape(target.name)}.*-*.tmp"):
        pid = temp.name[len(target.name) + 1 :].split("-", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            temp.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
