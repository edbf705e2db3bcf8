"""Masks: exact restoration, identities with weight surgery, every family, PEFT, concurrency, bad input."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch
from conftest import tiny_llama

from fnsft.errors import MaskSelectionError, TemplateError
from fnsft.masking import apply_mask, build_mask, masked
from fnsft.masking._hooks import random_neuron_sets
from fnsft.masking._selection import mask_from_networks
from fnsft.models._architectures import mlp_blocks, model_shape, neuron_rows
from fnsft.networks._functional_networks import FunctionalNetworks

INPUT = torch.tensor([[5, 17, 3, 99, 42, 8, 61, 7]])


def logits(model, ids=INPUT):
    with torch.no_grad():
        return model(input_ids=ids).logits


def widths(model):
    return model_shape(model).intermediate_sizes


def networks_for(model, neuron_sets, granularity="intermediate"):
    return FunctionalNetworks(
        neuron_sets, model_shape(model), "tiny", granularity, {"rule": "topk", "value": 4}
    )


def zero_neurons_by_surgery(model, sets):
    """The reference a lesion must equal: the neurons' down-projection weights set to zero."""
    surgered = copy.deepcopy(model)
    blocks = mlp_blocks(surgered)
    with torch.no_grad():
        for layer, ids in sets.items():
            module, dim, index = neuron_rows(blocks[layer], torch.as_tensor(ids))[-1]
            module.weight.index_fill_(dim, index, 0.0)
    return surgered


def test_removing_a_mask_restores_the_model_bit_for_bit(tiny_model):
    before = logits(tiny_model)
    handle = apply_mask(tiny_model, build_mask({0: [1, 2], 2: [5]}, widths(tiny_model), "lesion"))
    assert not torch.equal(logits(tiny_model), before)
    handle.remove()
    assert torch.equal(logits(tiny_model), before)
    assert all(not block.down_proj._forward_pre_hooks for block in mlp_blocks(tiny_model))
    handle.remove()  # removing twice is harmless


def test_handle_is_a_context_manager(tiny_model):
    before = logits(tiny_model)
    with apply_mask(tiny_model, build_mask({1: [0]}, widths(tiny_model), "preserve")) as handle:
        assert handle.active
        assert not torch.equal(logits(tiny_model), before)
    assert not handle.active
    assert torch.equal(logits(tiny_model), before)


def test_identities_empty_lesion_and_full_preserve_equal_the_unmasked_model(tiny_model):
    before = logits(tiny_model)
    with pytest.warns(UserWarning, match="changes nothing"):
        empty = build_mask({}, widths(tiny_model), "lesion")
    everything = {layer: np.arange(width) for layer, width in enumerate(widths(tiny_model))}
    for mask in (empty, build_mask(everything, widths(tiny_model), "preserve")):
        with apply_mask(tiny_model, mask):
            assert torch.equal(logits(tiny_model), before)


def test_lesion_equals_zeroing_the_neurons_down_projection_weights(tiny_model):
    sets = {0: np.array([3, 7, 11]), 2: np.array([0, 40])}
    expected = logits(zero_neurons_by_surgery(tiny_model, sets))
    with apply_mask(tiny_model, build_mask(sets, widths(tiny_model), "lesion")):
        assert torch.allclose(logits(tiny_model), expected, atol=1e-6)


def test_preserve_equals_lesioning_the_complement(tiny_model):
    keep = {layer: np.arange(0, width, 4) for layer, width in enumerate(widths(tiny_model))}
    complement = {
        layer: np.setdiff1d(np.arange(width), keep[layer]) for layer, width in enumerate(widths(tiny_model))
    }
    with masked(tiny_model, build_mask(complement, widths(tiny_model), "lesion")):
        expected = logits(tiny_model)
    with masked(tiny_model, build_mask(keep, widths(tiny_model), "preserve")):
        assert torch.equal(logits(tiny_model), expected)


def test_layer_subset_and_component_union(tiny_model):
    networks = networks_for(
        tiny_model, [{0: np.array([1]), 1: np.array([2])}, {1: np.array([3]), 2: np.array([4])}]
    )
    mask = mask_from_networks(networks, [0, 1], "lesion", model=tiny_model, layers=[1, 2])
    assert mask.masked_counts() == {1: 2, 2: 1}
    assert mask.description["components"] == [0, 1]


