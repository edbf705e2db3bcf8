"""The app served in-process on a free localhost port with a tiny random model, every event called by api_name."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import shutil
import socket
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_llama
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

LAYERS, INTERMEDIATE = 3, 48
DISCOVERY = {
    "source": "Shipped corpus",
    "upload": None,
    "hub_id": "",
    "components": 5,
    "rule": "zscore",
    "threshold": 2.0,
    "granularity": "intermediate",
    "max_tokens": 384,
    "seed": 0,
    "ica_over": "neurons",
    "stability_runs": 2,
    "restarts": 1,
}
DECODING = {
    "max_new_tokens": 6,
    "temperature": 0,
    "top_k": 50,
    "top_p": 0.95,
    "repetition_penalty": 1.1,
    "seed": 0,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plot(value: dict) -> dict:
    """The Plotly figure JSON inside a Plot component's value."""
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def mine(client: Client, state):
    """The server-side Visitor of a client's session."""
    return state.visitors.get(client.session_hash)


def values(array) -> np.ndarray:
    """A Plotly array as numpy, whether a plain list or a typed array ({"dtype", "bdata", "shape"})."""
    if isinstance(array, dict):
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        shape = array.get("shape")
        return flat.reshape([int(n) for n in shape.split(",")]) if shape else flat
    return np.asarray(array)


@pytest.fixture(scope="module")
def app(embedded_tokenizer, tmp_path_factory):
    """(client, state) of an app serving a tiny Llama saved with the embedded tokenizer (training jobs load their
    own copy from the same folder)."""
    from fnsft.ui.app import build_app, launch
    from fnsft.ui.state import AppState

    folder = tmp_path_factory.mktemp("models") / "tiny-llama"
    tiny_llama(
        layers=LAYERS, intermediate=INTERMEDIATE, hidden=32, vocab=len(embedded_tokenizer)
    ).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    state = AppState(runs_dir=tmp_path_factory.mktemp("runs"), work_dir=tmp_path_factory.mktemp("work"))
    state.load(str(folder))
    demo = build_app(state)
    port = free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    yield client, state
    client.close()
    demo.close()
    state.close()  # a run a failed test left going must not outlive the module


@pytest.fixture(scope="module")
def discovered(app):
    """The app after one small discovery on the shipped corpus, its dropdowns and its explore tab (with the card
    picker) updated as the page does, so that any test can run alone."""
    client, state = app
    summary = client.predict(*DISCOVERY.values(), api_name="/discover")
    client.predict(api_name="/network_choices")
    client.predict(api_name="/explore")
    return client, state, summary


def test_every_event_has_an_api_name(app):
    client, _ = app
    names = set(client.view_api(return_format="dict")["named_endpoints"])
    expected = {
        "/model_summary", "/load_model", "/dtype_choices", "/discover", "/discover_source", "/threshold_default",
        "/load_template", "/explore", "/network_card", "/pick_network", "/compute_cards", "/layer_profile", "/compare", "/next_token", "/measure_effect",
        "/export_template", "/export_networks_zip", "/load_hub_networks", "/import_template", "/network_choices", "/shipped_templates", "/finetune_source",
        "/preview_data", "/training_status", "/start_training", "/stop_training", "/evidence", "/evidence_upload",
        "/thorough_discovery", "/continual_start", "/continual_stop", "/continual_resume", "/continual_status",
        "/continual_restore",
    }  # fmt: skip
    assert expected <= names


def test_model_summary_describes_the_model(app):
    client, _ = app
    summary = client.predict(api_name="/model_summary")
    assert "tiny-llama" in summary
    assert "| Layers | 3 |" in summary
    assert f"| Neurons per layer | {INTERMEDIATE} |" in summary
    assert "| Device | cpu |" in summary


def test_dtype_choices_follow_the_device(app):
    client, _ = app
    update = client.predict("cpu", api_name="/dtype_choices")
    assert update["value"] == "auto"
    assert {choice[0] for choice in update["choices"]} == {"auto", "float32", "bfloat16"}


