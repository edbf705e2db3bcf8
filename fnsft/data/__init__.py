"""Training data: read records from a file or dataset, detect their format, normalise them to conversations,
tokenise them with a prompt template and response-only labels, and cache the tokenised set on disk.

A conversation is a list of {"role": "system"|"user"|"assistant", "content": str} with stripped contents and
no trailing non-assistant turns (they teach nothing). Plain text is the single message {"role": "text",
"content": str} and is trained on whole. A user turn built from an Alpaca `input` or Dolly `context` keeps
that text under "input" too: "content" already holds instruction and input (what chat templates see), and
"input" only lets the Alpaca template show it under "### Input:".

One module per job: `formats` (detection, normalisation), `sources` (files, datasets, hub, splits),
`rendering` (prompt templates), `tokenizing` (labels, truncation, collator), `caching` (the tokenised set on
disk) and `previewing` (what the app shows); this package re-exports their public names.
"""

from ..resources import SAMPLE_DATA as SAMPLE_DATA  # re-exported: its users import it from here
from .caching import BuildInfo, build_tokenized_dataset
from .formats import FORMATS, Conversation, DatasetFormatter, FormatSpec, NormalizedData
from .previewing import DataPreview, preview
from .rendering import TEMPLATES, render_conversation, resolve_template
from .sources import (
    FILE_TYPES,
    VALIDATION_SPLITS,
    load_records,
    load_train_validation,
    train_validation_split,
)
from .tokenizing import IGNORE_INDEX, LOSS_ON, SFTDataCollator, tokenize_example

__all__ = [
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
    "NormalizedData",
    "SFTDataCollator",
    "build_tokenized_dataset",
    "load_records",
    "load_train_validation",
    "preview",
    "render_conversation",
    "resolve_template",
    "tokenize_example",
    "train_validation_split",
]
