"""The web app through Flask's test client: every route, every bad input.

Results are compared with the library called directly on the same pixels
(and with ``gmmfast segment -o`` for the downloads), so a web layer that
passes the wrong parameters, mixes up labels or encodes the wrong picture fails.
"""

from __future__ import annotations

import io
import re
import stat
import threading
import time
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

pytest.importorskip("flask", reason="the web app needs Flask: pip install 'gmmfast[web]'")

import gmmfast  # noqa: E402
from gmmfast._auto_k import MAX_OVERLAP, MIN_SHARE  # noqa: E402
from gmmfast.web import WebConfig  # noqa: E402
from gmmfast.web._jobs import Task  # noqa: E402

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def post_image(client, data: bytes, name: str = "picture.png", kind: str = "segment", field: str = "image",
               headers=JSON, **form):
    body = {field: (io.BytesIO(data), name), **{k: str(v) for k, v in form.items()}}
    return client.post(f"/api/{kind}", data=body, headers=headers, content_type="multipart/form-data")


def store(app):
    return app.extensions["gmmfast"].store


# --------------------------------------------------------------------------- pages and static files


@pytest.mark.parametrize("path, marker", [("/", 'id="k"'), ("/segment", 'id="components"'),
                                          ("/cutout", 'id="canvas"'), ("/background", 'id="progress"')])
def test_pages_render_without_external_assets(client, path, marker):
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert marker in html
    # every script, stylesheet and image comes from this server: the page works offline
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"^(https?:)?//", ref), ref
    for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(ref).status_code == 200, ref
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_static_files_reference_nothing_remote(app):
    from pathlib import Path

    folder = Path(app.static_folder)
    for f in folder.iterdir():
        text = re.sub(r'xmlns="[^"]*"', "", f.read_text())  # an XML namespace is a name, not a download
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), f.name


def test_status_reports_queue_and_limits(client):
    r = client.get("/api/status")
    assert r.status_code == 200
    data = r.get_json()
    assert data["queue"] == {"waiting": 0, "running": 0, "capacity": 4, "workers": 1}
    assert data["limits"]["max_upload_mb"] == 2


def test_unknown_route_and_method(client):
    assert client.get("/nowhere").status_code == 404
    r = client.get("/api/segment", headers=JSON)  # uploads are POSTed
    assert r.status_code == 405 and "error" in r.get_json()
    assert client.get("/api/nothing/abcdefghijklmnopqrstuvwx", headers=JSON).status_code == 404
    assert client.get("/api/nothing", headers=JSON).status_code == 404   # was 405: no method is wrong here


def test_allowed_hosts_refuse_other_names(make_app):
    from gmmfast.web._app import LOCAL_HOSTS

    client = make_app(allowed_hosts=LOCAL_HOSTS).test_client()
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost"):
        assert client.get("/api/status", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
        r = client.get("/api/status", headers={"Host": host, **JSON})
        assert r.status_code == 400 and "addressed to" in r.get_json()["error"], host


# --------------------------------------------------------------------------- segment


@pytest.mark.parametrize("fmt, options", [("PNG", {}), ("JPEG", {"quality": 95}), ("WEBP", {"lossless": True}),
                                          ("BMP", {}), ("TIFF", {})])
def test_segment_every_format_matches_the_library(client, gen, fmt, options):
    data = gen.encode(gen.three_colour_image(), fmt, **options)
    r = post_image(client, data, name="upload.bin", k=3)  # the name's extension is irrelevant
    assert r.status_code == 201, r.get_json()
    run = r.get_json()
    assert run["status"] == "done" and run["info"]["format"] == ("WEBP" if fmt == "WEBP" else fmt)
    image = gmmfast.io.read_image(io.BytesIO(data))
    seg = gmmfast.segment(image, 3)
    res = run["result"]
    assert res["n_components"] == 3 and len(res["components"]) == 3
    np.testing.assert_allclose([c["weight"] for c in res["components"]], seg.model.weights_, rtol=1e-6)
    for c, k in zip(res["components"], range(3)):
        mask = gen.decode_png(client.get(c["mask"]).data)
        assert_array_equal(mask, seg.labels == k)
        assert c["share"] == pytest.approx(np.mean(seg.labels == k))
    binary = gen.decode_png(client.get(res["binary"]).data)
    assert_array_equal(binary, seg.binary_map() == 255)
    segmented = gen.decode_png(client.get(res["segmented"]).data)
    assert_array_equal(segmented, seg.segmented_image())


def test_previews_are_downsized_but_aligned(make_app, gen):
    client = make_app(preview_side=50).test_client()
    image = gen.three_colour_image(90, 125)
    r = post_image(client, gen.encode(image, "PNG"), k=2)
    res = r.get_json()["result"]
    f = res["preview"]["factor"]
    assert f == 3 and (res["preview"]["height"], res["preview"]["width"]) == (30, 42)  # ceil(90/3), ceil(125/3)
    seg = gmmfast.segment(image, 2)
    mask0 = gen.decode_png(client.get(res["components"][0]["mask"]).data)
    assert_array_equal(mask0, seg.labels[::3, ::3] == 0)
    original = gen.decode_png(client.get(res["original"]).data)  # JPEG decodes the same way
    assert original.shape == (30, 42, 3)
    # the preview is the mean of each 3 x 3 block (JPEG-compressed): compare with a NumPy block mean
    padded = np.pad(image.astype(float), ((0, 0), (0, 1), (0, 0)), mode="edge")[:90, :126]
    blocks = padded.reshape(30, 3, 42, 3, 3).mean(axis=(1, 3))
    assert np.abs(original.astype(float) - blocks)[:, :-1].mean() < 6


def test_zip_holds_the_files_of_the_cli(client, gen, tmp_path):
    from gmmfast.cli import main

    image = gen.three_colour_image()
    (tmp_path / "bands.png").write_bytes(gen.encode(image, "PNG"))
    # --seed 0: the library's default seed (the CLI draws a random one without it)
    assert main(["segment", str(tmp_path / "bands.png"), "-k", "4", "--features", "lab", "--seed", "0",
                 "-o", str(tmp_path / "cli")]) == 0
    r = post_image(client, gen.encode(image, "PNG"), name="bands.png", k=4, features="lab")
    run = r.get_json()
    z = client.get(run["result"]["downloads"]["files.zip"])
    assert z.status_code == 200 and "attachment" in z.headers["Content-Disposition"]
    # saved under a name of its own per run (every run's was files.zip: curl -OJ then saved nothing)
    assert "filename=bands_run1_files.zip" in z.headers["Content-Disposition"]
    # a name in another script reaches the saved file (RFC 6266 filename*), not '_'
    r = post_image(client, gen.encode(image, "PNG"), name="Björk.png", k=2)
    d = client.get(r.get_json()["result"]["downloads"]["Björk_mask0.png"]).headers["Content-Disposition"]
    assert "filename*=UTF-8''Bj%C3%B6rk_mask0.png" in d
    with zipfile.ZipFile(io.BytesIO(z.data)) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(p.name for p in (tmp_path / "cli").iterdir())
        for name in names:
            ours = gen.decode_png(zf.read(name))
            theirs = gmmfast.io.read_image(tmp_path / "cli" / name)
            assert_array_equal(ours.astype(np.uint8) * (255 if ours.dtype == bool else 1), theirs, err_msg=name)
    # single files are offered too, under the same names
    one = client.get(run["result"]["downloads"]["bands_mask0.png"])
    assert_array_equal(gen.decode_png(one.data), gmmfast.io.read_image(tmp_path / "cli" / "bands_mask0.png"))


def test_changing_k_reruns_without_uploading(client, gen):
    run1 = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), k=2).get_json()
    job = run1["job"]
    r = client.post(f"/api/segment/{job}/runs", json={"k": 5, "features": "rgb", "smoothing": 0.5}, headers=JSON)
    assert r.status_code == 200
    run2 = r.get_json()
    assert run2["job"] == job and run2["run"] == 2 and len(run2["result"]["components"]) == 5
    info = client.get(f"/api/segment/{job}", headers=JSON).get_json()
    assert [x["run"] for x in info["runs"]] == [1, 2] and info["latest"]["run"] == 2
    again = client.get(f"/api/segment/{job}/runs/1", headers=JSON).get_json()
    assert len(again["result"]["components"]) == 2  # earlier runs stay readable


