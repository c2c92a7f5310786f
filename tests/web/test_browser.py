"""The web app as a person uses it: headless Chromium driven by Selenium.

The server is the real one (waitress, in a background thread on a free
port).  The tests upload the seed images (rose, tiger, cat) and the traffic
GIF when ../shared/data is there, generated ones otherwise, and check what
the page shows against the library's own results on the same input.  Each
view's screenshot is saved under docs/screenshots/ (or $GMMFAST_SCREENSHOTS).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them); without a Chromium the tests are skipped, saying so.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flask", reason="the web app needs Flask: pip install 'gmmfast[web]'")
pytest.importorskip("waitress", reason="the web app is served by waitress: pip install 'gmmfast[web]'")
pytest.importorskip("selenium", reason="browser tests need Selenium: pip install selenium")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

import gmmfast  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("GMMFAST_SCREENSHOTS") or REPO / "docs" / "screenshots")
TIMEOUT = 120  # seconds a view may take on a loaded 2-core machine


def _chromium() -> tuple[str, str] | None:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver") if os.path.exists(p)), None)
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from gmmfast.web import ServerThread

    with ServerThread(temp_dir=str(tmp_path_factory.mktemp("web")), max_upload_mb=20) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium to drive: install Debian's 'chromium' and 'chromium-driver' "
                    "(apt-get install -y chromium chromium-driver; .ci/run does this)")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1360,900", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    # tools/sanitize.sh preloads the ASan runtime into Python and its children; Chromium's own
    # binaries refuse it (ASan's shadow memory clashes with their layout), so they get an
    # environment without it: the app under test still runs sanitized, in this process
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    try:  # the driver is given explicitly: Selenium must not try to download one
        driver = webdriver.Chrome(options=options,
                                  service=webdriver.ChromeService(executable_path=found[1], env=env))
    except WebDriverException as exc:
        pytest.skip(f"Chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Paths of the images and video to upload: the seed data, or generated stand-ins."""
    seed = Path(os.environ.get("GMMFAST_SHARED_DATA") or REPO.parent / "shared" / "data") / "seed"
    names = ("rose.jpg", "Tiger.jpg", "cat.jpg", "traffic.gif")
    if all((seed / n).exists() for n in names):
        return {n.split(".")[0].lower(): seed / n for n in names}
    folder = tmp_path_factory.mktemp("generated")
    from gmmfast.io import write_image
    from gmmfast.video import write_video

    out = {}
    for i, (name, size) in enumerate((("rose", (300, 300)), ("tiger", (480, 640)), ("cat", (240, 320)))):
        out[name] = write_image(folder / f"{name}.png", gmmfast.data.sample_image(*size, random_state=i).image)
    out["traffic"] = write_video(folder / "traffic.gif", gmmfast.data.sample_clip()[0], 10)
    return out


def _wait_attr(driver, element_id: str, name: str, predicate, timeout: float = TIMEOUT):
    def check(d):
        value = d.find_element(By.ID, element_id).get_attribute(name)
        return value if predicate(value) else False
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(check)
    except TimeoutException:
        status = driver.find_element(By.ID, "status").text
        raise AssertionError(f"#{element_id}[{name}] never became ready; the page says: {status!r}") from None


def _natural_size(driver, element_id: str) -> tuple[int, int]:
    return tuple(driver.execute_script(
        "const i = document.getElementById(arguments[0]); return [i.naturalWidth, i.naturalHeight];", element_id))


def _screenshot(driver, name: str) -> None:
    """The whole page (not only the window) as SCREENSHOTS/name."""
    import base64

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}})
    (SCREENSHOTS / name).write_bytes(base64.b64decode(shot["data"]))


