"""ICAMask: the public façade over capture -> PCA/ICA -> thresholded networks -> masks -> templates."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from ..analysis._card_passes import discovery_cards, token_rows
from ..data._texts import (
    LabelledTexts,
    chat_formatted,
    discovery_texts,
    interleave_by_category,
    load_labelled_texts,
)
from ..errors import DecompositionError
from ..masking._hooks import MaskHandle, apply_mask, masked
from ..masking._selection import Components, NetworkSelection, mask_from_networks
from ..models._architectures import model_shape
from ..models._devices import decomposition_device, matrix_dtype
from ..models._loading import model_id, model_revision
from ..networks._functional_networks import FunctionalNetworks
from ._capture import CapturedActivations, capture_activations, layer_widths
from ._columns import values_by_layer
from ._decomposition import Decomposition, decompose, decomposition_record, standardize_
from ._means import NeuronMeans
from ._parallel import Processes
from ._path import settle_path
from ._reliability import SplitHalf, split_half, split_halves
from ._settings import DEFAULT_SETTINGS, DiscoverySettings, ica_settings, recorded_settings, setting_names
from ._streaming import BatchGroups, decompose_statistics
from ._thresholds import category_response, threshold_networks


class ICAMask:
    """Find functional networks with PCA + ICA over MLP neuron activations, then mask or export them.

    Settings go in __init__ (scikit-learn style), held as one `DiscoverySettings` (`fnsft.discovery._settings`,
    which documents each) that the networks record; `compute_global_networks` learns `networks_`.
    device: where the decomposition runs; "auto" uses the model's GPU when the matrix fits in half its free memory.
    cards: also build each network's card (fnsft.networks._cards) from the discovery pass (its logit effect is measured
    later: fnsft.analysis._card_passes.add_logit_effects).

    >>> ica = fnsft.ICAMask(num_components=4, threshold_rule="topk", threshold=8, stability_runs=1)
    >>> ica.compute_global_networks(model, tokenizer, texts).sizes()  # 4 networks of 8 neurons
    array([8, 8, 8, 8])
    >>> handle = ica.apply_component_masks(model, [0, 1], mode="lesion")  # on until handle.remove()
    """

    def __init__(
        self,
        settings: DiscoverySettings | None = None,
        *,
        device: str | torch.device | None = "auto",
        cards: bool = True,
        **overrides: Any,
    ):
        """settings: a DiscoverySettings (default: the library's), with `overrides` by name
        (`ICAMask(num_components=8, seed=1)`). device and cards say where and what, not how networks are found,
        so they are not part of the recorded recipe."""
        if settings is not None and not isinstance(settings, DiscoverySettings):
            raise TypeError(
                f"ICAMask takes a DiscoverySettings or settings by name, e.g. ICAMask(num_components=20); "
                f"got {settings!r}."
            )
        base = settings or DEFAULT_SETTINGS
        self.settings = base.replace(**overrides) if overrides else base
        self.device = device
        self.cards = cards
        self.networks_: FunctionalNetworks | None = None
        self.unknown_settings: tuple[str, ...] = ()  # settings a loaded template did not record

    def __getattr__(self, name: str) -> Any:
        """Each setting reads as an attribute too (`ica.num_components`), as scikit-learn estimators do."""
        if name != "settings" and name in setting_names():
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def compute_global_networks(
        self,
        model: nn.Module,
        tokenizer,
        texts_or_dataset: Any = None,
        max_tokens: int | None = None,
        *,
        text_field: str | None = None,
        category_field: str = "category",
        split: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> FunctionalNetworks:
        """Capture activations over the texts, decompose them and threshold each component into a network.

        texts_or_dataset: texts, a file, a dataset, or None for the shipped discovery corpus
        (`fnsft.data._texts.discovery_texts`). max_tokens: the token budget (default: the settings'; recorded with them).
        progress(stage, fraction) reports capture, decomposition ("decompose", then "stability" where the
        reruns start) and cards.

        >>> ica = fnsft.ICAMask(num_components=4, stability_runs=0)  # no reruns measuring stability: quicker
        >>> ica.compute_global_networks(model, tokenizer, texts, max_tokens=512).categories
        ['code', 'geography']
        """
        if texts_or_dataset is None:
            texts_or_dataset = discovery_texts()
        if not isinstance(texts_or_dataset, LabelledTexts):
            texts_or_dataset = load_labelled_texts(
                texts_or_dataset, text_field=text_field, category_field=category_field, split=split
            )
        settings = self.settings if max_tokens is None else self.settings.replace(max_tokens=max_tokens)
        settings = settle_path(settings, sum(layer_widths(model, settings.granularity)))
        texts = interleave_by_category(texts_or_dataset)
        report = progress or (lambda stage, fraction: None)
        if settings.streaming:
            networks = self._compute_streaming(model, tokenizer, texts, settings, report)
        elif Processes().distributed:
            raise DecompositionError(
                "Data-parallel discovery streams its statistics: pass streaming=True (--streaming true)."
            )
        else:
            networks = self._compute_in_memory(model, tokenizer, texts, settings, report)
        if settings.split_half and networks is not None:
            networks.split_half = self._split_half(model, tokenizer, texts_or_dataset, networks, report)
            if networks.cards is not None:  # the labels now say how each network reproduces
                networks.cards = [
                    dataclasses.replace(card, label=networks.label(card.component)) for card in networks.cards
                ]
        report("done", 1.0)
        self.networks_ = networks
        return networks

    def _compute_in_memory(
        self, model, tokenizer, texts: LabelledTexts, settings, report
    ) -> FunctionalNetworks:
        dtype = matrix_dtype(settings.matrix_dtype)
        captured = self._capture(model, tokenizer, texts, settings, report, dtype=dtype)
        report("decompose", 0.0)
        flat_means = torch.empty(captured.matrix.shape[1])
        matrix = standardize_(captured.matrix, means_out=flat_means)
        result = decompose(
            matrix,
            settings.num_components,
            **ica_settings(settings),
            device=decomposition_device(self.device, model, matrix),
            progress=report,
        )
        del matrix, captured.matrix
        return self._finish(model, tokenizer, texts, captured, result, flat_means, settings, report)

    def _split_half(self, model, tokenizer, texts: LabelledTexts, networks, report) -> SplitHalf:
        """Discover again on each of two disjoint halves of the texts (half the tokens each) and record how
        well every network comes back (`fnsft.discovery._reliability.split_half`)."""
        settings = networks.settings
        halves = split_halves(texts)
        half_settings = settings.replace(
            split_half=False, stability_runs=0, max_tokens=settings.max_tokens // 2
        )
        found = []
        for index, half in enumerate(halves):
            stage = f"split-half {'AB'[index]}"
            finder = ICAMask(half_settings, device=self.device, cards=False)
            found.append(
                finder.compute_global_networks(
                    model,
                    tokenizer,
                    half,
                    progress=lambda _stage, fraction, stage=stage: report(stage, fraction),
                )
            )
        return split_half(networks, *found)

    def _finish(
        self,
        model,
        tokenizer,
        texts: LabelledTexts,
        captured: CapturedActivations,
        result,
        flat_means,
        settings: DiscoverySettings,
        report,
    ) -> FunctionalNetworks:
        """The networks of either path, with the neurons' means and (when asked) their cards."""
        means = values_by_layer(flat_means, captured.layer_widths)
        networks = self._networks(model, texts, captured, result, means, settings)
        if self.cards:  # examples, histograms and labels; the logit effect is measured on demand
            report("cards", 0.0)
            rows = token_rows(captured, texts.categories)
            networks.cards = discovery_cards(networks, result.time_courses, rows, tokenizer)
        return networks

    def _compute_streaming(
        self, model: nn.Module, tokenizer, texts: LabelledTexts, settings: DiscoverySettings, report
    ) -> FunctionalNetworks | None:
        """Streaming discovery: moments and sketch filled batch by batch, no stored matrix; data-parallel under
        a process group (each process runs its share of the batches, every process gets the networks)."""
        processes = Processes()
        width = sum(layer_widths(model, settings.granularity))
        groups = BatchGroups(width, settings.sketch_rows, processes)

        capture = partial(self._capture, model, tokenizer, texts, settings, report, shard=processes.shard)
        captured = capture(groups.sink(), sample_tokens=settings.sketch_tokens)
        report("decompose", 0.0)
        result, moments = decompose_statistics(
            groups.merged(),
            len(captured.text_index),
            settings.num_components,
            capture,
            **ica_settings(settings),
            processes=processes,
        )
        networks = None
        if processes.is_first:
            networks = self._finish(model, tokenizer, texts, captured, result, moments.mean, settings, report)
        return processes.share(networks)

    def _capture(
        self,
        model: nn.Module,
        tokenizer,
        texts: LabelledTexts,
        settings: DiscoverySettings,
        report,
        sink=None,
        shard=(0, 1),
        dtype: torch.dtype = torch.float32,
        sample_tokens: int | None = None,
    ) -> CapturedActivations:
        inputs = chat_formatted(texts.texts, tokenizer) if settings.chat_format else texts.texts
        return capture_activations(
            model,
            tokenizer,
            inputs,
            granularity=settings.granularity,
            max_tokens=settings.max_tokens,
            max_length=settings.max_length,
            batch_size=settings.batch_size,
            add_special_tokens=not settings.chat_format,  # a chat template already wrote its BOS
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
        settings: DiscoverySettings,
    ) -> FunctionalNetworks:
        """The thresholded networks with everything known about how they were found (and each neuron's mean)."""
        neurons, threshold = threshold_networks(
            result.maps, captured.layer_widths, settings.threshold_rule, settings.threshold
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
            model_revision=model_revision(model),
            granularity=settings.granularity,
            threshold=threshold,
            decomposition=decomposition_record(result),
            data={
                **texts.provenance,
                "num_texts_used": captured.num_texts,
                "num_tokens": int(len(captured.text_index)),
                "max_length": settings.max_length,
                "chat_format": settings.chat_format,
            },
            explained_variance=result.explained_variance_ratio,
            stability=result.stability,
            stability_threshold=settings.stability_threshold,
            categories=categories,
            category_response=response,
            maps=result.maps,
            neuron_means=means,
            settings=settings,
        )

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

        >>> selection = ica.select(model, "0,3")
        >>> selection.mask("preserve").total_masked == 3 * 48 - selection.num_neurons  # every other neuron
        True
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

        >>> with ica.apply_component_masks(model, [0, 1], mode="scale", gain=0.5):
        ...     output = model(**batch)
        """
        mask = mask_from_networks(
            self._fitted(), component_ids, mode, model=model, layers=layers, gain=gain, fill=fill, means=means
        )
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

        >>> with ica.masked(model, [0, 1], mode="preserve"):
        ...     output = model(**batch)
        """
        mask = mask_from_networks(
            self._fitted(), component_ids, mode, model=model, layers=layers, gain=gain, fill=fill, means=means
        )
        return masked(model, mask)

    def build_templates_from_current_components(
        self, name: str, path: str | os.PathLike | None = None
    ) -> dict:
        """The current networks as a template dict named `name`; written atomically to `path` when given."""
        from ..networks._templates import save_templates, templates_to_dict

        networks = self._fitted()
        networks.name = name
        if path is not None:
            save_templates(networks, path)
        return templates_to_dict(networks)

    @classmethod
    def from_templates(cls, path: str | os.PathLike, model: nn.Module | None = None) -> ICAMask:
        """An ICAMask holding the networks of a template file (checked against `model` when given).

        Its settings are those the template records; any it does not record (an imported template knows no
        threshold or decomposition) keep the defaults and are named in `unknown_settings`.

        >>> fnsft.ICAMask.from_templates("my-networks.json", model).unknown_settings  # it records them all
        ()
        """
        from ..networks._templates import load_templates

        networks = load_templates(path, model)
        settings, unknown = recorded_settings(networks)
        mask = cls(settings)
        mask.unknown_settings = unknown
        mask.networks_ = networks
        return mask
