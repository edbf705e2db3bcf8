"""The result of discovery: neuron sets per component and everything known about them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .architectures import ModelShape
from .errors import MaskSelectionError

NeuronSets = dict[int, np.ndarray]  # layer -> sorted neuron ids


@dataclass
class FunctionalNetworks:
    """Functional networks of one model: per component, the neurons of each layer it contains.

    Components are ordered by explained variance (0 = strongest). Optional fields are None when unknown (an
    imported template carries neuron sets but no variance or stability).
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
        ids = [int(c) for c in component_ids]
        if not ids:
            raise MaskSelectionError("No component selected; choose at least one network.")
        unknown = [c for c in ids if not 0 <= c < self.num_components]
        if unknown:
            raise MaskSelectionError(
                f"Unknown component ids {unknown}; these networks have ids 0..{self.num_components - 1}."
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
        offsets = np.concatenate([[0], np.cumsum(self.layer_widths)])
        parts = [offsets[layer] + ids for layer, ids in sorted(self.neurons[component].items())]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def iou_matrix(self) -> np.ndarray:
        """[components x components] intersection over union of neuron sets (1 on the diagonal)."""
        matrix = iou_between(self, self)
        np.fill_diagonal(matrix, 1.0)
        return matrix

    def top_categories(self, component: int, count: int = 2) -> list[str]:
        """The input categories that drive a component most (highest mean z-scored response)."""
        if self.category_response is None or not self.categories:
            return []
        order = np.argsort(-self.category_response[component])[:count]
        return [self.categories[i] for i in order]

    def label(self, component: int) -> str:
        """A human label: id, size and what drives it, e.g. 'N3 · 412 neurons · code, math'."""
        text = f"N{component} · {int(self.sizes()[component])} neurons"
        top = self.top_categories(component)
        return f"{text} · {', '.join(top)}" if top else text

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
            data={**self.data, "selected_components": ids},
        )


def iou_between(a: FunctionalNetworks, b: FunctionalNetworks) -> np.ndarray:
    """[a's components x b's components] intersection over union of their neuron sets (0 when both are empty)."""
    sets_a = [set(a.flat_ids(c).tolist()) for c in range(a.num_components)]
    sets_b = [set(b.flat_ids(c).tolist()) for c in range(b.num_components)]
    return np.array([[len(x & y) / max(len(x | y), 1) for y in sets_b] for x in sets_a]).reshape(
        len(sets_a), len(sets_b)
    )
