"""Many visitors on one app: each has their own networks and results, and every oversized or nonsensical request
is refused at once with a short message that says what to change."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from test_app import DECODING, DISCOVERY, app, mine, training_settings  # noqa: F401  (app: a fixture)

from fnsft.models._architectures import model_shape
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.ui.visitor import BusyError, Visitor, Visitors

FAST = 1.0  # seconds: a refusal must come before any work


@pytest.fixture(scope="module")
def two_visitors(app):  # noqa: F811
    """Visitor A with 5 discovered networks, visitor B with 3 of their own, on one server, each page's network
    pickers updated as the page does after a discovery (a test needs no earlier test to have done it). No test
    changes their networks: one that imports does so as a third visitor."""
    client, state = app
    first = Client(client.src, verbose=False)
    second = Client(client.src, verbose=False)
    first.predict(*DISCOVERY.values(), api_name="/discover")
    second.predict(*{**DISCOVERY, "components": 3, "seed": 1}.values(), api_name="/discover")
    for visitor in (first, second):
        visitor.predict(api_name="/network_choices")
    yield first, second, state
    first.close()
    second.close()


def choices(client: Client) -> list[list]:
    return client.predict(api_name="/network_choices")[0]["choices"]


def test_each_visitor_keeps_their_own_discovery(two_visitors):
    first, second, state = two_visitors
    assert mine(first, state) is not mine(second, state)
    assert len(choices(first)) == 5 and len(choices(second)) == 3
    ours = mine(first, state).networks
    assert [label for label, _ in choices(first)] == [ours.label(c) for c in range(5)]


def test_a_visitors_mask_silences_their_own_networks(two_visitors):
    first, second, state = two_visitors
    for client in (first, second):
        *_, info = client.predict(
            [0], "lesion", 1.0, "zero", "", "Hi", *DECODING.values(), api_name="/compare"
        )
        expected = int(mine(client, state).networks.sizes()[0])
        assert f"{expected:,} neurons silenced" in info


def test_an_import_by_one_visitor_leaves_the_others_alone(two_visitors, tmp_path):
    first, second, state = two_visitors
    before = mine(first, state).networks, mine(second, state).networks
    path = second.predict("only-two", [0, 1], api_name="/export_template")
    third = Client(first.src, verbose=False)
    try:
        summary = third.predict(handle_file(path), api_name="/import_template")
        assert "**2 networks** (only-two" in summary and len(choices(third)) == 2
    finally:
        third.close()
    assert mine(first, state).networks is before[0] and mine(second, state).networks is before[1]
    assert (len(choices(first)), len(choices(second))) == (5, 3)
    other = first.predict("only-two", [0], api_name="/export_template")
    assert other != path and json.loads(Path(other).read_text())["data"]["selected_components"] == [0]


def test_effects_are_measured_on_each_visitors_networks(two_visitors):
    first, _, state = two_visitors
    _, _, headline = first.predict([0, 1], "lesion", 1.0, "zero", "", 1, 2, api_name="/measure_effect")
    neurons = sum(len(ids) for ids in mine(first, state).networks.union([0, 1]).values())
    assert f"of {neurons:,} neurons" in headline


def test_a_new_visitor_starts_from_the_shipped_networks(app):  # noqa: F811
    client, state = app
    shape = model_shape(state.require_model().model)
    shipped = FunctionalNetworks([{0: np.arange(4)}, {1: np.arange(6)}], shape, "tiny", "intermediate", {})
    previous, state.shipped_networks = state.shipped_networks, shipped
    try:
        newcomer = Client(client.src, verbose=False)
        assert [label for label, _ in choices(newcomer)] == ["N0 · 4 neurons", "N1 · 6 neurons"]
        assert mine(newcomer, state).networks is shipped  # shared read-only, not copied per visitor
        newcomer.close()
    finally:
        state.shipped_networks = previous


def refused(client: Client, api_name: str, *args, match: str, longest: int = 200) -> str:
    """The message of a refusal, asserting it came fast and stays short."""
    start = time.perf_counter()
    with pytest.raises(AppError, match=match) as caught:
        client.predict(*args, api_name=api_name)
    assert time.perf_counter() - start < FAST
    message = str(caught.value)
    assert len(message) < longest, message
    return message


PROMPT_ARGS = ("lesion", 1.0, "zero")


def test_a_huge_layer_range_is_refused_at_once(two_visitors):
    first, _, _ = two_visitors
    for api_name, tail in (
        ("/compare", ("Hi", *DECODING.values())),
        ("/next_token", ("Hi",)),
    ):
        message = refused(first, api_name, [0], *PROMPT_ARGS, "0-99999999", *tail, match="does not exist")
        assert "layers 0-2" in message
    refused(first, "/measure_effect", [0], *PROMPT_ARGS, "0-99999999", 1, 1, match="does not exist")


def test_a_prompt_beyond_the_context_is_refused_with_the_numbers(two_visitors):
    first, _, _ = two_visitors
    prompt = "word " * 400  # the tiny model's context is 256 positions
    message = refused(first, "/compare", [0], *PROMPT_ARGS, "", prompt, *DECODING.values(), match="tokens")
    assert "context of 256" in message and "Shorten the prompt" in message


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"rule": "zscore", "threshold": -1}, "0 or more"),
        ({"rule": "percentile", "threshold": 100}, "below 100"),
        ({"rule": "topk", "threshold": 0.5}, "whole number"),
        ({"max_tokens": 10**9}, "Token budget"),
        ({"max_tokens": 8}, "Token budget must be a whole number from 16"),
    ],
)
def test_bad_discovery_settings_are_refused_at_once(two_visitors, changes, match):
    first, _, _ = two_visitors
    refused(first, "/discover", *{**DISCOVERY, **changes}.values(), match=match)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"max_steps": 0}, "max_steps: 0 trains nothing"),
        ({"learning_rate": 0}, "learning_rate: 0 is out of range"),
        ({"batch_size": 0}, "batch_size: 0 is out of range"),
        ({"max_length": 4}, "max_length: 4 is out of range"),
    ],
)
def test_bad_training_settings_are_refused_at_start(two_visitors, changes, match):
    first, _, state = two_visitors
    runs = set(state.jobs.runs_dir.iterdir()) if state.jobs.runs_dir.exists() else set()
    refused(first, "/start_training", *training_settings(mode="none", ids=[], **changes), match=match)
    assert (set(state.jobs.runs_dir.iterdir()) if state.jobs.runs_dir.exists() else set()) == runs


def test_a_bad_training_file_is_refused_at_start_in_the_pages_words(two_visitors, tmp_path):
    first, _, state = two_visitors
    data = tmp_path / "odd.csv"
    data.write_text("foo,bar\n1,2\n")
    settings = training_settings(source="Upload a file", upload=handle_file(str(data)), mode="none", ids=[])
    message = refused(first, "/start_training", *settings, match="fits no supported format", longest=800)
    assert str(tmp_path) not in message and "Error:" not in message
    assert mine(first, state).run_dir is None or mine(first, state).run_dir.exists()


def test_the_fine_tune_tab_counts_train_and_held_out_records(app):  # noqa: F811
    client, _ = app
    summary, _ = client.predict("Shipped sample (sample_sft.jsonl)", None, "", api_name="/preview_data")
    from fnsft.data import SAMPLE_DATA, load_records

    total = len(load_records(SAMPLE_DATA))
    held_out = max(1, round(total * 0.1))
    assert f"**{total - held_out} train · {held_out} held out** records" in summary


def test_few_tokens_make_a_discovery_say_it_is_unreliable(app):  # noqa: F811
    client, _ = app
    visitor = Client(client.src, verbose=False)
    summary = visitor.predict(*{**DISCOVERY, "max_tokens": 32}.values(), api_name="/discover")
    assert summary.startswith("⚠️ These networks are unreliable: only 32 tokens were recorded")
    visitor.close()


def test_one_heavy_job_per_visitor():
    visitor = Visitor()
    visitor.reserve("discovery")
    with pytest.raises(BusyError, match="Your discovery is still queued or running"):
        visitor.reserve("training")
    visitor.release()
    visitor.reserve("training")  # free again


def networks_with_maps(megabytes: int) -> FunctionalNetworks:
    from conftest import tiny_llama

    shape = model_shape(tiny_llama())
    maps = np.zeros((megabytes, 2**18), dtype=np.float32)  # 1 MiB per row
    return FunctionalNetworks([{0: np.arange(3)}], shape, "tiny", "intermediate", {}, maps=maps)


def test_discovery_maps_of_the_longest_idle_visitors_are_dropped_first():
    visitors = Visitors(map_budget_bytes=5 * 2**20)
    people = [Visitor() for _ in range(3)]
    for number, person in enumerate(people):
        person.set_networks(networks_with_maps(2))
        visitors.attach(person, f"session-{number}")
        person.last_seen = float(number)  # people[0] idle longest
    dropped = visitors.trim(keep=people[0])
    assert dropped == [people[1]]  # the idlest one not being served is dropped, until 4 MiB <= 5 MiB
    assert people[0].networks.maps is not None and people[1].networks.maps is None
    assert people[1].networks.num_components == 1  # the networks themselves stay
    assert visitors.map_bytes() == 4 * 2**20


def test_visitors_whose_state_is_gone_leave_the_registry():
    visitors = Visitors()
    visitors.attach(Visitor(), "gone")  # nothing else holds it, as when Gradio drops a session's state
    kept = visitors.attach(Visitor(), "kept")
    assert visitors.get("gone") is None and visitors.get("kept") is kept and len(visitors) == 1
    visitors.forget("kept")
    assert len(visitors) == 0


def test_error_messages_speak_the_pages_language():
    from fnsft.ui.common import page_message

    error = ValueError(
        "DatasetFormatError: Cannot tell which field of '/tmp/gradio/abc123/texts.jsonl' holds the text "
        "(fields: ['a']); pass text_field=..."
    )
    assert page_message(error) == "Cannot tell which field of 'texts.jsonl' holds the text (fields: ['a'])"
    assert page_message("x (in Python: fnsft.neuron_means(model, texts)) y") == "x y"


def test_a_preserve_that_silences_the_model_says_why():
    import torch

    from fnsft.masking import NeuronMask
    from fnsft.ui.compare import empty_output_note

    mask = NeuronMask("intermediate", {0: torch.tensor([1.0, 0, 0, 0]), 1: torch.zeros(4)})
    note = empty_output_note(mask, "  ")
    assert "7 of 8 neurons silenced, only 1 (12.5%) stay on" in note
    assert empty_output_note(mask, "some text") == ""


def test_model_changes_follow_the_servers_rule(tmp_path):
    from fnsft.errors import FnsftError
    from fnsft.ui.state import AppState

    locked = AppState(runs_dir=tmp_path, work_dir=tmp_path, allow_model_change=False)
    with pytest.raises(FnsftError, match="loading another model is switched off"):
        locked.change_model("")
    space = AppState(runs_dir=tmp_path, work_dir=tmp_path, local_models=False)
    with pytest.raises(FnsftError, match=r"Give a hub model id \(owner/name\)") as caught:
        space.change_model("/srv/models/secret")
    assert "exist" not in str(caught.value)  # nothing about which server paths exist


def test_the_app_removes_its_own_temporary_folder():
    from fnsft.ui.state import AppState

    state = AppState()
    (state.work_dir / "exports").mkdir()
    state.close()
    assert not state.work_dir.exists()


def test_on_a_space_visitors_cannot_change_the_model(monkeypatch):
    from fnsft.ui.app import parse_args

    monkeypatch.delenv("FNSFT_ALLOW_MODEL_CHANGE", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/fnsft")
    assert parse_args([]).allow_model_change is False
    monkeypatch.delenv("SPACE_ID")
    assert parse_args([]).allow_model_change is True
    assert parse_args(["--allow-model-change", "false"]).allow_model_change is False


def test_rethresholding_from_the_page_is_instant_and_reversible(app):  # noqa: F811
    client, state = app
    visitor = Client(client.src, verbose=False)
    visitor.predict(*DISCOVERY.values(), api_name="/discover")
    fitted = mine(visitor, state).networks
    start = time.perf_counter()
    visitor.predict("zscore", 4.0, api_name="/rethreshold")
    assert time.perf_counter() - start < FAST
    stricter = mine(visitor, state).networks
    assert all(stricter.sizes() <= fitted.sizes()) and stricter.sizes().sum() < fitted.sizes().sum()
    visitor.predict(DISCOVERY["rule"], DISCOVERY["threshold"], api_name="/rethreshold")
    again = mine(visitor, state).networks
    assert all(
        np.array_equal(a.get(layer, []), b.get(layer, []))
        for a, b in zip(again.neurons, fitted.neurons, strict=True)
        for layer in range(3)
    )
    mine(visitor, state).drop_maps()  # as the memory budget does for an idle visitor
    with pytest.raises(AppError, match="rediscover the networks"):
        visitor.predict("zscore", 4.0, api_name="/rethreshold")
    visitor.close()


def test_after_a_model_change_networks_that_no_longer_fit_are_replaced(tmp_path, embedded_tokenizer):
    from conftest import tiny_llama

    from fnsft.ui.state import AppState

    folders = {}
    for layers in (3, 2):
        folders[layers] = tmp_path / f"tiny-{layers}"
        tiny_llama(layers=layers, vocab=len(embedded_tokenizer)).save_pretrained(folders[layers])
        embedded_tokenizer.save_pretrained(folders[layers])
    state = AppState(runs_dir=tmp_path / "runs", work_dir=tmp_path / "work")
    state.load(str(folders[3]))
    visitor = state.visit(Visitor())
    assert visitor.networks is None  # no shipped networks for this model
    shape = model_shape(state.require_model().model)
    own = FunctionalNetworks([{2: np.arange(4)}], shape, "tiny-3", "intermediate", {})
    visitor.set_networks(own)
    state.load(str(folders[3]))  # the same architecture again: the networks still fit
    assert state.visit(visitor).networks is own and visitor.notice is None
    state.load(str(folders[2]))
    assert state.visit(visitor).networks is None
    assert visitor.notice.startswith("Your networks were replaced, since the model changed:")