def test_a_failed_model_load_keeps_the_current_one_and_reveals_no_server_paths(app, tmp_path):
    client, _ = app
    messages = []
    for name in (str(tmp_path / "no-such-model"), str(tmp_path)):  # missing, and present without config.json
        with pytest.raises(AppError, match="Could not load") as caught:
            client.predict(name, "auto", "auto", "none", api_name="/load_model")
        messages.append(str(caught.value).replace(Path(name).name, "NAME"))
    assert messages[0] == messages[1] and "exist" not in messages[0]
    assert "The model in use is still tiny-llama." in messages[0]
    assert "tiny-llama" in client.predict(api_name="/model_summary")


def test_discovery_finds_networks(discovered):
    client, state, summary = discovered
    assert "**5 networks**" in summary
    assert "categories:" in summary
    assert mine(client, state).networks.num_components == 5


def test_discovery_settings_events(app):
    client, _ = app
    assert client.predict("percentile", api_name="/threshold_default") == 98.0
    upload, hub = client.predict("Upload a file", api_name="/discover_source")
    assert upload["visible"] is True and hub["visible"] is False


def test_discovery_refuses_too_many_components(app):
    client, _ = app
    settings = {**DISCOVERY, "components": 40, "max_tokens": 32}
    with pytest.raises(AppError, match="too few for num_components=40"):
        client.predict(*settings.values(), api_name="/discover")


def test_discovery_needs_an_upload_when_asked_for_one(app):
    client, _ = app
    with pytest.raises(AppError, match="Choose a .json"):
        client.predict(*{**DISCOVERY, "source": "Upload a file"}.values(), api_name="/discover")


def test_discovery_on_an_uploaded_file(discovered, tmp_path):
    client, state, _ = discovered
    data = tmp_path / "texts.jsonl"
    lines = [
        {"text": f"Sentence number {i} about topic {i % 3}.", "category": f"c{i % 2}"} for i in range(60)
    ]
    data.write_text("\n".join(json.dumps(line) for line in lines))
    previous = mine(client, state).networks
    try:
        settings = {**DISCOVERY, "source": "Upload a file", "upload": handle_file(str(data)), "components": 3}
        summary = client.predict(*settings.values(), api_name="/discover")
        assert "**3 networks**" in summary and "categories: c0, c1" in summary
    finally:
        mine(client, state).set_networks(previous)


def test_explore_returns_every_figure(discovered):
    client, state, _ = discovered
    table, layers, categories, overlap, stability, selector, profile, card, histogram, export = (
        client.predict(api_name="/explore")
    )
    assert len(table["data"]) == 5 and table["headers"][0] == "id"
    assert values(plot(layers)["data"][0]["z"]).shape == (5, LAYERS)
    assert plot(categories)["data"][0]["x"] == mine(client, state).networks.categories
    assert values(plot(overlap)["data"][0]["z"]).shape == (5, 5)
    assert len(plot(stability)["data"][0]["x"]) == 5
    assert len(selector["choices"]) == 5 and selector["value"] == 0
    assert values(plot(profile)["data"][0]["y"]).shape == (LAYERS,)
    first = mine(client, state).networks.card(0)
    assert html.escape(first.label) in card and "Top activations" in card
    assert plot(histogram)["layout"]["title"]["text"].startswith("N0 activation: ")
    assert Path(export).read_text().startswith("<!DOCTYPE html>")


def test_a_networks_card_opens_from_the_table_and_exports_as_one_html_file(discovered):
    client, state, _ = discovered
    card = mine(client, state).networks.card(3)
    assert card.logit_effect is None  # a fresh discovery's card gets its lesion effect when first opened
    html_text, histogram, export = client.predict(3, api_name="/network_card")
    card = mine(client, state).networks.card(3)
    assert "rises most (promoted)" in html_text and len(card.logit_effect.promoted) == 10
    top = card.top_examples[0]
    assert html.escape(card.label) in html_text and html.escape(top.tokens[top.position]) in html_text
    assert values(plot(histogram)["data"][0]["y"]).tolist() == card.histogram.counts
    page = Path(export).read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    with pytest.raises(AppError, match="Value: 9 is not in the list of choices"):
        client.predict(9, api_name="/network_card")


