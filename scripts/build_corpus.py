#!/usr/bin/env python3
"""Build fnsft's discovery corpus, ``assets/corpus/corpus.jsonl``, from raw redistributable sources.

The corpus is a few hundred thousand tokens of text of twelve kinds (code, technical documentation,
fiction, drama, poetry, scripture, Spanish, dictionary glosses, glossary essays, expository non-fiction,
structured data, legal text). It ships inside the repository and the wheel, so nothing is downloaded at run
time. ``assets/corpus/SOURCES.md`` records where every source came from, its licence and its counts.

Every input is a plain file or folder given by a flag. They come from the Python install and from Debian 12
("bookworm") and PyPI packages, unpacked without installing anything. The versions that built the shipped
file (see assets/corpus/SOURCES.md for checksums):

    mkdir -p /tmp/csrc && cd /tmp/csrc
    apt-get download python3.11-doc=3.11.2-6+deb12u9 r-cran-janeaustenr=1.0.0-1 \
        sword-text-web=426.0-1 sword-text-sparv=2.60-1 wordnet-base=1:3.0-37 \
        jargon-text=4.4.7-4.1 dict-devil=1.0-13.1
    for d in *.deb; do dpkg-deb -x "$d" root; done          # everything lands under /tmp/csrc/root/usr/...
    pip download --no-deps --no-binary :all: brotli==1.2.1  # the sdist: its tests/testdata holds
    tar xzf brotli-1.2.1.tar.gz                             # texts of the Canterbury corpus
    apt-get source --download-only tzdata=2026b-0+deb12u1   # needs a deb-src line (any tz release works,
    mkdir tz && tar xzf tzdata_2026b.orig.tar.gz -C tz      # but gives other passages); public domain

    python3 scripts/build_corpus.py \
        --stdlib /path/to/cpython-3.11.7/Lib \
        --python-doc-info root/usr/share/info/python3.11.info.gz \
        --janeaustenr root/usr/lib/R/site-library/janeaustenr \
        --canterbury brotli-1.2.1/tests/testdata \
        --sword-web root/usr/share/sword/modules/texts/ztext/engWEB2015eb \
        --sword-sparv root/usr/share/sword/modules/texts/ztext/spaRV1909eb \
        --wordnet root/usr/share/wordnet \
        --jargon root/usr/share/doc/jargon-text/jargon.txt.gz \
        --devil root/usr/share/dictd \
        --tzdata tz \
        --common-licenses /usr/share/common-licenses \
        --out assets/corpus/corpus.jsonl

--stdlib is a CPython 3.11 Lib/ folder, e.g. `python3.11 -c "import sysconfig;
print(sysconfig.get_paths()['stdlib'])"` (the shipped file used CPython 3.11.7's); --common-licenses is
Debian's /usr/share/common-licenses (package base-files). Another version of any input gives another corpus.

``--tokenizer PATH`` (a ``tokenizer.json`` file or a Hugging Face model folder) adds token counts to the
report; it needs the ``tokenizers`` or ``transformers`` package and changes nothing in the corpus.

What the builder does: it extracts text from each source (decoding SWORD zText modules, R lazy-load data,
dictd and WordNet database files and a Texinfo file with the standard library only), cleans it (drops
Project Gutenberg front matter, footnotes, markup, cross-reference braces, tables of contents and licence
boilerplate; code is taken as whole top-level functions and classes, so module licence headers never come
along), cuts it into passages of about 150-400 words (code: whole functions or classes, or chunks of up to
about 80 lines; tables: chunks of up to 25 lines), drops passages holding a slur from a small hashed
list, removes duplicates, takes a seeded random sample of each source up to its character budget, shuffles
everything with a fixed seed and writes plain JSONL. The same inputs give a byte-identical file.
Python 3.10+ standard library only.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import html.parser
import io
import json
import os
import random
import re
import struct
import sys
import textwrap
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

SEED = 20240607
MIN_WORDS = 150  # passage length target, in whitespace-separated words
MAX_WORDS = 400
CODE_MAX_LINES = 80
TABLE_MAX_LINES = 25

# Character budgets per source: a seeded random sample of each source's passages is taken up to this many
# characters (the whole source when it is smaller). Tuned so that each kind lands near 55,000 tokens of the
# SmolLM2 tokenizer and no kind passes 20% of the total.
BUDGET_CHARS = {
    "cpython-stdlib-code": 222_000,
    "python-docs": 215_000,
    "austen-novels": 200_000,
    "alice-in-wonderland": 50_000,
    "as-you-like-it": 10**9,
    "paradise-lost": 215_000,
    "world-english-bible": 235_000,
    "reina-valera-1909": 150_000,
    "wordnet-glosses": 230_000,
    "jargon-file": 170_000,
    "devils-dictionary": 70_000,
    "tz-commentary": 140_000,
    "tz-theory": 50_000,
    "tz-tables": 70_000,
    "cpython-datafiles": 30_000,
    "debian-common-licenses": 10**9,
    "cpython-license": 10**9,
}
# At most this many passages from one group (one file, book, novel or lexicographer file) so that a
# sample spreads over the whole source.
GROUP_CAP = {
    "cpython-stdlib-code": 3,
    "python-docs": 4,
    "wordnet-glosses": 8,
    "tz-commentary": 60,
}

# SHA-256 of lower-cased words; a passage holding one of them is dropped (ethnic and other slurs that occur
# in 19th/20th-century texts). Hashed so that the list is not spelled out here.
BLOCKED_WORD_HASHES = frozenset(
    {
        "038c9ccdd226f5728bd0a945bdbb0a25c0f877f2f36f4092ee8c004e810aa300",
        "044eb98b18769b887d5a0258f675e413058b8e9fc9b9786b418bfc6f03f26c98",
        "08a841e996781e9e77d30a4e4420a8f501a280b00624e6d1224bf54aaff73eba",
        "0be9b885f4a35a18f6af6b1ac0acd7fa4b19993999c3fbf66dd1e3e0c4c753c8",
        "0dcc4d3364433181d36240001a590f771102cc16a3bcc8ced32a9671057f9253",
        "120f6e5b4ea32f65bda68452fcfaaef06b0136e1d0e4a6f60bc3771fa0936dd6",
        "16ea09fc78ca83ca502cbcf2377acdf280bf18f61e259153f0868405eedab5ef",
        "1e02eec4f1095143be282056557034d4e8ab915342c1af508223141d472d2347",
        "268651b3ece980102f18871fde07189372961e056f858ca147a28d004f876b03",
        "341d56384afc0f47b34ca18273e793be555507a49444c30d3d0588688de46cb3",
        "35ef747b9c42eda3f642312be016f8ca5c263f5ee492a454f69e389009534348",
        "402f7ebd98864afed4817ff4718d357dbfa95458aa4236d6c5959536956fa4e5",
        "448b303c89bef07153d6625b53685248d5e81290259d0181808c3826d9e3e323",
        "45cd3e1bb472d8e285a160a95f6409ec5ce86102e9caaaf0b63fc11db04ab559",
        "5b3ae48be122f7ed19b4cc587649f41f9d2565df51cfa332f8e7806f4ebb9032",
        "6122fdf4ae1474fb9a413c83cf1d391627b66275d8978551f855770aadb2ffbe",
        "619bc82e0d200e4ad4e6bd13e7b068c7da60e10b794565db20ff8caa43e38081",
        "6437ea7144483cfa235fda2f8dace32958568c017e327fc5e7fc91288ad7979d",
        "701033ae26411908f31114d29190f60cdd9bf3e720e303f793882af5763b688f",
        "7e176c4f23155ac6ca08cc9bcae50fa3ad48fb5f12c53a06794af7ba1d6035dc",
        "82159dd02870c13ec30e4f146db7c317aca568469d0e7e22b8610a2eaa3d3924",
        "8f5083e3e5c7dc8932f2bf58212f963f3a44752618c96297f82623f736c52738",
        "98b52c4b6b7d1f48e7477a5ccc10955dd195d0ac5a38c8281bfeb08762634909",
        "ad6cacf3af98d07bf48067161281731a33ccc512212cf1ebc3490214efbd98be",
        "bb87adf8aa783887f0874a55a7fce06d5fc60f5886a767c88f75fe5a7611074a",
        "c1b4ed05397df5eebb4ea2e233ce45ce62e56b34d4b37d81f53059291ff741c2",
        "c3de533e9b7fe63b79f648687a30d2861edd92fe7c3cd1f2c485e0a605367624",
        "cc02032349c833ac5e97bac094560ed40e09acf34cb1978ab7a9840b9bf15b4d",
        "d0e3cb91d24958c5bca41d3c03b37591b6275df9323003a546682af7b959f733",
        "daec0c235d3135fc1c60aee787f784c59c4d53b2041ff2bacd0d3bebda7246a8",
        "e7b98c6aa5b944e0b315d350d423f895ac9e44fb84f1534b18c2572370a67b9e",
        "eda887476f1dffc92af1e103fa0c8eabae7805c671f3ec2925bb1fb58f8592cc",
        "eea2991640d1a5ca1379cf3313d722aa7a899d95621b50a3661bb5b19fe0b8a7",
        "f9d0d9b18ae9033a5ea36df19bf279b059e887a9ae785db81117bceaecc95933",
        "f9f208848672d435023883d9967b3c2bb47c39f7df45498892920f9c25381b70",
    }
)


# Licence texts are kept whole: GPL's sample disclaimer signs with a name that the word list catches.
_NO_BLOCKLIST = {"debian-common-licenses", "cpython-license"}


@dataclass
class Passage:
    text: str
    category: str
    source: str
    group: str


# ----------------------------------------------------------------------------------------------------------
# text helpers


def n_words(text: str) -> int:
    return len(text.split())


def clean_lines(text: str) -> str:
    """Normalise line ends, strip trailing blanks, collapse 3+ newlines, drop control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def unwrap(par: str) -> str:
    """Join the hard-wrapped lines of a prose paragraph into one line (collapsing runs of blanks)."""
    return re.sub(r"\s+", " ", par).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)|(?<=[.!?;:][\"'”’)\]])\s+(?=\S)")


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


def pack(paras: list[str], lo: int = MIN_WORDS, hi: int = MAX_WORDS, lines: bool = False, sep: str = "\n\n"):
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


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", clean_lines(text)) if p.strip()]


# ----------------------------------------------------------------------------------------------------------
# code: the CPython standard library

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


def _code_files(stdlib: Path):
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _CODE_SKIP_DIRS and not d.startswith("config-"))
        for f in sorted(files):
            if f.endswith(".py") and f not in _CODE_SKIP_FILES and not f.startswith("_sysconfigdata"):
                yield Path(root) / f


