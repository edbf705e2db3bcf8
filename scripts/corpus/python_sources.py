"""Readers of CPython's own text: standard-library code, the manual (Texinfo) and IDLE's INI files."""

from __future__ import annotations

import ast
import gzip
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

from .cleaning import clean_lines, n_words, paragraphs
from .passages import CODE_MAX_LINES, TABLE_MAX_LINES, Passage, cut_lines, pack

_CODE_SKIP_DIRS = {
    "test",
    "tests",
    "idle_test",
    "site-packages",
    "__pycache__",
    "encodings",  # generated codec tables
    "pydoc_data",  # a generated copy of the documentation
    "_bundled",
    "lib-dynload",
}
_CODE_SKIP_FILES = {"this.py", "antigravity.py", "__phello__.foo.py"}

# Chapters of the manual left out: 1 What's New (mostly change logs), 13 About, 14 Dealing with Bugs,
# 15 Copyright, 16 History and License (licence texts come in through the legal sources).
_DOC_SKIP_CHAPTERS = {1, 13, 14, 15, 16}

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _code_files(stdlib: Path) -> Iterator[Path]:
    """Hand-written modules only, in a fixed (sorted) order so that the pool is reproducible."""
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _CODE_SKIP_DIRS and not d.startswith("config-"))
        for f in sorted(files):
            if f.endswith(".py") and f not in _CODE_SKIP_FILES and not f.startswith("_sysconfigdata"):
                yield Path(root) / f


def _node_start(node: ast.stmt) -> int:
    """First line of a definition, its decorators included."""
    starts = [node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]
    return min(starts)


def _class_chunks(node: ast.ClassDef, lines: list[str]) -> list[list[str]]:
    """A long class as its header plus docstring, then its members grouped into chunks that each begin
    with the class statement so that the indentation reads naturally."""
    start, end = _node_start(node), node.end_lineno
    header_end = node.body[0].lineno - 1 if node.body else node.lineno
    first_member = next(
        (_node_start(b) for b in node.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))),
        end + 1,
    )
    class_line = lines[node.lineno - 1 : header_end]
    chunks: list[list[str]] = []
    cur = lines[start - 1 : first_member - 1]
    for m in (b for b in node.body if _node_start(b) >= first_member):
        mb = lines[_node_start(m) - 1 : m.end_lineno]
        if len(mb) > CODE_MAX_LINES:
            if len(cur) > len(class_line) + 5:
                chunks.append(cur)
            for part in cut_lines(mb, CODE_MAX_LINES):
                chunks.append(class_line + part)
            cur = list(class_line)
            continue
        if len(cur) + len(mb) + 1 > CODE_MAX_LINES and len(cur) > len(class_line) + 5:
            chunks.append(cur)
            cur = list(class_line)
        cur = cur + [""] + mb if len(cur) > len(class_line) else cur + mb
    if len(cur) > len(class_line) + 5:
        chunks.append(cur)
    return chunks


def _def_chunks(tree: ast.Module, lines: list[str]) -> list[list[str]]:
    """Top-level definitions only, so module headers (licence comments, imports) never come along."""
    chunks: list[list[str]] = []
    small: list[str] = []  # consecutive small definitions are merged

    def flush_small() -> None:
        nonlocal small
        if len([x for x in small if x.strip()]) >= 8:
            chunks.append(small)
        small = []

    for node in (n for n in tree.body if isinstance(n, _DEFS)):
        body = lines[_node_start(node) - 1 : node.end_lineno]
        if len(body) <= CODE_MAX_LINES:
            if len(body) < 25:
                if small and len(small) + len(body) + 2 > 60:
                    flush_small()
                small = small + ([""] if small else []) + body
                continue
            flush_small()
            chunks.append(body)
            continue
        flush_small()
        if isinstance(node, ast.ClassDef):
            chunks.extend(_class_chunks(node, lines))
        else:
            chunks.extend(cut_lines(body, CODE_MAX_LINES))
    flush_small()
    return chunks


def code_chunks(path: Path) -> list[str]:
    """The passages of one module: whole functions or classes, or chunks of up to CODE_MAX_LINES."""
    src = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    out = []
    for c in _def_chunks(tree, src.split("\n")):
        text = "\n".join(x.rstrip() for x in c).strip("\n")
        text = re.sub(r"\n{3,}", "\n\n", text)
        if len(text.split("\n")) >= 5 and n_words(text) >= 25:
            out.append(text)
    return out


