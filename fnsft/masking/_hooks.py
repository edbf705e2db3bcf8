"""Neuron masks as forward hooks: lesion (switch off), preserve (keep only), scale (a gain dial) or mean-ablate
sets of MLP neurons.

A mask is a per-neuron affine map `value * scale + offset` at one hook site of each block's down-projection: a
pre-hook transforms its input ("intermediate" neurons) or a forward hook its output ("mlp_output" channels).
Zero-ablation is scale 0; mean-ablation is scale 0 plus the neuron's mean activation as offset; a gain dial is
scale g. One dispatcher hook per block serves every mask on a model, so two kinds of mask can be live at once
and never see each other's state:
- `apply_mask` installs a *global* mask, applied to every forward pass until its handle is removed (scripts,
  training);
- `masked` installs a *context-local* mask, applied only to forward passes run in the current thread or
  contextvars context (the app serving several requests on one model at the same time).
When the last mask on a model goes, its dispatcher hooks are removed and the model is exactly as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..choices import MASK_FILLS, MASK_MODES
from ..discovery._means import NeuronMeans
from ..errors import MaskSelectionError
from ..models._architectures import hook_site, mlp_blocks, output_width, unwrap_model
from ..networks._functional_networks import NeuronSets

_CONTEXT_MASKS: contextvars.ContextVar[tuple[NeuronMask, ...]] = contextvars.ContextVar(
    "fnsft_masks", default=()
)
_REGISTRY_LOCK = threading.Lock()


@dataclass(eq=False)
class NeuronMask:
    """Per-layer scale vectors (1 keeps a neuron, 0 silences it, g scales it) and optional offsets (added after
    scaling: the mean a mean-ablated neuron is set to) at one hook site.

    Layers absent from `scale` are untouched. `warnings` lists what the user should know (e.g. a layer whose MLP
    is fully silenced).

    >>> mask = fnsft.NetworkSelection.for_model(networks, model, "0,3").mask("lesion")
    >>> mask.description["components"], mask.total_masked == mask.description["neurons"]
    ([0, 3], True)
    """

    site: str
    scale: dict[int, torch.Tensor]
    offset: dict[int, torch.Tensor] = field(default_factory=dict)
    description: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def vectors(
        self, layer: int, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The layer's scale and offset (None: no offset) on the activation's dtype and device, cached."""
        key = (layer, dtype, device)
        cached = self._cache.get(key)
        if cached is None:
            # normal tensors even when first asked for under inference_mode, so later training can use them
            with torch.inference_mode(False):
                offset = self.offset.get(layer)
                cached = self._cache[key] = (
                    self.scale[layer].to(device=device, dtype=dtype),
                    None if offset is None else offset.to(device=device, dtype=dtype),
                )
        return cached

    def masked_counts(self) -> dict[int, int]:
        """Neurons changed per layer (silenced, scaled or set to their mean)."""
        return {layer: int((vector != 1).sum()) for layer, vector in self.scale.items()}

    @property
    def total_masked(self) -> int:
        return sum(self.masked_counts().values())


def _check_dial(mode: str, gain: float | None, fill: str, means: NeuronMeans | None) -> tuple[str, str]:
    """The (mode, fill) a request means, refused with a clear message when it cannot be built."""
    if mode not in MASK_MODES:
        raise MaskSelectionError(f"mode={mode!r} is not supported; use one of {', '.join(MASK_MODES)}.")
    if fill not in MASK_FILLS:
        raise MaskSelectionError(f"fill={fill!r} is not supported; use 'zero' or 'mean'.")
    if mode == "mean":
        mode, fill = "lesion", "mean"
    if mode == "scale" and (gain is None or not np.isfinite(gain)):
        raise MaskSelectionError(
            f"mode='scale' needs a finite gain (0 = lesion, 1 = unchanged); got {gain!r}."
        )
    if mode != "scale" and gain is not None:
        raise MaskSelectionError(f"gain={gain!r} only applies to mode='scale'; mode is {mode!r}.")
    if fill == "mean" and means is None:
        raise MaskSelectionError(
            "Mean-ablation needs the neurons' mean activations: use networks from a discovery, a template "
            "that records them, or compute them with fnsft.neuron_means(model, tokenizer, texts, "
            "granularity=...)."
        )
    return mode, fill


