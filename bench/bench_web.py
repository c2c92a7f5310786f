"""The web app over HTTP: how long a person waits for a 12-megapixel photo's results.

A real ``gmmfast serve`` runs in a subprocess (waitress, default settings); the
benchmark is its client:

* upload: a 12-megapixel JPEG with K=5 -> the results page, i.e. the POST that
  returns the run plus the preview images the page loads (fetched 6 at a time,
  as a browser does).  Target: 1.5 s.
* change K on the uploaded photo (K=4) -> the new page.  Target: 1 s.
* eight clients upload at once: all must be served (201), none may fail; the
  queue (waiting + running, polled every 20 ms) never exceeds its capacity.
* a burst of 3 x capacity small uploads: every answer is 201 or 503, never
  anything else, and the server still answers afterwards.

The anchor is ``gmmfast.segment`` on the same decoded pixels in this process:
the page time is reported as a ratio to it, and the server's own breakdown
(decode, segment, preview resize, preview encode) shows that resizing and
encoding do not dominate.  The targets are asserted only when the 1-minute load
average is below 2 (other agents share the machine); the figures are printed
with the load either way.

Run:  python -m pytest bench/bench_web.py -p no:cacheprovider -o addopts="" -s \
          --benchmark-columns=min,median,max,rounds
Env:  GMMFAST_BENCH_WEB_WORKERS (default 1): the server's --workers.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
pytest.importorskip("flask")
pytest.importorskip("waitress")

import gmmfast  # noqa: E402

DATA = Path(os.environ.get("GMMFAST_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
K = 5
PAGE_TARGET, RERUN_TARGET = 1.5, 1.0
CLIENTS = 8


def _load() -> float:
    return os.getloadavg()[0]


def _photo_jpeg() -> tuple[bytes, str]:
    from PIL import Image

    src = DATA / "seed" / "plant_cells.jpg"
    if src.is_file():
        im, name = Image.open(src).convert("RGB"), f"{src.name} upscaled"
    else:
        im, name = Image.fromarray(gmmfast.data.sample_image().image), "sample_image() upscaled"
    buf = io.BytesIO()
    im.resize((4000, 3000), Image.BICUBIC).save(buf, format="JPEG", quality=90)
    return buf.getvalue(), name


class Client:
    """A tiny HTTP client on one keep-alive connection (the standard library only)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)

    def request(self, method: str, path: str, body: bytes | None = None, headers=None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        r = self.conn.getresponse()
        return r.status, r.read()

    def upload(self, path: str, data: bytes, fields: dict) -> tuple[int, dict]:
        boundary = secrets.token_hex(12)
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, raw = self.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return status, json.loads(raw)

    def post_json(self, path: str, payload: dict) -> tuple[int, dict]:
        status, raw = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        return status, json.loads(raw)

    def close(self) -> None:
        self.conn.close()


def _preview_urls(run: dict) -> list[str]:
    r = run["result"]
    return [r["original"], r["segmented"], r["binary"], *(c["mask"] for c in r["components"])]


def _fetch_all(url: str, paths: list[str]) -> int:
    """GET every path, 6 connections at a time (as a browser); returns the bytes received."""
    def get(chunk):
        c = Client(url)
        try:
            sizes = []
            for p in chunk:
                status, body = c.request("GET", p)
                assert status == 200, (p, status)
                sizes.append(len(body))
            return sum(sizes)
        finally:
            c.close()
    chunks = [paths[i::6] for i in range(min(6, len(paths)))]
    with concurrent.futures.ThreadPoolExecutor(len(chunks)) as pool:
        return sum(pool.map(get, chunks))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workers = os.environ.get("GMMFAST_BENCH_WEB_WORKERS", "1")
    env = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("serve"))}
    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "serve", "--port", "0", "--workers", workers],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    line = proc.stdout.readline()
    assert "http://" in line, line + proc.stdout.read()
    url = line.split()[3]
    yield url
    proc.terminate()
    assert proc.wait(30) == 0
    assert not any(Path(env["TMPDIR"]).iterdir()), "the server left files behind"


@pytest.fixture(scope="module")
def photo():
    data, name = _photo_jpeg()
    pixels = gmmfast.io.read_image(io.BytesIO(data))
    print(f"\nphoto: {name}, 4000x3000 JPEG, {len(data) / 1e6:.1f} MB; load {_load():.1f}")
    return data, pixels


@pytest.fixture(scope="module")
def anchor(photo):
    times = []
    for _ in range(3):
        t = time.perf_counter()
        gmmfast.segment(photo[1], K)
        times.append(time.perf_counter() - t)
    print(f"\nanchor: gmmfast.segment(12 MP, K=5) in this process, all cores: {min(times):.3f} s")
    return min(times)


STATE: dict = {}