def test_cards_are_computed_for_networks_loaded_without_them(discovered):
    client, state, _ = discovered
    visitor = mine(client, state)
    previous = visitor.networks
    try:
        visitor.set_networks(dataclasses.replace(previous, cards=None))
        note, _, export = client.predict(1, api_name="/network_card")
        assert "no cards yet" in note and export is None
        html_text, _, export = client.predict(1, api_name="/compute_cards")
        assert visitor.networks.cards is not None and html.escape(visitor.networks.card(1).label) in html_text
        assert Path(export).name.endswith("-N1.html")
    finally:
        visitor.set_networks(previous)


def test_layer_profile_of_one_network(discovered):
    client, state, _ = discovered
    figure = plot(client.predict(2, api_name="/layer_profile"))
    assert mine(client, state).networks.label(2) in figure["layout"]["title"]["text"]


def test_network_choices_list_the_networks(discovered):
    client, state, _ = discovered
    updates = client.predict(api_name="/network_choices")
    assert all(update["choices"][1] == [mine(client, state).networks.label(1), 1] for update in updates)


def test_compare_streams_both_generations(discovered):
    client, _, _ = discovered
    job = client.submit(
        [0, 1], "lesion", 1.0, "zero", "", "Tell me about rivers.", *DECODING.values(), api_name="/compare"
    )
    outputs = list(job)
    assert len(outputs) >= 2  # streamed step by step
    baseline, masked, info = job.result()
    assert baseline and masked
    assert "**lesion** networks [0, 1]" in info and "neurons silenced" in info


def test_compare_without_networks_selected_says_so(discovered):
    client, _, _ = discovered
    with pytest.raises(AppError, match="No network selected"):
        client.predict([], "lesion", 1.0, "zero", "", "Hello", *DECODING.values(), api_name="/compare")


def test_compare_rejects_bad_input(discovered):
    client, _, _ = discovered
    with pytest.raises(AppError, match="Enter a prompt"):
        client.predict([0], "preserve", 1.0, "zero", "", "  ", *DECODING.values(), api_name="/compare")
    with pytest.raises(AppError, match="Cannot read layers"):
        client.predict([0], "lesion", 1.0, "zero", "one", "Hello", *DECODING.values(), api_name="/compare")


def test_compare_before_any_discovery_says_what_to_do(discovered):
    client, state, _ = discovered
    previous = mine(client, state).networks
    mine(client, state).set_networks(None)
    try:
        with pytest.raises(AppError, match="No networks yet"):
            client.predict([0], "lesion", 1.0, "zero", "", "Hello", *DECODING.values(), api_name="/compare")
    finally:
        mine(client, state).set_networks(previous)


def test_next_token_table_with_kl(discovered):
    client, _, _ = discovered
    table, kl = client.predict(
        [0], "preserve", 1.0, "zero", "0-1", "The capital of France is", api_name="/next_token"
    )
    assert len(table["data"]) == 10 and table["headers"][1] == "unmasked token"
    assert kl.startswith("KL(unmasked ‖ masked) = **")


def test_measure_effect_table_and_chart(discovered):
    client, _, _ = discovered
    table, chart, headline = client.predict(
        [0, 1], "lesion", 1.0, "zero", "", 1, 2, api_name="/measure_effect"
    )
    assert [row[0] for row in table["data"]][0] == "all" and len(table["data"]) == 9
    assert [trace["name"] for trace in plot(chart)["data"]] == [
        "unmasked",
        "network masked",
        "random masks (mean ± std)",
    ]
    assert "as much as with random masks" in headline