def build_mask(
    neuron_sets: NeuronSets,
    widths: tuple[int, ...],
    mode: str,
    *,
    site: str = "intermediate",
    layers: Iterable[int] | None = None,
    gain: float | None = None,
    fill: str = "zero",
    means: NeuronMeans | None = None,
    description: dict | None = None,
) -> NeuronMask:
    """Lesion: silence `neuron_sets`. Preserve: silence everything else (in `layers`, default all layers).
    Scale: multiply `neuron_sets` by `gain`. Mean: lesion with `fill="mean"`.

    A silenced neuron is set to 0 (`fill="zero"`) or to its mean activation in `means` (`fill="mean"`).
    """
    mode, fill = _check_dial(mode, gain, fill, means)
    scope = sorted(range(len(widths)) if layers is None else {int(layer) for layer in layers})
    bad = [layer for layer in scope if not 0 <= layer < len(widths)]
    if bad or not scope:
        raise MaskSelectionError(
            f"Layers {bad or 'none'} are not valid; the model has layers 0..{len(widths) - 1}."
        )
    scale: dict[int, torch.Tensor] = {}
    offset: dict[int, torch.Tensor] = {}
    notes = []
    for layer in scope:
        ids = torch.as_tensor(np.asarray(neuron_sets.get(layer, []), dtype=np.int64))
        if mode in ("lesion", "scale"):
            if len(ids) == 0 or (mode == "scale" and gain == 1):
                continue  # untouched layers get no vector, so they cost nothing and stay bit for bit
            vector = torch.ones(widths[layer])
            vector[ids] = 0.0 if mode == "lesion" else float(gain)
        else:
            vector = torch.zeros(widths[layer])
            vector[ids] = 1.0
        if mode != "scale" and not vector.any():
            notes.append(f"layer {layer}: every one of its {widths[layer]} neurons is silenced")
        scale[layer] = vector
        if fill == "mean":
            offset[layer] = _mean_offset(means, layer, widths[layer], vector)
    mask = NeuronMask(site, scale, offset, dict(description or {}, mode=mode, fill=fill, gain=gain))
    if notes:
        message = "Mask silences whole MLP layers: " + "; ".join(notes)
        mask.warnings.append(message)
        warnings.warn(message, stacklevel=3)
    if mode == "lesion" and not scale:
        mask.warnings.append("The selection has no neurons in the chosen layers: the lesion changes nothing.")
        warnings.warn(mask.warnings[-1], stacklevel=3)
    return mask


def _mean_offset(means: NeuronMeans, layer: int, width: int, scale: torch.Tensor) -> torch.Tensor:
    """The offset that sets each silenced neuron of `layer` to its mean (0 for the neurons left as they are)."""
    layer_means = np.asarray(means.get(layer, ()), dtype=np.float32)
    if layer_means.shape != (width,):
        raise MaskSelectionError(
            f"The neuron means for layer {layer} have shape {layer_means.shape}, the layer has {width} neurons: "
            "they were computed for another model or site."
        )
    return torch.from_numpy(layer_means) * (scale == 0)


def random_neuron_sets(reference: NeuronSets, widths: tuple[int, ...], seed: int) -> NeuronSets:
    """Random neurons with the same count per layer as `reference`, drawn from the neurons outside it
    (from the whole layer when the rest is too small): the paper's control for a network mask."""
    generator = np.random.default_rng(seed)
    drawn = {}
    for layer, ids in sorted(reference.items()):
        others = np.setdiff1d(np.arange(widths[layer]), ids)
        pool = others if len(others) >= len(ids) else np.arange(widths[layer])
        drawn[layer] = np.sort(generator.choice(pool, size=len(ids), replace=False))
    return drawn


