"""The result of discovery: neuron sets per component and everything known about them."""

from __future__ import annotations

import dataclasses
import importlib
import operator
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..choices import MIN_LABEL_RESPONSE
from ..discovery._columns import global_ids
from ..errors import MaskSelectionError
from ..models._architectures import ModelShape

if TYPE_CHECKING:
    from ..discovery._settings import DiscoverySettings
    from ._cards import NetworkCard

NeuronSets = dict[int, np.ndarray]  # layer -> sorted neuron ids

# A network reproduces when its two halves' versions share most neurons and their maps agree.
REPRODUCED_IOU = 0.5
REPRODUCED_CORRELATION = 0.8


def _hub():
    """fnsft.networks._hub, which builds on this module (it validates folders through the template schema): the
    methods that share networks reach it when called, the way `fnsft/__init__` reaches its exports."""
    return importlib.import_module("._hub", __package__)


@dataclass(frozen=True)
class SplitHalf:
    """Per network, how its versions found on two disjoint halves of the texts agree: the IoU of their neuron
    sets and the |correlation| of their neuron maps (NaN where a side keeps no maps); tokens: per half."""

    iou: np.ndarray
    correlation: np.ndarray
    tokens: int

    def reproduced(self) -> np.ndarray:
        """True where a network came back on both halves (IoU >= 0.5 and map |corr| >= 0.8 where known)."""
        correlation_ok = np.where(
            np.isnan(self.correlation), True, self.correlation >= REPRODUCED_CORRELATION
        )
        return (self.iou >= REPRODUCED_IOU) & correlation_ok

    def summary(self) -> dict[str, float | int]:
        """Medians over the networks, and how many reproduced."""
        correlation = self.correlation[~np.isnan(self.correlation)]
        return {
            "tokens_per_half": self.tokens,
            "median_iou": round(float(np.median(self.iou)), 3),
            "median_correlation": round(float(np.median(correlation)), 3) if len(correlation) else None,
            "reproduced": int(self.reproduced().sum()),
            "networks": len(self.iou),
        }

    def select(self, ids: list[int]) -> SplitHalf:
        return SplitHalf(self.iou[ids], self.correlation[ids], self.tokens)


