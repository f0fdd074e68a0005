"""`bwot serve` as a user starts it (a free loopback port): the page works offline, its JSON API, and the
page in a real headless Chromium: strokes drawn on the canvas bring k models with their classes.

The browser test needs Debian's `chromium` and `chromium-driver` (.ci/run installs them) and selenium;
where they are missing it is skipped, saying so (in CI it fails). Run it on another run, and keep the
screenshot (how docs/img/serve.png is made):

    BWOT_SERVE_RUN=results/builtin BWOT_SCREENSHOT=docs/img/serve.png pytest tests/test_serve.py -k browser
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fake_run import CLASSES, make_run
from PIL import Image

from bwot.query import Retriever

STATIC = Path(__file__).resolve().parents[1] / "src" / "bwot" / "serve" / "static"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("workflow"))


@dataclass
class Served:
    """A running `bwot serve`: its URL, process and log file (stdout and stderr)."""

    url: str
    proc: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(run: Path, *args: str, wait_s: float = 300) -> Iterator[Served]:
    """`bwot serve --run RUN --port 0` (any free port, 127.0.0.1), its output to a file (a pipe nobody
    reads could fill up and stop it); yields it once it says where it listens (waits on that line, or on
    the process ending, never on a fixed delay)."""
    log = Path(tempfile.mkstemp(prefix="bwot-serve-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "bwot.cli", "serve", "--run", str(run), "--port", "0", *args]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + wait_s
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if found := re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text()):
                url = found.group(1)
            else:
                time.sleep(0.1)
        assert url, "bwot serve did not start:\n" + log.read_text()
        yield Served(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def server(fake_run) -> Iterator[str]:
    with serving(fake_run, "-k", "5") as served:
        yield served.url


def fetch(url: str, data: bytes | None = None) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET, or of a POST of `data`."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("content-type", "")


def test_the_page_loads_nothing_from_other_hosts():
    files = sorted(STATIC.iterdir())
    assert {p.name for p in files} == {"index.html", "app.js", "style.css"}
    for path in files:
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path  # no URL to any host
        assert "@import" not in text and "@font-face" not in text, path


def test_api_answers_as_the_retriever(fake_run, server):
    status, page, kind = fetch(server + "/")
    assert status == 200 and kind.startswith("text/html") and b"/static/app.js" in page
    assert fetch(server + "/docs")[0] == 404  # FastAPI's docs page loads Swagger UI from a CDN: off
    info = json.loads(fetch(server + "/api/info")[1])
    assert (info["loss"], info["targets"], info["targets_skipped"], info["k"]) == ("ot", 8, 1, 5)
    tests = json.loads(fetch(server + "/api/tests")[1])
    assert [t["id"] for t in tests] == [f"t{i}" for i in range(6)] and tests[2]["class"] == CLASSES[2]
    status, body, kind = fetch(server + "/api/tests/t2.png")
    assert status == 200 and kind == "image/png"

    retriever = Retriever(fake_run)
    sketch = fake_run.parent.parent / "data" / "table" / "test" / "t2.png"
    expected = [(h.id, h.class_name, h.distance) for h in retriever.search(sketch, k=4).hits]
    for url, data in (
        (server + "/api/search?k=4", sketch.read_bytes()),
        (server + "/api/search/test/t2?k=4", b""),
    ):
        status, body, _ = fetch(url, data)
        assert status == 200, body
        answer = json.loads(body)
        assert [(h["id"], h["class"], h["distance"]) for h in answer["results"]] == expected
        assert answer["sketch"].startswith("data:image/png;base64,")
    assert answer["class"] == "table" and [h["correct"] for h in answer["results"]] == [
        c == "table" for _, c, _ in expected
    ]
    status, body, kind = fetch(server + answer["results"][0]["thumbnail"])
    assert status == 200 and kind == "image/png"
    assert Image.open(io.BytesIO(body)).size == (96, 96)


def test_a_stale_test_shard_of_an_earlier_run_is_not_shown(fake_run, tmp_path):
    """A shard left from a run with more shards (older) holds ids the current shard has too: the newest
    shard's images are the ones shown."""
    import shutil

    from bwot.io import h5_writer, write_strings
    from bwot.serve.app import TestSketches

    run = tmp_path / "run"
    shutil.copytree(fake_run, run)
    current = run / "sketches" / "test" / "shard-0.h5"
    stale = current.with_name("shard-1.h5")
    with h5_writer(stale) as f:
        f["images"] = np.zeros((2, 4, 32, 32), np.uint8)
        write_strings(f, "ids", ["t0", "t1"])
    os.utime(stale, (current.stat().st_mtime - 60,) * 2)
    tests = TestSketches.of_run(run)
    assert tests.where["t0"] == (current, 0) and tests.image("t1").max() > 0


@pytest.mark.parametrize(
    ("path", "data", "status", "detail"),
    [
        ("/api/search", b"<html>not an image</html>", 422, r"^the drawing: not a readable image"),
        ("/api/search", b"", 422, r"^the drawing: empty file"),
        ("/api/search?k=0", b"x", 422, r"k must be between 1 and 100"),
        ("/api/search/test/nope", b"", 404, r"no test sketch 'nope'"),
        ("/api/thumbnails/99.png", None, 404, r"no target row 99"),
    ],
)
def test_bad_requests_get_one_line(server, path, data, status, detail):
    got, body, _ = fetch(server + path, data)
    message = json.loads(body)["detail"]
    assert got == status and re.search(detail, message) and "\n" not in message, (got, message)