def test_a_rerun_keeps_the_parameters_it_does_not_name(client, gen):
    """{"k": 3} on an upload segmented in Lab with smoothing changes K only (it used to reset the rest)."""
    image = gen.three_colour_image()
    job = post_image(client, gen.encode(image, "PNG"), k=2, features="lab", smoothing="0.5").get_json()["job"]
    run = client.post(f"/api/segment/{job}/runs", json={"k": 3}, headers=JSON).get_json()
    info = client.get(f"/api/segment/{job}", headers=JSON).get_json()
    assert info["runs"][-1]["params"] == {"k": 3, "features": "lab", "smoothing": 0.5}
    np.testing.assert_allclose([c["weight"] for c in run["result"]["components"]],
                               gmmfast.segment(image, 3, features="lab", smoothing=0.5).model.weights_, rtol=1e-6)


def test_rerun_after_the_cache_was_trimmed_decodes_again(client, app, gen):
    image = gen.three_colour_image()
    job = post_image(client, gen.encode(image, "PNG"), k=3).get_json()["job"]
    store(app).trim_caches(0)
    assert "image" not in store(app).get(job).cache
    run = client.post(f"/api/segment/{job}/runs", json={"k": 2}, headers=JSON).get_json()
    assert run["status"] == "done"
    np.testing.assert_allclose([c["weight"] for c in run["result"]["components"]],
                               gmmfast.segment(image, 2).model.weights_, rtol=1e-6)


def test_auto_k_reports_the_criterion(client, gen):
    image = gen.three_colour_image()
    run = post_image(client, gen.encode(image, "PNG"), k="auto").get_json()
    res = run["result"]
    seg = gmmfast.segment(image, "auto")  # the page's 'auto' is the library's rule, with its default range
    assert res["n_components"] == seg.n_components
    assert [int(k) for k in res["criterion"]] == list(seg.criterion)
    assert res["auto"] is True and res["criterion"]
    rows = {int(k): v for k, v in res["criterion"].items()}
    for row in rows.values():
        assert set(row) == {"overlap", "min_share", "bic", "distinct"}
        assert row["distinct"] == (row["overlap"] < MAX_OVERLAP and row["min_share"] >= MIN_SHARE)
    assert res["n_components"] == max(k for k, row in rows.items() if row["distinct"])


@pytest.mark.parametrize("form, words", [({"k": 0}, "1 to 16"), ({"k": 17}, "1 to 16"), ({"k": "many"}, "whole number"),
                                         ({"features": "hsv"}, "colour space"), ({"smoothing": -1}, "Smoothing"),
                                         ({"smoothing": "nan"}, "Smoothing"), ({"smoothing": "x"}, "Smoothing")])
def test_bad_parameters_are_400_and_store_nothing(client, app, gen, form, words):
    r = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), **form)
    assert r.status_code == 400 and words in r.get_json()["error"]
    assert len(store(app)) == 0


@pytest.mark.parametrize("wait", ["-5", "nan", "soon", "-inf"])
def test_a_bad_wait_is_400_and_starts_nothing(client, app, gen, wait):
    # ?wait=-5 was taken as 0 and ?wait=nan reached the task's wait
    r = client.post(f"/api/segment?wait={wait}", data={"image": (io.BytesIO(gen.encode(gen.three_colour_image(),
                    "PNG")), "a.png"), "k": "3"}, headers=JSON, content_type="multipart/form-data")
    assert r.status_code == 400 and "0 or more" in r.get_json()["error"]
    assert len(store(app)) == 0
    job = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), k=3).get_json()["job"]
    r = client.post(f"/api/segment/{job}/runs?wait={wait}", json={"k": 2}, headers=JSON)
    assert r.status_code == 400 and client.get(f"/api/segment/{job}").get_json()["runs"][-1]["run"] == 1
    assert client.get(f"/api/segment/{job}/runs/1?wait={wait}", headers=JSON).status_code == 400


def test_bad_parameters_of_a_rerun_are_400(client, gen):
    job = post_image(client, gen.encode(gen.three_colour_image(), "PNG")).get_json()["job"]
    r = client.post(f"/api/segment/{job}/runs", json={"k": 99}, headers=JSON)
    assert r.status_code == 400
    r = client.post(f"/api/segment/{job}/runs", data="[1, 2]", content_type="application/json", headers=JSON)
    assert r.status_code == 400 and "JSON object" in r.get_json()["error"]
    # JSON as a script sends it: 3.0 is K = 3; other scripts' digits, true as smoothing, are refused
    r = client.post(f"/api/segment/{job}/runs?wait=60", json={"k": 3.0}, headers=JSON)
    assert r.status_code == 200 and r.get_json()["params"]["k"] == 3
    for body, words in [({"k": "\u0663"}, "whole number"), ({"k": "NaN"}, "'NaN'"), ({"smoothing": True}, "Smoothing")]:
        r = client.post(f"/api/segment/{job}/runs", json=body, headers=JSON)
        assert r.status_code == 400 and words in r.get_json()["error"], (body, r.get_json())