@dataclass
class FunctionalNetworks:
    """Functional networks of one model: per component, the neurons of each layer it contains.

    Components are ordered by explained variance (0 = strongest). Optional fields are None when unknown (an
    imported template carries neuron sets but no variance or stability).

    >>> networks = fnsft.load_templates("my-networks.json")
    >>> networks.num_components, networks.sizes()
    (4, array([8, 8, 8, 8]))
    >>> networks.label(0)
    'N0 · 8 neurons...'
    >>> neurons = networks.union([0, 3])  # {layer: neuron ids} of networks 0 and 3 together
    """

    neurons: list[NeuronSets]
    shape: ModelShape
    model_id: str
    granularity: str
    threshold: dict
    decomposition: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    explained_variance: np.ndarray | None = None
    stability: np.ndarray | None = None
    stability_threshold: float = 0.8
    categories: list[str] = field(default_factory=list)
    category_response: np.ndarray | None = None  # [components, categories]
    maps: np.ndarray | None = None  # [components, neurons]; kept in memory, not written to templates
    # layer -> mean activation of each neuron over the discovery tokens (what mean-ablation sets it to)
    neuron_means: dict[int, np.ndarray] | None = None
    name: str = "networks"
    cards: list[NetworkCard] | None = None  # one per component (fnsft.networks._cards), written to templates
    settings: DiscoverySettings | None = (
        None  # the recipe that found them (None: an older or imported template)
    )
    split_half: SplitHalf | None = (
        None  # how each network came back on two halves of the texts (fnsft.discovery._reliability)
    )
    model_revision: str | None = None  # the Hub commit of the model they were found on, when known

    @property
    def num_components(self) -> int:
        return len(self.neurons)

    @property
    def layer_widths(self) -> tuple[int, ...]:
        if self.granularity == "mlp_output":
            return (self.shape.hidden_size,) * self.shape.num_layers
        return self.shape.intermediate_sizes

    def counts_per_layer(self) -> np.ndarray:
        """[components x layers] neuron counts: the component-to-layer map."""
        counts = np.zeros((self.num_components, self.shape.num_layers), dtype=np.int64)
        for component, sets in enumerate(self.neurons):
            for layer, ids in sets.items():
                counts[component, layer] = len(ids)
        return counts

    def sizes(self) -> np.ndarray:
        return self.counts_per_layer().sum(axis=1)

    def stable(self) -> np.ndarray | None:
        """True where a component reproduced across reruns (stability >= stability_threshold)."""
        return None if self.stability is None else self.stability >= self.stability_threshold

    def mask_dict(self) -> dict[int, dict[int, list[int]]]:
        """{component: {layer: [neuron ids]}}, the layout users of the method know."""
        return {
            c: {layer: ids.tolist() for layer, ids in sets.items()} for c, sets in enumerate(self.neurons)
        }

    def check_components(self, component_ids: Iterable[int]) -> list[int]:
        """The distinct ids, sorted; a non-integer or unknown id is a MaskSelectionError naming it and the range."""
        ids = []
        for c in component_ids:
            try:
                ids.append(operator.index(c))
            except TypeError:
                raise MaskSelectionError(
                    f"Network id {c!r} is not an integer; these networks have ids 0..{self.num_components - 1}."
                ) from None
        if not ids:
            raise MaskSelectionError("No network selected; choose at least one.")
        unknown = [c for c in ids if not 0 <= c < self.num_components]
        if unknown:
            raise MaskSelectionError(
                f"Unknown network ids {unknown}; these networks have ids 0..{self.num_components - 1}."
            )
        return sorted(set(ids))

    def union(self, component_ids: Iterable[int], layers: Iterable[int] | None = None) -> NeuronSets:
        """Neurons of the union of `component_ids`, optionally restricted to `layers`."""
        ids = self.check_components(component_ids)
        wanted = None if layers is None else {int(layer) for layer in layers}
        if wanted is not None:
            bad = sorted(layer for layer in wanted if not 0 <= layer < self.shape.num_layers)
            if bad:
                raise MaskSelectionError(
                    f"Unknown layers {bad}; the model has layers 0..{self.shape.num_layers - 1}."
                )
        merged: dict[int, list[np.ndarray]] = {}
        for component in ids:
            for layer, neurons in self.neurons[component].items():
                if wanted is None or layer in wanted:
                    merged.setdefault(layer, []).append(neurons)
        return {layer: np.unique(np.concatenate(parts)) for layer, parts in sorted(merged.items())}

    def flat_ids(self, component: int) -> np.ndarray:
        """Global neuron ids (layer offset + neuron) of one component."""
        return global_ids(self.neurons[component], self.layer_widths)

    def iou_matrix(self) -> np.ndarray:
        """[components x components] intersection over union of neuron sets; NaN on the diagonal of an empty
        network, which overlaps nothing, not even itself."""
        matrix = iou_between(self, self)
        np.fill_diagonal(matrix, np.where(self.sizes() > 0, 1.0, np.nan))
        return matrix

    def top_categories(self, component: int, count: int = 2) -> list[str]:
        """The input categories that drive a component most (highest mean z-scored response), among those with
        a clearly positive response (>= MIN_LABEL_RESPONSE): a category the network ignores never names it."""
        component = self.check_components([component])[0]
        if self.category_response is None or not self.categories:
            return []
        response = np.asarray(self.category_response[component], dtype=float)
        order = [i for i in np.argsort(-response)[:count] if response[i] >= MIN_LABEL_RESPONSE]
        return [self.categories[i] for i in order]

    def label(self, component: int) -> str:
        """A human label: id, size, what drives it and, when measured, whether it reproduces on other texts,
        e.g. 'N3 · 412 neurons · code, math · split-half IoU 0.91'."""
        component = self.check_components([component])[0]
        parts = [f"N{component}", f"{int(self.sizes()[component])} neurons"]
        top = self.top_categories(component)
        if top:
            parts.append(", ".join(top))
        if self.split_half is not None:
            iou = float(self.split_half.iou[component])
            reproduced = bool(self.split_half.reproduced()[component])
            parts.append(f"split-half IoU {iou:.2f}" + ("" if reproduced else " (does not reproduce)"))
        return " · ".join(parts)

    def card(self, component: int) -> NetworkCard:
        """The card of one network: top and interval examples, histogram, logit effect, label (fnsft.networks._cards).

        >>> example = networks.card(3).top_examples[0]  # the context where network 3 fires most
        >>> example.category  # of the text it comes from
        '...'
        """
        component = self.check_components([component])[0]
        if self.cards is None:
            raise MaskSelectionError(
                f"{self.name} has no cards (an older or imported template): compute them with "
                "fnsft.analysis._card_passes.template_cards(networks, model, tokenizer)."
            )
        return self.cards[component]

    def save_pretrained(self, folder: str | os.PathLike, *, card: bool = True) -> Path:
        """Write a networks folder (config JSON, networks.safetensors, README card): see fnsft.networks._hub."""
        return _hub().save_pretrained(self, folder, card=card)

    @classmethod
    def from_pretrained(
        cls, folder_or_repo_id: str | os.PathLike, revision: str | None = None, **hub_options: Any
    ) -> FunctionalNetworks:
        """Networks from a save_pretrained folder or a Hub repo id (cache and offline mode honoured)."""
        return _hub().from_pretrained(folder_or_repo_id, revision, **hub_options)

    def push_to_hub(self, repo_id: str, **hub_options: Any) -> str:
        """Upload the save_pretrained folder to a Hub model repo; returns the commit's URL."""
        return _hub().push_to_hub(self, repo_id, **hub_options)

    def select(self, component_ids: Iterable[int]) -> FunctionalNetworks:
        """The chosen networks alone, renumbered from 0; the original ids are kept in `data`."""
        ids = self.check_components(component_ids)

        def rows(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else np.asarray(values)[ids]

        return dataclasses.replace(
            self,
            neurons=[self.neurons[c] for c in ids],
            explained_variance=rows(self.explained_variance),
            stability=rows(self.stability),
            category_response=rows(self.category_response),
            maps=rows(self.maps),
            cards=None if self.cards is None else [self.cards[c].renumbered(i) for i, c in enumerate(ids)],
            split_half=None if self.split_half is None else self.split_half.select(ids),
            data={**self.data, "selected_components": ids},
        )

    def rethreshold(self, rule: str, value: float) -> FunctionalNetworks:
        """The same fit with each kept neuron map thresholded anew (`rule`, `value`): no capture, no decomposition.

        Networks left empty are named in `threshold["notes"]` and warned about. Networks loaded from a template
        keep no maps: rediscover them to change the threshold. The split-half reliability was of the old neuron
        sets and is dropped; the recorded settings take the new threshold.

        >>> networks.rethreshold("topk", 4).sizes()
        array([4, 4, 4, 4])
        """
        from .._limits import check_threshold
        from ..discovery._thresholds import threshold_networks

        if self.maps is None:
            raise MaskSelectionError(
                f"{self.name} keeps no neuron maps (they are not written to templates): rediscover the networks "
                "to change their threshold."
            )
        check_threshold(rule, value, self.maps.shape[1])
        neurons, threshold = threshold_networks(self.maps, self.layer_widths, rule, value)
        # the time courses (examples, histogram) are unchanged; the lesion effect was of the old neuron sets
        cards = (
            None if self.cards is None else [dataclasses.replace(c, logit_effect=None) for c in self.cards]
        )
        settings = (
            None if self.settings is None else self.settings.replace(threshold_rule=rule, threshold=value)
        )
        return dataclasses.replace(
            self, neurons=neurons, threshold=threshold, cards=cards, settings=settings, split_half=None
        )


def iou_between(a: FunctionalNetworks, b: FunctionalNetworks) -> np.ndarray:
    """[a's components x b's components] intersection over union of their neuron sets (0 when both are empty)."""
    sets_a = [set(a.flat_ids(c).tolist()) for c in range(a.num_components)]
    sets_b = [set(b.flat_ids(c).tolist()) for c in range(b.num_components)]
    return np.array([[len(x & y) / max(len(x | y), 1) for y in sets_b] for x in sets_a]).reshape(
        len(sets_a), len(sets_b)
    )
