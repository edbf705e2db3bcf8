"""Readers of the literary sources: Austen's novels and Alice (fiction), As You Like It (drama) and
Paradise Lost (poetry); the last three are texts of the Canterbury corpus in the brotli sdist."""

from __future__ import annotations

import re
from pathlib import Path

from .cleaning import clean_lines, paragraphs, unwrap
from .passages import Passage, pack
from .rdata import r_lazyload


def source_austen(pkg: Path) -> list[Passage]:
    """Fiction: the six novels of janeaustenr (one character vector of lines each); group = novel."""
    objs = r_lazyload(pkg / "data" / "Rdata.rdx")
    out = []
    for name in sorted(objs):
        lines = [x if x is not None else "" for x in objs[name]]
        text = "\n".join(lines)
        text = re.sub(r"_([^_\n]+(?:\n[^_\n]+)?)_", r"\1", text)  # _italics_
        pars = [unwrap(p) for p in paragraphs(text)]
        for t in pack(pars):
            out.append(Passage(t, "fiction", "austen-novels", name))
    return out


def source_alice(testdata: Path) -> list[Passage]:
    """Fiction: Alice's Adventures in Wonderland, less its Project Gutenberg edition line."""
    text = clean_lines((testdata / "alice29.txt").read_text(encoding="latin-1"))
    text = text.replace("`", "'")
    pars = []
    for p in paragraphs(text):
        if "MILLENNIUM FULCRUM" in p:
            continue
        pars.append(unwrap(p))
    return [Passage(t, "fiction", "alice-in-wonderland", "alice") for t in pack(pars)]


def _play_scenes(text: str) -> list[list[str]]:
    """The play as scenes of headings and speeches ("SPEAKER: line..."), so passages never span scenes."""
    scenes: list[list[str]] = [[]]
    speech: list[str] = []

    def end_speech() -> None:
        nonlocal speech
        if speech:
            scenes[-1].append("\n".join(speech))
            speech = []

    for line in text.split("\n"):
        if not line.strip():
            end_speech()
            continue
        if re.match(r"^(ACT [IVX]+|EPILOGUE)$", line.strip()) or line.startswith("SCENE"):
            end_speech()
            if scenes[-1] and not (len(scenes[-1]) == 1 and scenes[-1][0].startswith("ACT")):
                scenes.append([])  # an act heading stays with the first scene of the act
            scenes[-1].append(
                line.replace("\t", ". ", 1).strip() if line.startswith("SCENE") else line.strip()
            )
            continue
        if line.strip() == "AS YOU LIKE IT":
            continue
        m = re.match(r"^([A-Z][A-Za-z .'()]+?)\t+(.*)$", line)  # DUKE SENIOR, First Lord
        if m:
            end_speech()
            speech = [f"{m.group(1).strip()}: {m.group(2).strip()}"]
        else:
            speech.append(line.strip())
    end_speech()
    return scenes


def source_as_you_like_it(testdata: Path) -> list[Passage]:
    """Drama: As You Like It from Act I on, verse lines kept; group = scene."""
    text = clean_lines((testdata / "asyoulik.txt").read_text(encoding="latin-1"))
    text = text[text.index("\nACT I\n") :]
    out = []
    for i, scene in enumerate(_play_scenes(text)):
        for t in pack(scene, lines=True):
            out.append(Passage(t, "drama", "as-you-like-it", f"scene{i}"))
    return out


def source_paradise_lost(testdata: Path) -> list[Passage]:
    """Poetry: Paradise Lost in verse paragraphs, lines kept; group = book."""
    text = clean_lines((testdata / "plrabn12.txt").read_text(encoding="latin-1"))
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == "Book I")
    books: list[list[str]] = []
    for line in lines[start:]:
        s = line.rstrip()
        if re.fullmatch(r"Book [IVX]+", s.strip()):
            books.append([s.strip()])
            continue
        if s.strip() in ("[The End]", "THE END"):
            break
        if not s.strip() or re.fullmatch(r"\s*\d{6,}\s*", s):
            continue  # blank lines and a few stray card numbers of the 1960s transcription
        if s.startswith("  ") and books[-1] and len(books[-1]) > 1:
            books[-1].append("")  # a new verse paragraph
        books[-1].append(s.strip())
    out = []
    for i, book in enumerate(books):
        pars = "\n".join(book).split("\n\n")
        for t in pack(pars, lo=150, hi=300, lines=True):
            out.append(Passage(t, "poetry", "paradise-lost", f"book{i + 1}"))
    return out