def _node_start(node) -> int:
    starts = [node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]
    return min(starts)


def _cut_lines(lines: list[str], max_lines: int, min_lines: int = 40) -> list[list[str]]:
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


def code_chunks(path: Path) -> list[str]:
    src = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    lines = src.split("\n")
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    chunks: list[list[str]] = []
    small: list[str] = []  # consecutive small definitions are merged

    def flush_small():
        nonlocal small
        if len([x for x in small if x.strip()]) >= 8:
            chunks.append(small)
        small = []

    for node in defs:
        start, end = _node_start(node), node.end_lineno
        body = lines[start - 1 : end]
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
            header_end = node.body[0].lineno - 1 if node.body else node.lineno
            # the class header plus docstring, then its members grouped into chunks that each begin with
            # the class statement so that the indentation reads naturally
            first_member = next(
                (_node_start(b) for b in node.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))),
                end + 1,
            )
            class_line = lines[node.lineno - 1 : header_end]
            head = lines[start - 1 : first_member - 1]
            cur = list(head)
            members = [b for b in node.body if _node_start(b) >= first_member]
            for m in members:
                mb = lines[_node_start(m) - 1 : m.end_lineno]
                if len(mb) > CODE_MAX_LINES:
                    if len(cur) > len(class_line) + 5:
                        chunks.append(cur)
                    for part in _cut_lines(mb, CODE_MAX_LINES):
                        chunks.append(class_line + part)
                    cur = list(class_line)
                    continue
                if len(cur) + len(mb) + 1 > CODE_MAX_LINES and len(cur) > len(class_line) + 5:
                    chunks.append(cur)
                    cur = list(class_line)
                cur = cur + [""] + mb if len(cur) > len(class_line) else cur + mb
            if len(cur) > len(class_line) + 5:
                chunks.append(cur)
        else:
            chunks.extend(_cut_lines(body, CODE_MAX_LINES))
    flush_small()
    out = []
    for c in chunks:
        text = "\n".join(x.rstrip() for x in c).strip("\n")
        text = re.sub(r"\n{3,}", "\n\n", text)
        if len(text.split("\n")) >= 5 and n_words(text) >= 25:
            out.append(text)
    return out