# --------------------------------------------------------------------------- bad uploads


@pytest.mark.parametrize("data", [b"hello, this is text pretending to be a picture",
                                  b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n",
                                  b"\x00" * 100, b"RIFF\x10\x00\x00\x00AVI LIST"])
def test_non_images_are_400_json_and_html(client, app, data):
    r = post_image(client, data, name="holiday.jpg")
    assert r.status_code == 400 and "not an image" in r.get_json()["error"]
    r = post_image(client, data, name="holiday.jpg", headers=HTML)
    assert r.status_code == 400 and r.mimetype == "text/html"
    assert "not an image" in r.get_data(as_text=True)
    assert len(store(app)) == 0


def test_damaged_image_shows_a_message_not_a_trace(client, gen):
    data = gen.encode(gen.three_colour_image(200, 200), "PNG")[:600]  # header intact, pixels cut off
    r = post_image(client, data)
    assert r.status_code == 422
    body = r.get_json()
    assert body["status"] == "error" and "damaged" in body["error"]
    assert "Traceback" not in r.get_data(as_text=True)


def test_missing_or_empty_file_is_400(client):
    r = client.post("/api/segment", data={"k": "3"}, headers=JSON, content_type="multipart/form-data")
    assert r.status_code == 400 and "'image'" in r.get_json()["error"]
    r = post_image(client, b"")
    assert r.status_code == 400 and "empty" in r.get_json()["error"]


def test_upload_over_the_limit_is_413(client, app):
    big = b"\xff\xd8\xff" + bytes(3 * 1024 * 1024)  # 3 MB, the limit is 2 MB
    r = post_image(client, big, name="big.jpg")
    assert r.status_code == 413 and "2 MB" in r.get_json()["error"]
    r = post_image(client, big, name="big.jpg", headers=HTML)
    assert r.status_code == 413 and "2 MB" in r.get_data(as_text=True)
    assert len(store(app)) == 0


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns when it parses the header
@pytest.mark.parametrize("size, words", [(50_000, "2500 megapixels"),   # beyond Pillow's own limit too
                                         (10_000, "10000x10000")])     # within Pillow's, beyond the server's
def test_decompression_bomb_is_refused_before_decoding(client, app, gen, monkeypatch, size, words):
    import struct

    from PIL import Image

    bomb = gen.png_bomb(size, size)
    assert len(bomb) < 2000 and struct.unpack(">II", bomb[16:24]) == (size, size)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the bomb's pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("gmmfast.io.read_image", no_decoding)
    t0 = time.perf_counter()
    r = post_image(client, bomb)
    assert time.perf_counter() - t0 < 5
    assert r.status_code == 413 and words in r.get_json()["error"]
    assert len(store(app)) == 0


def test_image_over_the_pixel_limit_is_refused(make_app, gen):
    client = make_app(max_image_pixels=5000).test_client()
    r = post_image(client, gen.encode(gen.three_colour_image(100, 100), "PNG"))
    assert r.status_code == 413 and "megapixels" in r.get_json()["error"]


def test_client_file_names_never_become_paths(client, app, gen, tmp_path):
    image = gen.encode(gen.three_colour_image(), "PNG")
    for name in ("../../../evil.png", "..\\..\\evil.png", "/etc/passwd", "a\x00b.png", "ünïcødé ☃.png", ".png"):
        run = post_image(client, image, name=name, k=2).get_json()
        stem = run["info"]["name"]
        assert re.fullmatch(r"[\w.-]+", stem) and ".." not in stem and "\x00" not in stem, (name, stem)
        folder = store(app).get(run["job"]).folder
        written = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert all(not w.startswith(".") and "evil" not in w and "passwd" not in w for w in written), written
    outside = [p for p in tmp_path.rglob("*") if "evil" in p.name or "passwd" in p.name]
    assert outside == []


# --------------------------------------------------------------------------- files, folders, time-outs


def test_only_registered_files_are_served(client, gen):
    run = post_image(client, gen.encode(gen.three_colour_image(), "PNG")).get_json()
    job = run["job"]
    assert client.get(run["result"]["original"]).status_code == 200
    for name in ("upload", "../upload", "r1/../upload", "%2e%2e/%2e%2e/etc/passwd", "r1/nothing.png"):
        assert client.get(f"/api/segment/{job}/files/{name}").status_code == 404, name
    assert client.get(f"/api/cutout/{job}").status_code == 404          # a job belongs to its view
    assert client.get("/api/segment/not-a-job").status_code == 404
    assert client.get(f"/api/segment/{job}/runs/9").status_code == 404
    r = client.get(f"/api/segment/{job}/runs/1/download/other.png", headers=JSON)
    assert r.status_code == 404 and "no file 'other.png'" in r.get_json()["error"]
    assert "files.zip" in r.get_json()["error"]            # it says what the run does offer


def test_job_folders_are_private_and_expire(make_app, gen, tmp_path):
    app = make_app(job_ttl=0.5)
    client = app.test_client()
    run = post_image(client, gen.encode(gen.three_colour_image(), "PNG")).get_json()
    job = store(app).get(run["job"])
    folder = job.folder
    assert folder.is_dir() and folder.parent == store(app).root and tmp_path in folder.parents
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(store(app).root.stat().st_mode) == 0o700
    assert store(app).expire(now=time.monotonic() + 1.0) == 1
    assert not folder.exists()
    assert client.get(f"/api/segment/{run['job']}").status_code == 404
    r = client.get(f"/segment/{run['job']}")
    assert r.status_code == 404 and "upload it again" in r.get_data(as_text=True)


def test_the_reaper_thread_expires_jobs(make_app, gen):
    app = make_app(job_ttl=0.3)
    client = app.test_client()
    run = post_image(client, gen.encode(gen.three_colour_image(), "PNG")).get_json()
    folder = store(app).get(run["job"]).folder
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists()


def test_closing_the_app_removes_every_folder(make_app, gen):
    from gmmfast.web import close_app

    app = make_app()
    client = app.test_client()
    post_image(client, gen.encode(gen.three_colour_image(), "PNG"))
    root = store(app).root
    assert any(root.iterdir())
    close_app(app)
    assert not root.exists()