def _no_script_errors(driver) -> None:
    """The browser's console has no script errors (failed requests the test provoked are not scripts)."""
    errors = [e["message"] for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
    assert not errors, errors


def _job_of(driver) -> str:
    return driver.current_url.rstrip("/").rsplit("/", 1)[1]


def _check_segment_page(driver, path: Path, k: int | str) -> None:
    """The page shows K component cards whose weights are the library's (``segment(image, k)``, k may be
    'auto'), and images of the preview size."""
    image = gmmfast.io.read_image(path)
    height, width = image.shape[:2]
    f = -(-max(height, width) // 1024)
    preview = (-(-width // f), -(-height // f))
    for element_id in ("img-original", "img-segmented", "img-binary"):
        assert _natural_size(driver, element_id) == preview, element_id
    seg = gmmfast.segment(image, k)
    cards = driver.find_elements(By.CSS_SELECTOR, "#components .component")
    assert len(cards) == seg.n_components
    for card, weight in zip(cards, seg.model.weights_):
        assert f"weight {100 * weight:.1f}\u00a0%" in card.get_attribute("textContent")
        size = driver.execute_script("const i = arguments[0].querySelector('img'); return [i.naturalWidth, i.naturalHeight];", card)
        assert tuple(size) == preview
    assert f"{width} × {height}" in driver.find_element(By.ID, "summary-title").text


def test_segment_view(server, browser, inputs):
    d = browser
    d.get(server.url + "segment")
    _screenshot(d, "segment-empty.png")
    for name in ("rose", "tiger", "cat"):
        d.get(server.url + "segment")
        d.find_element(By.ID, "file").send_keys(str(inputs[name]))
        _wait_attr(d, "results", "data-state", lambda v: v == "done")
        _check_segment_page(d, inputs[name], 3)
    job = _job_of(d)
    Select(d.find_element(By.ID, "k")).select_by_value("5")            # change K: no new upload
    _wait_attr(d, "results", "data-run", lambda v: v == "2")
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    assert _job_of(d) == job
    _check_segment_page(d, inputs["cat"], 5)
    d.find_element(By.ID, "k-up").click()                              # the + button: K = 6
    _wait_attr(d, "results", "data-run", lambda v: v == "3")
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    assert len(d.find_elements(By.CSS_SELECTOR, "#components .component")) == 6
    _screenshot(d, "segment.png")
    _no_script_errors(d)


def test_segment_auto_k_shows_how_k_was_chosen(server, browser, inputs):
    """'auto' on the rose: the page's K and its criterion table are the library's segment(image, 'auto')."""
    from gmmfast._auto_k import MAX_OVERLAP

    d = browser
    d.get(server.url + "segment")
    d.find_element(By.ID, "file").send_keys(str(inputs["rose"]))
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    Select(d.find_element(By.ID, "k")).select_by_value("auto")
    _wait_attr(d, "results", "data-run", lambda v: v == "2")
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    _check_segment_page(d, inputs["rose"], "auto")
    seg = gmmfast.segment(gmmfast.io.read_image(inputs["rose"]), "auto")
    assert f"K = {seg.n_components} (chosen" in d.find_element(By.ID, "summary-text").text
    box = d.find_element(By.ID, "criterion")
    assert box.is_displayed()
    rows = [[c.get_attribute("textContent") for c in r.find_elements(By.TAG_NAME, "td")]
            for r in box.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [r[0].split()[0] for r in rows] == [str(k) for k in seg.criterion]
    assert [r[0] for r in rows if r[0].endswith("✓")] == [f"{seg.n_components} ✓"]
    assert [r[3] for r in rows] == ["yes" if c.distinct else "no" for c in seg.criterion.values()]
    assert f"less than {MAX_OVERLAP:g}" in box.find_element(By.TAG_NAME, "p").get_attribute("textContent")
    _no_script_errors(d)


@pytest.mark.filterwarnings("ignore::gmmfast.DegenerateDataWarning",
                            "ignore:the image's alpha channel is ignored:UserWarning")   # what the test provokes
def test_segment_page_says_what_the_library_noted(server, browser, tmp_path):
    # K = 5 on two colours: the page showed K = 2 without a word; a tiny image was a few screen pixels
    # wide, and 'auto' said "the largest K with distinct components" when none was
    d = browser
    two = np.zeros((30, 40, 3), np.uint8)
    two[:, 20:] = (200, 40, 40)
    gmmfast.io.write_image(tmp_path / "two.png", two)
    d.get(server.url + "segment")
    assert d.find_element(By.ID, "smoothing").get_attribute("max") == "10"      # the API's range
    d.find_element(By.ID, "file").send_keys(str(tmp_path / "two.png"))
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    Select(d.find_element(By.ID, "k")).select_by_value("5")
    _wait_attr(d, "results", "data-run", lambda v: v == "2")
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    notes = d.find_element(By.ID, "summary-notes")
    assert notes.is_displayed() and "only 2 distinct colour(s)" in notes.text
    tiny = np.random.default_rng(0).integers(0, 256, (10, 10, 3)).astype(np.uint8)
    gmmfast.io.write_image(tmp_path / "tiny.png", tiny)
    seg = gmmfast.segment(tiny, "auto")
    d.get(server.url + "segment")
    Select(d.find_element(By.ID, "k")).select_by_value("auto")
    d.find_element(By.ID, "file").send_keys(str(tmp_path / "tiny.png"))
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    text = d.find_element(By.ID, "summary-text").text
    assert not any(row.distinct for row in seg.criterion.values())                # a fallback K
    assert "no K tried gave distinct components" in text and "chosen: the largest" not in text
    shown = d.execute_script("const i = document.getElementById('img-segmented'); return [i.clientWidth, "
                             "getComputedStyle(i).imageRendering];")
    assert shown[0] >= 150 and shown[1] == "pixelated"
    _no_script_errors(d)


def test_segment_drop_and_reload(server, browser, inputs):
    d = browser
    d.get(server.url + "segment")
    data = Path(inputs["rose"]).read_bytes()
    # a drop event carrying the file, as the browser makes when a file is dragged onto the zone
    d.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], arguments[1], {type: 'application/octet-stream'}));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    """, __import__("base64").b64encode(data).decode(), "dropped.bin")
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    _check_segment_page(d, inputs["rose"], 3)
    d.refresh()                                                        # the address keeps the job
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    _check_segment_page(d, inputs["rose"], 3)


def test_downloads_keep_a_name_in_another_script(server, browser, inputs, tmp_path):
    """Björk.png's files are saved as Björk_...: the stem kept only ASCII letters before (Bj_rk_...)."""
    d = browser
    upload = tmp_path / "Björk.png"
    gmmfast.io.write_image(upload, gmmfast.io.read_image(inputs["cat"])[:200, :200])
    saved = tmp_path / "saved"
    saved.mkdir()
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(saved)})
    d.get(server.url + "segment")
    d.find_element(By.ID, "file").send_keys(str(upload))
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    d.find_element(By.ID, "zip").click()
    deadline = time.monotonic() + 60
    while not (saved / "Björk_run1_files.zip").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p.name for p in saved.iterdir()] == ["Björk_run1_files.zip"]
    import zipfile
    with zipfile.ZipFile(saved / "Björk_run1_files.zip") as zf:
        assert "Björk_segmented.png" in zf.namelist()
    _no_script_errors(d)


