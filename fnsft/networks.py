"""ICAMask: the public façade over capture -> PCA/ICA -> thresholded networks -> masks -> templates."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .activations import capture_activations, check_granularity
from .architectures import model_shape
from .decomposition import category_response, decompose, standardize_, threshold_map
from .functional_networks import FunctionalNetworks
from .means import split_by_layer
from .models import model_id
from .resources import DEFAULT_PROMPTS, portable_name


@dataclass
class LabelledTexts:
    """Texts to run through the model, with an optional category per text."""

    texts: list[str]
    categories: list[str] | None
    provenance: dict


def load_labelled_texts(
    source: Any,
    *,
    text_field: str | None = None,
    category_field: str = "category",
    split: str | None = None,
    per_source_limit: int | None = None,
) -> LabelledTexts:
    """Texts from a list of strings, a list of dicts, a local JSON/JSONL/CSV/Parquet file or a dataset.

    `split` keeps only records whose "split" field equals it (the shipped prompt set marks discovery/eval).
    """
    if isinstance(source, (list, tuple)) and all(isinstance(item, str) for item in source):
        texts = list(source)[:per_source_limit]
        return LabelledTexts(texts, None, {"source": "list", "num_texts": len(texts)})
    from .data import load_records

    records = load_records(source)
    if split is not None:
        records = [r for r in records if r.get("split", split) == split]
    if not records:
        raise ValueError(f"{source!r} holds no records" + (f" with split={split!r}." if split else "."))
    field_name = text_field or next(
        (name for name in ("text", "prompt", "instruction", "question", "content") if name in records[0]),
        None,
    )
    if field_name is None or field_name not in records[0]:
        raise ValueError(
            f"Cannot tell which field of {source!r} holds the text (fields: {sorted(records[0])}); "
            "pass text_field=..."
        )
    records = records[:per_source_limit]
    texts = [str(r[field_name]) for r in records]
    categories = [str(r[category_field]) for r in records] if category_field in records[0] else None
    label = portable_name(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
    return LabelledTexts(texts, categories, {"source": label, "split": split, "num_texts": len(texts)})


def interleave_by_category(texts: LabelledTexts) -> LabelledTexts:
    """Round-robin across categories, so a token budget samples every category evenly."""
    if texts.categories is None:
        return texts
    queues: dict[str, list[int]] = {}
    for index, category in enumerate(texts.categories):
        queues.setdefault(category, []).append(index)
    order = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                order.append(queue.pop(0))
    return LabelledTexts(
        [texts.texts[i] for i in order], [texts.categories[i] for i in order], texts.provenance
    )


def decomposition_device(requested, model: nn.Module, matrix: torch.Tensor) -> torch.device | None:
    """The device for PCA/ICA: as requested, or for "auto" the model's CUDA device when the matrix fits."""
    if requested != "auto":
        return None if requested is None else torch.device(requested)
    device = next(model.parameters()).device
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return device if matrix.numel() * matrix.element_size() * 2 < free else None


def chat_formatted(texts: Sequence[str], tokenizer) -> list[str]:
    """Each text as a user turn of the tokenizer's chat template."""
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False) for text in texts
    ]


