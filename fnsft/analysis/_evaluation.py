"""Measuring what a mask does: loss per input category, masked vs unmasked vs random masks of equal size."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._value_types import check_value, int_in_range
from ..data._padding import pad_id, right_padded
from ..data._texts import LabelledTexts, load_labelled_texts
from ..errors import SettingError
from ..masking._hooks import NeuronMask, masked
from ..masking._selection import Components, NetworkSelection
from ..networks._functional_networks import FunctionalNetworks

MAX_RANDOM_DRAWS = 100  # each draw is one more pass over every text


def sample_std(values: Iterable[float]) -> float:
    """Standard deviation with ddof=1, the spread fnsft reports everywhere; 0 for fewer than two values."""
    values = list(values)
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


@torch.inference_mode()
def token_losses(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    *,
    mask: NeuronMask | None = None,
    max_length: int = 256,
    batch_size: int = 8,
) -> list[tuple[float, int]]:
    """(summed next-token loss, predicted tokens) per text, with `mask` applied in this context only."""
    device = next(model.parameters()).device
    encoded = [tokenizer(text, truncation=True, max_length=max_length)["input_ids"] for text in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    results: list[tuple[float, int]] = [(0.0, 0)] * len(texts)
    fill = pad_id(tokenizer)
    with masked(model, mask):
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            ids, attention = right_padded([encoded[i] for i in batch], fill)
            logits = model(
                input_ids=ids.to(device), attention_mask=attention.to(device), use_cache=False
            ).logits
            log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            targets = ids[:, 1:].to(device)
            picked = -log_probs.gather(-1, targets[..., None])[..., 0]
            valid = attention[:, 1:].to(device).bool()
            for slot, i in enumerate(batch):
                results[i] = (float(picked[slot][valid[slot]].sum()), int(valid[slot].sum()))
    return results


def loss_by_category(losses: list[tuple[float, int]], categories: list[str] | None) -> dict[str, float]:
    """Token-weighted mean loss per category, plus "all"."""
    groups: dict[str, list[tuple[float, int]]] = {"all": losses}
    for (total, count), category in zip(losses, categories or [], strict=False):
        groups.setdefault(category, []).append((total, count))
    return {
        name: sum(t for t, _ in items) / max(sum(c for _, c in items), 1) for name, items in groups.items()
    }


@dataclass
class EffectReport:
    """Losses per category for the unmasked model, the network mask and each random control draw."""

    mode: str
    components: list[int]
    masked_neurons: int
    baseline: dict[str, float]
    network: dict[str, float]
    random: list[dict[str, float]]

    @property
    def random_mean(self) -> dict[str, float]:
        return {key: float(np.mean([draw[key] for draw in self.random])) for key in self.baseline}

    def ratio(self, category: str = "all") -> float:
        """Loss increase of the network mask over the mean loss increase of random masks of equal size."""
        network_increase = self.network[category] - self.baseline[category]
        random_increase = self.random_mean[category] - self.baseline[category]
        if abs(random_increase) < 1e-9:
            return math.inf if network_increase > 0 else 1.0
        return network_increase / random_increase

    def ratio_is_noise(self, category: str = "all") -> bool:
        """True when the random masks' mean shift of the loss is not clearly above their own spread (within
        two standard errors, or a single draw that has no spread), so the ratio's denominator is noise."""
        draws = [draw[category] for draw in self.random]
        shift = abs(float(np.mean(draws)) - self.baseline[category])
        return len(draws) < 2 or shift <= 2 * sample_std(draws) / math.sqrt(len(draws))

    def rows(self) -> list[dict]:
        """One row per category: baseline, network, random mean/std, ratio (and whether it is noise) and
        perplexities."""
        rows = []
        random_mean = self.random_mean
        for category in self.baseline:
            spread = sample_std([draw[category] for draw in self.random])
            rows.append(
                {
                    "category": category,
                    "baseline_loss": self.baseline[category],
                    "network_loss": self.network[category],
                    "random_loss_mean": random_mean[category],
                    "random_loss_std": spread,
                    "ratio": self.ratio(category),
                    "ratio_is_noise": self.ratio_is_noise(category),
                    "baseline_ppl": math.exp(self.baseline[category]),
                    "network_ppl": math.exp(min(self.network[category], 50)),
                }
            )
        return rows

    def to_dict(self) -> dict:
        """The report as strict JSON data: an infinite ratio (random masks changed nothing) becomes null."""
        return _finite_or_none({**asdict(self), "ratio": self.ratio(), "rows": self.rows()})


