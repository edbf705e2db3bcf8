"""The network methods: after each stage, discover the networks the model uses on that task's texts (fnsft's own
ICAMask) and protect their neurons while later tasks are learned, through fnsft's selective updates.

- "networks": freeze the protected neurons (their rows/columns of the MLP get no update); the rest trains.
- "networks-outside": train only the MLP neurons outside the protected ones (attention stays as it is).
- "networks-random": the control: as "networks", but each stage protects random neurons, as many per layer as
  the discovered networks added (drawn from those not yet protected).
- "networks-fixed": the plain variant: one fixed template's networks (the model's shipped one) protected from
  the first stage on, nothing discovered.
"""

from __future__ import annotations

import numpy as np

from ..models._architectures import mlp_blocks
from ..networks._functional_networks import NeuronSets
from ..training._selective import SelectiveUpdate
from .methods import Method


def union(first: NeuronSets, second: NeuronSets) -> NeuronSets:
    """Per layer, the neurons in either."""
    layers = sorted(set(first) | set(second))
    return {
        layer: np.union1d(first.get(layer, np.zeros(0, np.int64)), second.get(layer, np.zeros(0, np.int64)))
        for layer in layers
    }


def complement(sets: NeuronSets, widths: dict[int, int]) -> NeuronSets:
    """Per layer, the neurons not in `sets`."""
    return {layer: np.setdiff1d(np.arange(width), sets.get(layer, [])) for layer, width in widths.items()}


def grow_random(
    protected: NeuronSets, counts: dict[int, int], widths: dict[int, int], seed: int
) -> NeuronSets:
    """`protected` plus `counts[layer]` random neurons of each layer not already in it (the control keeps the
    same number per layer as the networks it stands in for)."""
    generator = np.random.default_rng(seed)
    grown = {layer: np.asarray(ids, dtype=np.int64) for layer, ids in protected.items()}
    for layer, count in sorted(counts.items()):
        free = np.setdiff1d(np.arange(widths[layer]), grown.get(layer, []))
        drawn = generator.choice(free, size=min(count, len(free)), replace=False)
        grown[layer] = np.sort(np.concatenate([grown.get(layer, np.zeros(0, np.int64)), drawn]))
    return grown


def sizes(sets: NeuronSets) -> dict[int, int]:
    return {int(layer): len(ids) for layer, ids in sets.items()}


class NetworkProtection(Method):
    """Protect the networks of every task learned so far (see the module docstring for the variants)."""

    name = "networks"
    outside = False  # train only outside the protected neurons, instead of freezing them
    random_control = False

    def __init__(self, suite, seed):
        super().__init__(suite, seed)
        self.update: SelectiveUpdate | None = None
        self.state = {"protected": {}, "discovered": {}, "per_stage": []}

    def prepare(self, model, stage):
        model = super().prepare(model, stage)
        protected = self.state["protected"]
        if not any(len(ids) for ids in protected.values()):
            self.update = None
            return model
        if self.outside:
            widths = {block.layer: block.intermediate_size for block in mlp_blocks(model)}
            self.update = SelectiveUpdate(model, complement(protected, widths), "train_only")
        else:
            self.update = SelectiveUpdate(model, protected, "freeze")
        return model

    def no_decay(self):
        return self.update.no_decay_parameter_names() if self.update else set()

    def finish(self, model, task, tokenizer, stage):
        if self.update is not None:
            self.update.remove()
            self.update = None
        model = super().finish(model, task, tokenizer, stage)
        self._protect(
            self.discover(model, tokenizer, [example.prompt for example in task.train]), model, stage
        )
        return model

    def discover(self, model, tokenizer, texts: list[str]) -> NeuronSets:
        """The union of the networks ICAMask finds in the model on `texts`."""
        from ..discovery._ica_mask import ICAMask

        ica = ICAMask(
            num_components=self.suite.network_components,
            max_tokens=self.suite.network_tokens,
            max_length=self.suite.max_length,
            stability_runs=0,
            restarts=1,
            seed=self.seed,
            cards=False,
        )
        networks = ica.compute_global_networks(model, tokenizer, texts)
        return networks.union(range(networks.num_components))

    def _protect(self, found: NeuronSets, model, stage: int) -> None:
        discovered = union(self.state["discovered"], found)
        if self.random_control:
            widths = {block.layer: block.intermediate_size for block in mlp_blocks(model)}
            before, after = sizes(self.state["discovered"]), sizes(discovered)
            added = {layer: after[layer] - before.get(layer, 0) for layer in after}
            protected = grow_random(self.state["protected"], added, widths, self.seed * 1000 + stage)
        else:
            protected = discovered
        self.state.update(discovered=discovered, protected=protected)
        self.state["per_stage"].append(sum(sizes(protected).values()))


class NetworkProtectionOutside(NetworkProtection):
    name = "networks-outside"
    outside = True


class RandomNeuronControl(NetworkProtection):
    name = "networks-random"
    random_control = True


class FixedNetworkProtection(NetworkProtection):
    """The plain variant: the networks of one fixed template, protected at every stage."""

    name = "networks-fixed"

    def prepare(self, model, stage):
        if not self.state["protected"]:
            self.state["protected"] = self.state["discovered"] = self.fixed_networks(model)
        return super().prepare(model, stage)

    def fixed_networks(self, model) -> NeuronSets:
        from .._resources import shipped_template
        from ..masking._selection import NetworkSelection
        from ..networks._templates import load_templates

        path = self.suite.templates or shipped_template(model)
        return NetworkSelection.for_model(load_templates(path), model, source=str(path)).neuron_sets

    def _protect(self, found, model, stage):
        self.state["per_stage"].append(sum(sizes(self.state["protected"]).values()))

    def discover(self, model, tokenizer, texts):
        return {}