def source_stdlib_code(stdlib: Path) -> list[Passage]:
    out = []
    for path in _code_files(stdlib):
        rel = path.relative_to(stdlib).as_posix()
        for text in code_chunks(path):
            out.append(Passage(text, "code", "cpython-stdlib-code", rel))
    return out


# ----------------------------------------------------------------------------------------------------------
# technical documentation: the Python 3.11 manual as Texinfo (Debian python3.11-doc)

# Chapters of the manual left out: 1 What's New (mostly change logs), 13 About, 14 Dealing with Bugs,
# 15 Copyright, 16 History and License (licence texts come in through the legal sources).
_DOC_SKIP_CHAPTERS = {1, 13, 14, 15, 16}


def _info_clean(text: str) -> str:
    text = re.sub(r"\*[Nn]ote\s+([^:]+?)::", r"\1", text)
    text = re.sub(r"\*[Nn]ote\s+([^:]+?):\s*[^\s.,]+?[.,]", r"\1", text, flags=re.S)
    text = re.sub(r"(?<=\S)\((\d{1,3})\)", "", text)  # footnote markers such as bpo-12345(1)
    text = text.replace("‘", "'").replace("’", "'").replace("“", '"').replace("”", '"')
    return text


def _doc_paragraph(par: str) -> str:
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