class ICAMask:
    """Find functional networks with PCA + ICA over MLP neuron activations, then mask or export them.

    Settings go in __init__ (scikit-learn style); `compute_global_networks` learns `networks_`.
    threshold_rule/threshold: "zscore" (keep z >= value; the paper uses 1.96), "percentile" (|w| >= value-th
    percentile; FunctionalNetworksSFT uses 98) or "topk" (value neurons per component).
    ica_over: "neurons" (spatial ICA: sparse neuron maps) or "tokens" (temporal ICA, as FunctionalNetworksSFT).
    device: where the decomposition runs; "auto" uses the model's GPU when the matrix fits in half its free memory.
    """

    def __init__(
        self,
        num_components: int = 20,
        threshold: float = 3.0,
        threshold_rule: str = "zscore",
        granularity: str = "intermediate",
        ica_over: str = "neurons",
        seed: int = 0,
        max_iter: int = 400,
        tol: float = 1e-4,
        restarts: int = 3,
        stability_runs: int = 5,
        stability_threshold: float = 0.8,
        max_length: int = 256,
        batch_size: int = 8,
        chat_format: bool = False,
        device: str | torch.device | None = "auto",
    ):
        check_granularity(granularity)
        threshold_map(np.arange(4.0), threshold_rule, threshold if threshold_rule != "topk" else 1)
        self.num_components = num_components
        self.threshold = threshold
        self.threshold_rule = threshold_rule
        self.granularity = granularity
        self.ica_over = ica_over
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol
        self.restarts = restarts
        self.stability_runs = stability_runs
        self.stability_threshold = stability_threshold
        self.max_length = max_length
        self.batch_size = batch_size
        self.chat_format = chat_format
        self.device = device
        self.networks_: FunctionalNetworks | None = None

    def compute_global_networks(
        self,
        model: nn.Module,
        tokenizer,
        texts_or_dataset: Any = None,
        max_tokens: int = 4096,
        *,
        text_field: str | None = None,
        category_field: str = "category",
        split: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> FunctionalNetworks:
        """Capture activations over the texts, decompose them and threshold each component into a network.

        texts_or_dataset: texts, a file, a dataset, or None for the project's multi-domain prompt set
        (its discovery split). progress(stage, fraction) reports capture and decomposition.
        """
        if texts_or_dataset is None:
            texts_or_dataset, split = DEFAULT_PROMPTS, split or "discovery"
        if not isinstance(texts_or_dataset, LabelledTexts):
            texts_or_dataset = load_labelled_texts(
                texts_or_dataset, text_field=text_field, category_field=category_field, split=split
            )
        texts = interleave_by_category(texts_or_dataset)
        inputs = chat_formatted(texts.texts, tokenizer) if self.chat_format else texts.texts
        report = progress or (lambda stage, fraction: None)
        captured = capture_activations(
            model,
            tokenizer,
            inputs,
            granularity=self.granularity,
            max_tokens=max_tokens,
            max_length=self.max_length,
            batch_size=self.batch_size,
            add_special_tokens=not self.chat_format,  # a chat template already wrote its BOS
            progress=lambda done, total: report("capture", done / total),
        )
        report("decompose", 0.0)
        flat_means = torch.empty(captured.matrix.shape[1])
        matrix = standardize_(captured.matrix, means_out=flat_means)
        result = decompose(
            matrix,
            self.num_components,
            over=self.ica_over,
            seed=self.seed,
            max_iter=self.max_iter,
            tol=self.tol,
            restarts=self.restarts,
            stability_runs=self.stability_runs,
            device=decomposition_device(self.device, model, matrix),
        )
        del matrix, captured.matrix
        offsets = np.concatenate([[0], np.cumsum(captured.layer_widths)])
        neurons = [
            self._split_by_layer(threshold_map(m, self.threshold_rule, self.threshold), offsets)
            for m in result.maps
        ]
        categories, response = [], None
        if texts.categories is not None:
            token_categories = np.asarray(texts.categories, dtype=object)[captured.text_index]
            categories = sorted(set(token_categories[: len(token_categories)].tolist()))
            response = category_response(result.time_courses, token_categories, categories)
        shape = model_shape(model)
        self.networks_ = FunctionalNetworks(
            neurons=neurons,
            shape=shape,
            model_id=model_id(model),
            granularity=self.granularity,
            threshold={"rule": self.threshold_rule, "value": self.threshold},
            decomposition={
                "method": "randomized PCA (2 power iterations, 40 extra probes) + symmetric FastICA (logcosh)",
                "ica_over": self.ica_over,
                "num_components": self.num_components,
                "seed": self.seed,
                "max_iter": self.max_iter,
                "tol": self.tol,
                "restarts": self.restarts,
                "converged": result.converged,
                "iterations": result.iterations,
                "pca_variance_ratio": result.pca_variance_ratio,
                "stability_runs": result.stability_runs,
                "notes": result.notes,
            },
            data={
                **texts.provenance,
                "num_texts_used": captured.num_texts,
                "num_tokens": int(len(captured.text_index)),
                "max_length": self.max_length,
                "chat_format": self.chat_format,
            },
            explained_variance=result.explained_variance_ratio,
            stability=result.stability,
            stability_threshold=self.stability_threshold,
            categories=categories,
            category_response=response,
            maps=result.maps,
            neuron_means=split_by_layer(flat_means, captured.layer_widths),
        )
        report("done", 1.0)
        return self.networks_

    @staticmethod
    def _split_by_layer(flat_ids: np.ndarray, offsets: np.ndarray) -> dict[int, np.ndarray]:
        layers = np.searchsorted(offsets, flat_ids, side="right") - 1
        return {int(layer): flat_ids[layers == layer] - offsets[layer] for layer in np.unique(layers)}

    def _fitted(self) -> FunctionalNetworks:
        if self.networks_ is None:
            raise RuntimeError(
                "No networks yet: call compute_global_networks(...) or load them with ICAMask.from_templates(...)."
            )
        return self.networks_

    @property
    def mask_dict_components(self) -> dict[int, dict[int, list[int]]]:
        """{component: {layer: [neuron ids]}} of the current networks."""
        return self._fitted().mask_dict()

    def apply_component_masks(
        self,
        model: nn.Module,
        component_ids: Iterable[int],
        mode: str = "lesion",
        layers: Iterable[int] | None = None,
        *,
        gain: float | None = None,
        fill: str = "zero",
        means: dict[int, np.ndarray] | None = None,
    ):
        """Lesion, preserve, scale (`gain`) or mean-ablate (`mode="mean"`; `means` default: the networks' own) the
        union of `component_ids` on `model` for every forward pass; returns a removable handle / context manager.

        >>> with ica.apply_component_masks(model, [0, 1], mode="scale", gain=0.5):  # doctest: +SKIP
        ...     model.generate(...)
        """
        from .masking import apply_mask, mask_from_networks

        mask = mask_from_networks(
            self._fitted(), component_ids, mode, model=model, layers=layers, gain=gain, fill=fill, means=means
        )
        return apply_mask(model, mask)

    def build_templates_from_current_components(
        self, name: str, path: str | os.PathLike | None = None
    ) -> dict:
        """The current networks as a template dict named `name`; written atomically to `path` when given."""
        from .templates import save_templates, templates_to_dict

        networks = self._fitted()
        networks.name = name
        if path is not None:
            save_templates(networks, path)
        return templates_to_dict(networks)

    @classmethod
    def from_templates(cls, path: str | os.PathLike, model: nn.Module | None = None) -> ICAMask:
        """An ICAMask holding the networks of a template file (checked against `model` when given)."""
        from .templates import load_templates

        networks = load_templates(path, model)
        decomposition = networks.decomposition
        mask = cls(
            num_components=networks.num_components,
            threshold=networks.threshold.get("value") or 0.0,
            threshold_rule=networks.threshold.get("rule")
            if networks.threshold.get("rule") in ("zscore", "percentile", "topk")
            else "zscore",
            granularity=networks.granularity,
            ica_over=decomposition.get("ica_over", "neurons"),
            seed=decomposition.get("seed", 0),
        )
        mask.networks_ = networks
        return mask


def per_category(texts: LabelledTexts, count: int) -> LabelledTexts:
    """The first `count` texts of each category (all texts when unlabelled)."""
    if texts.categories is None:
        return LabelledTexts(texts.texts[:count], None, texts.provenance)
    seen: dict[str, int] = {}
    keep = []
    for index, category in enumerate(texts.categories):
        seen[category] = seen.get(category, 0) + 1
        if seen[category] <= count:
            keep.append(index)
    return LabelledTexts(
        [texts.texts[i] for i in keep],
        [texts.categories[i] for i in keep],
        {**texts.provenance, "per_category": count},
    )
