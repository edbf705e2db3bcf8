"""Training data: read records from a file or dataset, detect their format, normalise them to conversations,
tokenise them with a prompt template and response-only labels, and cache the tokenised set on disk.

A conversation is a list of {"role": "system"|"user"|"assistant", "content": str} with stripped contents and
no trailing non-assistant turns (they teach nothing). Plain text is the single message {"role": "text",
"content": str} and is trained on whole. A user turn built from an Alpaca `input` or Dolly `context` keeps
that text under "input" too: "content" already holds instruction and input (what chat templates see), and
"input" only lets the Alpaca template show it under "### Input:".

One module per job: `_formats` (detection, normalisation), `_sources` (files, datasets, hub, splits),
`_rendering` (prompt templates), `_tokenizing` (labels, truncation, collator), `_caching` (the tokenised set on
disk), `_previewing` (what the app shows) and `_texts` (texts to run through a model for discovery, evaluation
and the forgetting report); this package re-exports their public names.
"""

from .._resources import DEFAULT_CORPUS, DEFAULT_PROMPTS, SAMPLE_DATA  # the shipped texts and sample data
from ._caching import BuildInfo, build_tokenized_dataset
from ._formats import FORMATS, Conversation, DatasetFormatter, FormatSpec, NormalizedData
from ._previewing import DataPreview, preview
from ._rendering import TEMPLATES, render_conversation, resolve_template
from ._sources import (
    FILE_TYPES,
    VALIDATION_SPLITS,
    load_records,
    load_train_validation,
    train_validation_split,
)
from ._texts import LabelledTexts, discovery_texts, interleave_by_category, load_labelled_texts, per_category
from ._tokenizing import IGNORE_INDEX, LOSS_ON, SFTDataCollator, tokenize_example

__all__ = [
    "DEFAULT_CORPUS",
    "DEFAULT_PROMPTS",
    "FILE_TYPES",
    "FORMATS",
    "IGNORE_INDEX",
    "LOSS_ON",
    "SAMPLE_DATA",
    "TEMPLATES",
    "VALIDATION_SPLITS",
    "BuildInfo",
    "Conversation",
    "DataPreview",
    "DatasetFormatter",
    "FormatSpec",
    "LabelledTexts",
    "NormalizedData",
    "SFTDataCollator",
    "build_tokenized_dataset",
    "discovery_texts",
    "interleave_by_category",
    "load_labelled_texts",
    "load_records",
    "load_train_validation",
    "per_category",
    "preview",
    "render_conversation",
    "resolve_template",
    "tokenize_example",
    "train_validation_split",
]