def source_python_docs(info_gz: Path) -> list[Passage]:
    raw = gzip.decompress(info_gz.read_bytes()).decode("utf-8", errors="replace")
    nodes = raw.split("\x1f")
    chapter = 0
    out = []
    for node in nodes:
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
        body = body.split("---------- Footnotes ----------")[0]
        body = body.split("\n* Menu:")[0]
        body = _info_clean(body)
        pars = []
        for par in paragraphs(body):
            plines = par.split("\n")
            if len(plines) == 2 and re.fullmatch(r"[=\-*.]{3,}", plines[1].strip()):
                title = re.sub(r"^\d+(\.\d+)* ", "", plines[0].strip())
                pars.append(title)
                continue
            pars.append(_doc_paragraph(par))
        if sum(n_words(p) for p in pars) < 60:
            continue
        for text in pack(pars):
            out.append(Passage(text, "technical_docs", "python-docs", f"{chapter}:{name}"))
    return out


# ----------------------------------------------------------------------------------------------------------
# fiction: Jane Austen's six novels (janeaustenr, R lazy-load data) and Alice's Adventures in Wonderland


class _RReader:
    """A minimal reader of R's XDR serialisation (format 2 and 3), enough for character vectors."""

    def __init__(self, data: bytes):
        self.b = data
        self.p = 0
        self.refs: list = []

    def int(self) -> int:
        v = struct.unpack(">i", self.b[self.p : self.p + 4])[0]
        self.p += 4
        return v

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        has_attr = flags & (1 << 9)
        has_tag = flags & (1 << 10)
        if t in (254, 253, 252, 251, 250, 242, 241):  # NULL, environments, markers
            return None
        if t == 255:  # reference
            idx = flags >> 8 or self.int()
            return self.refs[idx - 1]
        if t in (247, 248, 249):  # persistent / package / namespace
            self.int()
            n = self.int()
            v = ("persist", [self.item() for _ in range(n)])
            self.refs.append(v)
            return v
        if t == 1:  # symbol
            v = ("sym", self.item())
            self.refs.append(v)
            return v
        if t == 4:  # environment
            self.int()
            env: dict = {}
            self.refs.append(env)
            for key in ("enclos", "frame", "hash", "attr"):
                env[key] = self.item()
            return env
        if t in (2, 3, 5, 6, 17, 239, 240):  # pairlists and language objects
            items = []
            while True:
                attr = self.item() if has_attr else None
                tag = self.item() if has_tag else None
                items.append((tag, self.item(), attr))
                flags = self.int()
                t = flags & 0xFF
                has_attr = flags & (1 << 9)
                has_tag = flags & (1 << 10)
                if t not in (2, 3, 5, 6, 17, 239, 240):
                    self.p -= 4
                    self.item()
                    return ("pairlist", items)
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            v = self.b[self.p : self.p + n].decode("utf-8", errors="replace")
            self.p += n
            return v
        if t == 238:  # ALTREP
            return ("altrep", self.item(), self.item(), self.item())
        if t in (10, 13, 14, 15, 16, 19, 20, 24):
            n = self.int()
            if n == -1:
                n = (self.int() << 32) + self.int()
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
                    return _RVector(v, {tag[1]: val for tag, val, _ in attrs[1] if tag})
            return v
        raise ValueError(f"unsupported R type {t}")


