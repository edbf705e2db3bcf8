"""One exception type per kind of user mistake, each message saying what was wrong and what to do."""

from __future__ import annotations


class FnsftError(Exception):
    """Base class of every error fnsft raises on purpose."""


class UnsupportedArchitectureError(FnsftError):
    """The model's MLP layout is not in the architecture table."""


class QuantizationUnavailableError(FnsftError):
    """4/8-bit quantization was asked for where bitsandbytes cannot run."""


class ModelLoadError(FnsftError):
    """A model name, folder or GGUF file could not be resolved or loaded."""


class TemplateError(FnsftError):
    """A template file is malformed, from an unknown schema, or made for another model."""


class MaskSelectionError(FnsftError):
    """A mask request names unknown components or layers, selects nothing, or silences a whole layer."""


class DatasetFormatError(FnsftError):
    """A data file or dataset fits none of the supported formats, or cannot be read."""


class DecompositionError(FnsftError):
    """Discovery cannot run with the given data or settings (too few tokens, too many components...)."""


class ExportError(FnsftError):
    """A model cannot be written as GGUF with what was given (tokenizer source, converter, architecture)."""


class TrainingConfigError(FnsftError, ValueError):
    """A training setting is unknown, out of range, or contradicts another (e.g. resume with no checkpoint)."""


class EvidenceError(FnsftError):
    """A saved evidence file is missing, unreadable, or holds none of the known results."""


class RunFolderError(TrainingConfigError):
    """A run folder cannot take this run: it holds an earlier run, another process writes it, or it is read-only."""


class ResourceError(FnsftError):
    """The machine refused, not the input: a full disk, a read-only folder, a port already in use."""


class StorageError(ResourceError):
    """A file could not be written mid-run: the disk is full, or the folder is read-only or not ours."""


class SettingError(FnsftError, ValueError):
    """An argument or setting has the wrong type or lies outside its accepted range (the message names both)."""


class ContinualConfigError(TrainingConfigError):
    """A continual-learning suite config is unreadable, or a task, method or setting in it is wrong."""
