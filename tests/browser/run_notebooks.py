"""Open every notebook in JupyterLab in headless Chromium, as a reader of a fresh clone would.

Run: ``make browser-test`` (or ``.venv/bin/python tests/browser/run_notebooks.py [NAME ...]``). Needs Debian's
``chromium`` (or ``CHROMIUM=/path/to/chrome``); Playwright drives it through ``executable_path``, so Playwright's
own browser download is never used. For each notebook, in a copy under ``build/browser/`` so that nothing the
browser does is saved into ``notebooks/``:

1. before anything runs (the notebook untrusted, as in a fresh clone): it opens unmodified, and every stored
   picture output (figures, widgets, the animation) renders as a loaded ``<img>``, never as a widget's repr;
2. Run All: every cell finishes within the timeout and none has an error output;
3. the animation plays (its inline player runs once the output is trusted); every control of every widget is
   moved once (dropdown, slider, toggle), and the widget's picture must change; the picture is shown at its
   natural size and the widget fits on one screen;
4. screenshots of the notebook and of each widget go to ``build/browser/screenshots/``.

Notebooks are checked ``--jobs`` at a time (default 2), each job with its own headless Chromium against one
JupyterLab server, whose kernels share the cores (``OMP_NUM_THREADS``: the cores divided by the jobs). JupyterLab and
the browsers are stopped at the end, whatever happened. Exit status 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "browser"
VIEWPORT = {"width": 1280, "height": 1000}
RUN_TIMEOUT_S = 420  # Run All of one notebook; the slowest takes about a minute on a 2-core CPU
PICTURE_TIMEOUT_S = 60  # one widget redraw (a kernel round trip and a matplotlib figure)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# JupyterLab settings for an unattended run: every cell attached to the page (no windowing), no autosave,
# no news or update check (no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root_dir: Path, settings_dir: Path, port: int, token: str, log, threads: int) -> subprocess.Popen:
    """JupyterLab on 127.0.0.1:port serving root_dir, in its own process group (so it can be stopped whole); its
    kernels compute on ``threads`` threads each."""
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    command = [
        str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root_dir}", "--ServerApp.port_retries=0",
        "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={settings_dir / 'workspaces'}",
        "--NotebookNotary.db_file=:memory:",  # nothing trusted: as a fresh clone opens
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root_dir, env=env
    )


def wait_for_lab(proc: subprocess.Popen, url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        check(proc.poll() is None, f"JupyterLab exited with status {proc.returncode} (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise CheckFailed(f"JupyterLab did not answer at {url} within {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server shuts its kernels down), SIGKILL what is left."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def stored_pictures(path: Path) -> list[int]:
    """Per cell of the stored notebook: how many of its outputs are pictures (PNG, or HTML with an <img>)."""
    nb = json.loads(path.read_text())
    counts = []
    for cell in nb["cells"]:
        n = 0
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            n += "image/png" in data or "<img" in "".join(data.get("text/html", ""))
        counts.append(n)
    return counts


def stored_run_seconds(path: Path) -> float:
    """How long the stored notebook's cells took when it was last executed (nbclient's timing metadata; 0 without)."""
    total = 0.0
    for cell in json.loads(path.read_text())["cells"]:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[k]) for k in ("iopub.execute_input", "shell.execute_reply"))
            total += (end - start).total_seconds()
    return total


def widget_cells(path: Path) -> list[int]:
    """Indices of the stored notebook's cells whose outputs hold a widget view."""
    cells = json.loads(path.read_text())["cells"]
    return [i for i, c in enumerate(cells) if any(WIDGET_VIEW in o.get("data", {}) for o in c.get("outputs", []))]