class _RVector(list):
    def __init__(self, items, attrs):
        super().__init__(items)
        self.attrs = attrs


def r_unserialize(data: bytes):
    if data[:2] != b"X\n":
        raise ValueError("not an R XDR serialisation")
    r = _RReader(data)
    r.p = 2
    version = r.int()
    r.int()
    r.int()
    if version == 3:
        n = r.int()
        r.p += n
    return r.item()


def r_lazyload(base: Path) -> dict:
    """Objects of an R lazy-load database (`base`.rdx index + `base`.rdb data) as a name -> value dict."""
    idx_raw = base.with_suffix(".rdx").read_bytes()
    idx = r_unserialize(
        gzip.decompress(idx_raw) if idx_raw[:2] == b"\x1f\x8b" else zlib.decompress(idx_raw[4:])
    )
    variables = idx[0]
    names = variables.attrs.get("names") if isinstance(variables, _RVector) else None
    db = base.with_suffix(".rdb").read_bytes()
    out = {}
    for i, (off, length) in enumerate(variables):
        blob = db[off : off + length]
        kind = blob[4:5]
        if kind == b"Z":
            import lzma

            data = lzma.decompress(blob[5:])
        elif kind == b"2":
            import bz2

            data = bz2.decompress(blob[5:])
        elif kind == b"0":
            data = blob[5:]
        else:
            data = zlib.decompress(blob[4:])
        out[names[i] if names else str(i)] = r_unserialize(data)
    return out


def source_austen(pkg: Path) -> list[Passage]:
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
    text = clean_lines((testdata / "alice29.txt").read_text(encoding="latin-1"))
    text = text.replace("`", "'")
    pars = []
    for p in paragraphs(text):
        if "MILLENNIUM FULCRUM" in p:
            continue
        pars.append(unwrap(p))
    return [Passage(t, "fiction", "alice-in-wonderland", "alice") for t in pack(pars)]


# ----------------------------------------------------------------------------------------------------------
# drama: As You Like It; poetry: Paradise Lost (both from the Canterbury corpus in the brotli sdist)


def source_as_you_like_it(testdata: Path) -> list[Passage]:
    text = clean_lines((testdata / "asyoulik.txt").read_text(encoding="latin-1"))
    start = text.index("\nACT I\n")
    text = text[start:]
    scenes: list[list[str]] = [[]]
    speech: list[str] = []

    def end_speech():
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
    out = []
    for i, scene in enumerate(scenes):
        for t in pack(scene, lines=True):
            out.append(Passage(t, "drama", "as-you-like-it", f"scene{i}"))
    return out


def source_paradise_lost(testdata: Path) -> list[Passage]:
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


# ----------------------------------------------------------------------------------------------------------
# scripture and Spanish: SWORD zText modules (World English Bible; Reina-Valera 1909)


def sword_entries(moddir: Path):
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


def source_sword(moddir: Path, source: str, category: str) -> list[Passage]:
    books: list[tuple[str, list[str]]] = []
    for _test, raw in sword_entries(moddir):
        for piece in re.split(r'(<div\b[^>]*type="book"[^>]*/>)', raw):
            m = re.match(r'<div\b[^>]*osisID="([^"]+)"[^>]*sID=[^>]*type="book"', piece) or re.match(
                r'<div\b[^>]*sID=[^>]*osisID="([^"]+)"[^>]*type="book"', piece
            )
            if m:
                books.append((m.group(1), []))
                continue
            if books:  # front matter before the first book (a preface) is left out
                books[-1][1].append(_osis_to_text(piece))
    out = []
    for name, parts in books:
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


# ----------------------------------------------------------------------------------------------------------
# dictionary: WordNet 3.0 glosses

_WN_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


