"""ICAMask: the public façade over capture -> PCA/ICA -> thresholded networks -> masks -> templates."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from .activations import CapturedActivations, capture_activations, check_granularity, layer_widths
from .architectures import model_shape
from .card_pass import discovery_cards, token_rows
from .choices import DISCOVERY, ICA_ORIENTATIONS
from .decomposition import Decomposition, decompose, standardize_
from .devices import decomposition_device, matrix_dtype
from .errors import DecompositionError
from .functional_networks import FunctionalNetworks
from .limits import check_choice, check_threshold
from .masking import MaskHandle, apply_mask, masked
from .means import NeuronMeans, split_by_layer
from .models import model_id
from .parallel import Processes
from .recorded_settings import DISCOVERY_SETTINGS, recorded_settings
from .selection import Components, NetworkSelection
from .streaming_discovery import SKETCH_ROWS, SKETCH_TOKENS, BatchGroups, decompose_statistics
from .texts import DEFAULT_PROMPTS, LabelledTexts, chat_formatted, interleave_by_category, load_labelled_texts
from .thresholds import category_response, threshold_networks


class ICAMask:
    """Find functional networks with PCA + ICA over MLP neuron activations, then mask or export them.

    Settings go in __init__ (scikit-learn style); `compute_global_networks` learns `networks_`.
    threshold_rule/threshold: "zscore" (keep z >= value; the paper uses 1.96), "percentile" (|w| >= value-th
    percentile; FunctionalNetworksSFT uses 98) or "topk" (value neurons per component).
    ica_over: "neurons" (spatial ICA: sparse neuron maps) or "tokens" (temporal ICA, as FunctionalNetworksSFT).
    device: where the decomposition runs; "auto" uses the model's GPU when the matrix fits in half its free memory.
    cards: also build each network's card (fnsft.cards) from the discovery pass (its logit effect is measured
    later: fnsft.card_pass.add_logit_effects).
    streaming: keep no [tokens x neurons] matrix; sketch it during capture (`fnsft.streaming_discovery`), so
    memory does not grow with tokens x neurons; sketch_rows sets the sketch's size (and its accuracy),
    sketch_tokens how many tokens (a random sample of the batches) are sketched before the pass over all.

    >>> ica = fnsft.ICAMask(num_components=20, threshold=3.0)  # doctest: +SKIP
    >>> networks = ica.compute_global_networks(model, tokenizer)  # doctest: +SKIP
    >>> with ica.masked(model, [0, 1], mode="lesion"):  # doctest: +SKIP
    ...     model.generate(...)
    """

    def __init__(
        self,
        num_components: int = DISCOVERY.num_components,
        threshold: float = DISCOVERY.threshold,
        threshold_rule: str = DISCOVERY.threshold_rule,
        granularity: str = DISCOVERY.granularity,
        ica_over: str = DISCOVERY.ica_over,
        seed: int = DISCOVERY.seed,
        max_iter: int = 400,
        tol: float = 1e-4,
        restarts: int = 3,
        stability_runs: int = DISCOVERY.stability_runs,
        stability_threshold: float = 0.8,
        max_length: int = DISCOVERY.max_length,
        batch_size: int = 8,
        chat_format: bool = False,
        device: str | torch.device | None = "auto",
        cards: bool = True,
        streaming: bool = False,
        sketch_rows: int = SKETCH_ROWS,
        sketch_tokens: int = SKETCH_TOKENS,
    ):
        check_granularity(granularity)
        check_threshold(threshold_rule, threshold)
        check_choice("ica_over", ica_over, ICA_ORIENTATIONS)
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
        self.cards = cards
        self.streaming = streaming
        self.sketch_rows = sketch_rows
        self.sketch_tokens = sketch_tokens
        self.networks_: FunctionalNetworks | None = None
        self.unknown_settings: tuple[str, ...] = ()  # settings a loaded template did not record

    def compute_global_networks(
        self,
        model: nn.Module,
        tokenizer,
        texts_or_dataset: Any = None,
        max_tokens: int = DISCOVERY.max_tokens,
        *,
        text_field: str | None = None,
        category_field: str = "category",
        split: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> FunctionalNetworks:
        """Capture activations over the texts, decompose them and threshold each component into a network.

        texts_or_dataset: texts, a file, a dataset, or None for the project's multi-domain prompt set
        (its discovery split). progress(stage, fraction) reports capture and decomposition.

        >>> networks = fnsft.ICAMask(num_components=20).compute_global_networks(model, tokenizer)  # doctest: +SKIP
        """
        if texts_or_dataset is None:
            texts_or_dataset, split = DEFAULT_PROMPTS, split or "discovery"
        if not isinstance(texts_or_dataset, LabelledTexts):
            texts_or_dataset = load_labelled_texts(
                texts_or_dataset, text_field=text_field, category_field=category_field, split=split
            )
        texts = interleave_by_category(texts_or_dataset)
        report = progress or (lambda stage, fraction: None)
        if self.streaming:
            return self._compute_streaming(model, tokenizer, texts, max_tokens, report)
        if Processes().distributed:
            raise DecompositionError(
                "Data-parallel discovery streams its statistics: pass streaming=True (--streaming true)."
            )
        captured = self._capture(model, tokenizer, texts, max_tokens, report, dtype=matrix_dtype())
        report("decompose", 0.0)
        flat_means = torch.empty(captured.matrix.shape[1])
        matrix = standardize_(captured.matrix, means_out=flat_means)
        result = decompose(
            matrix,
            self.num_components,
            **self._ica_settings(),
            device=decomposition_device(self.device, model, matrix),
        )
        del matrix, captured.matrix
        return self._finish(model, tokenizer, texts, captured, result, flat_means, report)

    def _ica_settings(self) -> dict:
        """The decomposition settings both discovery paths pass on."""
        return {
            "over": self.ica_over,
            "seed": self.seed,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "restarts": self.restarts,
            "stability_runs": self.stability_runs,
        }

    def _finish(
        self,
        model,
        tokenizer,
        texts: LabelledTexts,
        captured: CapturedActivations,
        result,
        flat_means,
        report,
    ) -> FunctionalNetworks:
        """The networks of either path, with the neurons' means and (when asked) their cards."""
        means = split_by_layer(flat_means, captured.layer_widths)
        self.networks_ = self._networks(model, texts, captured, result, means)
        if self.cards:  # examples, histograms and labels; the logit effect is measured on demand
            report("cards", 0.0)
            rows = token_rows(captured, texts.categories)
            self.networks_.cards = discovery_cards(self.networks_, result.time_courses, rows, tokenizer)
        report("done", 1.0)
        return self.networks_

    def _compute_streaming(
        self, model: nn.Module, tokenizer, texts: LabelledTexts, max_tokens: int, report
    ) -> FunctionalNetworks:
        """Streaming discovery: moments and sketch filled batch by batch, no stored matrix; data-parallel under
        a process group (each process runs its share of the batches, every process gets the networks)."""
        processes = Processes()
        width = sum(layer_widths(model, self.granularity))
        groups = BatchGroups(width, self.sketch_rows, processes)

        capture = partial(self._capture, model, tokenizer, texts, max_tokens, report, shard=processes.shard)
        captured = capture(groups.sink(), sample_tokens=self.sketch_tokens)
        report("decompose", 0.0)
        result, moments = decompose_statistics(
            groups.merged(),
            len(captured.text_index),
            self.num_components,
            capture,
            **self._ica_settings(),
            processes=processes,
        )
        if processes.is_first:
            self._finish(model, tokenizer, texts, captured, result, moments.mean, report)
        self.networks_ = processes.share(self.networks_)
        return self.networks_

    def _capture(
        self,
        model: nn.Module,
        tokenizer,
        texts: LabelledTexts,
        max_tokens: int,
        report,
        sink=None,
        shard=(0, 1),
        dtype: torch.dtype = torch.float32,
        sample_tokens: int | None = None,
    ) -> CapturedActivations:
        inputs = chat_formatted(texts.texts, tokenizer) if self.chat_format else texts.texts
        return capture_activations(
            model,
            tokenizer,
            inputs,
            granularity=self.granularity,
            max_tokens=max_tokens,
            max_length=self.max_length,
            batch_size=self.batch_size,
            add_special_tokens=not self.chat_format,  # a chat template already wrote its BOS
            progress=lambda done, total: report("capture", done / total),
            sink=sink,
            shard=shard,
            dtype=dtype,
            sample_tokens=sample_tokens,
        )

    def _networks(
        self,
        model: nn.Module,
        texts: LabelledTexts,
        captured: CapturedActivations,
        result: Decomposition,
        means: NeuronMeans,
    ) -> FunctionalNetworks:
        """The thresholded networks with everything known about how they were found (and each neuron's mean)."""
        neurons, threshold = threshold_networks(
            result.maps, captured.layer_widths, self.threshold_rule, self.threshold
        )
        categories, response = [], None
        if texts.categories is not None:
            token_categories = np.asarray(texts.categories, dtype=object)[captured.text_index]
            categories = sorted(set(token_categories.tolist()))
            response = category_response(result.time_courses, token_categories, categories)
        return FunctionalNetworks(
            neurons=neurons,
            shape=model_shape(model),
            model_id=model_id(model),
            granularity=self.granularity,
            threshold=threshold,
            decomposition=self._decomposition_record(result),
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
            neuron_means=means,
        )

    def _decomposition_record(self, result: Decomposition) -> dict:
        return {
            "method": "randomized PCA (1 power iteration, 200 probes) + symmetric FastICA (logcosh)",
            "ica_over": self.ica_over,
            "num_components": self.num_components,
            "seed": self.seed,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "restarts": self.restarts,
            "converged": result.converged,
            "iterations": result.iterations,
            "pca_variance_ratio": result.pca_variance_ratio,
            "matrix_dtype": result.matrix_dtype,
            "stability_runs": result.stability_runs,
            "notes": result.notes,
            **(
                {"streaming": True, "sketch_rows": self.sketch_rows, "sketch_tokens": self.sketch_tokens}
                if self.streaming
                else {}
            ),
        }

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

    def select(
        self,
        model: nn.Module,
        component_ids: Components = "all",
        *,
        layers: Iterable[int] | None = None,
        random_control: bool = False,
        seed: int = 0,
    ) -> NetworkSelection:
        """The current networks' `component_ids` ("all", "0,3" or ids), checked once against `model`.

        >>> selection = ica.select(model, "0,3")  # doctest: +SKIP
        >>> selection.description["neurons"], selection.mask("preserve")  # doctest: +SKIP
        """
        return NetworkSelection.for_model(
            self._fitted(), model, component_ids, layers=layers, random_control=random_control, seed=seed
        )

    def apply_component_masks(
        self,
        model: nn.Module,
        component_ids: Components,
        mode: str = "lesion",
        layers: Iterable[int] | None = None,
        *,
        gain: float | None = None,
        fill: str = "zero",
        means: dict[int, np.ndarray] | None = None,
    ) -> MaskHandle:
        """Lesion, preserve, scale (`gain`) or mean-ablate (`mode="mean"`; `means` default: the networks' own) the
        union of `component_ids` on `model` for every forward pass (global: every thread); returns a removable
        handle / context manager.

        >>> with ica.apply_component_masks(model, [0, 1], mode="scale", gain=0.5):  # doctest: +SKIP
        ...     model.generate(...)
        """
        mask = self.select(model, component_ids, layers=layers).mask(mode, gain=gain, fill=fill, means=means)
        return apply_mask(model, mask)

    def masked(
        self,
        model: nn.Module,
        component_ids: Components,
        mode: str = "lesion",
        layers: Iterable[int] | None = None,
        *,
        gain: float | None = None,
        fill: str = "zero",
        means: dict[int, np.ndarray] | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        """The same mask as `apply_component_masks`, but context-local: only forward passes run inside the
        `with` block, in this thread / contextvars context, see it (others sharing the model do not).

        >>> with ica.masked(model, [0, 1], mode="preserve"):  # doctest: +SKIP
        ...     model.generate(...)
        """
        mask = self.select(model, component_ids, layers=layers).mask(mode, gain=gain, fill=fill, means=means)
        return masked(model, mask)

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
        """An ICAMask holding the networks of a template file (checked against `model` when given).

        Its settings are those the template records; any it does not record (an imported template knows no
        threshold or decomposition) keep ICAMask's defaults and are named in `unknown_settings`.

        >>> ica = fnsft.ICAMask.from_templates("ica_templates/SmolLM2-135M-Instruct.json")  # doctest: +SKIP
        """
        from .templates import load_templates

        networks = load_templates(path, model)
        known = recorded_settings(networks)
        mask = cls(**known)
        mask.unknown_settings = tuple(sorted(set(DISCOVERY_SETTINGS) - set(known)))
        mask.networks_ = networks
        return mask