def test_gain_sweep_plots_loss_against_gain(discovered):
    from fnsft.analysis._evaluation import GAINS

    client, state, _ = discovered
    networks = mine(client, state).networks
    chosen = next(c for c in range(networks.num_components) if networks.top_categories(c, 2))
    figure = plot(client.predict([chosen], 1, 1, api_name="/gain_sweep"))
    own = networks.top_categories(chosen, 2)  # the network's own categories: each gets its curve
    names = [trace["name"] for trace in figure["data"]]
    assert names[:2] == ["networks", "random neurons 1"]  # then the network's own categories the texts hold
    assert all(name.removeprefix("networks · ") in own for name in names[2:])
    assert list(values(figure["data"][0]["x"])) == list(GAINS)
    losses = values(figure["data"][0]["y"])
    assert len(losses) == len(GAINS) and np.all(np.isfinite(losses))


def test_export_and_import_a_template(discovered):
    client, state, _ = discovered
    previous = mine(client, state).networks
    path = client.predict("code nets", [1, 3], api_name="/export_template")
    exported = json.loads(Path(path).read_text())
    assert exported["name"] == "code-nets" and len(exported["components"]) == 2
    assert exported["data"]["selected_components"] == [1, 3]
    try:
        summary = client.predict(handle_file(path), api_name="/import_template")
        assert "**2 networks** (code-nets" in summary
        summary = client.predict(None, handle_file(path), api_name="/load_template")
        assert mine(client, state).networks.num_components == 2
    finally:
        mine(client, state).set_networks(previous)


def test_networks_download_as_a_zipped_folder_and_an_uncached_hub_id_says_why(discovered, tmp_path):
    from fnsft.networks._functional_networks import FunctionalNetworks

    client, _, _ = discovered
    path = client.predict("code nets", [1, 3], api_name="/export_networks_zip")
    shutil.unpack_archive(path, tmp_path / "networks")
    loaded = FunctionalNetworks.from_pretrained(tmp_path / "networks")
    assert loaded.name == "code-nets" and loaded.num_components == 2
    with pytest.raises(AppError, match="someone/absent-networks"):
        client.predict("someone/absent-networks", api_name="/load_hub_networks")


def test_importing_a_bad_template_says_why(discovered, tmp_path):
    client, _, _ = discovered
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(AppError, match="not an fnsft template"):
        client.predict(handle_file(str(bad)), api_name="/import_template")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("../../etc/passwd", None, api_name="/load_template")
    with pytest.raises(AppError, match="Choose a shipped template"):
        client.predict(None, None, api_name="/load_template")


def test_shipped_templates_are_listed(app):
    from fnsft.ui.templates_tab import shipped_template_names

    client, _ = app
    dropdown, table = client.predict(api_name="/shipped_templates")
    assert [choice[0] for choice in dropdown["choices"]] == shipped_template_names()
    assert len(table["data"]) == len(shipped_template_names()) or table["data"] == [["", "", "", "", "", ""]]


def test_evidence_tab_draws_the_saved_json(app):
    from fnsft.analysis._evidence import curve_series, forgetting_rows, load_evidence

    client, _ = app
    saved = load_evidence()
    caption, lesion, preserve, pareto, table = client.predict(api_name="/evidence")
    assert caption.startswith("**Saved evidence:** " + saved["setup"]["model"])
    for figure, key in ((lesion, "lesion_curve"), (preserve, "preserve_curve")):
        network = plot(figure)["data"][0]
        assert values(network["y"]).tolist() == pytest.approx(curve_series(saved[key]).network)
    methods = [row["method"] for row in forgetting_rows(saved["forgetting"])]
    assert [trace["name"] for trace in plot(pareto)["data"]] == methods
    assert [row[0] for row in table["data"]] == methods


def test_evidence_tab_draws_an_uploaded_run_and_refuses_other_files(app, tmp_path):
    from fnsft.analysis._evidence import load_evidence

    client, _ = app
    mine = load_evidence()
    mine["setup"]["model"] = "my-own-model"
    del mine["forgetting"]
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(mine))
    caption, _, _, pareto, table = client.predict(handle_file(str(path)), api_name="/evidence_upload")
    assert caption.startswith("**Uploaded evidence:** my-own-model")
    assert plot(pareto)["layout"]["annotations"][0]["text"] == "This file has no forgetting experiment."
    path.write_text('{"hello": 1}')
    with pytest.raises(AppError, match="not an evidence file"):
        client.predict(handle_file(str(path)), api_name="/evidence_upload")