class _Dispatcher:
    """The hooks of one model and site, shared by all masks on it."""

    def __init__(self, model: nn.Module, site: str):
        self.site = site
        self.global_masks: list[NeuronMask] = []
        self.users = 0
        self.handles = []
        for block in mlp_blocks(model):
            self.handles.append(hook_site(block, site, functools.partial(self._apply, block.layer)))

    def _masks_for(self, layer: int) -> list[NeuronMask]:
        active = [*self.global_masks, *_CONTEXT_MASKS.get()]
        return [m for m in active if m.site == self.site and layer in m.scale]

    def _apply(self, layer: int, values: torch.Tensor) -> torch.Tensor | None:
        masks = self._masks_for(layer)
        if not masks:
            return None
        # Without autograd nothing else holds this activation, so scale it in place and save an allocation.
        in_place = not torch.is_grad_enabled()
        for mask in masks:
            scale, offset = mask.vectors(layer, values.dtype, values.device)
            values = values.mul_(scale) if in_place else values * scale
            if offset is not None:
                values = values.add_(offset) if in_place else values + offset
        return values

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def _registry(model: nn.Module) -> dict[str, _Dispatcher]:
    base = unwrap_model(model)
    if not hasattr(base, "_fnsft_mask_dispatchers"):
        base._fnsft_mask_dispatchers = {}
    return base._fnsft_mask_dispatchers


def _check_fits(model: nn.Module, mask: NeuronMask) -> None:
    blocks = mlp_blocks(model)
    for layer, vector in mask.scale.items():
        if layer >= len(blocks):
            raise MaskSelectionError(f"The mask names layer {layer}, but the model has {len(blocks)} layers.")
        block = blocks[layer]
        width = block.intermediate_size if mask.site == "intermediate" else output_width(block.down_proj)
        if len(vector) != width:
            raise MaskSelectionError(
                f"The mask has {len(vector)} {mask.site} neurons for layer {layer}, the model {width}: "
                "it was made for another model."
            )


def _acquire(model: nn.Module, mask: NeuronMask) -> _Dispatcher:
    _check_fits(model, mask)
    with _REGISTRY_LOCK:
        registry = _registry(model)
        dispatcher = registry.get(mask.site)
        if dispatcher is None:
            dispatcher = registry[mask.site] = _Dispatcher(model, mask.site)
        dispatcher.users += 1
        return dispatcher


def _release(model: nn.Module, dispatcher: _Dispatcher) -> None:
    with _REGISTRY_LOCK:
        dispatcher.users -= 1
        if dispatcher.users == 0:
            dispatcher.remove()
            _registry(model).pop(dispatcher.site, None)


class MaskHandle:
    """A global mask on a model. `remove()` (or leaving a `with` block) takes it off."""

    def __init__(self, model: nn.Module, mask: NeuronMask):
        self.model = model
        self.mask = mask
        self._dispatcher = _acquire(model, mask)
        with _REGISTRY_LOCK:
            self._dispatcher.global_masks.append(mask)

    @property
    def active(self) -> bool:
        return self._dispatcher is not None

    def remove(self) -> None:
        if self._dispatcher is None:
            return
        with _REGISTRY_LOCK:
            self._dispatcher.global_masks.remove(self.mask)
        _release(self.model, self._dispatcher)
        self._dispatcher = None

    def __enter__(self) -> MaskHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def apply_mask(model: nn.Module, mask: NeuronMask) -> MaskHandle:
    """Apply `mask` to every forward pass of `model` until the returned handle is removed.

    >>> import torch
    >>> mask = fnsft.NetworkSelection.for_model(networks, model, "0,3").mask("lesion")
    >>> before = model(**batch).logits
    >>> handle = fnsft.apply_mask(model, mask)
    >>> torch.equal(model(**batch).logits, before)
    False
    >>> handle.remove()  # the model is exactly as before
    >>> torch.equal(model(**batch).logits, before)
    True
    """
    return MaskHandle(model, mask)


@contextlib.contextmanager
def masked(model: nn.Module, mask: NeuronMask | None) -> Iterator[None]:
    """Apply `mask` only to forward passes run inside this block, in this thread / contextvars context.

    Other threads using the same model at the same time are unaffected. `None` runs unmasked.

    >>> mask = fnsft.NetworkSelection.for_model(networks, model, "0,3").mask("lesion")
    >>> prompt = tokenizer("def f(x):", return_tensors="pt")
    >>> with fnsft.masked(model, mask):
    ...     lesioned = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    """
    if mask is None:
        yield
        return
    dispatcher = _acquire(model, mask)
    token = _CONTEXT_MASKS.set((*_CONTEXT_MASKS.get(), mask))
    try:
        yield
    finally:
        _CONTEXT_MASKS.reset(token)
        _release(model, dispatcher)
