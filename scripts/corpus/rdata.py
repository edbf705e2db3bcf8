"""A standard-library reader of R lazy-load databases, so that janeaustenr's novels need no R install."""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import zlib
from pathlib import Path
from typing import Any

_HAS_ATTR = 1 << 9
_HAS_TAG = 1 << 10
_NULLS = (254, 253, 252, 251, 250, 242, 241)  # NULL, environments, markers
_PAIRLISTS = (2, 3, 5, 6, 17, 239, 240)  # pairlists and language objects
_VECTORS = (10, 13, 14, 15, 16, 19, 20, 24)


class RVector(list):
    """An R vector with its attributes (names, class...), which the lazy-load index needs."""

    def __init__(self, items: list, attrs: dict):
        super().__init__(items)
        self.attrs = attrs


class _RReader:
    """A minimal reader of R's XDR serialisation (format 2 and 3), enough for character vectors."""

    def __init__(self, data: bytes, pos: int = 0):
        self.b = data
        self.p = pos
        self.refs: list = []

    def read_int(self) -> int:
        v = struct.unpack(">i", self.b[self.p : self.p + 4])[0]
        self.p += 4
        return v

    def item(self) -> Any:
        """The next serialised object; types a character vector never holds are skipped or stubbed."""
        flags = self.read_int()
        t = flags & 0xFF
        if t in _NULLS:
            return None
        if t == 255:  # reference
            idx = flags >> 8 or self.read_int()
            return self.refs[idx - 1]
        if t in (247, 248, 249):  # persistent / package / namespace
            self.read_int()
            n = self.read_int()
            v = ("persist", [self.item() for _ in range(n)])
            self.refs.append(v)
            return v
        if t == 1:  # symbol
            v = ("sym", self.item())
            self.refs.append(v)
            return v
        if t == 4:  # environment
            self.read_int()
            env: dict = {}
            self.refs.append(env)
            for key in ("enclos", "frame", "hash", "attr"):
                env[key] = self.item()
            return env
        if t in _PAIRLISTS:
            return self._pairlist(flags)
        if t == 9:  # CHARSXP
            n = self.read_int()
            if n == -1:
                return None
            v = self.b[self.p : self.p + n].decode("utf-8", errors="replace")
            self.p += n
            return v
        if t == 238:  # ALTREP
            return ("altrep", self.item(), self.item(), self.item())
        if t in _VECTORS:
            return self._vector(t, flags & _HAS_ATTR)
        raise ValueError(f"unsupported R type {t}")

    def _pairlist(self, flags: int) -> tuple:
        items = []
        while flags & 0xFF in _PAIRLISTS:
            attr = self.item() if flags & _HAS_ATTR else None
            tag = self.item() if flags & _HAS_TAG else None
            items.append((tag, self.item(), attr))
            flags = self.read_int()
        self.p -= 4
        self.item()  # the terminator
        return ("pairlist", items)

    def _vector(self, t: int, has_attr: int) -> Any:
        n = self.read_int()
        if n == -1:
            n = (self.read_int() << 32) + self.read_int()
        if t in (10, 13):
            v = list(struct.unpack(f">{n}i", self.b[self.p : self.p + 4 * n]))
            self.p += 4 * n
        elif t == 14:
            v = list(struct.unpack(f">{n}d", self.b[self.p : self.p + 8 * n]))
            self.p += 8 * n
        elif t == 15:
            self.p += 16 * n
            v = None
        elif t == 24:
            v = self.b[self.p : self.p + n]
            self.p += n
        else:
            v = [self.item() for _ in range(n)]
        if has_attr:
            attrs = self.item()
            if isinstance(v, list) and isinstance(attrs, tuple) and attrs[0] == "pairlist":
                return RVector(v, {tag[1]: val for tag, val, _ in attrs[1] if tag})
        return v


def r_unserialize(data: bytes) -> Any:
    """One object of R's XDR serialisation (the body of an .rds file or a lazy-load entry)."""
    if data[:2] != b"X\n":
        raise ValueError("not an R XDR serialisation")
    r = _RReader(data, pos=2)
    version = r.read_int()
    r.read_int()
    r.read_int()
    if version == 3:
        n = r.read_int()
        r.p += n
    return r.item()


def _decompress_entry(blob: bytes) -> bytes:
    """An .rdb entry: a 4-byte length, then a type byte for xz/bzip2/none, or zlib data straight away."""
    kind = blob[4:5]
    if kind == b"Z":
        return lzma.decompress(blob[5:])
    if kind == b"2":
        return bz2.decompress(blob[5:])
    if kind == b"0":
        return blob[5:]
    return zlib.decompress(blob[4:])


def r_lazyload(base: Path) -> dict:
    """Objects of an R lazy-load database (`base`.rdx index + `base`.rdb data) as a name -> value dict."""
    idx_raw = base.with_suffix(".rdx").read_bytes()
    idx = r_unserialize(
        gzip.decompress(idx_raw) if idx_raw[:2] == b"\x1f\x8b" else zlib.decompress(idx_raw[4:])
    )
    variables = idx[0]
    names = variables.attrs.get("names") if isinstance(variables, RVector) else None
    db = base.with_suffix(".rdb").read_bytes()
    out = {}
    for i, (off, length) in enumerate(variables):
        data = _decompress_entry(db[off : off + length])
        out[names[i] if names else str(i)] = r_unserialize(data)
    return out
