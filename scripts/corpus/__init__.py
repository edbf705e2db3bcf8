"""The builder of fnsft's discovery corpus; ``scripts/build_corpus.py`` runs it (see its docstring).

What the builder does: it extracts text from each source (decoding SWORD zText modules, R lazy-load data,
dictd and WordNet database files and a Texinfo file with the standard library only), cleans it (drops
Project Gutenberg front matter, footnotes, markup, cross-reference braces, tables of contents and licence
boilerplate; code is taken as whole top-level functions and classes, so module licence headers never come
along), cuts it into passages of about 150-400 words (code: whole functions or classes, or chunks of up to
about 80 lines; tables: chunks of up to 25 lines), drops passages holding a slur from a small hashed
list, removes duplicates, takes a seeded random sample of each source up to its character budget, shuffles
everything with a fixed seed and writes plain JSONL. The same inputs give a byte-identical file.

Modules: ``build`` (command line, source order, writing), ``cleaning`` (text normalisation), ``passages``
(the passage record and the cutters), ``selection`` (slur filter, de-duplication, budgets and sampling),
``report`` (the counts tables), and one reader module per source family: ``python_sources`` (standard
library code, the manual, IDLE's configuration), ``books`` (novels, play, epic; ``rdata`` decodes R data),
``scripture`` (SWORD Bible modules), ``reference`` (WordNet, Jargon File, Devil's Dictionary), ``tz`` (the
tz database) and ``licences`` (licence texts).
"""
