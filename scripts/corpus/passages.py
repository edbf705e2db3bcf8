"""The passage record and the cutters that turn cleaned text into passages of a target length."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .cleaning import n_words

MIN_WORDS = 150  # passage length target, in whitespace-separated words
MAX_WORDS = 400
CODE_MAX_LINES = 80
TABLE_MAX_LINES = 25

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)|(?<=[.!?;:][\"'”’)\]])\s+(?=\S)")


@dataclass
class Passage:
    """One corpus line; `group` (a file, book, novel...) is what the per-group sampling cap counts."""

    text: str
    category: str
    source: str
    group: str


def split_long(par: str, hi: int, lines: bool) -> list[str]:
    """Cut a paragraph over `hi` words into pieces: by lines for verse/code, by sentences for prose."""
    n = n_words(par)
    if n <= hi:
        return [par]
    # pieces of about equal size near the middle of the range rather than full ones and a short tail
    target = (MIN_WORDS + MAX_WORDS) // 2 if hi == MAX_WORDS else hi
    hi = min(hi, -(-n // -(-n // target)))
    units = par.split("\n") if lines else [u for u in _SENTENCE_END.split(par) if u]
    joiner = "\n" if lines else " "
    out: list[str] = []
    cur: list[str] = []
    cur_n = 0
    for u in units:
        un = n_words(u)
        if cur and cur_n + un > hi:
            out.append(joiner.join(cur))
            cur, cur_n = [], 0
        if un > hi:  # one sentence or line longer than the limit: cut by words
            ws = u.split()
            for i in range(0, len(ws), hi):
                out.append(" ".join(ws[i : i + hi]))
            continue
        cur.append(u)
        cur_n += un
    if cur:
        out.append(joiner.join(cur))
    return out


def pack(
    paras: list[str], lo: int = MIN_WORDS, hi: int = MAX_WORDS, lines: bool = False, sep: str = "\n\n"
) -> list[str]:
    """Greedily join consecutive paragraphs into passages of lo..hi words (a short tail joins the last one
    when it fits; otherwise it stays a passage of its own if it has at least lo/3 words)."""
    pieces: list[str] = []
    for p in paras:
        p = p.strip("\n")
        if p.strip():
            pieces.extend(split_long(p, hi, lines))
    out: list[str] = []
    cur: list[str] = []
    cur_n = 0
    for p in pieces:
        pn = n_words(p)
        if cur and cur_n + pn > hi:
            out.append(sep.join(cur))
            cur, cur_n = [], 0
        cur.append(p)
        cur_n += pn
        if cur_n >= lo:
            out.append(sep.join(cur))
            cur, cur_n = [], 0
    if cur:
        tail = sep.join(cur)
        if out and n_words(out[-1]) + cur_n <= hi:
            out[-1] = out[-1] + sep + tail
        elif cur_n >= lo // 3:
            out.append(tail)
    return out


def cut_lines(lines: list[str], max_lines: int, min_lines: int = 40) -> list[list[str]]:
    """Cut a run of lines into chunks of at most max_lines, preferring blank lines after min_lines."""
    out, cur = [], []
    for i, line in enumerate(lines):
        cur.append(line)
        at_blank = not line.strip() and i + 1 < len(lines)
        if len(cur) >= max_lines or (len(cur) >= min_lines and at_blank and len(lines) - i > 10):
            out.append(cur)
            cur = []
    if cur:
        if out and len(cur) < 10:
            out[-1].extend(cur)
        else:
            out.append(cur)
    return out
