"""``gmmfast serve``: the command starts waitress on localhost, answers, and cleans up when stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytest.importorskip("flask", reason="the web app needs Flask: pip install 'gmmfast[web]'")
pytest.importorskip("waitress", reason="the web app is served by waitress: pip install 'gmmfast[web]'")


def test_serve_options_and_defaults():
    from gmmfast.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_upload_mb, args.workers) == ("127.0.0.1", 8000, 50.0, 1)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--max-upload-mb", "5",
                                      "--workers", "2", "--queue-size", "3", "--job-timeout", "1"])
    assert (args.port, args.max_upload_mb, args.workers, args.queue_size, args.job_timeout) == (9000, 5.0, 2, 3, 1.0)
    for bad in (["--port", "70000"], ["--workers", "0"], ["--max-upload-mb", "-1"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", *bad])


def test_serve_without_flask_says_what_to_install(monkeypatch, capsys):
    import sys

    from gmmfast.cli import main

    monkeypatch.setitem(sys.modules, "flask", None)  # as if Flask were not installed
    assert main(["serve", "--port", "0"]) == 2
    assert "pip install 'gmmfast[web]'" in capsys.readouterr().err


def test_demo_mentions_serve(tmp_path, capsys):
    from gmmfast.cli.serve import demo_step

    lines = []
    demo_step(tmp_path, lambda text: lines.append(text))
    assert "gmmfast serve" in lines[0]


def test_serve_runs_waitress_and_cleans_up(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "serve", "--port", "0", "--queue-size", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = line.split()[3]
        assert url.startswith("http://127.0.0.1:"), line
        with urllib.request.urlopen(url + "api/status", timeout=30) as r:
            assert r.headers["Server"] == "gmmfast"          # waitress, not Flask's development server
            assert json.load(r)["queue"]["capacity"] == 2
        with urllib.request.urlopen(url, timeout=30) as r:
            assert b'id="drop"' in r.read()
        rebound = urllib.request.Request(url + "api/status", headers={"Host": "rebound.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:   # DNS rebinding: a foreign name is refused
            urllib.request.urlopen(rebound, timeout=30)
        assert refused.value.code == 400
        assert [p.name.startswith("gmmfast-web-") for p in tmp_path.iterdir()] == [True]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []                    # its private folders are gone


def test_serve_says_when_the_port_is_taken(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "gmmfast", "serve", "--port", str(port)], capture_output=True,
                           text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 1 and "cannot listen" in r.stderr and "Traceback" not in r.stderr
    assert "another server using that port" in r.stderr
    assert list(tmp_path.iterdir()) == []
    # an address not of this machine: the hint is about the address, not the port
    r = subprocess.run([sys.executable, "-m", "gmmfast", "serve", "--host", "192.0.2.1", "--port", "0"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 1 and "address of this machine" in r.stderr and "Traceback" not in r.stderr


def test_serve_warns_when_not_on_localhost(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "serve", "--host", "0.0.0.0", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        assert "http://0.0.0.0:" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "warning" in err and "reverse proxy" in err


def test_serve_logs_the_librarys_warnings_as_one_line_each(tmp_path, gen):
    # an upload's warning reached the log as Python's "…/io.py:85: UserWarning: …" with the source line
    # under it
    import numpy as np

    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        url = proc.stdout.readline().split()[3]
        gif = gen.gif_bytes(np.stack([gen.three_colour_image()] * 3))
        boundary = "gmmfastboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n2\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"clip.gif\"\r\n"
                "Content-Type: image/gif\r\n\r\n").encode() + gif + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(url + "api/segment?wait=60", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request, timeout=90) as r:
            assert r.status == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if "holds 3 frames" in line]
    assert len(lines) == 1 and lines[0].startswith("gmmfast: warning: UserWarning: "), err
    assert ".py:" not in err and "warnings.warn" not in err, err
