"""A reader's check in a real browser: JupyterLab on localhost, driven by headless Chromium.

Each test copies a notebook into a scratch folder, opens it in JupyterLab, runs every cell under the
`smoke` profile from the Run menu, presses the Explore section's *Run Interact* button, saves, and
then asserts on both what the page shows (a rendered widget and its output) and what the saved
notebook holds (every code cell executed, no error output). A screenshot of the page is kept in
`test-output/browser/` (or $MINELIB_ARTIFACTS).

Needs Debian's `chromium` (apt) and Playwright for Python (the dev extra); Playwright drives the
system Chromium, it never downloads a browser. Without them the tests skip, except under CI=true,
where a missing browser is a failure: `.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MINELIB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MINELIB_ARTIFACTS", ROOT / "test-output")) / "browser"
# Flags a sandboxed root machine with no outside network needs: without the networking ones
# Chromium keeps retrying connections that this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]
# A smoke notebook runs in ~20 s alone; a loaded 2-core CI machine is slower.
RUN_TIMEOUT_S = float(os.environ.get("MINELIB_BROWSER_TIMEOUT", 420))


def _browser_or_skip():
    missing = []
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e .[dev])")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        msg = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on localhost over a scratch folder; kernels run the smoke profile."""
    _browser_or_skip()
    root = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), "minelib-browser-test"
    # Render every cell (JupyterLab 4 otherwise draws only those near the viewport), and keep the
    # reader's own settings and workspaces out of it.
    for plugin, value in [("notebook-extension/tracker", {"windowingMode": "none", "autoStartDefaultKernel": True}),
                          ("apputils-extension/notification", {"fetchNews": "false"})]:
        path = root / ".settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = dict(os.environ, MINELIB_PROFILE="smoke", MINELIB_OUT=str(root / "out"),
               JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
           f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    log = open(root / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (root / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield {"url": url, "token": token, "root": root}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def run_in_lab(lab, browser, notebook: Path, screenshot: Path, interact: bool = True) -> nbformat.NotebookNode:
    """Open `notebook` in JupyterLab, run all cells, press Run Interact, save; return the saved file.

    Raises AssertionError when a cell errors, a cell never runs, or no widget renders.
    """
    from playwright.sync_api import TimeoutError as PWTimeout

    # Outputs cleared first: every execution count and widget the test sees comes from this run.
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    target = lab["root"] / notebook.name
    nbformat.write(nb, target)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # A workspace of its own, reset: no tab of an earlier test comes back.
        page.goto(f"{lab['url']}/lab/workspaces/{notebook.stem}/tree/{notebook.name}"
                  f"?reset&token={lab['token']}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        _wait_kernel_idle(page, 90)
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()
        _wait_all_executed(page, RUN_TIMEOUT_S)
        widgets = page.locator(".jp-OutputArea-output .widget-interact, .jp-OutputArea-output .jupyter-widgets")
        if interact and widgets.count():
            button = page.get_by_role("button", name="Run Interact")
            button.last.scroll_into_view_if_needed()
            button.last.click()
            _wait_kernel_idle(page, RUN_TIMEOUT_S)
            interact_out = page.locator(".widget-interact .jp-OutputArea-output")
            try:
                interact_out.first.wait_for(timeout=60_000)
            except PWTimeout:
                raise AssertionError("Run Interact produced no output") from None
        explore = page.locator(".jp-CodeCell", has=page.locator(".widget-interact, .jupyter-widgets"))
        if explore.count():  # the reader's view: the Explore cell, its widgets and what they drew
            explore.last.scroll_into_view_if_needed()
            explore.last.screenshot(path=str(screenshot))
        else:
            page.screenshot(path=str(screenshot))
        n_widgets = widgets.count()
        before = target.stat().st_mtime
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        deadline = time.time() + 30
        while target.stat().st_mtime == before and time.time() < deadline:
            time.sleep(0.2)
        assert target.stat().st_mtime != before, "JupyterLab did not save the notebook"
    except Exception:
        page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-failed.png")))
        raise
    finally:
        page.close()
    saved = nbformat.read(target, as_version=4)
    _assert_clean(saved, notebook.name)
    assert n_widgets > 0, f"{notebook.name}: no ipywidget rendered in the page"
    return saved


def _kernel_idle(page) -> bool:
    """The status bar names a started kernel and says it is idle ("Python 3 (ipykernel) | Idle").

    The toolbar's indicator alone also reads idle before any kernel has started.
    """
    texts = page.locator(".jp-StatusBar-Widget").all_inner_texts()
    return any("| Idle" in t and "No Kernel" not in t for t in texts)


def _wait_kernel_idle(page, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while not _kernel_idle(page):
        if time.time() > deadline:
            raise AssertionError(f"the kernel was not idle within {timeout_s} s")
        time.sleep(0.25)


def _wait_all_executed(page, timeout_s: float) -> None:
    """Wait until the run is over: kernel idle, no cell queued ([*]), the first code cell numbered.

    After an error JupyterLab clears the queue, so a failed run also ends here; the saved
    notebook then shows which cells never ran.
    """
    deadline, settled, prompts = time.time() + timeout_s, 0, []
    while time.time() < deadline:
        prompts = [p.strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        done = (_kernel_idle(page) and prompts and prompts[0][1:2].isdigit()
                and not any("*" in p for p in prompts))
        settled = settled + 1 if done else 0
        if settled >= 3:  # idle across three polls: not the gap between two queued cells
            return
        time.sleep(0.5)
    raise AssertionError(f"cells did not finish in {timeout_s} s: prompts {prompts}")


def _assert_clean(nb: nbformat.NotebookNode, name: str) -> None:
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    never = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not never, f"{name}: code cells {never} never ran"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: cell raised {errors[0]['ename']}: {errors[0]['evalue']}"


@pytest.mark.parametrize("name", ["fig1_gaussian_mi", "table3_mnist_bottleneck"])
def test_notebook_runs_in_jupyterlab(lab, browser, name):
    saved = run_in_lab(lab, browser, ROOT / "notebooks" / f"{name}.ipynb", ARTIFACTS / f"{name}.png")
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    widget_views = [o for c in saved.cells for o in c.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views, "the saved notebook holds no widget view"


def _tiny_notebook(path: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_check_fails_on_a_cell_error(lab, browser, tmp_path):
    nb = _tiny_notebook(tmp_path / "broken.ipynb", [
        "import ipywidgets as w\nw.IntSlider()", "raise ValueError('deliberate')"])
    with pytest.raises(AssertionError, match="deliberate"):
        run_in_lab(lab, browser, nb, tmp_path / "broken.png", interact=False)


def test_check_fails_without_a_widget(lab, browser, tmp_path):
    nb = _tiny_notebook(tmp_path / "plain.ipynb", ["x = 1 + 1", "print(x)"])
    with pytest.raises(AssertionError, match="no ipywidget rendered"):
        run_in_lab(lab, browser, nb, tmp_path / "plain.png", interact=False)


def test_report_renders_with_its_figures(lab, browser):
    """REPORT.html over what the notebooks above wrote: tables and every figure load in Chromium."""
    from minelib.report import write_report

    out = lab["root"] / "out"
    if not (out / "results").is_dir():  # this test run alone: make one notebook's results first
        run_in_lab(lab, browser, ROOT / "notebooks" / "fig1_gaussian_mi.ipynb", ARTIFACTS / "fig1_gaussian_mi.png")
    write_report(out, expected=["fig1_gaussian_mi", "table2_celeba_bidirectional"])
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    try:
        page.goto((out / "REPORT.html").as_uri())
        images = page.locator("img")
        assert images.count() > 0, "the report shows no figure"
        page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=30_000)
        broken = page.evaluate("Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)")
        assert not broken, f"figures that did not load: {broken}"
        assert page.locator("table").count() >= 2
        assert "not run" in page.locator("body").inner_text()  # the expected notebook that did not run
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    finally:
        page.close()