def training_settings(**changes) -> list:
    settings = {
        "source": "Shipped sample (sample_sft.jsonl)",
        "upload": None,
        "hub_id": "",
        "ids": [0],
        "mode": "freeze",
        "random_control": False,
        "method": "lora",
        "max_steps": 2,
        "epochs": 1.0,
        "learning_rate": 1e-3,
        "batch_size": 4,
        "max_length": 64,
        "lora_r": 4,
        "drift": False,
    }
    return list({**settings, **changes}.values())


def wait_for_training(client: Client, done: Callable[[tuple], bool], timeout: float = 600) -> tuple:
    """Poll the progress panel as the page's timer does, until `done(panel)` (a run is a child process: on a
    loaded machine its start alone can take a minute)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        panel = client.predict(api_name="/training_status")
        if done(panel):
            return panel
        time.sleep(0.5)
    raise AssertionError(f"training did not get there in {timeout} s; last panel: {panel[0]} {panel[2]}")


def state_is(*states: str) -> Callable[[tuple], bool]:
    return lambda panel: any(f'data-state="{state}"' in panel[0] for state in states)


def test_data_preview_detects_the_format(app):
    client, _ = app
    summary, examples = client.predict(
        "Shipped sample (sample_sft.jsonl)", None, "", api_name="/preview_data"
    )
    assert "Detected format **alpaca**" in summary and "Veltra" in examples
    upload, hub = client.predict("Hub dataset id", api_name="/finetune_source")
    assert upload["visible"] is False and hub["visible"] is True


def test_data_preview_of_an_unknown_format_says_what_fits(app, tmp_path):
    client, _ = app
    data = tmp_path / "odd.csv"
    data.write_text("foo,bar\n1,2\n")
    with pytest.raises(AppError, match="fits no supported format"):
        client.predict("Upload a file", handle_file(str(data)), "", api_name="/preview_data")


@pytest.mark.parametrize(
    ("hub_id", "message"),
    [
        ("someone/data", "offline mode"),
        ("/etc/passwd", "not a hub dataset id"),
        ("assets", "not a hub dataset id"),
    ],
)
def test_hub_ids_are_hub_ids(app, hub_id, message):
    client, _ = app
    with pytest.raises(AppError, match=message):
        client.predict("Hub dataset id", None, hub_id, api_name="/preview_data")


def test_uploads_of_the_wrong_type_are_refused(app, tmp_path):
    client, _ = app
    script = tmp_path / "evil.py"
    script.write_text("print('hi')")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(handle_file(str(script)), api_name="/import_template")


def test_training_with_networks_needs_networks(discovered):
    client, _, _ = discovered
    with pytest.raises(AppError, match="needs networks"):
        client.predict(*training_settings(ids=[]), api_name="/start_training")


def largest_network(client: Client, state) -> list[int]:
    """The id of the discovery's largest network: which networks a threshold leaves empty on a tiny random
    model depends on the CPU's rounding."""
    return [int(np.argmax(mine(client, state).networks.sizes()))]


def test_networks_without_neurons_are_refused_before_a_run_starts(discovered):
    client, state, _ = discovered
    visitor = mine(client, state)
    found, run_before = visitor.networks, visitor.run_dir
    with pytest.warns(UserWarning, match="empty"):
        visitor.networks = found.rethreshold("zscore", 1000.0)
    try:
        with pytest.raises(AppError, match="N0, N1 hold no neurons"):
            client.predict(*training_settings(ids=[1, 0]), api_name="/start_training")
    finally:
        visitor.networks = found
    assert visitor.run_dir == run_before  # no run folder was made