def source_wordnet(wndir: Path) -> list[Passage]:
    out = []
    for pos_file in ("data.noun", "data.verb", "data.adj", "data.adv"):
        entries: dict[str, list[str]] = defaultdict(list)
        order: list[str] = []
        for line in (wndir / pos_file).read_text(encoding="utf-8", errors="replace").split("\n"):
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
            entry = f"{', '.join(words)} ({_WN_POS[pos]}): {gloss.strip()}"
            if lexfile not in entries:
                order.append(lexfile)
            entries[lexfile].append(entry)
        for lexfile in order:
            for t in pack(entries[lexfile], lo=120, hi=250, sep="\n"):
                out.append(Passage(t, "dictionary", "wordnet-glosses", f"{pos_file}:{lexfile}"))
    return out


# ----------------------------------------------------------------------------------------------------------
# glossary: the Jargon File 4.4.7 and Ambrose Bierce's The Devil's Dictionary


def source_jargon(path: Path) -> list[Passage]:
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
    out = []
    for t in pack(units):
        out.append(Passage(t, "glossary", "jargon-file", "jargon"))
    return out


def _dictd_num(s: str) -> int:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = 0
    for c in s:
        n = n * 64 + alphabet.index(c)
    return n


def source_devil(dictd: Path) -> list[Passage]:
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


# ----------------------------------------------------------------------------------------------------------
# the tz database: commentary (non-fiction), theory.html (non-fiction) and its tables (structured data)

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