@pytest.mark.parametrize("content, words", [
    (b"this is a text file, whatever its name says", "not an image"),                    # refused: 400
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x40\x00\x00\x00\x40\x08\x02\x00\x00\x00\x25\x0b\xe6\x89"
     b"\x00\x00\x00\x04IDATxxxx", "damaged")])                                          # fails in the job: 422
def test_errors_show_on_the_page(server, browser, tmp_path, content, words):
    d = browser
    fake = tmp_path / "picture.png"
    fake.write_bytes(content)
    d.get(server.url + "segment")
    d.find_element(By.ID, "file").send_keys(str(fake))
    WebDriverWait(d, 60).until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
    text = d.find_element(By.ID, "status").text
    assert words in text and "Traceback" not in d.page_source
    _screenshot(d, f"segment-error-{words.split()[0]}.png")
    _no_script_errors(d)


def _drag(driver, element, start, end, steps: int = 8) -> None:
    """Press at ``start``, move to ``end`` in steps, release (CSS pixels from the element's top left)."""
    w, h = element.size["width"], element.size["height"]
    chain = ActionChains(driver, duration=20)
    chain.move_to_element_with_offset(element, int(start[0] - w / 2), int(start[1] - h / 2)).click_and_hold()
    for i in range(1, steps + 1):
        t = i / steps
        chain.move_to_element_with_offset(element, int(start[0] + t * (end[0] - start[0]) - w / 2),
                                          int(start[1] + t * (end[1] - start[1]) - h / 2))
    chain.release().perform()


