"""Filtering and sampling: the slur filter, de-duplication across sources and the seeded, budgeted
sample of each source's pool, which together fix how much of each kind the corpus holds."""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter

from .passages import Passage

SEED = 20240607

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


def _norm_key(text: str) -> str:
    """Duplicate key: passages that differ only in case or whitespace count as one."""
    return hashlib.sha256(re.sub(r"\s+", " ", text.lower()).strip().encode("utf-8")).hexdigest()


def _blocked(text: str) -> bool:
    """True when a word of `text` is on the hashed slur list."""
    for w in re.findall(r"[a-z]+", text.lower()):
        if hashlib.sha256(w.encode("ascii")).hexdigest() in BLOCKED_WORD_HASHES:
            return True
    return False


def filter_pool(passages: list[Passage], source: str, seen: set[str]) -> tuple[list[Passage], int, int]:
    """A source's pool: its passages less blocked ones and duplicates of any passage seen so far (`seen`
    is updated). Returns the pool and the numbers blocked and duplicated."""
    pool = []
    n_blocked = n_dup = 0
    for p in passages:
        if source not in _NO_BLOCKLIST and _blocked(p.text):
            n_blocked += 1
            continue
        key = _norm_key(p.text)
        if key in seen:
            n_dup += 1
            continue
        seen.add(key)
        pool.append(p)
    return pool, n_blocked, n_dup


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