def _tz_blocks(path: Path):
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
    _BLOCK = {"p", "li", "h1", "h2", "h3", "h4", "pre", "dt", "dd", "tr", "blockquote", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self._BLOCK:
            self.parts.append("\n\n")
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip -= 1
        if tag == "pre":
            self.pre -= 1
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def source_tz_theory(tzdir: Path) -> list[Passage]:
    parser = _HTMLText()
    parser.feed((tzdir / "theory.html").read_text(encoding="utf-8"))
    text = "".join(parser.parts)
    pars = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pars = [p for p in pars if not re.search(r"public domain|SPDX", p)]
    return [Passage(t, "nonfiction", "tz-theory", "theory") for t in pack(pars)]


def source_tz_tables(tzdir: Path) -> list[Passage]:
    out = []
    for name in _TZ_FILES:
        # consecutive Rule/Zone/Link blocks of a file are joined (a blank line between blocks) into chunks
        # of at most TABLE_MAX_LINES lines, cut between blocks where possible
        chunk: list[str] = []
        for kind, lines in _tz_blocks(tzdir / name):
            if kind != "data":
                continue
            block = [x for x in lines if x.strip()]
            if chunk and len(chunk) + len(block) + 1 > TABLE_MAX_LINES:
                out.append(Passage("\n".join(chunk), "structured_data", "tz-tables", name))
                chunk = []
            if len(block) > TABLE_MAX_LINES:
                for part in _cut_lines(block, TABLE_MAX_LINES, min_lines=TABLE_MAX_LINES):
                    out.append(Passage("\n".join(part), "structured_data", "tz-tables", name))
                continue
            chunk = chunk + [""] + block if chunk else block
        if chunk:
            out.append(Passage("\n".join(chunk), "structured_data", "tz-tables", name))
    for name in ("zone1970.tab", "iso3166.tab", "zonenow.tab"):
        lines = [
            x for x in (tzdir / name).read_text(encoding="utf-8").split("\n") if x and not x.startswith("#")
        ]
        for i in range(0, len(lines), 40):
            chunk = lines[i : i + 40]
            if len(chunk) >= 4:
                out.append(Passage("\n".join(chunk), "structured_data", "tz-tables", name))
    return out


def source_stdlib_datafiles(stdlib: Path) -> list[Passage]:
    """IDLE's default configuration files (INI syntax), written for CPython."""
    files = sorted((stdlib / "idlelib").glob("*.def"))
    out = []
    for path in files:
        text = clean_lines(path.read_text(encoding="utf-8", errors="replace"))
        if not text.strip() or len(text) < 80:
            continue
        lines = text.split("\n")
        rel = path.relative_to(stdlib).as_posix()
        for chunk in _cut_lines(lines, TABLE_MAX_LINES, min_lines=30):
            t = "\n".join(chunk).strip("\n")
            if n_words(t) >= 40:
                out.append(Passage(t, "structured_data", "cpython-datafiles", rel))
    return out


# ----------------------------------------------------------------------------------------------------------
# legal: licence texts


# Debian's /usr/share/common-licenses less GPL-1, LGPL-2 and GFDL-1.2, which nearly repeat GPL-2, LGPL-2.1
# and GFDL-1.3. Licence texts keep their line breaks: they are cut only between paragraphs.
_COMMON_LICENSES = (
    "Apache-2.0",
    "Artistic",
    "BSD",
    "CC0-1.0",
    "GFDL-1.3",
    "GPL-2",
    "GPL-3",
    "LGPL-2.1",
    "LGPL-3",
    "MPL-1.1",
    "MPL-2.0",
)


def source_common_licenses(cldir: Path) -> list[Passage]:
    out = []
    for name in _COMMON_LICENSES:
        text = clean_lines((cldir / name).read_text(encoding="utf-8"))
        for t in pack(paragraphs(text), lines=True):
            out.append(Passage(t, "legal", "debian-common-licenses", name))
    return out


def source_cpython_license(stdlib: Path) -> list[Passage]:
    text = clean_lines((stdlib / "LICENSE.txt").read_text(encoding="utf-8"))
    return [Passage(t, "legal", "cpython-license", "LICENSE.txt") for t in pack(paragraphs(text), lines=True)]


# ----------------------------------------------------------------------------------------------------------
# assembly


def _norm_key(text: str) -> str:
    return hashlib.sha256(re.sub(r"\s+", " ", text.lower()).strip().encode("utf-8")).hexdigest()


def _blocked(text: str) -> bool:
    for w in re.findall(r"[a-z]+", text.lower()):
        if hashlib.sha256(w.encode("ascii")).hexdigest() in BLOCKED_WORD_HASHES:
            return True
    return False


def select(pool: list[Passage], budget: int, cap: int | None, seed_key: str) -> list[Passage]:
    """A seeded random sample of `pool` up to `budget` characters, at most `cap` per group."""
    rng = random.Random(f"{SEED}:{seed_key}")
    order = list(range(len(pool)))
    rng.shuffle(order)
    taken, used, per_group = [], 0, Counter()
    for i in order:
        p = pool[i]
        if used >= budget:
            break
        if cap is not None and per_group[p.group] >= cap:
            continue
        taken.append(p)
        used += len(p.text)
        per_group[p.group] += 1
    if used < budget and cap is not None:  # the group cap left budget unused: fill without it
        chosen = {id(p) for p in taken}
        for i in order:
            p = pool[i]
            if used >= budget:
                break
            if id(p) not in chosen:
                taken.append(p)
                used += len(p.text)
    return taken


def build(args) -> list[Passage]:
    stdlib = Path(args.stdlib)
    loaders = [
        ("cpython-stdlib-code", lambda: source_stdlib_code(stdlib)),
        ("python-docs", lambda: source_python_docs(Path(args.python_doc_info))),
        ("austen-novels", lambda: source_austen(Path(args.janeaustenr))),
        ("alice-in-wonderland", lambda: source_alice(Path(args.canterbury))),
        ("as-you-like-it", lambda: source_as_you_like_it(Path(args.canterbury))),
        ("paradise-lost", lambda: source_paradise_lost(Path(args.canterbury))),
        (
            "world-english-bible",
            lambda: source_sword(Path(args.sword_web), "world-english-bible", "scripture"),
        ),
        ("reina-valera-1909", lambda: source_sword(Path(args.sword_sparv), "reina-valera-1909", "spanish")),
        ("wordnet-glosses", lambda: source_wordnet(Path(args.wordnet))),
        ("jargon-file", lambda: source_jargon(Path(args.jargon))),
        ("devils-dictionary", lambda: source_devil(Path(args.devil))),
        ("tz-commentary", lambda: source_tz_commentary(Path(args.tzdata))),
        ("tz-theory", lambda: source_tz_theory(Path(args.tzdata))),
        ("tz-tables", lambda: source_tz_tables(Path(args.tzdata))),
        ("cpython-datafiles", lambda: source_stdlib_datafiles(stdlib)),
        ("debian-common-licenses", lambda: source_common_licenses(Path(args.common_licenses))),
        ("cpython-license", lambda: source_cpython_license(stdlib)),
    ]
    seen: set[str] = set()
    chosen: list[Passage] = []
    for source, load in loaders:
        pool = []
        n_raw = n_blocked = n_dup = 0
        for p in load():
            n_raw += 1
            if source not in _NO_BLOCKLIST and _blocked(p.text):
                n_blocked += 1
                continue
            key = _norm_key(p.text)
            if key in seen:
                n_dup += 1
                continue
            seen.add(key)
            pool.append(p)
        taken = select(pool, BUDGET_CHARS[source], GROUP_CAP.get(source), source)
        print(
            f"{source:24s} pool {len(pool):6d} passages ({sum(len(p.text) for p in pool):9d} chars; "
            f"{n_blocked} blocked, {n_dup} duplicates) -> {len(taken)} taken",
            file=sys.stderr,
        )
        chosen.extend(taken)
    random.Random(SEED).shuffle(chosen)
    return chosen


def write_corpus(passages: list[Passage], out: Path) -> None:
    """Plain JSONL (git diffs it, every fnsft reader takes it), one passage a line."""
    lines = [
        json.dumps({"text": p.text, "category": p.category, "source": p.source}, ensure_ascii=False)
        for p in passages
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def token_counter(path: str):
    p = Path(path)
    if p.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(p))
        return lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(p))
    return lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def report(passages: list[Passage], tokenizer: str | None, stats_json: str | None) -> None:
    counts = token_counter(tokenizer)([p.text for p in passages]) if tokenizer else [0] * len(passages)
    by_source: dict = defaultdict(lambda: Counter())
    by_kind: dict = defaultdict(lambda: Counter())
    for p, n in zip(passages, counts, strict=True):
        for d in (by_source[(p.category, p.source)], by_kind[p.category]):
            d["passages"] += 1
            d["words"] += n_words(p.text)
            d["chars"] += len(p.text)
            d["tokens"] += n
    total = sum(counts)
    print("| kind | source | passages | words | chars | tokens |")
    print("|---|---|---:|---:|---:|---:|")
    for (kind, source), d in sorted(by_source.items()):
        print(f"| {kind} | {source} | {d['passages']} | {d['words']} | {d['chars']} | {d['tokens']} |")
    print()
    print("| kind | passages | words | tokens | share |")
    print("|---|---:|---:|---:|---:|")
    for kind, d in sorted(by_kind.items()):
        share = f"{100 * d['tokens'] / total:.1f}%" if total else "-"
        print(f"| {kind} | {d['passages']} | {d['words']} | {d['tokens']} | {share} |")
    print(f"| **total** | {len(passages)} | {sum(n_words(p.text) for p in passages)} | {total} | |")
    if stats_json:
        data = {
            "sources": {f"{k}/{s}": dict(d) for (k, s), d in sorted(by_source.items())},
            "kinds": {k: dict(d) for k, d in sorted(by_kind.items())},
            "total_tokens": total,
            "total_passages": len(passages),
        }
        Path(stats_json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stdlib", required=True, help="CPython 3.11 Lib/ folder (sysconfig 'stdlib' path)")
    ap.add_argument("--python-doc-info", required=True, help="python3.11.info.gz from Debian python3.11-doc")
    ap.add_argument(
        "--janeaustenr", required=True, help="the janeaustenr R package folder (r-cran-janeaustenr)"
    )
    ap.add_argument(
        "--canterbury", required=True, help="brotli sdist tests/testdata (alice29, asyoulik, plrabn12)"
    )
    ap.add_argument("--sword-web", required=True, help="SWORD module folder engWEB2015eb (sword-text-web)")
    ap.add_argument("--sword-sparv", required=True, help="SWORD module folder spaRV1909eb (sword-text-sparv)")
    ap.add_argument("--wordnet", required=True, help="WordNet 3.0 database folder (wordnet-base)")
    ap.add_argument("--jargon", required=True, help="jargon.txt.gz (jargon-text)")
    ap.add_argument("--devil", required=True, help="folder with devil.index and devil.dict.dz (dict-devil)")
    ap.add_argument("--tzdata", required=True, help="unpacked tz data release (tzdata source)")
    ap.add_argument("--common-licenses", required=True, help="/usr/share/common-licenses (base-files)")
    ap.add_argument("--out", default="assets/corpus/corpus.jsonl")
    ap.add_argument("--tokenizer", help="tokenizer.json or a model folder: report token counts")
    ap.add_argument("--stats-json", help="also write the counts as JSON here")
    args = ap.parse_args(argv)
    passages = build(args)
    write_corpus(passages, Path(args.out))
    print(
        f"wrote {len(passages)} passages to {args.out} ({Path(args.out).stat().st_size} bytes)",
        file=sys.stderr,
    )
    report(passages, args.tokenizer, args.stats_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
