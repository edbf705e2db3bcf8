"""Networks as a Hugging Face folder: `save_pretrained`, `from_pretrained` (a folder or a Hub repo id) and
`push_to_hub`, as PEFT adapters and SAELens SAEs are shared.

A networks folder holds `fnsft_networks.json` (the template record without its bulk: format, schema version,
base model id, revision and shape, the recipe that found them, cards, reliability summary), `networks.safetensors`
(neuron ids as int32, exact float32 neuron means, per-network measures and, when kept, the neuron maps, so
`rethreshold` works after a reload) and a generated README model card. Loading rebuilds the template record and
passes it through the template checks (fnsft.networks._template_schema), so a folder is validated field by field like a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .._files import atomic_path, write_json_atomically
from ..errors import TemplateError
from ._functional_networks import FunctionalNetworks
from ._hub_card import model_card
from ._template_schema import read_template_json
from ._templates import templates_from_dict, templates_to_dict

CONFIG_NAME = "fnsft_networks.json"
TENSORS_NAME = "networks.safetensors"
CARD_NAME = "README.md"
FORMAT_NAME = "fnsft-networks"
FORMAT_VERSION = 1
MAX_TENSOR_BYTES = 8 * 2**30
_NEURON_KEY = re.compile(r"networks\.(0|[1-9][0-9]{0,5})\.layer\.(0|[1-9][0-9]{0,5})")
_MEASURES = ("explained_variance", "stability", "split_half_iou", "split_half_correlation")
_COMPONENT_TEXT = ("id", "label", "num_neurons", "top_categories")


def _float32(values: Any) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(values, dtype=np.float32))


def _tensors(networks: FunctionalNetworks, maps: bool) -> dict[str, torch.Tensor]:
    """Everything numeric, exact: neuron ids, means, per-network measures, category responses, maps."""
    tensors = {
        f"networks.{c}.layer.{layer}": torch.as_tensor(np.asarray(ids, dtype=np.int32))
        for c, sets in enumerate(networks.neurons)
        for layer, ids in sorted(sets.items())
    }
    for layer, values in sorted((networks.neuron_means or {}).items()):
        tensors[f"neuron_means.{layer}"] = _float32(values)
    measures = {"explained_variance": networks.explained_variance, "stability": networks.stability}
    if networks.split_half is not None:
        measures |= {
            "split_half_iou": networks.split_half.iou,
            "split_half_correlation": networks.split_half.correlation,
        }
    measures |= {"category_response": networks.category_response, "maps": networks.maps if maps else None}
    tensors |= {name: _float32(values) for name, values in measures.items() if values is not None}
    return tensors


def _config(networks: FunctionalNetworks) -> dict:
    """The template record without the bulk the tensors file holds."""
    record = templates_to_dict(networks)
    for key in ("neuron_means", "category_response"):
        record.pop(key, None)
    record["components"] = [
        {key: entry[key] for key in _COMPONENT_TEXT if key in entry} for entry in record["components"]
    ]
    record["template_schema_version"] = record.pop("schema_version")
    return {
        "format": FORMAT_NAME,
        "schema_version": FORMAT_VERSION,
        **{k: v for k, v in record.items() if k != "format"},
    }


def save_pretrained(networks: FunctionalNetworks, folder: str | os.PathLike, *, card: bool = True) -> Path:
    """Write `networks` as a networks folder (the maps too, when kept); returns the folder. `card=False`
    leaves an existing README alone (an adapter folder keeps its training card).

    >>> print(networks.save_pretrained("my-networks"))
    my-networks
    >>> sorted(os.listdir("my-networks"))
    ['README.md', 'fnsft_networks.json', 'networks.safetensors']
    """
    target = Path(folder)
    with atomic_path(target / TENSORS_NAME) as temp:
        save_file(_tensors(networks, maps=True), str(temp), metadata={"format": FORMAT_NAME})
    write_json_atomically(_config(networks), target / CONFIG_NAME)
    if card:
        (target / CARD_NAME).write_text(model_card(networks))
    return target


def _split_tensors(tensors: dict[str, torch.Tensor], count: int, source: str) -> tuple[list[dict], dict]:
    """(per component {layer: ids}, the other tensors by name), refusing names no networks folder holds."""
    neurons: list[dict[str, list]] = [{} for _ in range(count)]
    others = {}
    for name, tensor in tensors.items():
        match = _NEURON_KEY.fullmatch(name)
        if match is None:
            others[name] = tensor
            continue
        component = int(match.group(1))
        if component >= count or tensor.dtype != torch.int32 or tensor.ndim != 1:
            raise TemplateError(
                f"{source}: tensor {name!r} is not one of {count} networks' int32 neuron ids."
            )
        neurons[component][match.group(2)] = tensor.tolist()
    known = {*_MEASURES, "category_response", "maps"}
    for name, tensor in others.items():
        if not (name in known or re.fullmatch(r"neuron_means\.\d+", name)) or tensor.dtype != torch.float32:
            raise TemplateError(
                f"{source}: tensor {name!r} is not part of a networks folder (float32 values)."
            )
        if name in _MEASURES and tuple(tensor.shape) != (count,):
            raise TemplateError(f"{source}: tensor {name!r} must hold one value per network ({count}).")
    return neurons, others


def _record(config: dict, tensors: dict[str, torch.Tensor], source: str) -> dict:
    """The template record the folder stands for: its config with the tensors' values put back."""
    if config.get("format") != FORMAT_NAME or config.get("schema_version") != FORMAT_VERSION:
        raise TemplateError(
            f"{source}: not an fnsft networks folder of version {FORMAT_VERSION} "
            f'(expected "format": "{FORMAT_NAME}"); upgrade fnsft or give a template file to load_templates.'
        )
    components = config.get("components")
    if not isinstance(components, list) or not all(isinstance(entry, dict) for entry in components):
        raise TemplateError(f"{source}: components must be a list of objects.")
    neurons, others = _split_tensors(tensors, len(components), source)
    record = {**config, "format": "fnsft-templates", "schema_version": config.get("template_schema_version")}
    record["components"] = [
        {
            **entry,
            "neurons": neurons[c],
            **{
                name: float(others[name][c])
                for name in _MEASURES
                if name in others and not others[name][c].isnan()
            },
        }
        for c, entry in enumerate(components)
    ]
    if "category_response" in others:
        record["category_response"] = others["category_response"].tolist()
    means = {
        name.split(".")[1]: tensor.tolist()
        for name, tensor in others.items()
        if name.startswith("neuron_means.")
    }
    if means:
        record["neuron_means"] = means
    return record


