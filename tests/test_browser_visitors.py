"""The app under real use in headless Chromium, against a tiny model so it runs in seconds: refusals shown where the
action was taken, a run that survives Stop -> Resume and a reload, and hostile uploads shown as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gradio_client import Client
from test_app import DISCOVERY, app  # noqa: F401  (app: a fixture)
from test_app_owners import HOSTILE
from test_browser import CHROMIUM, RUN, SLOW, browser, open_tab, set_number, shot, visit  # noqa: F401  (browser: a fixture)
from test_training_process import gate  # noqa: F401  (a fixture)

FAST = SLOW  # ms: seconds on an idle machine, but a shared 2-core one under load can take minutes
OUTSIDE = "example.invalid"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (scripts/setup_browser.sh)"
    ),
]


@pytest.fixture
def page(browser, app):  # noqa: F811
    client, _ = app
    page = visit(browser, client.src)
    yield page
    page.context.close()


def status_of(page, panel: str):
    """The status line of a panel."""
    return page.locator(f"#{panel}-status")


def no_bare_error_badge(page) -> None:
    assert page.locator('[data-testid="status-tracker"] span.error:visible').count() == 0


def test_refusals_stay_in_their_panels_status_line(page):
    from playwright.sync_api import expect

    open_tab(page, "Discover")
    set_number(page, "Token budget", 500000)
    page.get_by_role("button", name="Find networks").click()
    expect(status_of(page, "discover")).to_contain_text("Token budget must be a whole number", timeout=FAST)
    open_tab(page, "Lesion/Preserve & Compare")
    page.get_by_label("Only layers (optional)").fill("abc")
    page.get_by_role("button", name="Next-token table").click()
    line = status_of(page, "compare")
    expect(line).to_contain_text("Not done:", timeout=FAST)
    open_tab(page, "Fine-tune")
    page.locator("#finetune-source").get_by_text("Upload a file", exact=True).click()
    page.get_by_role("button", name="Start training").click()
    expect(status_of(page, "finetune")).to_contain_text("Choose a", timeout=FAST)
    page.wait_for_timeout(11_000)  # longer than a notice stays: the status lines stay
    expect(status_of(page, "finetune")).to_contain_text("Choose a")
    open_tab(page, "Discover")
    expect(status_of(page, "discover")).to_contain_text("Token budget")
    no_bare_error_badge(page)
    shot(page, "refusal")


def start_run(page, steps: int) -> None:
    open_tab(page, "Fine-tune")
    set_number(page, "Max steps (-1 = epochs)", steps)
    set_number(page, "Max length (tokens)", 32)
    page.get_by_role("button", name="Start training").click()


def test_a_run_survives_stop_resume_and_a_reload(page, app, gate):  # noqa: F811
    """The run's steps wait on the test's gate, so every state below is reached whatever the machine's load."""
    from playwright.sync_api import expect

    _, state = app
    gate.write_text("2")
    start_run(page, 4)
    panel, log = page.locator("#training-progress"), page.get_by_label("Log")
    expect(log).to_have_value(re.compile(r"step 2/4"), timeout=RUN)  # then it waits at the gate: mid-run
    run = re.search(r"run (\S+)", panel.inner_text()).group(1)
    page.reload()  # the page forgets everything but the run's ticket in localStorage
    open_tab(page, "Fine-tune")
    expect(panel).to_contain_text(run, timeout=FAST)
    expect(panel).to_have_attribute("data-state", "running")
    expect(log).to_have_value(re.compile(r"step 2/4"))
    page.get_by_role("button", name="Stop").click()
    expect(panel).to_have_attribute("data-state", "stopped", timeout=RUN)
    expect(panel).to_contain_text("step 3/4")  # Stop lets the current step end and saves it
    gate.write_text("100")
    page.get_by_role("button", name="Resume from the last checkpoint").click()
    expect(panel).not_to_have_attribute("data-state", "stopped", timeout=RUN)
    expect(panel).to_have_attribute("data-state", "completed", timeout=RUN)  # the panel follows it
    expect(page.get_by_label("Learned and forgotten")).to_contain_text("target (held out)", timeout=FAST)
    expect(panel).to_contain_text("step 4/4")
    assert (state.jobs.runs_dir / run / "final").is_dir()
    no_bare_error_badge(page)
    shot(page, "training_resumed")


