"""Readers of the reference works: WordNet 3.0 glosses (dictionary), the Jargon File 4.4.7 and Ambrose
Bierce's The Devil's Dictionary (glossary)."""

from __future__ import annotations

import gzip
import re
import textwrap
from collections import defaultdict
from pathlib import Path

from .cleaning import clean_lines, n_words, paragraphs, unwrap
from .passages import Passage, pack

_WN_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}
_DICTD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _wordnet_entries(path: Path) -> dict[str, list[str]]:
    """One line "words (part of speech): gloss" per synset, grouped by lexicographer file in file order."""
    entries: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        if not line.strip() or line.startswith("  "):
            continue  # the licence header of the data file, blank lines
        head, _, gloss = line.partition(" | ")
        f = head.split()
        lexfile, pos, wcnt = f[1], f[2], int(f[3], 16)
        words = []
        for k in range(wcnt):
            w = re.sub(r"\((a|p|ip)\)$", "", f[4 + 2 * k]).replace("_", " ")
            if w not in words:
                words.append(w)
        entries[lexfile].append(f"{', '.join(words)} ({_WN_POS[pos]}): {gloss.strip()}")
    return entries


def source_wordnet(wndir: Path) -> list[Passage]:
    """Dictionary: WordNet synsets as one-line glosses; group = data file and lexicographer file."""
    out = []
    for pos_file in ("data.noun", "data.verb", "data.adj", "data.adv"):
        for lexfile, entries in _wordnet_entries(wndir / pos_file).items():
            for t in pack(entries, lo=120, hi=250, sep="\n"):
                out.append(Passage(t, "dictionary", "wordnet-glosses", f"{pos_file}:{lexfile}"))
    return out


def source_jargon(path: Path) -> list[Passage]:
    """Glossary: Jargon File entries (heading and text) and essays, cross-reference braces removed."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
    text = clean_lines(text)
    units: list[str] = []  # an entry (heading + its paragraphs) or an essay paragraph
    for p in paragraphs(text):
        p = textwrap.dedent(p)
        if re.fullmatch(r"[═─\-=\s]+", p):
            continue
        if p.startswith(":") and re.match(r"^:[^:\n]+:", p):
            units.append(p.strip().replace("\n", " "))  # an entry heading; its text follows
            continue
        if "\n" not in p and n_words(p) < 6 and not p.rstrip().endswith((".", "?", "!", '"', "”")):
            continue  # tables of contents and section titles
        body = unwrap(p) if not any(x.startswith((" ", "\t")) for x in p.split("\n")[1:]) else p
        body = re.sub(r"\{([^{}]+)\}", r"\1", body)  # {cross reference}
        if units and re.match(r"^:[^:\n]+:", units[-1]) and "\n\n" not in units[-1]:
            units[-1] = units[-1] + "\n\n" + body
        else:
            units.append(body)
    return [Passage(t, "glossary", "jargon-file", "jargon") for t in pack(units)]


def _dictd_num(s: str) -> int:
    """A dictd index offset or length (base-64 digits)."""
    n = 0
    for c in s:
        n = n * 64 + _DICTD_ALPHABET.index(c)
    return n


def source_devil(dictd: Path) -> list[Passage]:
    """Glossary: The Devil's Dictionary from its dictd files, entries in file order, verse kept."""
    data = gzip.decompress((dictd / "devil.dict.dz").read_bytes())
    spans = set()
    for line in (dictd / "devil.index").read_text(encoding="utf-8").split("\n"):
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00database"):
            continue
        spans.add((_dictd_num(parts[1]), _dictd_num(parts[2])))
    units = []
    for off, length in sorted(spans):
        entry = clean_lines(data[off : off + length].decode("utf-8", errors="replace"))
        pars = []
        for p in re.split(r"\n\s*\n", entry):
            if not p.strip():
                continue
            plines = p.split("\n")
            if all(x.startswith("    ") for x in plines if x.strip()):  # verse: keep its lines
                pars.append(textwrap.dedent(p).rstrip())
            else:
                pars.append(re.sub(r"_([^_]+)_", r"\1", unwrap(p)))
        if pars:
            units.append("\n\n".join(pars))
    return [Passage(t, "glossary", "devils-dictionary", "devil") for t in pack(units)]