def test_mlp_output_masks_zero_the_mlp_output_channels(tiny_model):
    sets = {1: np.array([0, 5, 9])}
    captured = {}
    block = mlp_blocks(tiny_model)[1]
    with masked(tiny_model, build_mask(sets, (32,) * 3, "lesion", site="mlp_output")):
        # registered after the mask's hook, so it sees the masked output
        handle = block.down_proj.register_forward_hook(lambda m, a, out: captured.update(out=out.detach()))
        logits(tiny_model)
    handle.remove()
    assert torch.equal(captured["out"][..., [0, 5, 9]], torch.zeros(1, 8, 3))
    assert captured["out"][..., 1].abs().sum() > 0


@pytest.mark.parametrize("family", ["gpt2", "opt", "phi3", "gpt_neox", "falcon"])
def test_lesion_matches_weight_surgery_in_other_families(family):
    from transformers import AutoConfig, AutoModelForCausalLM

    sizes = {
        "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 40, "vocab_size": 128},
        "opt": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "ffn_dim": 40,
            "word_embed_proj_dim": 32,
            "vocab_size": 128,
        },
        "phi3": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "intermediate_size": 40,
            "vocab_size": 128,
            "pad_token_id": 0,
        },
        "gpt_neox": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 40,
            "vocab_size": 128,
        },
        "falcon": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "ffn_hidden_size": 40,
            "vocab_size": 128,
        },
    }[family]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(family, **sizes)).eval()
    sets = {1: np.array([2, 30])}
    expected = logits(zero_neurons_by_surgery(model, sets), INPUT % 128)
    with apply_mask(model, build_mask(sets, widths(model), "lesion")):
        assert torch.allclose(logits(model, INPUT % 128), expected, atol=1e-5)
    assert widths(model) == (40, 40)


def test_masks_work_through_peft_lora(tiny_model):
    from fnsft.models import setup_lora

    model = setup_lora(copy.deepcopy(tiny_model), r=4)
    before = logits(model)
    with apply_mask(model, build_mask({0: np.arange(10)}, widths(model), "lesion")):
        assert not torch.equal(logits(model), before)
    assert torch.equal(logits(model), before)