def _finite_or_none(value):
    """`value` with every non-finite float replaced by None, so json.dump writes valid JSON."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def measure_effect(
    model: nn.Module,
    tokenizer,
    networks: FunctionalNetworks | NetworkSelection,
    component_ids: Components,
    texts: LabelledTexts,
    *,
    mode: str = "lesion",
    gain: float | None = None,
    fill: str = "zero",
    random_draws: int = 3,
    seed: int = 0,
    max_length: int = 256,
    batch_size: int = 8,
    progress: Callable[[float], None] | None = None,
) -> EffectReport:
    """Loss per category unmasked, with the networks masked, and with `random_draws` random masks that have the
    same number of neurons per layer (drawn outside the networks), every mask with the same dials (`gain` for
    mode 'scale', `fill` for what 'preserve' silences). Mean fills use the networks\' recorded means.

    `networks` with `component_ids` (ids, "0,3", or "all"/None), or a NetworkSelection already checked against
    the model (then `component_ids` is None).

    >>> report = fnsft.measure_effect(model, tokenizer, networks, [0, 3], texts)
    >>> ratio = report.ratio("code")  # loss increase of the networks over that of random masks
    >>> [row["category"] for row in report.rows()], len(report.random)
    (['all', 'code', 'geography'], 3)
    """
    random_draws = check_value("random_draws", random_draws, int_in_range(1, MAX_RANDOM_DRAWS))
    max_length = check_value("max_length", max_length, int_in_range(1, 1_000_000))
    batch_size = check_value("batch_size", batch_size, int_in_range(1, 65_536))
    if not isinstance(texts, LabelledTexts):
        texts = load_labelled_texts(texts)  # a list of strings or records; refuses an empty one
    if isinstance(networks, NetworkSelection):
        if component_ids is not None:
            raise SettingError("Give component_ids=None with a NetworkSelection: it names its components.")
        selection = networks
    else:
        selection = NetworkSelection.for_model(networks, model, component_ids)
    network_mask = selection.mask(mode, gain=gain, fill=fill)
    controls = [
        selection.with_random_control(seed + draw).mask(mode, gain=gain, fill=fill)
        for draw in range(random_draws)
    ]
    masks = [None, network_mask, *controls]
    results = []
    for step, mask in enumerate(masks):
        losses = token_losses(
            model, tokenizer, texts.texts, mask=mask, max_length=max_length, batch_size=batch_size
        )
        results.append(loss_by_category(losses, texts.categories))
        if progress is not None:
            progress((step + 1) / len(masks))
    return EffectReport(
        mode, list(selection.ids), network_mask.total_masked, results[0], results[1], results[2:]
    )


GAINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def gain_sweep(
    model: nn.Module,
    tokenizer,
    networks: FunctionalNetworks,
    component_ids: Iterable[int],
    texts: LabelledTexts,
    gains: Iterable[float] = GAINS,
    *,
    random_draws: int = 0,
    seed: int = 0,
    max_length: int = 256,
    batch_size: int = 8,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Loss per category with the networks' neurons scaled by each gain (0 = lesion, 1 = the unmasked model,
    > 1 = amplified), and with `random_draws` random neuron sets of equal count per layer scaled alike.

    Returns {"components", "gains", "network": [losses per gain], "random": [[losses per gain] per draw]}; a
    plot of `network[i]["all"]` against `gains[i]` is the loss-vs-gain curve. Gain 1 is not run: it is the model.
    """
    selection = NetworkSelection.for_model(networks, model, component_ids)
    gains = [float(g) for g in gains]
    baseline: dict[str, float] | None = None
    series: list[list[dict[str, float]]] = [[] for _ in range(random_draws + 1)]
    for step, gain in enumerate(gains):
        if gain == 1.0:
            if baseline is None:
                losses = token_losses(
                    model, tokenizer, texts.texts, max_length=max_length, batch_size=batch_size
                )
                baseline = loss_by_category(losses, texts.categories)
            results = [baseline] * len(series)
        else:
            masks = [selection.mask("scale", gain=gain)]
            masks += [
                selection.with_random_control(seed + draw).mask("scale", gain=gain)
                for draw in range(random_draws)
            ]
            results = [
                loss_by_category(
                    token_losses(
                        model, tokenizer, texts.texts, mask=mask, max_length=max_length, batch_size=batch_size
                    ),
                    texts.categories,
                )
                for mask in masks
            ]
        for row, result in zip(series, results, strict=True):
            row.append(result)
        if progress is not None:
            progress((step + 1) / len(gains))
    return {"components": list(selection.ids), "gains": gains, "network": series[0], "random": series[1:]}
