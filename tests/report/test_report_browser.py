"""The HTML report in a real browser: headless Chromium, driven over the Chrome DevTools Protocol.

The page loads with no console errors or uncaught exceptions, a real mouse click on a column header
reorders the table's rows, and a screenshot of the page is not blank. Skipped when no Chromium is
installed, unless PROBEKIT_REQUIRE_BROWSER=1 (CI sets it, after installing Debian's `chromium`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from probekit.report.html import write_report

from .results_factory import make_result, write_results

pytestmark = pytest.mark.browser
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The Chromium executable, or skip (fail under PROBEKIT_REQUIRE_BROWSER=1) naming what is missing."""
    found = next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        missing = "no chromium found (apt-get install chromium)"
    elif not _importable("websocket"):
        missing = "websocket-client is not installed (pip install -e '.[dev]')"
    else:
        return found
    if os.environ.get("PROBEKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PROBEKIT_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(f"{missing}; set PROBEKIT_REQUIRE_BROWSER=1 to make this a failure")


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


class Page:
    """One browser tab over CDP: send commands, collect the console errors and exceptions it reports."""

    def __init__(self, url: str) -> None:
        import websocket

        self.socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._event(message)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            self._event(message)
            if message.get("method") == method:
                return
        raise AssertionError(f"no {method} within {timeout} s")

    def _event(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params.get("exceptionDetails", {}))[:300])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(json.dumps(params.get("args", []))[:300])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append(params["entry"].get("text", "")[:300])

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
def browser(tmp_path) -> Iterator[str]:
    """A headless Chromium with a DevTools port; yields the websocket URL of its first tab."""
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # CI containers run as root
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1280,1600",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield _tab_url(profile / "DevToolsActivePort", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _tab_url(port_file: Path, process: subprocess.Popen[bytes]) -> str:
    """The first tab's websocket URL, once Chromium has written its DevTools port."""
    import urllib.request

    deadline = time.monotonic() + 60
    while not port_file.is_file() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"chromium did not start (exit {process.poll()})")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        tabs = json.load(response)
    return str(next(t for t in tabs if t.get("type") == "page")["webSocketDebuggerUrl"])


ROWS = "Array.from(document.querySelectorAll('#results tbody tr')).map(r => r.cells[1].textContent)"


def test_report_loads_sorts_and_draws(tmp_path, browser):
    results = [
        make_result(backbone=name, metrics={"mIoU": miou, "pixel_accuracy": 0.5})
        for name, miou in (("test-vit", 0.30), ("pixels-p16", 0.10), ("probekit-tiny", 0.50))
    ]
    page_path = write_report(write_results(tmp_path / "results", results), tmp_path / "report")
    page = Page(browser)
    for domain in ("Page", "Runtime", "Log"):
        page.send(f"{domain}.enable")
    page.send("Page.navigate", url=page_path.as_uri())
    page.wait_for("Page.loadEventFired")

    before = page.evaluate(ROWS)
    assert before == ["10.0", "50.0", "30.0"]  # the table's own order: pixels first, then by name
    box = page.evaluate(
        "(() => { const th = document.querySelectorAll('#results th')[1]; th.scrollIntoView();"
        " const r = th.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    for _ in range(2):  # the first click sorts ascending, the second descending
        for kind in ("mousePressed", "mouseReleased"):
            page.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
    after = page.evaluate(ROWS)
    assert after == ["50.0", "30.0", "10.0"]
    assert page.evaluate("document.querySelectorAll('#results th')[1].getAttribute('aria-sort')") == "descending"
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")

    shot = page.send("Page.captureScreenshot", format="png")
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"), dtype=np.float32)
    (tmp_path / "screenshot.png").write_bytes(base64.b64decode(shot["data"]))
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 10  # text, table lines and a plot: not a blank page
    assert page.errors == []