def test_concurrent_requests_each_see_only_their_own_mask(tiny_model):
    masks = {
        "none": None,
        "lesion": build_mask({0: np.arange(20), 1: np.arange(20)}, widths(tiny_model), "lesion"),
        "preserve": build_mask({2: np.arange(5)}, widths(tiny_model), "preserve"),
    }
    expected = {}
    for name, mask in masks.items():
        with masked(tiny_model, mask):
            expected[name] = logits(tiny_model)
    assert not torch.equal(expected["none"], expected["lesion"])
    failures = []
    start = threading.Barrier(len(masks))

    def worker(name):
        start.wait()
        for _ in range(30):
            with masked(tiny_model, masks[name]):
                if not torch.equal(logits(tiny_model), expected[name]):
                    failures.append(name)

    threads = [threading.Thread(target=worker, args=(name,)) for name in masks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert torch.equal(logits(tiny_model), expected["none"])
    assert not hasattr(tiny_model, "_fnsft_mask_dispatchers") or not tiny_model._fnsft_mask_dispatchers


def test_global_and_context_masks_compose(tiny_model):
    first = build_mask({0: [1]}, widths(tiny_model), "lesion")
    second = build_mask({0: [2]}, widths(tiny_model), "lesion")
    both = build_mask({0: [1, 2]}, widths(tiny_model), "lesion")
    with masked(tiny_model, both):
        expected = logits(tiny_model)
    with apply_mask(tiny_model, first), masked(tiny_model, second):
        assert torch.equal(logits(tiny_model), expected)


def test_random_control_has_the_same_count_per_layer_outside_the_network():
    reference = {0: np.array([1, 2, 3]), 4: np.array([7])}
    drawn = random_neuron_sets(reference, (48,) * 5, seed=0)
    assert {layer: len(ids) for layer, ids in drawn.items()} == {0: 3, 4: 1}
    assert not set(drawn[0]) & {1, 2, 3}
    assert np.array_equal(drawn[0], random_neuron_sets(reference, (48,) * 5, seed=0)[0])
    assert not np.array_equal(drawn[0], random_neuron_sets(reference, (48,) * 5, seed=1)[0])


def test_bad_selections_get_clear_errors(tiny_model):
    networks = networks_for(tiny_model, [{0: np.array([1])}])
    with pytest.raises(MaskSelectionError, match="No network selected"):
        mask_from_networks(networks, [], "lesion")
    with pytest.raises(MaskSelectionError, match=r"Unknown network ids \[3\].*0\.\.0"):
        mask_from_networks(networks, [3], "lesion")
    with pytest.raises(MaskSelectionError, match="mode='erase'"):
        mask_from_networks(networks, [0], "erase")
    with pytest.raises(MaskSelectionError, match="Unknown layers"):
        mask_from_networks(networks, [0], "lesion", layers=[9])
    with pytest.warns(UserWarning, match="silences whole MLP layers: layer 1"):
        mask = mask_from_networks(networks, [0], "preserve")
    assert mask.warnings


def test_components_may_be_named_as_text_ids_or_all_with_or_without_a_model(tiny_model):
    networks = networks_for(tiny_model, [{0: np.array([1])}, {1: np.array([2, 3])}])
    masks = [
        mask_from_networks(networks, "0,1", "lesion"),
        mask_from_networks(networks, range(2), "lesion", model=tiny_model),
        mask_from_networks(networks, "all", "lesion", model=tiny_model),
    ]
    assert [(m.masked_counts(), m.description["components"]) for m in masks] == [({0: 1, 1: 2}, [0, 1])] * 3


def test_a_template_for_another_model_is_refused(tiny_model):
    other = tiny_llama(layers=4)
    networks = networks_for(other, [{3: np.array([1])}])
    with pytest.raises(TemplateError, match="made for another model.*4 layers vs the model's 3"):
        mask_from_networks(networks, [0], "lesion", model=tiny_model)
    wide = build_mask({0: [1]}, (64, 64, 64), "lesion")
    with pytest.raises(MaskSelectionError, match="64 intermediate neurons for layer 0, the model 48"):
        apply_mask(tiny_model, wide)


def test_a_mask_first_used_for_evaluation_can_then_be_trained_through(tiny_model):
    """Evaluation runs under inference_mode; the mask's cached vectors must still serve a backward pass later
    (a bf16 model makes the cache a converted copy, the case that once held an inference tensor)."""
    model = tiny_model.to(torch.bfloat16)
    mask = build_mask({0: [1, 2], 1: [0]}, widths(model), "lesion")
    with apply_mask(model, mask):
        with torch.inference_mode():
            model(input_ids=INPUT)
        loss = model(input_ids=INPUT, labels=INPUT).loss
        loss.backward()
    assert model.model.layers[0].mlp.up_proj.weight.grad is not None


def capture_down_proj_input(model, layer):
    """Records what the down-projection of `layer` receives (after any mask hook installed before it)."""
    seen = []
    block = mlp_blocks(model)[layer]
    handle = block.down_proj.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].detach().clone())
    )
    return seen, handle


def test_gain_zero_equals_lesion_and_gain_one_is_the_model_bit_for_bit(tiny_model):
    sets = {0: np.array([3, 7]), 2: np.array([1])}
    before = logits(tiny_model)
    with apply_mask(tiny_model, build_mask(sets, widths(tiny_model), "lesion")):
        lesioned = logits(tiny_model)
    with apply_mask(tiny_model, build_mask(sets, widths(tiny_model), "scale", gain=0.0)):
        assert torch.equal(logits(tiny_model), lesioned)
    unity = build_mask(sets, widths(tiny_model), "scale", gain=1.0)
    assert unity.scale == {} and unity.total_masked == 0
    with masked(tiny_model, unity):
        assert torch.equal(logits(tiny_model), before)
    assert torch.equal(logits(tiny_model), before)


def test_a_gain_scales_the_neurons_contribution_like_scaling_their_weights(tiny_model):
    sets = {1: np.array([2, 9, 30])}
    surgered = copy.deepcopy(tiny_model)
    with torch.no_grad():
        module, dim, index = neuron_rows(mlp_blocks(surgered)[1], torch.as_tensor(sets[1]))[-1]
        module.weight.index_copy_(dim, index, module.weight.index_select(dim, index) * 2.5)
    with apply_mask(tiny_model, build_mask(sets, widths(tiny_model), "scale", gain=2.5)):
        assert torch.allclose(logits(tiny_model), logits(surgered), atol=1e-5)


