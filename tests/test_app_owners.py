"""What a visitor owns and what a visitor sends: runs only their owner can find, stop, resume or download; one heavy
job per visitor however it is asked for; every failure in the page's own words; text from uploads shown as text."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from test_app import DISCOVERY, app, mine, plot, state_is, training_settings, wait_for_training  # noqa: F401

from fnsft.ui.common import failure_status, user_errors
from fnsft.ui.heavy import HeavyQueue
from fnsft.ui.jobs import RUN_NAME
from fnsft.ui.visitor import BusyError, Visitor

HOSTILE = (
    '<img src="http://example.invalid/x.png"> [link](http://example.invalid) ![i](http://example.invalid/i)'
)


def shown_as_text(markdown: str) -> bool:
    """No tag and no Markdown link or image left to render in `markdown`."""
    return "<" not in markdown and re.search(r"(?<!\\)\]\(", markdown) is None


@pytest.fixture(scope="module")
def owner(app):  # noqa: F811
    """A visitor with a stopped run (mode none, a checkpoint), and the ticket their browser keeps."""
    client, state = app
    visitor = Client(client.src, verbose=False)
    *_, ticket = visitor.predict(
        *training_settings(mode="none", ids=[], max_steps=500), api_name="/start_training"
    )
    wait_for_training(visitor, lambda panel: panel[2].startswith("step "))
    visitor.predict(api_name="/stop_training")
    wait_for_training(visitor, state_is("stopped"))
    yield visitor, state, ticket
    visitor.close()


def test_a_run_has_an_unguessable_name_and_an_owner_key(owner):
    _, state, ticket = owner
    assert RUN_NAME.fullmatch(ticket["run"]) and len(ticket["key"]) >= 32
    assert (state.jobs.runs_dir / ticket["run"]).is_dir()
    assert ticket["key"] not in (state.jobs.runs_dir / ticket["run"] / ".owner").read_text()


def test_another_visitor_cannot_find_stop_resume_or_download_a_run(owner):
    first, state, ticket = owner
    stranger = Client(first.src, verbose=False)
    stamp_only = ticket["run"].rsplit("-", 1)[0]
    for guess in (
        {"run": ticket["run"]},
        {"run": ticket["run"], "key": "wrong"},
        {"run": stamp_only, "key": ticket["key"]},
        {"run": f"../{ticket['run']}", "key": ticket["key"]},
        ticket["run"],
    ):
        progress, *_, report, adapter, checkpoint, timer = stranger.predict(
            guess, api_name="/restore_training"
        )
        assert progress == "No training yet." and (report, adapter, checkpoint) == (None, None, None), guess
    with pytest.raises(AppError, match="No training of yours is running"):
        stranger.predict(api_name="/stop_training")
    with pytest.raises(AppError, match="no stopped run"):
        stranger.predict(api_name="/resume_training")
    assert mine(stranger, state).run_dir is None
    stranger.close()


def test_the_owners_reloaded_page_finds_the_run_with_its_ticket(owner):
    first, state, ticket = owner
    reloaded = Client(
        first.src, verbose=False
    )  # a reload: a new session, the ticket from the browser's storage
    panel = reloaded.predict(ticket, api_name="/restore_training")
    assert 'data-state="stopped"' in panel[0] and ticket["run"] in panel[0]
    assert panel[-2].endswith(".zip")  # the checkpoint to download, for the owner
    assert mine(reloaded, state).run_dir == state.jobs.runs_dir / ticket["run"]
    reloaded.close()


def test_one_heavy_job_per_visitor_is_enforced_on_the_server(app):  # noqa: F811
    client, state = app
    first, second = Client(client.src, verbose=False), Client(client.src, verbose=False)
    with state.heavy.turn(None, "a job ahead"):  # the model is busy: every heavy job waits its turn
        waiting = first.submit(*DISCOVERY.values(), api_name="/discover")
        other = second.submit(*DISCOVERY.values(), api_name="/discover")
        deadline = time.monotonic() + 30
        while len(state.heavy) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(state.heavy) == 3  # the holder and both visitors' jobs
        start = time.perf_counter()
        for api_name, args in (
            ("/load_model", ("", "auto", "auto", "none")),
            ("/discover", DISCOVERY.values()),
        ):
            with pytest.raises(AppError, match="Your discovery is still queued or running"):
                first.predict(*args, api_name=api_name)
        assert time.perf_counter() - start < 2.0
    assert "**5 networks**" in waiting.result(timeout=120) and "**5 networks**" in other.result(timeout=120)
    assert mine(first, state).job is None and len(state.heavy) == 0
    first.close()
    second.close()


def test_the_heavy_queue_serves_in_arrival_order_and_frees_the_slot():
    queue, order, visitors = HeavyQueue(), [], [Visitor() for _ in range(3)]
    holder = queue.turn(None, "holder")
    holder.__enter__()

    def job(number: int) -> None:
        with queue.turn(visitors[number], f"job {number}"):
            order.append(number)

    threads = []
    for number in range(3):
        threads.append(threading.Thread(target=job, args=(number,)))
        threads[-1].start()
        while len(queue) < number + 2:
            time.sleep(0.01)
    with pytest.raises(BusyError, match="Your job 1 is still queued"):
        visitors[1].reserve("another")
    holder.__exit__(None, None, None)
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2] and all(visitor.job is None for visitor in visitors)


def test_an_unexpected_error_is_told_in_the_page_and_kept_for_the_status_line():
    visitor = Visitor()

    @user_errors
    def broken(visitor: Visitor) -> None:
        {}["missing"]

    with pytest.raises(gr.Error) as caught:
        broken(visitor)
    assert caught.value.message.startswith("Something went wrong on the server (KeyError: 'missing')")
    line = failure_status(visitor)
    assert line.startswith("⚠️ **Not done:** Something went wrong") and "from before" in line


def test_a_hostile_template_is_shown_as_text(app, tmp_path):  # noqa: F811
    client, state = app
    visitor = Client(client.src, verbose=False)
    visitor.predict(*DISCOVERY.values(), api_name="/discover")
    template = json.loads(Path(visitor.predict("mine", [], api_name="/export_template")).read_text())
    template["name"] = HOSTILE
    template["categories"] = [HOSTILE, *template["categories"][1:]]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(template))
    summary = visitor.predict(handle_file(str(path)), api_name="/import_template")
    assert shown_as_text(summary) and "&lt;img" in summary
    categories = plot(visitor.predict(api_name="/explore")[2])["data"][0]["x"]
    assert categories[0].startswith("&lt;img") and not any("<" in name for name in categories)
    visitor.close()


def test_a_template_with_an_empty_card_histogram_is_refused(app, tmp_path):  # noqa: F811
    client, state = app
    visitor = Client(client.src, verbose=False)
    visitor.predict(*DISCOVERY.values(), api_name="/discover")
    template = json.loads(Path(visitor.predict("mine", [], api_name="/export_template")).read_text())
    template["cards"][0]["histogram"] |= {"counts": [], "edges": [0.0]}
    path = tmp_path / "empty-histogram.json"
    path.write_text(json.dumps(template))
    before = mine(visitor, state).networks
    with pytest.raises(AppError, match=r"cards\[0\]\.histogram\.counts: no bins"):
        visitor.predict(handle_file(str(path)), api_name="/import_template")
    assert mine(visitor, state).networks is before
    visitor.close()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda evidence: evidence.update(setup=["not", "an", "object"]), "does not have the shape"),
        (lambda evidence: evidence["lesion_curve"].update(rows="nope"), "does not have the shape"),
        (lambda evidence: evidence["lesion_curve"].update(mode="<b>x</b>"), "mode must be one of"),
    ],
)
def test_an_evidence_file_of_the_wrong_shape_is_refused_with_why(app, tmp_path, change, match):  # noqa: F811
    from fnsft.analysis._evidence import load_evidence

    client, _ = app
    evidence = load_evidence()
    change(evidence)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence))
    with pytest.raises(AppError, match=match):
        client.predict(handle_file(str(path)), api_name="/evidence_upload")


def test_a_hostile_evidence_file_is_shown_as_text(app, tmp_path):  # noqa: F811
    from fnsft.analysis._evidence import load_evidence

    client, _ = app
    evidence = load_evidence()
    evidence["setup"]["model"] = HOSTILE
    method = next(iter(evidence["forgetting"]["summary"]))
    evidence["forgetting"]["summary"][f"<a href='http://example.invalid'>{method}</a>"] = evidence[
        "forgetting"
    ]["summary"].pop(method)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence))
    caption, _, _, pareto, _ = client.predict(handle_file(str(path)), api_name="/evidence_upload")
    assert shown_as_text(caption)
    assert not any("<a" in trace["name"] for trace in plot(pareto)["data"])


def test_start_refuses_data_without_responses_and_bad_seeds_at_once(app, tmp_path):  # noqa: F811
    client, state = app
    data = tmp_path / "empty.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": f"Q{i}", "output": ""}) for i in range(8)))
    runs = set(state.jobs.runs_dir.iterdir())
    settings = training_settings(source="Upload a file", upload=handle_file(str(data)), mode="none", ids=[])
    with pytest.raises(AppError, match="has a non-empty response; there is nothing to train on"):
        client.predict(*settings, api_name="/start_training")
    assert set(state.jobs.runs_dir.iterdir()) == runs
    start = time.perf_counter()
    with pytest.raises(AppError, match="Seed must be a whole number from 0 to 4,294,967,295"):
        client.predict(*{**DISCOVERY, "seed": 2**40}.values(), api_name="/discover")
    assert time.perf_counter() - start < 1.0


def test_cancel_stops_a_waiting_job_at_once_and_a_running_one_at_its_next_step(app):  # noqa: F811
    from fnsft.ui.heavy import Cancelled

    client, state = app
    visitor = Client(client.src, verbose=False)
    with pytest.raises(AppError, match="No discovery, measurement or card computation of yours is running"):
        visitor.predict(api_name="/cancel_discover")
    with state.heavy.turn(None, "a job ahead"):
        waiting = visitor.submit(*DISCOVERY.values(), api_name="/discover")
        while len(state.heavy) < 2:
            time.sleep(0.05)
        start = time.perf_counter()
        visitor.predict(api_name="/cancel_discover")
        with pytest.raises(AppError, match="Cancelled: your discovery stopped and changed nothing"):
            waiting.result(timeout=30)
        assert time.perf_counter() - start < 3.0 and mine(visitor, state).job is None
    person, steps = Visitor(), []
    with HeavyQueue().turn(person, "gain sweep") as turn:
        report = turn.checked(steps.append)
        report(0.1)
        HeavyQueue.cancel(person)
        with pytest.raises(Cancelled, match="your gain sweep stopped"):
            report(0.2)
    assert steps == [0.1] and person.job is None
    visitor.close()


def test_a_job_starts_with_the_time_the_last_one_of_its_kind_took():
    queue, shown = HeavyQueue(), []
    with queue.turn(Visitor(), "discovery", lambda fraction, desc: shown.append(desc)):
        time.sleep(0.05)
    assert shown == [] and queue.last_seconds["discovery"] >= 0.05
    with queue.turn(Visitor(), "discovery", lambda fraction, desc: shown.append(desc)):
        pass
    assert shown == ["Your discovery started; the last one here took 0 s"]