def hostile_files(client: Client, folder: Path) -> tuple[Path, Path]:
    """A template for the served model and an evidence file, each with tags, a link and an image in its text."""
    from fnsft.analysis._evidence import load_evidence

    visitor = Client(client.src, verbose=False)
    visitor.predict(*DISCOVERY.values(), api_name="/discover")
    template = json.loads(Path(visitor.predict("mine", [], api_name="/export_template")).read_text())
    visitor.close()
    cover = (
        '<div style="position:fixed;inset:0;background:white;z-index:99">Session expired: log in again</div>'
    )
    template["name"] = HOSTILE + cover
    template["categories"][0] = HOSTILE
    evidence = load_evidence()
    evidence["setup"]["model"] = HOSTILE + '<input type="password" name="p">'
    paths = folder / "hostile.json", folder / "evidence.json"
    for path, content in zip(paths, (template, evidence), strict=True):
        path.write_text(json.dumps(content))
    return paths


def test_hostile_uploads_are_shown_as_text(page, app, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    client, _ = app
    template, evidence = hostile_files(client, tmp_path)
    open_tab(page, "Templates")
    page.locator("#template-import input[type=file]").set_input_files(str(template))
    expect(page.get_by_text("Session expired: log in again").first).to_be_attached(timeout=FAST)
    open_tab(page, "Discover")
    expect(page.locator("#networks-summary")).to_contain_text("<img src=", timeout=FAST)  # literally, as text
    open_tab(page, "Explore")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=FAST)
    open_tab(page, "Evidence")
    page.locator("#evidence-upload input[type=file]").set_input_files(str(evidence))
    expect(page.locator("#evidence-caption")).to_contain_text("Uploaded evidence: <img src=", timeout=FAST)
    page.wait_for_timeout(1000)
    for selector in (f'img[src*="{OUTSIDE}"]', f'a[href*="{OUTSIDE}"]', 'input[type="password"]'):
        assert page.locator(selector).count() == 0, selector
    assert page.locator("div[style*='position:fixed']").count() == 0
    assert page.external_requests == []
    shot(page, "hostile_upload")


def test_a_row_opens_its_card_beside_the_table_and_lesions_it_in_compare(page):
    from playwright.sync_api import expect

    open_tab(page, "Discover")
    page.get_by_role("button", name="Find networks").click()
    expect(page.locator("#networks-summary")).to_contain_text("8 networks", timeout=FAST)
    open_tab(page, "Explore")
    page.locator("#network-table").get_by_role("row").nth(3).get_by_role("gridcell").first.click()  # N2's row
    card = page.locator("#network-card h3")
    expect(card).to_contain_text("N2", timeout=FAST)
    table = page.locator("#network-table").bounding_box()
    assert abs(card.bounding_box()["y"] - table["y"]) < 400  # beside the table, not far below it
    page.get_by_role("button", name="Lesion in Compare").click()
    chosen = page.locator("#compare-networks")
    expect(chosen).to_be_visible(timeout=FAST)
    expect(chosen).to_contain_text("N2 ·")
    expect(page.get_by_role("radio", name="lesion")).to_be_checked()
    shot(page, "explore_card_beside_table")


def test_your_own_text_an_examples_full_text_and_cancel(page, monkeypatch):
    """Explore: every network at every token of a typed text, and a card example's full text; Compare: Generate
    says its time and Cancel stops it (its steps slowed to a big model's pace on the tiny one)."""
    import time

    from playwright.sync_api import expect

    from fnsft.ui import compare

    def slow_steps(*args, **kwargs):
        for texts in compare_stream(*args, **kwargs):
            time.sleep(0.5)
            yield texts

    compare_stream = compare.stream_comparison
    monkeypatch.setattr(compare, "stream_comparison", slow_steps)
    open_tab(page, "Discover")
    page.get_by_role("button", name="Find networks (quick look)").click()
    expect(page.locator("#networks-summary")).to_contain_text("8 networks", timeout=FAST)
    open_tab(page, "Explore")
    expect(page.locator("#network-card h3")).to_contain_text("N0", timeout=FAST)
    page.get_by_label("Your text").fill("def add(a, b): return a + b")
    page.get_by_role("button", name="Show activations").click()
    expect(page.locator("#own-text")).to_contain_text("fires most at", timeout=FAST)
    expect(page.locator("#own-text-networks .js-plotly-plot")).to_be_visible(timeout=FAST)
    page.get_by_role("button", name="Open its full text").click()
    expect(page.get_by_label("Your text")).not_to_have_value("def add(a, b): return a + b", timeout=FAST)
    expect(page.locator("#own-text")).to_contain_text("fires most at", timeout=FAST)
    shot(page, "your_own_text")
    page.get_by_role("button", name="Lesion in Compare").click()
    page.get_by_role("button", name="Generate side by side").click()
    info = page.get_by_text("tokens per side: about")
    expect(info).to_be_visible(timeout=FAST)  # the estimate, after the first step
    page.locator("#compare-cancel").click()
    expect(page.get_by_text("Cancelled after")).to_be_visible(timeout=10_000)  # 48 steps would take 24 s
    no_bare_error_badge(page)