def test_mean_ablation_sets_a_planted_neuron_to_its_recorded_mean(tiny_model):
    means = {
        layer: np.linspace(-1.0, 1.0, width).astype(np.float32)
        for layer, width in enumerate(widths(tiny_model))
    }
    mask = build_mask({0: np.array([5])}, widths(tiny_model), "mean", means=means)
    assert mask.description["fill"] == "mean" and mask.masked_counts() == {0: 1}
    with masked(tiny_model, mask):
        seen, handle = capture_down_proj_input(tiny_model, 0)
        logits(tiny_model)
        handle.remove()
    unmasked_seen, handle = capture_down_proj_input(tiny_model, 0)
    logits(tiny_model)
    handle.remove()
    values, reference = seen[0][0], unmasked_seen[0][0]
    assert torch.all(values[:, 5] == torch.tensor(means[0][5]))
    others = [i for i in range(values.shape[1]) if i != 5]
    assert torch.equal(values[:, others], reference[:, others])


def test_preserve_with_mean_fill_sets_every_other_neuron_to_its_mean(tiny_model):
    width = widths(tiny_model)[1]
    means = {layer: np.full(w, 0.25, dtype=np.float32) for layer, w in enumerate(widths(tiny_model))}
    mask = build_mask(
        {1: np.array([0, 4])}, widths(tiny_model), "preserve", fill="mean", means=means, layers=[1]
    )
    before = logits(tiny_model)
    with apply_mask(tiny_model, mask):
        seen, handle = capture_down_proj_input(tiny_model, 1)
        logits(tiny_model)
        handle.remove()
    kept = seen[0][0]
    assert torch.all(kept[:, [i for i in range(width) if i not in (0, 4)]] == 0.25)
    assert torch.equal(logits(tiny_model), before)  # removal restores


def test_dial_requests_that_cannot_be_built_are_refused(tiny_model):
    sets, w = {0: np.array([1])}, widths(tiny_model)
    with pytest.raises(MaskSelectionError, match="needs a finite gain"):
        build_mask(sets, w, "scale")
    with pytest.raises(MaskSelectionError, match="needs a finite gain"):
        build_mask(sets, w, "scale", gain=float("nan"))
    with pytest.raises(MaskSelectionError, match="only applies to mode='scale'"):
        build_mask(sets, w, "lesion", gain=0.5)
    with pytest.raises(MaskSelectionError, match="mean activations"):
        build_mask(sets, w, "mean")
    with pytest.raises(MaskSelectionError, match="fill='half'"):
        build_mask(sets, w, "preserve", fill="half")
    with pytest.raises(MaskSelectionError, match="another model or site"):
        build_mask(sets, w, "mean", means={0: np.zeros(3)})


def test_ica_mask_applies_a_gain_dial_to_its_networks(tiny_model):
    from fnsft.discovery._ica_mask import ICAMask

    ica = ICAMask()
    ica.networks_ = networks_for(tiny_model, [{0: np.array([1, 2])}])
    with apply_mask(tiny_model, build_mask({0: np.array([1, 2])}, widths(tiny_model), "scale", gain=0.5)):
        expected = logits(tiny_model)
    with ica.apply_component_masks(tiny_model, [0], mode="scale", gain=0.5) as handle:
        assert handle.mask.description["gain"] == 0.5
        assert torch.equal(logits(tiny_model), expected)


def test_side_by_side_generation_puts_the_mask_on_once_and_each_stream_sees_only_its_own(
    tiny_model, monkeypatch
):
    from conftest import word_tokenizer

    import fnsft.masking._hooks as masking_module
    from fnsft.analysis import GenerationSettings, stream_comparison

    sets = {layer: np.arange(layer, 48 - 8 + layer) for layer in range(3)}
    mask, tokenizer = build_mask(sets, widths(tiny_model), "lesion"), word_tokenizer()
    settings = GenerationSettings(max_new_tokens=8, repetition_penalty=1.0)
    acquired = []
    acquire = masking_module._acquire
    monkeypatch.setattr(masking_module, "_acquire", lambda *args: acquired.append(1) or acquire(*args))

    *_, (plain, lesioned) = stream_comparison(
        tiny_model, tokenizer, "w1 w2 w3", mask, settings, use_chat_template=False
    )
    surgered = zero_neurons_by_surgery(tiny_model, sets)
    *_, (by_surgery, _) = stream_comparison(
        surgered, tokenizer, "w1 w2 w3", None, settings, use_chat_template=False
    )
    *_, (unmasked, _) = stream_comparison(
        tiny_model, tokenizer, "w1 w2 w3", None, settings, use_chat_template=False
    )
    assert lesioned == by_surgery and plain == unmasked and lesioned != plain
    assert len(acquired) == 1  # once for the whole comparison, not once per token
    assert masking_module._registry(tiny_model) == {}  # and taken off at the end