def _page(url: str, photo_bytes: bytes) -> dict:
    c = Client(url)
    t0 = time.perf_counter()
    status, run = c.upload("/api/segment?wait=60", photo_bytes, {"k": K})
    t_post = time.perf_counter() - t0
    c.close()
    assert status == 201, run
    _fetch_all(url, _preview_urls(run))
    return {"run": run, "post": t_post, "total": time.perf_counter() - t0}


def _report(label: str, seconds: list[float], runs: list[dict], anchor: float, target: float,
            upload: bool) -> None:
    best = min(seconds)
    run = runs[seconds.index(best)]
    t, info = run["result"]["timings"], run["info"]
    first = (f"decode {info['decode_seconds']:.3f} s, original's preview {info['original_preview_seconds']:.3f} s "
             f"(beside the segmentation), ") if upload else ""
    print(f"\n{label}: best {best:.3f} s, median {np.median(seconds):.3f} s of {len(seconds)} "
          f"(target {target} s); {best / anchor:.2f}x gmmfast.segment; load {_load():.1f}\n"
          f"  server: {first}segment {t['segment']:.3f} s (features {t['features']:.3f}, fit "
          f"{t['fit']:.3f}, label {t['label']:.3f}), previews: resize {t['preview_resize']:.3f} s, "
          f"encode {t['preview_encode']:.3f} s")
    if _load() < 2:
        assert best < target, f"{label}: {best:.3f} s > {target} s"
    else:
        print(f"  target not asserted: load {_load():.1f} >= 2")


def test_upload_page(benchmark, server, photo, anchor):
    out: list[dict] = []
    benchmark.pedantic(lambda: out.append(_page(server, photo[0])), rounds=5, iterations=1)
    STATE["job"] = out[-1]["run"]["job"]
    _report("upload 12 MP JPEG, K=5 -> page", [o["total"] for o in out], [o["run"] for o in out], anchor, PAGE_TARGET,
            upload=True)


def test_change_k(benchmark, server, photo, anchor):
    job = STATE.get("job") or _page(server, photo[0])["run"]["job"]
    out: list[dict] = []

    def rerun(k=[3]):  # noqa: B006 - alternate K so every round computes
        k[0] = 4 if k[0] == 3 else 3
        c = Client(server)
        t0 = time.perf_counter()
        status, run = c.post_json(f"/api/segment/{job}/runs?wait=60", {"k": k[0]})
        c.close()
        assert status == 200, run
        _fetch_all(server, _preview_urls(run))
        out.append({"run": run, "total": time.perf_counter() - t0})

    benchmark.pedantic(rerun, rounds=6, iterations=1)
    _report("change K on the uploaded photo -> page", [o["total"] for o in out], [o["run"] for o in out], anchor,
            RERUN_TARGET, upload=False)


def _watch_queue(url: str, stop: threading.Event, seen: list) -> None:
    c = Client(url)
    while not stop.is_set():
        status, raw = c.request("GET", "/api/status")
        q = json.loads(raw)["queue"]
        seen.append((q["waiting"] + q["running"], q["capacity"]))
        time.sleep(0.02)
    c.close()


def test_eight_clients_at_once(server, photo):
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_watch_queue, args=(server, stop, seen))
    watcher.start()
    barrier = threading.Barrier(CLIENTS)

    def client(i):
        barrier.wait()
        try:
            return _page(server, photo[0])
        except Exception as exc:  # counted as a failure below
            return {"error": repr(exc)}

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    failures = [r["error"] for r in results if "error" in r]
    latencies = sorted(r["total"] for r in results if "error" not in r)
    peak = max(n for n, _ in seen)
    print(f"\n{CLIENTS} clients at once: {len(latencies)} served, {len(failures)} failed, wall {wall:.2f} s, "
          f"latency min {latencies[0]:.2f} / median {np.median(latencies):.2f} / max {latencies[-1]:.2f} s; "
          f"queue peak {peak} of {seen[0][1]}; load {_load():.1f}")
    assert not failures, failures
    assert peak <= seen[0][1]


def test_burst_beyond_capacity(server):
    from PIL import Image

    small = io.BytesIO()
    Image.fromarray(gmmfast.data.sample_image(600, 800).image).save(small, format="JPEG", quality=90)
    c = Client(server)
    capacity = json.loads(c.request("GET", "/api/status")[1])["queue"]["capacity"]
    c.close()
    n = 3 * capacity
    barrier = threading.Barrier(n)

    def client(i):
        barrier.wait()
        cl = Client(server)
        try:
            return cl.upload("/api/segment?wait=120", small.getvalue(), {"k": 3})[0]
        finally:
            cl.close()

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(client, range(n)))
    counts = {code: codes.count(code) for code in set(codes)}
    print(f"\nburst of {n} uploads against a queue of {capacity}: {counts}")
    assert set(codes) <= {201, 503} and counts.get(201, 0) >= capacity
    c = Client(server)
    assert c.request("GET", "/api/status")[0] == 200
    c.close()
