"""A person's session in headless Chromium against the app serving the real embedded model.

Loads the model, runs a small discovery, explores, compares generations with a network lesioned, runs and stops a
short fine-tune, and exports a template, checking what the page shows at each step and that it requests nothing
from outside this machine; a second visitor in another browser context meanwhile sees the shipped networks, not
the first visitor's. Screenshots land in a temporary folder; with FNSFT_REFRESH_SCREENSHOTS=1 they replace the
ones in assets/screenshots/ (shown in docs/app.md).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "assets" / "screenshots"
    if os.environ.get("FNSFT_REFRESH_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "fnsft-screenshots"
)
LOCAL_PREFIXES = ("http://127.0.0.1", "data:", "blob:")
SLOW = 240_000  # ms: a shared 2-core machine can be several times slower than usual
RUN = 600_000  # ms: a training run is a child process, whose start and first steps take minutes under load

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: install Debian's chromium (scripts/setup_browser.sh does it)",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app as `fnsft-app` starts it (embedded model loading in the background), on a free local port."""
    from fnsft.ui.app import build_app, launch
    from fnsft.ui.state import AppState

    state = AppState(runs_dir=tmp_path_factory.mktemp("runs"), work_dir=tmp_path_factory.mktemp("work"))
    state.load_in_background(None)
    demo = build_app(state)
    port = free_port()
    launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    state.close()  # a run a failed test left going must not outlive the module


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def visit(browser, url: str):
    """A page in a browser context of its own (another visitor), recording every request leaving this machine."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.external_requests = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(LOCAL_PREFIXES) else page.external_requests.append(request.url)
        ),
    )
    page.set_default_timeout(SLOW)  # a loaded shared machine: clicks and page loads can take minutes
    page.goto(url, timeout=SLOW)
    return page


@pytest.fixture(scope="module")
def page(browser, app_url):
    return visit(browser, app_url)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def set_number(page, label: str, value: int) -> None:
    """Type into a number field (the number box of a slider too) and commit it."""
    field = page.get_by_label(label).or_(page.get_by_label(f"number input for {label}")).first
    field.fill(str(value))
    field.press("Enter")


def choose(page, elem_id: str, name: str | None = None) -> str:
    """Pick an option of a dropdown (the first, or the one called `name`); returns its text."""
    page.locator(f"#{elem_id} input").first.click()
    options = page.get_by_role("option")
    option = options.first if name is None else options.filter(has_text=name).first
    text = option.inner_text()
    option.click()
    page.keyboard.press("Escape")
    return text


def expect_result(page, locator, text: str, panel: str) -> None:
    """The result shows `text` within SLOW; else fail with what the panel's status line says (a refusal or an
    error shows there, not in the result)."""
    from playwright.sync_api import expect

    try:
        expect(locator).to_contain_text(text, timeout=SLOW)
    except AssertionError as error:
        status = page.locator(f"#{panel}-status").inner_text()
        raise AssertionError(f"#{panel}-status says {status!r}; {error}") from None


def test_a_session_in_the_browser(browser, app_url, page):
    from playwright.sync_api import expect

    # Model: the embedded model, loaded again with the button.
    page.get_by_role("button", name="Load model for everyone").click()
    expect(page.get_by_text(re.compile(r"^processing"))).to_have_count(0, timeout=SLOW)
    expect(page.get_by_text("MLP neurons in all")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("cell", name="46,080")).to_be_visible()
    expect(page.get_by_role("heading", name="SmolLM2-135M-Instruct")).to_be_visible()
    shot(page, "1_model")

    # Discover: a small run on the shipped corpus.
    open_tab(page, "Discover")
    set_number(page, "Networks (ICA components)", 6)
    set_number(page, "Token budget", 512)
    page.get_by_role("button", name="Find networks").click()
    result = page.locator("#networks-summary")
    expect_result(page, result, "6 networks", "discover")
    expect(result).to_contain_text("categories:")
    shot(page, "2_discover")

    # Another visitor, meanwhile: they start from the shipped networks, and the first visitor's stay theirs.
    other = visit(browser, app_url)
    other.get_by_role("tab", name="Discover").click()
    expect(other.locator("#networks-summary")).to_contain_text("20 networks", timeout=SLOW)
    open_tab(other, "Lesion/Preserve & Compare")
    other.locator("#compare-networks input").first.click()
    expect(other.get_by_role("option")).to_have_count(20)
    shot(other, "0_second_visitor")
    other.context.close()
    expect(result).to_contain_text("6 networks")

    # Explore: six figures drawn by Plotly (the card's histogram among them) and the card of the first network;
    # a click on a table row opens that network's card.
    open_tab(page, "Explore")
    expect(page.locator(".js-plotly-plot")).to_have_count(6, timeout=SLOW)
    expect(page.locator("#network-card")).to_contain_text("Top activations", timeout=SLOW)
    expect(page.get_by_text("N0 activation:")).to_be_visible(timeout=SLOW)
    shot(page, "3_explore")
    page.locator("#network-table").get_by_role("row").nth(3).get_by_role("gridcell").first.click()  # N2's row
    expect(page.locator("#network-card h3")).to_contain_text("N2", timeout=SLOW)
    shot(page, "3_network_card")

    # Lesion & compare: one network lesioned, both generations streamed side by side.
    open_tab(page, "Lesion/Preserve & Compare")
    page.locator("#compare-networks input").first.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(6)  # this visitor's own discovery
    label = options.first.inner_text()
    options.first.click()
    page.keyboard.press("Escape")
    assert label.startswith("N0 · ")
    page.get_by_text("Decoding").click()
    set_number(page, "Max new tokens", 16)
    page.get_by_role("button", name="Generate side by side").click()
    expect(page.get_by_text("neurons silenced")).to_be_visible(timeout=SLOW)
    for name in ("Unmasked model", "Masked model"):
        expect(page.get_by_label(name, exact=True)).not_to_have_value("", timeout=SLOW)
    expect(page.get_by_text(re.compile(r"done in \d+ s"))).to_be_visible(
        timeout=SLOW
    )  # its slot is free again
    page.get_by_role("button", name="Next-token table").click()
    expect(page.get_by_text("KL(unmasked ‖ masked)")).to_be_visible(timeout=SLOW)
    set_number(page, "Texts per category", 2)
    page.get_by_role("button", name="Measure effect").click()
    expect(page.get_by_text("as much as with random masks")).to_be_visible(timeout=SLOW)
    table_box = page.locator("#effect-table").bounding_box()
    for column in ("ratio", "note"):  # not cut off: inside the table's own width, no horizontal scrolling
        box = page.locator("#effect-table").get_by_role("columnheader", name=column).bounding_box()
        assert box["x"] + box["width"] <= table_box["x"] + table_box["width"] + 1, column
    expect(page.locator(".js-plotly-plot")).to_have_count(7)  # six in Explore, the effect chart here
    shot(page, "4_compare")

    # Fine-tune: a LoRA run with the network's neurons frozen, started, followed, then stopped.
    open_tab(page, "Fine-tune")
    expect(page.get_by_text("Detected format alpaca")).to_be_visible(timeout=SLOW)
    choose(page, "finetune-networks")
    choose(page, "network-mode", "freeze")
    set_number(page, "Max steps (-1 = epochs)", 200)
    set_number(page, "Max length (tokens)", 128)
    page.get_by_role("button", name="Start training").click()
    panel = page.locator("#training-progress")
    expect(panel).to_have_attribute("data-state", "running", timeout=SLOW)
    expect(page.get_by_label("Log")).to_have_value(re.compile(r"step 3/200"), timeout=RUN)
    expect(page.locator("#loss-plot .js-plotly-plot")).to_be_visible()
    shot(page, "5_finetune")
    page.get_by_role("button", name="Stop").click()
    expect(panel).to_have_attribute("data-state", "stopped", timeout=SLOW)

    # Templates: export the lesioned network as a file to download.
    open_tab(page, "Templates")
    choose(page, "export-networks")
    page.get_by_role("button", name="Export template").click()
    expect(page.get_by_role("cell", name="my-networks.json")).to_be_visible(timeout=SLOW)
    shot(page, "6_templates")

    # Evidence: the saved curves and the learned-vs-forgotten figure, drawn from the committed JSON.
    open_tab(page, "Evidence")
    expect(page.get_by_text("Saved evidence:")).to_be_visible(timeout=SLOW)
    expect(page.locator("#evidence-tab .js-plotly-plot")).to_have_count(3, timeout=SLOW)
    expect(page.get_by_role("gridcell", name="full, networks frozen", exact=True)).to_be_visible()
    shot(page, "7_evidence")

    assert page.external_requests == []