def test_oldest_idle_job_makes_room(make_app, gen):
    app = make_app(max_jobs=2)
    client = app.test_client()
    jobs = [post_image(client, gen.encode(gen.three_colour_image(seed=i), "PNG")).get_json()["job"] for i in range(3)]
    assert client.get(f"/api/segment/{jobs[0]}").status_code == 404
    assert all(client.get(f"/api/segment/{j}").status_code == 200 for j in jobs[1:])


# --------------------------------------------------------------------------- queue


def _block_queue(app):
    """Occupy every worker and waiting place with tasks that wait for the returned event."""
    release = threading.Event()
    queue = app.extensions["gmmfast"].queue
    tasks = [queue.submit(Task(0, "test", {}), lambda t: release.wait(30)) for _ in range(queue.capacity)]
    return release, tasks


def test_full_queue_answers_503(make_app, gen):
    app = make_app(queue_size=2)
    client = app.test_client()
    release, tasks = _block_queue(app)
    try:
        r = post_image(client, gen.encode(gen.three_colour_image(), "PNG"))
        assert r.status_code == 503 and r.headers["Retry-After"] == "5" and "busy" in r.get_json()["error"]
        r = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), headers=HTML)
        assert r.status_code == 503 and "busy" in r.get_data(as_text=True)
        assert len(store(app)) == 0
    finally:
        release.set()
    assert all(t.wait(10) for t in tasks)
    assert post_image(client, gen.encode(gen.three_colour_image(), "PNG")).status_code == 201


def test_a_run_that_is_still_going_answers_202_and_can_be_followed(make_app, gen):
    app = make_app(queue_size=3)
    client = app.test_client()
    release, started = threading.Event(), threading.Event()
    blocker = app.extensions["gmmfast"].queue.submit(Task(0, "test", {}),
                                                     lambda t: (started.set(), release.wait(30)))
    try:
        # (under load the worker could still be picking the blocker up: then 2 waiting, 0 running)
        assert started.wait(10)
        data = {"image": (io.BytesIO(gen.encode(gen.three_colour_image(), "PNG")), "x.png")}
        r = client.post("/api/segment?wait=0", data=data, headers=JSON, content_type="multipart/form-data")
        assert r.status_code == 202 and r.get_json()["status"] == "queued"
        url = r.headers["Location"]
        assert client.get(url, headers=JSON).get_json()["status"] == "queued"
        assert client.get("/api/status").get_json()["queue"] == {"waiting": 1, "running": 1, "capacity": 3,
                                                                  "workers": 1}
    finally:
        release.set()
    blocker.wait(10)
    done = client.get(url + "?wait=30", headers=JSON).get_json()
    assert done["status"] == "done" and done["progress"] == 1.0


def test_a_newer_run_replaces_a_waiting_one(make_app, gen):
    app = make_app(queue_size=4)
    client = app.test_client()
    job = post_image(client, gen.encode(gen.three_colour_image(), "PNG")).get_json()["job"]
    release = threading.Event()
    queue = app.extensions["gmmfast"].queue
    blocker = queue.submit(Task(0, "test", {}), lambda t: release.wait(30))
    try:
        first = client.post(f"/api/segment/{job}/runs?wait=0", json={"k": 2}, headers=JSON).get_json()
        second = client.post(f"/api/segment/{job}/runs?wait=0", json={"k": 4}, headers=JSON).get_json()
    finally:
        release.set()
    blocker.wait(10)
    assert client.get(first["url"], headers=JSON).get_json()["status"] == "cancelled"
    assert client.get(second["url"] + "?wait=30", headers=JSON).get_json()["status"] == "done"


# --------------------------------------------------------------------------- job errors


def test_a_library_error_is_shown_as_its_message(client, gen, monkeypatch):
    def refusing(*args, **kwargs):
        raise ValueError("this image cannot take 5 components")

    monkeypatch.setattr("gmmfast._segmentation.segment", refusing)
    r = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), k=5)
    assert r.status_code == 422
    assert r.get_json()["error"] == "this image cannot take 5 components"


@pytest.mark.filterwarnings("ignore::gmmfast.DegenerateDataWarning")  # K drops to 1, as the library warns
def test_a_one_pixel_image_segments_into_one_component(client, gen):
    one_pixel = gen.encode(np.full((1, 1, 3), 128, dtype=np.uint8), "PNG")
    for k in (5, "auto"):
        r = post_image(client, one_pixel, k=k)
        assert r.status_code == 201 and len(r.get_json()["result"]["components"]) == 1


@pytest.mark.filterwarnings("ignore::gmmfast.DegenerateDataWarning",
                            "ignore:the image's alpha channel is ignored:UserWarning")   # what the test provokes
def test_results_carry_what_the_library_noted(client, gen):
    # K = 5 on two colours gave K = 2 with no word on the page (the warning went to the server log)
    two = np.zeros((30, 40, 3), np.uint8)
    two[:, 20:] = (200, 40, 40)
    res = post_image(client, gen.encode(two, "PNG"), k=5).get_json()["result"]
    assert res["n_components"] == 2 and any("only 2 distinct colour(s)" in n for n in res["notes"])
    rgba = np.dstack([gen.three_colour_image(), np.full((90, 120), 255, np.uint8)])
    rgba[:15, :, 3] = 0
    res = post_image(client, gen.encode(rgba, "PNG"), k=3).get_json()["result"]
    assert any("transparent" in n for n in res["notes"])
    res = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), k=3).get_json()["result"]
    assert res["notes"] == []
    res = post_image(client, gen.encode(two, "PNG"), k="auto").get_json()["result"]
    assert res["n_components"] == 2 and res["notes"] == []                  # 2 is in auto's range
    res = post_image(client, gen.encode(np.full((20, 20, 3), 90, np.uint8), "PNG"), k="auto").get_json()["result"]
    assert res["n_components"] == 1 and any("only 1 distinct colour(s)" in n for n in res["notes"])
    tiny = np.random.default_rng(0).integers(0, 256, (10, 10, 3)).astype(np.uint8)
    res = post_image(client, gen.encode(tiny, "PNG"), k="auto").get_json()["result"]
    assert any("K up to 5" in n for n in res["notes"])
    # an animated GIF: its first frame was segmented without a word (the command line warns)
    frames = np.stack([gen.three_colour_image()] * 3)
    res = post_image(client, gen.gif_bytes(frames), name="clip.gif", k=3).get_json()["result"]
    assert any("holds 3 frames" in n and "its first is segmented" in n for n in res["notes"]), res["notes"]


@pytest.mark.parametrize("features, label", [("rgb", "RGB \u2192 grey"), ("lab", "CIE Lab \u2192 L*"),
                                             ("rgbxy", "RGB + position \u2192 grey+xy"), ("gray", "Grey level")])
