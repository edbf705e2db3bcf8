"""Readers of the tz database: its commentary and theory.html (non-fiction) and its tables (structured
data), so one public-domain source gives both prose and tabular records."""

from __future__ import annotations

import html.parser
import re
from collections.abc import Iterator
from pathlib import Path

from .cleaning import n_words, unwrap
from .passages import TABLE_MAX_LINES, Passage, cut_lines, pack

_TZ_FILES = (
    "africa",
    "antarctica",
    "asia",
    "australasia",
    "europe",
    "northamerica",
    "southamerica",
    "backzone",
    "etcetera",
)
_TZ_COLUMN_HEADER = re.compile(r"^#\s*(Rule|Zone|Link)\s+(NAME|TARGET)", re.I)


def _tz_blocks(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Yield ('comment', [lines without '#']) and ('data', [lines]) runs of a tz source file."""
    kind, cur = None, []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("#") and not _TZ_COLUMN_HEADER.match(line) and not line.startswith("#\t"):
            k, v = "comment", re.sub(r"^# ?", "", line)
        elif line.strip():
            k, v = "data", line.rstrip()
        else:
            k, v = kind, ""  # a blank line belongs to the current run
        if k != kind and cur:
            yield kind, cur
            cur = []
        kind = k
        cur.append(v)
    if cur and kind:
        yield kind, cur


def _tz_comment_paragraphs(lines: list[str]) -> list[str]:
    """Prose paragraphs of a comment run, less the licence boilerplate and bare link lists."""
    pars = []
    for p in re.split(r"\n\s*\n", "\n".join(lines)):
        if not p.strip():
            continue
        if "public domain" in p.lower() and "Olson" in p:
            continue  # the licence boilerplate at the top of each file
        plines = p.split("\n")
        if all(re.fullmatch(r"\s*(<?https?://\S+>?|<?ftp://\S+>?)\s*", x) for x in plines if x.strip()):
            continue  # a paragraph of bare links
        tabular = any("\t" in x or x.startswith((" ", "|")) for x in plines)
        pars.append(p.strip("\n") if tabular else unwrap(p))
    return pars


def source_tz_commentary(tzdir: Path) -> list[Passage]:
    """Non-fiction: the comments of each region file, cut at its tables; group = file."""
    out = []
    for name in _TZ_FILES:
        pars: list[str] = []
        for kind, lines in _tz_blocks(tzdir / name):
            if kind == "comment":
                pars.extend(_tz_comment_paragraphs(lines))
            else:
                for t in pack(pars):
                    out.append(Passage(t, "nonfiction", "tz-commentary", name))
                pars = []
        for t in pack(pars):
            out.append(Passage(t, "nonfiction", "tz-commentary", name))
    return [p for p in out if n_words(p.text) >= 60]


class _HTMLText(html.parser.HTMLParser):
    """Text of an HTML page with block elements as paragraph breaks and <pre> kept as it is."""

    _BLOCK = {"p", "li", "h1", "h2", "h3", "h4", "pre", "dt", "dd", "tr", "blockquote", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self._BLOCK:
            self.parts.append("\n\n")
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip -= 1
        if tag == "pre":
            self.pre -= 1
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def source_tz_theory(tzdir: Path) -> list[Passage]:
    """Non-fiction: theory.html, the design notes of the tz database, less its licence lines."""
    parser = _HTMLText()
    parser.feed((tzdir / "theory.html").read_text(encoding="utf-8"))
    text = "".join(parser.parts)
    pars = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pars = [p for p in pars if not re.search(r"public domain|SPDX", p)]
    return [Passage(t, "nonfiction", "tz-theory", "theory") for t in pack(pars)]


def _rule_tables(tzdir: Path, name: str) -> list[Passage]:
    """Consecutive Rule/Zone/Link blocks of a file joined (a blank line between blocks) into chunks of at
    most TABLE_MAX_LINES lines, cut between blocks where possible."""
    out = []
    chunk: list[str] = []
    for kind, lines in _tz_blocks(tzdir / name):
        if kind != "data":
            continue
        block = [x for x in lines if x.strip()]
        if chunk and len(chunk) + len(block) + 1 > TABLE_MAX_LINES:
            out.append(Passage("\n".join(chunk), "structured_data", "tz-tables", name))
            chunk = []
        if len(block) > TABLE_MAX_LINES:
            for part in cut_lines(block, TABLE_MAX_LINES, min_lines=TABLE_MAX_LINES):
                out.append(Passage("\n".join(part), "structured_data", "tz-tables", name))
            continue
        chunk = chunk + [""] + block if chunk else block
    if chunk:
        out.append(Passage("\n".join(chunk), "structured_data", "tz-tables", name))
    return out


def source_tz_tables(tzdir: Path) -> list[Passage]:
    """Structured data: the rule tables of the region files and the .tab files; group = file."""
    out = []
    for name in _TZ_FILES:
        out.extend(_rule_tables(tzdir, name))
    for name in ("zone1970.tab", "iso3166.tab", "zonenow.tab"):
        lines = [
            x for x in (tzdir / name).read_text(encoding="utf-8").split("\n") if x and not x.startswith("#")
        ]
        for i in range(0, len(lines), 40):
            chunk = lines[i : i + 40]
            if len(chunk) >= 4:
                out.append(Passage("\n".join(chunk), "structured_data", "tz-tables", name))
    return out