def test_blank_drawing_says_there_is_no_ink(server):
    blank = Image.fromarray(np.full((300, 300), 255, np.uint8))
    buffer = io.BytesIO()
    blank.save(buffer, format="PNG")
    status, body, _ = fetch(server + "/api/search", buffer.getvalue())
    assert status == 422 and "no ink" in json.loads(body)["detail"]


def test_queries_answered_together_are_the_bits_of_one_at_a_time(fake_run):
    """The batcher's answers (CNN passes side by side, the metric network and the distances in batches)
    equal `Retriever.search` one sketch at a time (in this process: all its threads), bit for bit."""
    import asyncio

    import torch

    from bwot.serve.batcher import QueryBatcher

    retriever = Retriever(fake_run)
    paths = sorted((fake_run.parent.parent / "data").rglob("*.png"))
    ks = [3 + i % 5 for i in range(len(paths))]  # each query its own k
    alone = [retriever.search(p, k=k) for p, k in zip(paths, ks, strict=True)]
    threads = torch.get_num_threads()
    batcher = QueryBatcher(retriever, workers=2)  # one torch thread for the process: restored below
    try:

        async def together():
            images = [retriever.prepare(p) for p in paths]
            return await asyncio.gather(
                *(batcher.search(im, str(p), k) for im, p, k in zip(images, paths, ks, strict=True))
            )

        results = asyncio.run(together())
    finally:
        batcher.close()
        torch.set_num_threads(threads)
    assert batcher.batches < len(paths) and batcher.queries == len(paths)  # they went together
    for one, batched, k in zip(alone, results, ks, strict=True):
        assert len(batched.hits) == k
        assert [(h.id, h.row) for h in batched.hits] == [(h.id, h.row) for h in one.hits]
        got = np.array([h.distance for h in batched.hits], np.float32)
        want = np.array([h.distance for h in one.hits], np.float32)
        assert got.tobytes() == want.tobytes()


# ---------------------------------------------------------------------------------------- a real browser


def chromium(tmp_path: Path):
    """Headless Chromium through Debian's chromedriver (Selenium Manager never downloads anything)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if missing:
        reason = (
            f"no browser to drive: missing {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def test_drawing_in_a_browser_shows_k_models_with_classes(fake_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    run = Path(os.environ.get("BWOT_SERVE_RUN", fake_run))
    classes = set(Retriever(run).index.classes)
    k = 8
    with serving(run, "-k", str(k)) as served, _closing(chromium(tmp_path)) as browser:
        browser.get(served.url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        info = browser.find_element(By.ID, "info").text
        assert "target models" in info and "exact search" in info, info  # which backend answers

        canvas = browser.find_element(By.ID, "canvas")
        actions = ActionChains(browser)
        for stroke in MUG:  # offsets from the canvas centre, in CSS pixels
            actions.move_to_element_with_offset(canvas, *stroke[0]).click_and_hold()
            for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
                actions.move_by_offset(x1 - x0, y1 - y0)
            actions.release()
        actions.perform()

        def hits(browser) -> list[str] | bool:
            """The classes shown, once the page is idle (the last search answered, none scheduled) and
            every thumbnail has loaded: read in one script, so a re-render cannot come in between."""
            page = browser.execute_script(SNAPSHOT)
            done = page["state"] == "idle" and "models, nearest first" in page["status"]
            return page["names"] if done and len(page["names"]) == k and page["loaded"] else False

        names = wait.until(hits)
        assert set(names) <= classes and all(names), names
        shot = Path(os.environ.get("BWOT_SCREENSHOT", tmp_path / "serve.png"))
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot)) and Image.open(shot).size[0] > 800

        browser.find_element(By.ID, "undo").click()  # one stroke fewer: still a sketch, still k models
        wait.until(hits)
        browser.find_element(By.ID, "clear").click()
        wait.until(lambda b: (page := b.execute_script(SNAPSHOT))["state"] == "idle" and not page["names"])

        # a test sketch of the run: its own class known, the models framed right or wrong
        Select(browser.find_element(By.ID, "tests")).select_by_index(1)
        wait.until(lambda b: hits(b) and "of test sketch" in b.execute_script(SNAPSHOT)["title"])
        assert browser.execute_script(SNAPSHOT)["framed"] == k


# what the browser test reads of the page, in one script (no element reference outlives it)
SNAPSHOT = """
const hits = [...document.querySelectorAll("#results .hit")];
return {
  state: document.body.dataset.search || "",
  status: document.getElementById("status").textContent,
  title: document.getElementById("results-title").textContent,
  names: hits.map((hit) => hit.querySelector(".hit-class").textContent),
  loaded: hits.every((hit) => hit.querySelector("img").complete && hit.querySelector("img").naturalWidth > 0),
  framed: document.querySelectorAll("#results .hit.good, #results .hit.bad").length,
};
"""

# a mug: body, rim, handle (offsets from the canvas centre; the built-in run finds mugs for it)
MUG = [
    [(-60, -80), (-60, 80), (60, 80), (60, -80)],
    [(-60, -80), (60, -80)],
    [(60, -40), (100, -40), (100, 40), (60, 40)],
]


@contextmanager
def _closing(browser):
    try:
        yield browser
    finally:
        browser.quit()