def _with_maps(networks: FunctionalNetworks, maps: torch.Tensor | None, source: str) -> FunctionalNetworks:
    if maps is None:
        return networks
    expected = (networks.num_components, sum(networks.layer_widths))
    if tuple(maps.shape) != expected or not torch.isfinite(maps).all():
        raise TemplateError(f"{source}: maps must be {expected} finite values (networks x neurons).")
    networks.maps = maps.numpy()
    return networks


def load_folder(folder: str | os.PathLike) -> FunctionalNetworks:
    """Networks from a local networks folder, checked like a template file."""
    target, source = Path(folder), str(folder)
    tensors_path = target / TENSORS_NAME
    if not tensors_path.is_file():
        raise TemplateError(
            f"{source}: no {TENSORS_NAME}; not a networks folder (save_pretrained writes one)."
        )
    if tensors_path.stat().st_size > MAX_TENSOR_BYTES:
        raise TemplateError(f"{source}: {TENSORS_NAME} is over {MAX_TENSOR_BYTES} bytes.")
    config = read_template_json(target / CONFIG_NAME)
    if not isinstance(config, dict):
        raise TemplateError(f"{source}: {CONFIG_NAME} must hold a JSON object.")
    try:
        tensors = load_file(tensors_path)
    except Exception as error:  # safetensors raises its own error types for a damaged file
        raise TemplateError(f"{source}: {TENSORS_NAME} cannot be read ({error}).") from None
    networks = templates_from_dict(_record(config, tensors, source), source)
    return _with_maps(networks, tensors.get("maps"), source)


def _download(repo_id: str, revision: str | None, **hub_options: Any) -> Path:
    """The snapshot folder of a Hub repo holding the networks files: from the Hugging Face cache when offline
    (HF_HUB_OFFLINE=1) or already there, else downloaded into it."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError

    try:
        paths = [
            hf_hub_download(repo_id, name, revision=revision, **hub_options)
            for name in (CONFIG_NAME, TENSORS_NAME)
        ]
    except HFValidationError:
        raise TemplateError(f"{repo_id}: no such folder, and not a Hub repo id (owner/name).") from None
    except EntryNotFoundError as error:
        where = f"{repo_id}@{revision}" if revision else repo_id
        raise TemplateError(
            f"{where}: not in the Hugging Face cache, or not a networks repo, and the Hub was not asked "
            f"(offline) or does not have it: {error}"
        ) from None
    except (HfHubHTTPError, OSError) as error:
        raise TemplateError(f"{repo_id}: cannot be fetched from the Hub ({error}).") from None
    return Path(paths[0]).parent


def from_pretrained(
    folder_or_repo_id: str | os.PathLike, revision: str | None = None, **hub_options: Any
) -> FunctionalNetworks:
    """Networks from a networks folder or a Hub repo id (`revision`: a branch, tag or commit; `hub_options` go to
    huggingface_hub.hf_hub_download, e.g. cache_dir or token).

    A Hub repo id (e.g. "someone/smollm2-networks") reads like a folder written by save_pretrained:

    >>> _ = networks.save_pretrained("my-networks")
    >>> fnsft.FunctionalNetworks.from_pretrained("my-networks").sizes()
    array([8, 8, 8, 8])
    """
    local = Path(folder_or_repo_id)
    if local.is_dir():
        if revision is not None:
            raise TemplateError(f"{local}: a local folder has no revisions (revision={revision!r}).")
        return load_folder(local)
    if local.exists():
        raise TemplateError(
            f"{local}: a file, not a networks folder; read template files with load_templates."
        )
    return load_folder(_download(str(folder_or_repo_id), revision, **hub_options))


def push_to_hub(
    networks: FunctionalNetworks,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload functional networks (fnsft)",
) -> str:
    """Create (or reuse) the model repo `repo_id` and upload the networks folder; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        save_pretrained(networks, folder, card=False)
        (Path(folder) / CARD_NAME).write_text(model_card(networks, repo_id))
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
    return str(commit.commit_url)
