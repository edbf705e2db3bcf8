"""Networks folders: exact round trips through save_pretrained / from_pretrained, a local folder and the Hugging
Face cache (written by huggingface_hub's own download code from a local stand-in of the Hub, then read offline)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_llama
from hub_server import COMMIT, serving
from safetensors.torch import load_file, save_file
from test_networks import TEXTS, CharTokenizer

from fnsft.discovery._ica_mask import ICAMask
from fnsft.errors import TemplateError
from fnsft.masking._selection import NetworkSelection
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.networks._hub import CONFIG_NAME, TENSORS_NAME
from fnsft.networks._templates import load_templates, save_templates


@pytest.fixture(scope="module")
def found() -> FunctionalNetworks:
    """A discovery with everything a networks folder carries: maps, means, cards, recipe, split-half."""
    finder = ICAMask(num_components=3, stability_runs=2, threshold_rule="topk", threshold=6, split_half=True)
    networks = finder.compute_global_networks(tiny_llama(seed=1), CharTokenizer(), TEXTS, max_tokens=400)
    return dataclasses.replace(networks, model_id="someone/tiny-llama", model_revision="abc123")


def assert_identical(a: FunctionalNetworks, b: FunctionalNetworks) -> None:
    """Every field equal, arrays bit for bit (NaN where NaN)."""
    for field in dataclasses.fields(FunctionalNetworks):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name == "neurons":
            assert [sorted(s) for s in x] == [sorted(s) for s in y]
            assert all(np.array_equal(s[layer], t[layer]) for s, t in zip(x, y, strict=True) for layer in s)
        elif field.name == "neuron_means":
            assert sorted(x) == sorted(y) and all(np.array_equal(x[k], y[k]) for k in x)
        elif field.name == "split_half" and x is not None:
            assert x.tokens == y.tokens and np.array_equal(x.iou, y.iou)
            assert np.array_equal(x.correlation, y.correlation, equal_nan=True)
        elif isinstance(x, np.ndarray):
            assert x.dtype == np.float32 and np.array_equal(x, y), field.name
        else:
            assert x == y, field.name


def test_a_folder_round_trips_exactly_and_rethresholding_works_after_reload(found, tmp_path):
    folder = found.save_pretrained(tmp_path / "networks")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", CONFIG_NAME, TENSORS_NAME]
    loaded = FunctionalNetworks.from_pretrained(folder)
    assert_identical(loaded, found)
    tensors = load_file(folder / TENSORS_NAME)
    assert all(t.dtype == torch.int32 for name, t in tensors.items() if name.startswith("networks."))
    assert tensors["maps"].shape == (3, 3 * 48)
    assert_identical(loaded.rethreshold("topk", 4), found.rethreshold("topk", 4))
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["format"] == "fnsft-networks" and config["model"]["revision"] == "abc123"
    assert config["discovery"] == found.settings.to_dict() and "neurons" not in config["components"][0]
    assert config["hook_sites"]["transformer_lens"] == "blocks.{layer}.mlp.hook_post"


def test_the_model_card_says_what_how_how_reliable_and_how_to_load(found, tmp_path):
    card = (found.save_pretrained(tmp_path / "n") / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: fnsft\n") and "base_model: someone/tiny-llama" in card
    assert "revision abc123" in card and "| threshold_rule | topk |" in card
    assert "Split-half reliability (200 tokens per half)" in card and "blocks.{layer}.mlp.hook_post" in card
    assert 'FunctionalNetworks.from_pretrained("path/to/this/folder")' in card


def test_the_hugging_face_cache_serves_a_repo_offline(found, tmp_path, monkeypatch):
    """huggingface_hub downloads the folder from a local stand-in of the Hub into a fresh cache; then, offline,
    from_pretrained finds it there by repo id (and by commit), and refuses a repo the cache does not hold."""
    from huggingface_hub import constants

    published = found.save_pretrained(tmp_path / "published")
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with serving("someone/tiny-networks", published) as endpoint:
        online = FunctionalNetworks.from_pretrained(
            "someone/tiny-networks", cache_dir=cache, endpoint=endpoint
        )
    assert_identical(online, found)
    snapshot = cache / "models--someone--tiny-networks" / "snapshots" / COMMIT
    assert (snapshot / TENSORS_NAME).is_symlink() or (snapshot / TENSORS_NAME).is_file()
    assert (cache / "models--someone--tiny-networks" / "refs" / "main").read_text() == COMMIT
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for revision in (None, COMMIT):
        assert_identical(
            FunctionalNetworks.from_pretrained("someone/tiny-networks", revision, cache_dir=cache), found
        )
    with pytest.raises(TemplateError, match="someone/absent"):
        FunctionalNetworks.from_pretrained("someone/absent", cache_dir=cache)


def test_push_to_hub_uploads_the_folder_with_a_card_naming_the_repo(found, monkeypatch):
    import huggingface_hub

    uploaded = {}

    def upload_folder(self, repo_id, folder_path, commit_message):
        uploaded["card"] = Path(folder_path, "README.md").read_text()
        uploaded["networks"] = FunctionalNetworks.from_pretrained(folder_path)
        return type("Commit", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()

    monkeypatch.setattr(
        huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: uploaded.update(repo=repo_id)
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    assert found.push_to_hub("someone/nets") == "https://hub/someone/nets/commit/1"
    assert uploaded["repo"] == "someone/nets" and 'from_pretrained("someone/nets")' in uploaded["card"]
    assert_identical(uploaded["networks"], found)


def test_the_json_template_stays_and_carries_the_revision(found, tmp_path):
    loaded = load_templates(save_templates(found, tmp_path / "t.json"))
    assert (loaded.model_id, loaded.model_revision) == ("someone/tiny-llama", "abc123")


def test_another_checkpoint_of_the_same_shape_is_warned_about_by_name(found):
    model = tiny_llama(seed=1)
    model.config.fnsft_model_id = "someone/tiny-llama-finetuned"
    with pytest.warns(
        UserWarning,
        match=r"found on someone/tiny-llama@abc123 and is applied to someone/tiny-llama-finetuned",
    ):
        NetworkSelection.for_model(found, model, "0")
    model.config.fnsft_model_id, model.config.fnsft_model_revision = "someone/tiny-llama", "def456"
    with pytest.warns(UserWarning, match="applied to someone/tiny-llama@def456"):
        NetworkSelection.for_model(found, model, "0")
    model.config.fnsft_model_revision = "abc123"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NetworkSelection.for_model(found, model, "0")
    with pytest.raises(TemplateError, match="3 layers vs the model's 4"):
        NetworkSelection.for_model(found, tiny_llama(layers=4), "0")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t.update({"networks.7.layer.0": torch.zeros(2, dtype=torch.int32)}), "networks.7.layer.0"),
        (lambda t: t.update({"networks.0.layer.0": torch.tensor([1.5])}), "int32 neuron ids"),
        (lambda t: t.update({"networks.0.layer.0": torch.tensor([48], dtype=torch.int32)}), "outside 0..47"),
        (lambda t: t.update({"stability": torch.zeros(2)}), "one value per network"),
        (lambda t: t.update({"maps": torch.zeros(3, 5)}), "maps must be"),
        (lambda t: t.update({"weights": torch.zeros(1)}), "not part of a networks folder"),
    ],
)
def test_a_damaged_tensors_file_is_refused_by_name(found, tmp_path, damage, message):
    folder = found.save_pretrained(tmp_path / "n")
    tensors = load_file(folder / TENSORS_NAME)
    damage(tensors)
    save_file(tensors, folder / TENSORS_NAME)
    with pytest.raises(TemplateError, match=message):
        FunctionalNetworks.from_pretrained(folder)


def test_a_file_a_revision_of_a_folder_and_a_bad_id_are_refused(found, tmp_path):
    folder = found.save_pretrained(tmp_path / "n")
    with pytest.raises(TemplateError, match="a file, not a networks folder"):
        FunctionalNetworks.from_pretrained(folder / CONFIG_NAME)
    with pytest.raises(TemplateError, match="has no revisions"):
        FunctionalNetworks.from_pretrained(folder, revision="main")
    with pytest.raises(TemplateError, match="not a Hub repo id"):
        FunctionalNetworks.from_pretrained(str(tmp_path / "missing" / "x" / "y"))
