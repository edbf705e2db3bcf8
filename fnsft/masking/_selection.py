"""One checked network selection: which networks, which of their components, which layers, random control or not.

A `NetworkSelection` is made once from the networks and (with `for_model`) checked against the model then; the
mask for a mode, the neuron sets for selective updates and the description that reports carry all come from it,
so evaluation, training, ICAMask and the command line neither re-validate nor re-derive it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from torch import nn

from ..errors import MaskSelectionError
from ..networks._functional_networks import FunctionalNetworks, NeuronSets
from ..networks._templates import check_compatible
from ._hooks import NeuronMask, NeuronMeans, build_mask, random_neuron_sets

ALL_COMPONENTS = "all"
Components = str | Iterable[int] | None  # "all" / None, "0,3", or ids


def parse_component_ids(value: Components) -> list[int] | None:
    """The ids a selection names: "all" (or None) -> None; "0,3" or [0, 3] -> [0, 3].

    >>> parse_component_ids("0, 3"), parse_component_ids("all"), parse_component_ids([2])
    ([0, 3], None, [2])
    """
    if value is None or (isinstance(value, str) and value.strip() == ALL_COMPONENTS):
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    ids = []
    for part in parts:
        text = str(part).strip()
        if isinstance(value, str) and not text:
            continue  # "0,3," as typed
        if isinstance(part, bool) or not (text.isascii() and text.isdigit()):
            raise MaskSelectionError(f"{value!r} is not 'all' or comma-separated network ids such as 0,3,5")
        ids.append(int(text))
    return ids


@dataclass(frozen=True, eq=False)
class NetworkSelection:
    """The union of some networks' components (optionally within `layers`), or random neurons of the same count
        per layer (`random_control`, drawn with `seed`): the paper's control.

    Made directly, it is checked against the networks (ids, layers); `for_model` also checks it against a model,
    once, and marks it `checked_against_model`, so selective updates and masks built from it need no second check.

    >>> selection = fnsft.NetworkSelection.for_model(networks, model, "0,3")
    >>> selection.description
    {'template': 'networks', 'components': [0, 3], 'neurons': ..., 'random_control': False}
    >>> with fnsft.masked(model, selection.mask("lesion")):
    ...     output = model(**batch)
    """

    networks: FunctionalNetworks
    ids: tuple[int, ...]
    layers: tuple[int, ...] | None = None
    random_control: bool = False
    seed: int = 0
    checked_against_model: bool = field(default=False, init=False)  # made by for_model
    _sets: NeuronSets = field(init=False, repr=False)

    def __post_init__(self):
        ids = tuple(self.networks.check_components(self.ids))
        layers = None if self.layers is None else tuple(sorted({int(layer) for layer in self.layers}))
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "_sets", self.networks.union(ids, layers))  # refuses unknown layers

    @classmethod
    def for_model(
        cls,
        networks: FunctionalNetworks,
        model: nn.Module,
        components: Components = ALL_COMPONENTS,
        *,
        layers: Iterable[int] | None = None,
        random_control: bool = False,
        seed: int = 0,
        source: str | None = None,
    ) -> NetworkSelection:
        """The selection of `components` ("all", "0,3" or ids), checked once against `model` (family, layers,
        widths; a TemplateError names `source`, default the networks' name)."""
        check_compatible(networks, model, source or f"networks {networks.name!r}")
        selection = cls(
            networks,
            _named_ids(networks, components),
            None if layers is None else tuple(layers),
            random_control,
            seed,
        )
        object.__setattr__(selection, "checked_against_model", True)
        return selection

    def with_random_control(self, seed: int) -> NetworkSelection:
        """The same selection swapped for random neurons of the same count per layer, drawn with `seed`."""
        control = dataclasses.replace(self, random_control=True, seed=seed)
        object.__setattr__(control, "checked_against_model", self.checked_against_model)
        return control

    @cached_property
    def neuron_sets(self) -> NeuronSets:
        """layer -> neuron ids: the networks' union, or its random control."""
        if not self.random_control:
            return self._sets
        return random_neuron_sets(self._sets, self.networks.layer_widths, self.seed)

    @property
    def num_neurons(self) -> int:
        return int(sum(len(ids) for ids in self.neuron_sets.values()))

    @property
    def description(self) -> dict[str, Any]:
        """What reports and masks record: the networks' name, the component ids, the neuron count."""
        description: dict[str, Any] = {
            "template": self.networks.name,
            "components": list(self.ids),
            "neurons": self.num_neurons,
            "random_control": self.random_control,
        }
        if self.random_control:
            description["seed"] = self.seed
        if self.layers is not None:
            description["layers"] = list(self.layers)
        return description

    def mask(
        self,
        mode: str = "lesion",
        *,
        gain: float | None = None,
        fill: str = "zero",
        means: NeuronMeans | None = None,
    ) -> NeuronMask:
        """The mask lesioning, preserving, scaling (`gain`) or mean-ablating this selection (`fnsft.masking._hooks`); a
        mean fill uses `means`, else the means recorded in the networks."""
        return build_mask(
            self.neuron_sets,
            self.networks.layer_widths,
            mode,
            site=self.networks.granularity,
            layers=self.layers,
            gain=gain,
            fill=fill,
            means=self.networks.neuron_means if means is None else means,
            description=self.description,
        )


def _named_ids(networks: FunctionalNetworks, components: Components) -> tuple[int, ...]:
    ids = parse_component_ids(components)
    return tuple(range(networks.num_components) if ids is None else ids)


def mask_from_networks(
    networks: FunctionalNetworks,
    component_ids: Components,
    mode: str = "lesion",
    *,
    model: nn.Module | None = None,
    layers: Iterable[int] | None = None,
    gain: float | None = None,
    fill: str = "zero",
    means: NeuronMeans | None = None,
) -> NeuronMask:
    """The mask lesioning, preserving, scaling or mean-ablating the union of `component_ids` ("all", "0,3" or
    ids; checked against `model` when given): `NetworkSelection(...).mask(...)` in one call, the entry point
    behind every public way to mask networks (ICAMask.apply_component_masks and .masked, the app, benchmarks)."""
    if model is not None:
        selection = NetworkSelection.for_model(networks, model, component_ids, layers=layers)
    else:
        layers = None if layers is None else tuple(layers)
        selection = NetworkSelection(networks, _named_ids(networks, component_ids), layers)
    return selection.mask(mode, gain=gain, fill=fill, means=means)