def test_a_grey_upload_says_what_was_segmented(client, gen, features, label):
    # the summary named the colour space asked for ('RGB') where the library used one grey level
    grey = gen.three_colour_image().mean(axis=2).astype(np.uint8)
    res = post_image(client, gen.encode(grey, "PNG"), k=3, features=features).get_json()["result"]
    assert res["features_used"].startswith(label)
    used = gmmfast.segment(grey, 3, features=features).features_used.replace("gray", "grey")
    assert (used in res["features_used"]) == (features != "gray")
    colour = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), k=3, features=features).get_json()
    assert colour["result"]["features_used"] == label.split(" \u2192")[0]


def test_an_unexpected_error_hides_its_details(client, gen, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /usr/lib/python")

    monkeypatch.setattr("gmmfast._segmentation.segment", broken)
    r = post_image(client, gen.encode(gen.three_colour_image(), "PNG"))
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and "server log" in r.get_json()["error"]
    assert "secret" not in text and "Traceback" not in text


def test_an_error_in_a_route_is_a_clean_500(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("gmmfast.web._routes.run_json", broken)
    client.application.testing = False  # let the error handler answer as in production
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    job = store(client.application).create("segment")
    job.new_task({})
    r = client.get(f"/api/segment/{job.id}", headers=JSON)
    assert r.status_code == 500 and "secret" not in r.get_data(as_text=True)


# --------------------------------------------------------------------------- HTML forms


def test_a_plain_form_post_redirects_to_the_page(client, gen):
    r = post_image(client, gen.encode(gen.three_colour_image(), "PNG"), headers=HTML)
    assert r.status_code == 303
    page = r.headers["Location"]
    assert re.fullmatch(r"/segment/[A-Za-z0-9_-]{20,40}", page)
    html = client.get(page).get_data(as_text=True)
    assert f'data-job="{page.rsplit("/", 1)[1]}"' in html


# --------------------------------------------------------------------------- cut out


def _cutout_job(client, gen, image):
    r = post_image(client, gen.encode(image, "PNG"), name="house.png", kind="cutout")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_cutout_matches_the_library(client, gen):
    sample = gmmfast.data.sample_image(120, 160)
    run = _cutout_job(client, gen, sample.image)
    info = run["info"]
    assert (info["work_width"], info["work_height"]) == (160, 120) and not info["reduced"]
    assert client.get(run["result"]["original"]).status_code == 200
    rect = [int(v) for v in sample.rect]
    r = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": rect}, headers=JSON)
    assert r.status_code == 200
    res = r.get_json()["result"]
    ref = gmmfast.grabcut(sample.image, rect=tuple(rect))
    assert res["foreground_fraction"] == pytest.approx(ref.foreground.mean(), abs=1e-12)
    mask = gen.decode_png(client.get(res["downloads"]["house_mask.png"]).data)
    assert_array_equal(mask, ref.foreground.astype(np.uint8) * 255)
    cut = gen.decode_png(client.get(res["downloads"]["house_cutout.png"]).data)
    assert_array_equal(cut, ref.cutout())


@pytest.mark.parametrize("cutout_max_pixels", [None, 4800], ids=["full size", "reduced"])
def test_cutout_of_an_rgba_image_keeps_its_transparency(make_app, gen, cutout_max_pixels):
    # the download's alpha was 255 over the whole foreground: a hole or a translucent part of the
    # image came back opaque; it must be the library's cut-out of the same image and box
    client = make_app(**({} if cutout_max_pixels is None else {"cutout_max_pixels": cutout_max_pixels})).test_client()
    sample = gmmfast.data.sample_image(120, 160)
    alpha = np.full(sample.image.shape[:2], 255, np.uint8)
    x, y, w, h = (int(v) for v in sample.rect)
    alpha[y + h // 3: y + 2 * h // 3, x + w // 3: x + 2 * w // 3] = 0       # a hole in the object
    alpha[:, :40] = 128                                                       # a translucent band
    rgba = np.dstack([sample.image, alpha])
    run = _cutout_job(client, gen, rgba)
    info = run["info"]
    sx, sy = info["work_width"] / 160, info["work_height"] / 120
    rect = [round(x * sx), round(y * sy), round(w * sx), round(h * sy)]
    res = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": rect}, headers=JSON).get_json()
    assert res["status"] == "done", res
    cut = gen.decode_png(client.get(res["result"]["downloads"]["house_cutout.png"]).data)
    full_rect = rect if cutout_max_pixels is None else [round(rect[0] / sx), round(rect[1] / sy),
                                                       round(rect[2] / sx), round(rect[3] / sy)]
    if cutout_max_pixels is None:
        assert_array_equal(cut, gmmfast.grabcut(rgba, rect=tuple(full_rect)).cutout())
    fg = cut[..., 3] > 0
    assert fg.any() and not fg[y + h // 3 + 1: y + 2 * h // 3 - 1, x + w // 3 + 1: x + 2 * w // 3 - 1].any()
    assert set(np.unique(cut[..., 3][:, :40])) <= {0, 128}


def test_cutout_drawings_that_leave_one_side_empty_are_plain_words(client, gen):
    sample = gmmfast.data.sample_image(120, 160)
    run = _cutout_job(client, gen, sample.image)
    x, y, w, h = (int(v) for v in sample.rect)
    cover = [{"label": "bg", "radius": 199, "points": [[80, 60]]}]                 # the whole image
    res = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": [x, y, w, h], "strokes": cover},
                      headers=JSON).get_json()
    assert res["status"] == "error" and "Everything is marked to remove" in res["error"], res
    assert "FGD" not in res["error"]
    for rect in ([float("inf"), 0, 10, 10], [1e400, 0, 10, 10]):       # was a 500 (OverflowError)
        r = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": rect}, headers=JSON)
        assert r.status_code == 400 and "four numbers" in r.get_json()["error"]


def test_cutout_strokes_force_pixels(client, gen):
    sample = gmmfast.data.sample_image(120, 160)
    run = _cutout_job(client, gen, sample.image)
    x, y, w, h = (int(v) for v in sample.rect)
    inside, outside = [x + w // 2, y + h // 2], [5.0, 5.0]
    strokes = [{"label": "bg", "radius": 4, "points": [inside]}, {"label": "fg", "radius": 3, "points": [outside]}]
    res = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": [x, y, w, h], "strokes": strokes},
                      headers=JSON).get_json()["result"]
    mask = gen.decode_png(client.get(res["downloads"]["house_mask.png"]).data)
    assert mask[inside[1], inside[0]] == 0 and mask[5, 5] == 255
    # the same drawing given to the library as its mask
    from gmmfast.web._cutout import build_mask

    ref = gmmfast.grabcut(sample.image, mask=build_mask(sample.image.shape[:2], [x, y, w, h], strokes))
    assert_array_equal(mask, ref.foreground.astype(np.uint8) * 255)


def test_build_mask_against_numpy_discs():
    from gmmfast.web._cutout import build_mask

    strokes = [{"label": "fg", "radius": 6.0, "points": [(20.0, 30.0)]},
               {"label": "bg", "radius": 4.0, "points": [(70.0, 40.0), (90.0, 40.0)]}]
    mask = build_mask((80, 120), [10, 10, 100, 60], strokes)
    yy, xx = np.mgrid[:80, :120]
    box = (xx >= 10) & (xx < 110) & (yy >= 10) & (yy < 70)
    disc = (xx - 20) ** 2 + (yy - 30) ** 2
    assert (mask[disc <= 5 ** 2] == 1).all()                        # inside the fg disc: sure foreground
    line = (xx >= 70) & (xx <= 90) & (np.abs(yy - 40) <= 3)
    assert (mask[line] == 0).all()                                  # under the bg line: background
    far = (disc > 7 ** 2) & ~((xx >= 64) & (xx <= 96) & (np.abs(yy - 40) <= 6))
    assert_array_equal(mask[far], np.where(box[far], 3, 0))         # elsewhere: box / outside


def test_large_images_are_cut_out_at_a_working_size(make_app, gen):
    client = make_app(cutout_max_pixels=4800).test_client()
    run = _cutout_job(client, gen, gmmfast.data.sample_image(120, 160).image)
    info = run["info"]
    assert info["reduced"] and info["work_width"] * info["work_height"] <= 4800
    assert info["work_width"] / info["work_height"] == pytest.approx(160 / 120, rel=0.03)
    strokes = [{"label": "fg", "radius": 2, "points": [[30, 25]]}]
    res = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": [10, 10, 40, 30], "strokes": strokes},
                      headers=JSON).get_json()
    assert res["status"] == "done"
    # the downloads are cut at the uploaded size, from the same drawing scaled up
    from gmmfast.web._cutout import build_mask

    image = gmmfast.data.sample_image(120, 160).image
    sx, sy = 160 / info["work_width"], 120 / info["work_height"]
    rect = [round(10 * sx), round(10 * sy), round(40 * sx), round(30 * sy)]
    scaled = [{"label": "fg", "radius": 2 * (sx + sy) / 2, "points": [(30 * sx, 25 * sy)]}]
    ref = gmmfast.grabcut(image, mask=build_mask((120, 160), rect, scaled))
    mask = gen.decode_png(client.get(res["result"]["downloads"]["house_mask.png"]).data)
    assert mask.shape == (120, 160)
    assert_array_equal(mask, ref.foreground.astype(np.uint8) * 255)
    cut = gen.decode_png(client.get(res["result"]["downloads"]["house_cutout.png"]).data)
    assert_array_equal(cut, ref.cutout())


def test_a_photo_with_an_exif_orientation_is_cut_out_upright(client, gen):
    # the header's size is the upright one (it was the stored one: the work image came out squashed)
    import io

    from PIL import Image

    upright = gmmfast.data.sample_image(120, 160).image
    stored = np.rot90(upright)                                   # shown turned back by tag 6
    img = Image.fromarray(np.ascontiguousarray(stored))
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    r = post_image(client, buf.getvalue(), name="house.png", kind="cutout")
    assert r.status_code == 201, r.get_json()
    info = r.get_json()["info"]
    assert (info["width"], info["height"], info["work_width"], info["work_height"]) == (160, 120, 160, 120)


@pytest.mark.parametrize("body, words", [({}, "Draw a box"), ({"rect": [0, 0, 1, 1]}, "too small"),
                                         ({"rect": [0, 0, 160, 120]}, "whole image"), ({"rect": [1, 2, "a", 4]}, "four numbers"),
                                         ({"rect": [5, 5, 50, 50], "strokes": [{"label": "x", "points": [[1, 1]]}]}, "label"),
                                         ({"rect": [5, 5, 50, 50], "strokes": [{"label": "fg", "points": []}]}, "at least one point"),
                                         ({"rect": [5, 5, 50, 50], "strokes": [{"label": "fg", "points": [[1, 1]]}] * 501}, "at most"),
                                         ({"rect": [5, 5, 50, 50], "max_iter": 0}, "max_iter"),
                                         ({"rect": [5, 5, 50, 50], "box_prior": "yes"}, "true or false"),
                                         ({"rect": [5, 5, 50, 50], "box_prior": 1}, "true or false"),
                                         ({"rect": [5, 5, 50, 50], "box_prior": None}, "true or false")])
def test_cutout_bad_drawings_are_400(client, gen, body, words):
    run = _cutout_job(client, gen, gmmfast.data.sample_image(120, 160).image)
    r = client.post(f"/api/cutout/{run['job']}/runs", json=body, headers=JSON)
    assert r.status_code == 400 and words in r.get_json()["error"], r.get_json()


#: sample_image(120, 160, random_state=31) with a box out to the right and bottom edges: the first cut
#: reaches too few of the box's rows or columns, so box_prior's re-run with k-means seeding is kept
PRIOR_SEED, PRIOR_RECT = 31, [80, 32, 80, 88]


def _box_prior_case(shape_rect=PRIOR_RECT):
    """The image and, for box_prior True and False, the library's foreground from the web app's mask."""
    from gmmfast.web._cutout import build_mask

    image = gmmfast.data.sample_image(120, 160, random_state=PRIOR_SEED).image
    mask = build_mask(image.shape[:2], shape_rect, [])
    ref = {flag: gmmfast.grabcut(image, mask=mask, box_prior=flag).foreground for flag in (True, False)}
    assert np.count_nonzero(ref[True] != ref[False]) > 500   # the check fires here: a run that ignores it differs
    return image, ref


def test_cutout_box_prior_reaches_the_library(client, gen):
    image, ref = _box_prior_case()
    run = _cutout_job(client, gen, image)
    results = {}
    for flag in (True, False):           # the second run pushes the first out of the cache
        r = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": PRIOR_RECT, "box_prior": flag}, headers=JSON)
        assert r.status_code == 200 and r.get_json()["params"]["box_prior"] is flag
        results[flag] = res = r.get_json()["result"]
        assert res["foreground_fraction"] == pytest.approx(ref[flag].mean(), abs=1e-12)
    for flag in (True, False):           # run True's download is cut again: with the box prior too
        mask = gen.decode_png(client.get(results[flag]["downloads"]["house_mask.png"]).data)
        assert_array_equal(mask, ref[flag].astype(np.uint8) * 255)
    r = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": PRIOR_RECT}, headers=JSON)
    assert r.get_json()["params"]["box_prior"] is False   # off unless asked for


def test_cutout_box_prior_at_full_size_after_a_working_size(make_app, gen):
    client = make_app(cutout_max_pixels=4800).test_client()       # 80 x 60 working copy: coordinates halve
    image, ref = _box_prior_case()
    run = _cutout_job(client, gen, image)
    assert (run["info"]["work_width"], run["info"]["work_height"]) == (80, 60)
    res = client.post(f"/api/cutout/{run['job']}/runs", json={"rect": [40, 16, 40, 44], "box_prior": True},
                      headers=JSON).get_json()
    mask = gen.decode_png(client.get(res["result"]["downloads"]["house_mask.png"]).data)
    assert_array_equal(mask, ref[True].astype(np.uint8) * 255)


@pytest.mark.parametrize("value, expect", [("on", True), ("true", True), ("0", False), ("maybe", None)])
def test_cutout_box_prior_in_the_upload_form(client, gen, value, expect):
    image, ref = _box_prior_case()
    x, y, w, h = PRIOR_RECT
    r = post_image(client, gen.encode(image, "PNG"), kind="cutout", rect=f"{x},{y},{w},{h}", box_prior=value)
    if expect is None:
        assert r.status_code == 400 and "box_prior must be true or false" in r.get_json()["error"], r.get_json()
    else:
        assert r.get_json()["params"]["box_prior"] is expect
        assert r.get_json()["result"]["foreground_fraction"] == pytest.approx(ref[expect].mean(), abs=1e-12)


def test_cutout_box_in_the_upload_form(client, gen):
    sample = gmmfast.data.sample_image(120, 160)
    x, y, w, h = (int(v) for v in sample.rect)
    r = post_image(client, gen.encode(sample.image, "PNG"), kind="cutout", rect=f"{x},{y},{w},{h}")
    res = r.get_json()["result"]
    assert res["foreground_fraction"] == pytest.approx(gmmfast.grabcut(sample.image, rect=(x, y, w, h)).foreground.mean())


# --------------------------------------------------------------------------- background


def _clip(n=24):
    frames, _ = gmmfast.data.sample_clip(n_frames=n, height=48, width=64)
    return frames


def _background_run(client, gen, frames, method="recommended", name="clip.gif"):
    data = gen.gif_bytes(frames)
    r = client.post("/api/background?wait=0", data={"video": (io.BytesIO(data), name), "method": method},
                    headers=JSON, content_type="multipart/form-data")
    assert r.status_code in (201, 202), r.get_json()
    run = client.get(r.headers["Location"] + "?wait=60", headers=JSON).get_json()
    assert run["status"] == "done", run
    return run, data


@pytest.mark.parametrize("method", ["recommended", "mog2", "pixelgmm", "median", "mean"])
def test_background_methods_match_the_library(client, gen, tmp_path, method):
    run, data = _background_run(client, gen, _clip(), method)
    (tmp_path / "clip.gif").write_bytes(data)
    frames = gmmfast.video.read_video(tmp_path / "clip.gif")  # what the server decoded
    if method == "recommended":
        model = gmmfast.BackgroundSubtractor()
        masks = np.concatenate([model.apply_many(frames[i:i + 8]) for i in range(0, len(frames), 8)])
        background = model.background_image()
    elif method == "mog2":
        model = gmmfast.BackgroundSubtractorMOG2()
        masks = np.concatenate([model.apply_many(frames[i:i + 8]) for i in range(0, len(frames), 8)]) == 255
        background = model.background_image()
    elif method == "pixelgmm":
        gmm = gmmfast.PixelGMM().fit(frames)
        masks = np.stack([gmm.apply(f) for f in frames])
        background = gmm.background_image()
    else:
        background = (gmmfast.median_background if method == "median" else gmmfast.mean_background)(frames)
        masks = np.stack([gmmfast.subtract(f, background, 30.0) for f in frames])
    res = run["result"]
    assert res["frames"] == len(frames) and (res["height"], res["width"]) == frames.shape[1:3]
    assert res["foreground_fraction"] == pytest.approx(np.mean(masks), abs=1e-12)
    bg = gen.decode_png(client.get(res["downloads"]["clip_background.png"]).data)
    assert_array_equal(bg, np.clip(np.rint(background), 0, 255).astype(np.uint8))
    for name in ("clip_foreground.gif", "clip_mask.gif"):
        r = client.get(res["downloads"][name])
        assert r.status_code == 200 and r.data[:6] == b"GIF89a"
    (tmp_path / "mask.gif").write_bytes(client.get(res["downloads"]["clip_mask.gif"]).data)
    assert len(gmmfast.video.read_video(tmp_path / "mask.gif")) == len(frames)


def test_background_previews_of_large_videos_are_smaller(client, gen, monkeypatch):
    from PIL import Image

    monkeypatch.setattr("gmmfast.web._video.PREVIEW_SIDE", 32)   # 64 x 48 frames count as large
    run, _ = _background_run(client, gen, _clip(6))
    res = run["result"]
    for key, size in (("foreground", (32, 24)), ("mask", (32, 24)), ("overlay", (32, 24)),
                      ("background", (64, 48))):
        with Image.open(io.BytesIO(client.get(res[key]).data)) as im:
            assert im.size == size, key
    with Image.open(io.BytesIO(client.get(res["downloads"]["clip_foreground.gif"]).data)) as im:
        assert im.size == (64, 48) and im.n_frames == 6


def test_background_progress_and_frame_budget(make_app, gen):
    client = make_app(max_frames=10).test_client()
    run, _ = _background_run(client, gen, _clip(24))
    res = run["result"]
    assert res["frames"] == 10 and res["truncated"] and res["declared_frames"] == 24
    assert run["progress"] == 1.0


def test_a_damaged_video_is_explained_in_the_pages_words(client, gen):
    # the reader's advice, "pass max_frames=N", is the Python API's: a web user cannot pass it
    data = gen.gif_bytes(_clip(24))
    cut = data[: int(len(data) * 0.6)]                   # frames end part-way through the file
    r = client.post("/api/background?wait=60", data={"video": (io.BytesIO(cut), "clip.gif")},
                    headers=JSON, content_type="multipart/form-data")
    body = r.get_json()
    assert r.status_code == 422 and body["status"] == "error", body
    assert re.search(r"^The video is damaged after frame \d+: repair it, or upload only its first \d+ frames",
                     body["error"]), body


def test_background_changes_method_without_uploading(client, gen):
    run, _ = _background_run(client, gen, _clip(12))
    # a short clip under a method that learns as it plays says why little is found; median does not
    assert run["params"]["method"] == "recommended" and "short clips" in " ".join(run["result"]["notes"])
    r = client.post(f"/api/background/{run['job']}/runs?wait=60", json={"method": "median"}, headers=JSON)
    assert r.status_code == 200 and r.get_json()["params"]["method"] == "median"
    assert r.get_json()["result"]["notes"] == []


@pytest.mark.parametrize("make, words", [(lambda gen: b"just some text", "not a video"),
                                         (lambda gen: gen.encode(gen.three_colour_image(), "JPEG"), "not a video"),
                                         # a PNG is sniffed as a (possibly animated) PNG: one frame is a still
                                         (lambda gen: gen.encode(gen.three_colour_image(), "PNG"), "still image"),
                                         (lambda gen: gen.gif_bytes(_clip(1)), "still image")])
def test_background_refuses_non_videos(client, app, gen, make, words):
    r = client.post("/api/background", data={"video": (io.BytesIO(make(gen)), "clip.gif")},
                    headers=JSON, content_type="multipart/form-data")
    assert r.status_code == 400 and words in r.get_json()["error"]
    assert len(store(app)) == 0
    assert "/tmp" not in r.get_json()["error"] and "gmmfast-web" not in r.get_json()["error"]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_background_refuses_an_animation_declaring_a_huge_screen(client, app, gif_bomb):
    # it was "This animated image cannot be read"
    r = client.post("/api/background", data={"video": (io.BytesIO(gif_bomb(20_000, 20_000)), "clip.gif")},
                    headers=JSON, content_type="multipart/form-data")
    assert r.status_code == 413 and "declares 400 megapixels" in r.get_json()["error"]
    assert len(store(app)) == 0


@pytest.mark.parametrize("shape", [(1, 1), (10, 2000), (12, 12)])
def test_cutout_refuses_images_too_small_or_thin_to_draw_on(client, app, gen, shape):
    image = np.full((*shape, 3), 120, np.uint8)
    r = post_image(client, gen.encode(image, "PNG"), kind="cutout")
    assert r.status_code == 400 and "too small or too thin" in r.get_json()["error"]
    assert len(store(app)) == 0
    ok = post_image(client, gen.encode(np.full((40, 60, 3), 120, np.uint8), "PNG"), kind="cutout")
    assert ok.status_code == 201


def test_an_unknown_json_field_of_a_rerun_is_400(client, gen):
    job = post_image(client, gen.encode(gen.three_colour_image(), "PNG")).get_json()["job"]
    r = client.post(f"/api/segment/{job}/runs", json={"kk": 3}, headers=JSON)
    assert r.status_code == 400 and "'kk'" in r.get_json()["error"] and "k, features, smoothing" in r.get_json()["error"]


def test_background_refuses_an_unknown_method_and_huge_frames(make_app, gen):
    client = make_app(max_frame_pixels=1000).test_client()
    data = gen.gif_bytes(_clip(4))
    r = client.post("/api/background", data={"video": (io.BytesIO(data), "c.gif"), "method": "magic"},
                    headers=JSON, content_type="multipart/form-data")
    assert r.status_code == 400 and "method" in r.get_json()["error"]
    r = client.post("/api/background", data={"video": (io.BytesIO(data), "c.gif")},
                    headers=JSON, content_type="multipart/form-data")
    assert r.status_code == 413 and "64x48" in r.get_json()["error"]


# --------------------------------------------------------------------------- units


def test_sniff_and_safe_stem(gen):
    from gmmfast.web._uploads import safe_stem, sniff

    image = gen.three_colour_image(8, 8)
    for fmt, kind in (("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tiff"),
                      ("GIF", "gif")):
        assert sniff(gen.encode(image, fmt)) == kind
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "mp4" and sniff(b"\x1aE\xdf\xa3....") == "mkv"
    assert sniff(b"<html>") is None
    assert safe_stem("My Photo (1).JPG") == "My_Photo_1"
    assert safe_stem("../../x.png") == "x" and safe_stem("C:\\a\\b.png") == "b" and safe_stem("") == "image"
    # other scripts' letters are kept (they were all '_'); accents typed as combining marks join their letter
    assert safe_stem("Björk 2.jpg") == "Björk_2" and safe_stem("Bjo\u0308rk.png") == "Björk"
    assert safe_stem("日本の写真.png") == "日本の写真" and safe_stem("фото.jpg") == "фото"
    assert safe_stem("हिंदी.png") == "हिंदी"           # vowel signs are marks, not word characters
    # control and format characters (a right-to-left override would show 'gnp.exe' as 'exe.png') are not
    assert safe_stem("a\u202egnp.exe") == "a_gnp" and safe_stem("a\nb\x00c.png") == "a_b_c"


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 5, 8])
def test_photo_previews_average_and_match_the_labels_size(factor):
    from gmmfast.web._images import reduce_image, subsample

    # a one-pixel checkerboard: any preview that picks pixels instead of averaging shows 0 or 255
    board = ((np.add.outer(np.arange(96), np.arange(130)) % 2) * 255).astype(np.uint8)
    small = reduce_image(np.dstack([board] * 3), factor)
    assert small.shape[:2] == subsample(board, factor).shape == (-(-96 // factor), -(-130 // factor))
    if factor > 1:
        inner = small[: 96 // factor, : 130 // factor].astype(float)
        assert np.abs(inner - 127.5).max() <= (127.5 / factor ** 2 if factor % 2 else 0) + 1  # odd: one pixel more of a colour


def test_counts_and_background_are_the_library_s(gen):
    from gmmfast.web._segment import background_label, label_counts

    for k in (1, 2, 5):
        seg = gmmfast.segment(gen.three_colour_image(seed=k), k)
        counts = label_counts(seg.labels, k)
        assert_array_equal(counts, seg.counts())
        assert background_label(seg.labels, counts) == seg.background_component()


def test_output_names_are_those_of_the_library(gen):
    from gmmfast.web._segment import output_names

    seg = gmmfast.segment(gen.three_colour_image(), 4)
    assert output_names("s", 4) == list(seg.output_files("s"))


def test_web_config_refuses_bad_values():
    with pytest.raises(ValueError, match="workers"):
        WebConfig(workers=0)
    with pytest.raises(ValueError, match="queue_size"):
        WebConfig(queue_size=2.5)
    with pytest.raises(ValueError, match="max_upload_mb"):
        WebConfig(max_upload_mb=-1)