def source_stdlib_code(stdlib: Path) -> list[Passage]:
    """Code: every kept module of the standard library; the group is the file."""
    out = []
    for path in _code_files(stdlib):
        rel = path.relative_to(stdlib).as_posix()
        for text in code_chunks(path):
            out.append(Passage(text, "code", "cpython-stdlib-code", rel))
    return out


def _info_clean(text: str) -> str:
    """Drop Texinfo cross-reference syntax and footnote markers, straighten typographic quotes."""
    text = re.sub(r"\*[Nn]ote\s+([^:]+?)::", r"\1", text)
    text = re.sub(r"\*[Nn]ote\s+([^:]+?):\s*[^\s.,]+?[.,]", r"\1", text, flags=re.S)
    text = re.sub(r"(?<=\S)\((\d{1,3})\)", "", text)  # footnote markers such as bpo-12345(1)
    text = text.replace("‘", "'").replace("’", "'").replace("“", '"').replace("”", '"')
    return text


def _doc_paragraph(par: str) -> str:
    """Unwrap prose and list items; code examples and tables keep their layout."""
    par = textwrap.dedent(par)
    lines = par.split("\n")
    if (
        lines[0].startswith(">>>")
        or any(line.startswith("    ") for line in lines[1:] if line.strip())
        and not (lines[0].startswith(("* ", "- ")))
    ):
        return par  # code or a table: keep as it is
    out: list[str] = []
    for line in lines:
        s = line.strip()
        if re.match(r"^(\* |- |\d+\. )", s) or not out:
            out.append(s)
        else:
            out[-1] += " " + s
    return "\n".join(out)


def _doc_node_paragraphs(body: str) -> list[str]:
    """The paragraphs of one Info node, its section headings reduced to their titles."""
    body = body.split("---------- Footnotes ----------")[0]
    body = body.split("\n* Menu:")[0]
    pars = []
    for par in paragraphs(_info_clean(body)):
        plines = par.split("\n")
        if len(plines) == 2 and re.fullmatch(r"[=\-*.]{3,}", plines[1].strip()):
            pars.append(re.sub(r"^\d+(\.\d+)* ", "", plines[0].strip()))
            continue
        pars.append(_doc_paragraph(par))
    return pars


def source_python_docs(info_gz: Path) -> list[Passage]:
    """Technical docs: the Python 3.11 manual as Texinfo; the group is the chapter and node."""
    raw = gzip.decompress(info_gz.read_bytes()).decode("utf-8", errors="replace")
    chapter = 0
    out = []
    for node in raw.split("\x1f"):
        lines = node.strip("\n").split("\n")
        if not lines or not lines[0].startswith("File: "):
            continue
        m = re.search(r"Node: ([^,]+)", lines[0])
        name = m.group(1).strip() if m else "?"
        body = "\n".join(lines[1:])
        hm = re.search(r"^(\d+)(?:\.\d+)* .+\n[=\-*.]{3,}$", body, flags=re.M)
        if hm:
            chapter = int(hm.group(1))
        if chapter in _DOC_SKIP_CHAPTERS or chapter == 0:
            continue
        pars = _doc_node_paragraphs(body)
        if sum(n_words(p) for p in pars) < 60:
            continue
        for text in pack(pars):
            out.append(Passage(text, "technical_docs", "python-docs", f"{chapter}:{name}"))
    return out


def source_stdlib_datafiles(stdlib: Path) -> list[Passage]:
    """Structured data: IDLE's default configuration files (INI syntax), written for CPython."""
    files = sorted((stdlib / "idlelib").glob("*.def"))
    out = []
    for path in files:
        text = clean_lines(path.read_text(encoding="utf-8", errors="replace"))
        if not text.strip() or len(text) < 80:
            continue
        lines = text.split("\n")
        rel = path.relative_to(stdlib).as_posix()
        for chunk in cut_lines(lines, TABLE_MAX_LINES, min_lines=30):
            t = "\n".join(chunk).strip("\n")
            if n_words(t) >= 40:
                out.append(Passage(t, "structured_data", "cpython-datafiles", rel))
    return out