# JavaScript run in the page. ``window.jupyterapp`` is exposed by --LabApp.expose_app_in_browser.
JS_PANEL = """() => {  // the notebook panel is open (the app object appears only once JupyterLab has started)
  const app = window.jupyterapp, panel = app && app.shell && app.shell.currentWidget;
  return Boolean(panel && panel.content && panel.context && panel.sessionContext);
}"""
JS_OPENED = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  await new Promise(r => setTimeout(r, 1000));  // let JupyterLab apply what it rewrites on open
  return {dirty: panel.context.model.dirty, cells: panel.content.widgets.length,
          kernel: panel.sessionContext.session && panel.sessionContext.session.kernel.name};
}"""
JS_RENDERED = """(expected) => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  const problems = [];
  cells.forEach((cell, i) => {
    const outputs = [...cell.node.querySelectorAll('.jp-OutputArea-output')];
    const loaded = outputs.flatMap(o => [...o.querySelectorAll('img')]).filter(
      img => img.complete && img.naturalWidth > 0).length;
    const text = outputs.map(o => o.innerText).join('\\n');
    if (loaded < expected[i]) problems.push(`cell ${i}: ${loaded} of ${expected[i]} pictures rendered`);
    if (text.includes('(children=(') || text.includes('Error displaying widget'))
      problems.push(`cell ${i}: a widget shows text instead of its picture: ${text.slice(0, 80)}`);
  });
  return problems;
}"""
JS_RUN_ALL = """async (timeoutMs) => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  const run = app.commands.execute('notebook:run-all-cells');
  const timer = new Promise(r => setTimeout(() => r('timeout'), timeoutMs));
  const outcome = await Promise.race([run.then(() => 'done'), timer]);
  const problems = [];
  panel.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) return;
    if (cell.model.executionCount === null) problems.push(`cell ${i} did not run`);
    if (cell.node.querySelector('.jp-InputArea-prompt') &&
        cell.node.querySelector('.jp-InputArea-prompt').innerText.includes('*'))
      problems.push(`cell ${i} did not finish`);
    for (const output of cell.model.outputs.toJSON())
      if (output.output_type === 'error') problems.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
  });
  if (outcome === 'timeout') problems.unshift(`Run All did not finish within ${timeoutMs / 1000} s`);
  return problems;
}"""
JS_MARK_WIDGETS = """() => {
  // the outermost widget boxes that hold a picture, numbered in document order
  const boxes = [...document.querySelectorAll('.jp-OutputArea-output .widget-box')].filter(
    b => b.querySelector('img') && !b.parentElement.closest('.widget-box'));
  boxes.forEach((b, i) => b.setAttribute('data-stviz-widget', String(i)));
  return boxes.length;
}"""


def move_controls(page: Page, box, label: str) -> list[str]:
    """Move each control of one widget box once; return the problems found (picture unchanged, layout)."""
    problems = []
    img = box.locator("img").first
    box.scroll_into_view_if_needed()
    size = img.evaluate("i => [i.clientWidth, i.naturalWidth, i.clientHeight, i.naturalHeight]")
    if abs(size[0] - size[1]) > 1 or abs(size[2] - size[3]) > 1:
        problems.append(f"{label}: picture shown at {size[0]}x{size[2]}, natural size {size[1]}x{size[3]}")
    height = box.bounding_box()["height"]
    if height > VIEWPORT["height"]:
        problems.append(f"{label}: controls and picture take {height:.0f} px, more than one screen")

    def changed(action: str, do) -> None:
        before = img.get_attribute("src")
        do()
        try:
            page.wait_for_function("([i, s]) => i.src !== s", arg=[img.element_handle(), before],
                                   timeout=PICTURE_TIMEOUT_S * 1000)  # fmt: skip
        except Exception:
            problems.append(f"{label}: the picture did not change after {action}")

    controls = 0
    for select in box.locator("select").all():
        count = select.locator("option").count()
        current = select.evaluate("s => s.selectedIndex")
        changed(f"choosing another option of dropdown {controls}",
                lambda s=select, c=count, k=current: s.select_option(index=(k + 1) % c))  # fmt: skip
        controls += 1
    for handle in box.locator(".noUi-handle").all():
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        key = "ArrowLeft" if at_max else "ArrowRight"
        changed(f"pressing {key} on slider {controls}", lambda h=handle, k=key: (h.focus(), h.press(k)))
        controls += 1
    for toggles in box.locator(".widget-toggle-buttons").all():
        other = toggles.locator("button:not(.mod-active)").first
        changed(f"clicking toggle {controls}", other.click)
        controls += 1
    if controls == 0:
        problems.append(f"{label}: no control found")
    settle(img)
    return problems


def settle(img, quiet_s: float = 1.5, timeout_s: float = PICTURE_TIMEOUT_S) -> None:
    """Wait until the picture has stopped changing (a key press can queue more than one redraw)."""
    deadline = time.monotonic() + timeout_s
    last, since = img.get_attribute("src"), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.25)
        src = img.get_attribute("src")
        if src != last:
            last, since = src, time.monotonic()


def check_notebook(page: Page, base: str, token: str, copy: Path, shots: Path, workspace: str) -> list[str]:
    name = copy.stem
    problems: list[str] = []
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/notebooks/{copy.name}?reset&token={token}")
    page.wait_for_function(JS_PANEL, timeout=120_000)
    opened = page.evaluate(JS_OPENED)
    if opened["dirty"]:
        problems.append(f"{name}: opens marked modified")
    # 1. stored outputs, untrusted, before anything runs
    try:
        page.wait_for_function(f"(e) => ({JS_RENDERED})(e).length === 0", arg=stored_pictures(copy), timeout=60_000)
    except Exception:
        problems += [f"{name} (stored): {p}" for p in page.evaluate(JS_RENDERED, stored_pictures(copy))]
    cells = page.locator(".jp-Notebook .jp-Cell")
    for i in widget_cells(copy):
        cells.nth(i).screenshot(path=str(shots / f"{name}-stored-cell{i}.png"))
    # 2. Run All
    started = time.monotonic()
    problems += [f"{name} (run): {p}" for p in page.evaluate(JS_RUN_ALL, RUN_TIMEOUT_S * 1000)]
    print(f"  {name}: Run All {time.monotonic() - started:.0f} s", flush=True)
    # the animation, now trusted: the inline player must add its controls and advance the frames
    players = page.locator('[id^="stviz-anim-"]')
    for i in range(players.count()):
        img = players.nth(i).locator("img").first
        before = img.get_attribute("src")
        try:
            page.wait_for_function("([i, s]) => i.src !== s", arg=[img.element_handle(), before], timeout=10_000)
            check(players.nth(i).locator("button").count() == 1, "no play/pause button")
        except Exception as error:
            problems.append(f"{name} animation {i}: does not play ({type(error).__name__})")
    # 3. widgets
    widgets = page.evaluate(JS_MARK_WIDGETS)
    for i in range(widgets):
        box = page.locator(f'[data-stviz-widget="{i}"]')
        problems += move_controls(page, box, f"{name} widget {i}")
        box.screenshot(path=str(shots / f"{name}-widget{i}.png"))
    print(f"  {name}: {players.count()} animations played, {widgets} widgets moved", flush=True)
    page.screenshot(path=str(shots / f"{name}-run.png"))
    return problems


def check_queue(notebooks: list[Path], lock: threading.Lock, chromium: str, base: str, token: str, shots: Path,
                problems: dict[str, list[str]], workspace: str) -> None:  # fmt: skip
    """One job: its own browser, in its own JupyterLab workspace, checks the next unchecked notebook until none is
    left; problems by notebook name."""
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox", "--disable-dev-shm-usage"])  # fmt: skip
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.on("dialog", lambda dialog: dialog.accept())  # "leave page?" when moving on
                while True:
                    with lock:
                        if not notebooks:
                            return
                        copy = notebooks.pop(0)
                    try:
                        problems[copy.stem] = check_notebook(page, base, token, copy, shots, workspace)
                    except Exception as error:  # a timeout or a page error: report it, go on
                        problems[copy.stem] = [f"{copy.stem}: {type(error).__name__}: {first_line(error)}"]
                        with contextlib.suppress(Exception):  # a crashed page takes no screenshot
                            page.screenshot(path=str(shots / f"{copy.stem}-failed.png"))
            finally:
                browser.close()
    except Exception as error:  # the browser did not start, or crashed: the run fails, whatever the other jobs do
        problems[workspace] = [f"{workspace}: {type(error).__name__}: {first_line(error)}"]


def first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names or prefixes (default: all), e.g. 00 05_tsm")
    parser.add_argument("--folder", type=Path, default=ROOT / "notebooks", help="where the notebooks are")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks checked at a time, each in its own browser")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"argument --jobs: expected an integer >= 1, got {args.jobs}")
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("no chromium found: install Debian's chromium package or set CHROMIUM=/path/to/chrome", file=sys.stderr)
        return 2
    notebooks = sorted(args.folder.glob("*.ipynb"))
    if args.names:
        notebooks = [p for p in notebooks if any(p.stem.startswith(n) for n in args.names)]
    if not notebooks:
        parser.error(f"no notebook in {args.folder} matches {' '.join(args.names) or '*.ipynb'}")
    shutil.rmtree(BUILD, ignore_errors=True)
    (BUILD / "notebooks").mkdir(parents=True)
    shots = BUILD / "screenshots"
    shots.mkdir()
    copies = [Path(shutil.copy2(p, BUILD / "notebooks" / p.name)) for p in notebooks]
    jobs = min(args.jobs, len(copies))
    port, token = free_port(), os.urandom(12).hex()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    problems: dict[str, list[str]] = {}
    with open(BUILD / "jupyterlab.log", "w") as log, tempfile.TemporaryDirectory() as settings:
        lab = start_lab(BUILD, Path(settings), port, token, log, threads=max(1, len(os.sched_getaffinity(0)) // jobs))
        try:
            wait_for_lab(lab, f"{base}/api/status?token={token}")
            # the longest first, so that the jobs finish close together
            queue, lock = sorted(copies, key=stored_run_seconds, reverse=True), threading.Lock()
            workers = [threading.Thread(target=check_queue, daemon=True,  # Ctrl-C stops them with the run
                                        args=(queue, lock, chromium, base, token, shots, problems, f"job{k}"))
                       for k in range(jobs)]  # fmt: skip
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        finally:
            stop(lab)
    print(f"browser test: {len(copies)} notebooks, {jobs} at a time, in {time.monotonic() - started:.0f} s; "
          f"screenshots in {shots}")  # fmt: skip
    for name in (c.stem for c in copies if c.stem not in problems):  # left in the queue of a job that failed
        problems[name] = [f"{name}: not checked (its job stopped early)"]
    for name in sorted(problems):
        for problem in problems[name]:
            print("FAILED:", problem)
    failed = sum(bool(problems[c.stem]) for c in copies)
    print(f"{len(copies) - failed} passed, {failed} failed")
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