def test_fine_tune_to_the_end_reports_forgetting_and_gives_the_adapter(discovered):
    client, state, _ = discovered
    chosen = largest_network(client, state)
    *_, run_name = client.predict(*training_settings(ids=chosen), api_name="/start_training")
    assert run_name  # kept in the browser, so a reload finds the run
    with pytest.raises(AppError, match="Your training is still queued or running"):
        client.predict(*training_settings(ids=chosen), api_name="/start_training")
    panel = wait_for_training(client, state_is("completed", "failed"))
    # the client skips buttons (Resume)
    progress, loss, log, table, chart, drift_table, drift_chart, report, adapter, checkpoint, timer = panel
    assert 'data-state="completed"' in progress and "step 2/2" in progress, log
    assert len(plot(loss)["data"]) >= 1 and log.startswith("step 1/2")
    rows = {row[0]: row for row in table["data"]}
    assert "target (held out)" in rows and "general · all" in rows
    assert [trace["name"] for trace in plot(chart)["data"]] == ["before training", "after training"]
    assert {"learned", "forgotten", "general"} <= set(json.loads(Path(report).read_text()))
    with zipfile.ZipFile(adapter) as archive:
        names = set(archive.namelist())
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors", "networks.json"} <= names
    assert checkpoint is None
    assert not any(
        cell not in ("", None) for row in drift_table["data"] for cell in row
    )  # no drift asked for
    assert "No drift measured" in json.dumps(plot(drift_chart))
    assert timer["active"] is False  # polling stops with the job


def test_a_run_with_drift_shows_what_became_of_each_network(discovered):
    client, state, _ = discovered
    settings = training_settings(ids=largest_network(client, state), drift=True, learning_rate=1e-9)
    client.predict(*settings, api_name="/start_training")
    panel = wait_for_training(client, state_is("completed", "failed"))
    assert 'data-state="completed"' in panel[0], panel[2]
    rows = panel[5]["data"]
    assert [row[0] for row in rows] == [f"N{c}" for c in range(mine(client, state).networks.num_components)]
    assert {row[1] for row in rows} <= {"kept", "moved", "dissolved", "empty"}
    assert plot(panel[6])["layout"]["title"]["text"].startswith("Network drift after training:")


def test_a_stopped_run_is_its_visitors_and_resumes_from_the_tab(discovered):
    client, state, _ = discovered
    client.predict(*training_settings(mode="none", ids=[], max_steps=500), api_name="/start_training")
    wait_for_training(client, lambda panel: panel[2].startswith("step "))
    other_page = Client(client.src, verbose=False)  # another visitor: a new session
    progress, *_, timer = other_page.predict(api_name="/training_status")
    assert progress == "No training yet." and timer["active"] is False
    with pytest.raises(AppError, match="training another run"):
        other_page.predict(*training_settings(mode="none", ids=[]), api_name="/start_training")
    client.predict(api_name="/stop_training")
    panel = wait_for_training(client, state_is("stopped", "failed", "completed"))
    assert 'data-state="stopped"' in panel[0]
    checkpoint = panel[9]
    assert state.jobs.view(mine(client, state).run_dir).resumable  # what shows the Resume button
    with zipfile.ZipFile(checkpoint) as archive:
        assert any(name.endswith("adapter_model.safetensors") for name in archive.namelist())
    stopped_at = int(Path(checkpoint).stem.rsplit("-", 1)[1])
    resumed = client.predict(api_name="/resume_training")
    assert 'data-state="stopped"' not in resumed[0] and resumed[-1]["active"] is True  # the panel follows it
    panel = wait_for_training(client, lambda p: p[2].startswith("step ") and 'data-state="running"' in p[0])
    client.predict(api_name="/stop_training")
    panel = wait_for_training(client, state_is("stopped", "failed", "completed"))
    assert 'data-state="stopped"' in panel[0]
    assert int(Path(panel[9]).stem.rsplit("-", 1)[1]) > stopped_at  # it went on from the checkpoint
    assert mine(client, state).run_dir.name in panel[0]


def test_command_line_defaults_serve_this_machine_only(monkeypatch):
    from fnsft.ui.app import parse_args

    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = parse_args([])
    assert (args.host, args.port, args.share, args.model) == ("127.0.0.1", 7860, False, None)
    assert parse_args(["--host", "0.0.0.0", "--share", "--model", "x.gguf"]).share is True
