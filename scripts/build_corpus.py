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

The code lives in the package ``scripts/corpus/`` (this file only runs it); its docstring says what the
builder does and which module holds each step. Python 3.10+ standard library only.
"""

from __future__ import annotations

import sys

from corpus.build import main

if __name__ == "__main__":
    sys.exit(main())
