"""Readers of SWORD zText Bible modules (World English Bible; Reina-Valera 1909), decoded without SWORD."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from .passages import MAX_WORDS, MIN_WORDS, Passage, pack


def sword_entries(moddir: Path) -> Iterator[tuple[str, str]]:
    """Yield (testament, raw OSIS text) of a SWORD zText module in versification order."""
    for test in ("ot", "nt"):
        bzs = (moddir / f"{test}.bzs").read_bytes()
        bzz = (moddir / f"{test}.bzz").read_bytes()
        bzv = (moddir / f"{test}.bzv").read_bytes()
        blocks = []
        for i in range(0, len(bzs), 12):
            off, size, _usize = struct.unpack("<III", bzs[i : i + 12])
            blocks.append(zlib.decompress(bzz[off : off + size]))
        for i in range(0, len(bzv), 10):
            b, off, size = struct.unpack("<IIH", bzv[i : i + 10])
            if size:
                yield test, blocks[b][off : off + size].decode("utf-8", errors="replace")


def _osis_to_text(osis: str) -> str:
    """Plain text of OSIS markup: notes dropped, titles, paragraphs and poetry lines as line breaks."""
    s = re.sub(r"<note\b[^>]*/>", "", osis)
    s = re.sub(r"<note\b.*?</note>", "", s, flags=re.S)
    s = re.sub(r"<title\b[^>]*>(.*?)</title>", lambda m: "\n\n" + m.group(1) + "\n\n", s, flags=re.S)
    s = re.sub(r"<div\b[^>]*\beID=[^>]*/>", "\n\n", s)  # end of a paragraph
    s = re.sub(r"<lg\b[^>]*\beID=[^>]*/>|</lg>", "\n\n", s)
    s = re.sub(r"<l\b[^>]*\beID=[^>]*/>|</l>|<lb\b[^>]*/>", "\n", s)
    s = re.sub(r"<chapter\b[^>]*\bsID=[^>]*/>", "\n\n", s)
    s = re.sub(r"<[^>]+>", "", s)
    s = s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return s


def _books(moddir: Path) -> list[tuple[str, list[str]]]:
    """(OSIS book id, plain-text pieces) per book; front matter before the first book is left out."""
    books: list[tuple[str, list[str]]] = []
    for _test, raw in sword_entries(moddir):
        for piece in re.split(r'(<div\b[^>]*type="book"[^>]*/>)', raw):
            m = re.match(r'<div\b[^>]*osisID="([^"]+)"[^>]*sID=[^>]*type="book"', piece) or re.match(
                r'<div\b[^>]*sID=[^>]*osisID="([^"]+)"[^>]*type="book"', piece
            )
            if m:
                books.append((m.group(1), []))
                continue
            if books:
                books[-1][1].append(_osis_to_text(piece))
    return books


def source_sword(moddir: Path, source: str, category: str) -> list[Passage]:
    """Scripture or Spanish: one Bible module, paragraphs and poetry lines kept; group = book."""
    out = []
    for name, parts in _books(moddir):
        text = "".join(parts)
        pars = []
        for p in re.split(r"\n\s*\n", text):
            plines = [re.sub(r"[ \t]+", " ", x).strip() for x in p.split("\n")]
            plines = [x for x in plines if x]
            if plines:
                pars.append("\n".join(plines))
        # Spanish takes about twice as many tokens per word as English here: shorter passages
        lo, hi = (100, 220) if category == "spanish" else (MIN_WORDS, MAX_WORDS)
        for t in pack(pars, lo=lo, hi=hi):
            out.append(Passage(t, category, source, name))
    return out