def test_cutout_view(server, browser, inputs):
    from gmmfast.web._cutout import build_mask

    d = browser
    d.get(server.url + "cutout")
    d.find_element(By.ID, "file").send_keys(str(inputs["cat"]))
    _wait_attr(d, "workspace", "data-state", lambda v: v == "ready")
    d.set_window_size(1360, 1400)  # the whole canvas within the window, for the pointer
    canvas = d.find_element(By.ID, "canvas")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    w, h = canvas.size["width"], canvas.size["height"]
    _drag(d, canvas, (0.12 * w, 0.03 * h), (0.62 * w, 0.97 * h))       # a box around the cat
    _wait_attr(d, "workspace", "data-state", lambda v: v == "done")
    image = gmmfast.io.read_image(inputs["cat"])[:, :, :3]
    rect = [int(v) for v in d.find_element(By.ID, "box-info").get_attribute("data-rect").split(",")]
    assert abs(rect[0] - 0.12 * image.shape[1]) <= 3 and abs(rect[2] - 0.5 * image.shape[1]) <= 3
    shown = float(d.find_element(By.ID, "fraction").get_attribute("data-fraction"))
    ref = gmmfast.grabcut(image, rect=tuple(rect)).foreground.mean()
    assert shown == pytest.approx(ref, abs=1e-9) and 0.02 < shown < 0.6
    assert f"{100 * ref:.1f}\u00a0%" in d.find_element(By.ID, "fraction").get_attribute("textContent")
    assert _natural_size(d, "img-cutout") == (canvas.get_property("width"), canvas.get_property("height"))
    _screenshot(d, "cutout-box.png")

    d.find_element(By.ID, "tool-bg").click()                           # brush part of it away
    _drag(d, canvas, (0.3 * w, 0.5 * h), (0.5 * w, 0.5 * h))
    refine = d.find_element(By.ID, "refine")
    assert refine.is_enabled()
    refine.click()
    _wait_attr(d, "workspace", "data-run", lambda v: v == "3")          # run 1 read the upload, 2 the box
    _wait_attr(d, "workspace", "data-state", lambda v: v == "done")
    after = float(d.find_element(By.ID, "fraction").get_attribute("data-fraction"))
    assert after < shown
    params = _latest_params(d, server)
    assert len(params["strokes"]) == 1 and params["strokes"][0]["label"] == "bg"
    assert params["box_prior"] is False                                # the switch starts off
    ref = gmmfast.grabcut(image, mask=build_mask(image.shape[:2], params["rect"], params["strokes"]))
    assert after == pytest.approx(ref.foreground.mean(), abs=1e-9)
    _screenshot(d, "cutout.png")

    box_prior = d.find_element(By.ID, "box-prior")                     # tick "Box prior": the same drawing again
    assert not box_prior.is_selected()
    assert "re-try if part of it is missing" in d.find_element(By.ID, "box-prior-hint").text
    box_prior.click()
    _wait_attr(d, "workspace", "data-run", lambda v: v == "4")
    _wait_attr(d, "workspace", "data-state", lambda v: v == "done")
    params = _latest_params(d, server)
    assert params["box_prior"] is True and len(params["strokes"]) == 1
    ref = gmmfast.grabcut(image, mask=build_mask(image.shape[:2], params["rect"], params["strokes"]), box_prior=True)
    assert float(d.find_element(By.ID, "fraction").get_attribute("data-fraction")) == pytest.approx(
        ref.foreground.mean(), abs=1e-9)
    d.refresh()                                                        # the address keeps the job, and the switch
    _wait_attr(d, "workspace", "data-state", lambda v: v == "done")
    assert d.find_element(By.ID, "box-prior").is_selected()
    _no_script_errors(d)


def _latest_params(driver, server) -> dict:
    """The parameters of the job's latest run, as the server keeps them."""
    return __import__("json").loads(driver.execute_script(
        "return JSON.stringify(await (await fetch(arguments[0], {headers: {Accept: 'application/json'}})).json())",
        server.url + "api/cutout/" + _job_of(driver)))["latest"]["params"]


def test_background_view(server, browser, inputs):
    from PIL import Image

    d = browser
    d.get(server.url + "background")
    d.find_element(By.ID, "file").send_keys(str(inputs["traffic"]))
    seen = _watch_progress(d)
    _wait_attr(d, "results", "data-state", lambda v: v == "done")
    frames = gmmfast.video.read_video(inputs["traffic"])
    T, H, W = frames.shape[:3]
    summary = d.find_element(By.ID, "summary-text").text
    assert f"{T} frames of {W} × {H}" in summary
    model = gmmfast.BackgroundSubtractor()
    masks = np.concatenate([model.apply_many(frames[i:i + 8]) for i in range(0, T, 8)])
    assert f"foreground {100 * masks.mean():.1f}\u00a0%" in d.find_element(By.ID, "summary-text").get_attribute("textContent")
    assert _natural_size(d, "img-foreground") == (W, H) and _natural_size(d, "img-background") == (W, H)
    src = d.find_element(By.ID, "img-foreground").get_attribute("src")
    gif = d.execute_script("""
        const r = await fetch(arguments[0]); const b = new Uint8Array(await r.arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s);""", src)
    with Image.open(io.BytesIO(__import__("base64").b64decode(gif))) as im:
        assert im.format == "GIF" and im.n_frames == T                # the page plays every frame
    assert seen or T < 200  # a short clip may finish before the first poll
    time.sleep(3)  # let the GIFs play on to a frame with traffic in it, for the screenshot
    _screenshot(d, "background.png")
    _no_script_errors(d)


def _watch_progress(driver, limit: float = TIMEOUT) -> bool:
    """True if the progress bar was seen, until the result shows."""
    seen, shot, deadline = False, False, time.monotonic() + limit
    while time.monotonic() < deadline:
        box = driver.find_element(By.ID, "progress-box")
        if box.is_displayed():
            seen = True
            value = float(driver.find_element(By.ID, "progress").get_attribute("value") or 0)
            if not shot and value > 0.1:  # a bar part way, for the screenshot
                _screenshot(driver, "background-progress.png")
                shot = True
        if driver.find_element(By.ID, "results").get_attribute("data-state") in ("done", "error"):
            return seen
        time.sleep(0.05)
    return seen
