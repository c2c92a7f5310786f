"""The ``gmmfast segment`` and ``gmmfast demo`` commands, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gmmfast.cli import main
from gmmfast.io import read_image, write_image


def _image(path: Path, k: int = 3, grey: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w]
    lab = (xx * k // w).astype(int)
    cols = np.array([[30, 40, 120], [200, 70, 60], [90, 200, 80], [240, 240, 200]], float)[:k]
    img = cols[lab] + rng.normal(0, 8, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if grey:
        img = img.mean(axis=2).astype(np.uint8)
    return write_image(path, img)


def test_segment_several_images(tmp_path, capsys):
    a = _image(tmp_path / "a.png", 3)
    b = _image(tmp_path / "sub" / "b.png", 2, seed=1)
    out = tmp_path / "Result"
    status = main(["segment", str(a), str(b), "-k", "3", "-o", str(out)])
    assert status == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 2 and str(a) in lines[0] and "K=3" in lines[0]
    for stem in ("a", "b"):
        for suffix in ("segmented", "mask0", "mask1", "mask2", "binary"):
            assert (out / f"{stem}_{suffix}.png").is_file()
    binary = read_image(out / "a_binary.png")
    assert set(np.unique(binary)) == {0, 255}     # foreground vs the background component
    # masks partition the image
    total = sum(read_image(out / f"a_mask{k}.png").astype(int) // 255 for k in range(3))
    assert np.all(total == 1)


def test_missing_and_unreadable_files_do_not_stop_the_others(tmp_path, capsys):
    good = _image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a PNG")
    missing = tmp_path / "missing.jpg"
    status = main(["segment", str(missing), str(bad), str(good), "-o", str(tmp_path / "out")])
    assert status == 1
    captured = capsys.readouterr()
    assert "no such image file" in captured.err and "missing.jpg" in captured.err
    assert "cannot read" in captured.err and "bad.png" in captured.err
    assert "2 of 3 image(s) could not be segmented" in captured.err
    assert (tmp_path / "out" / "good_segmented.png").is_file()
    assert not (tmp_path / "out" / "bad_segmented.png").exists()


def test_auto_k_lab_smoothing_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    img = _image(tmp_path / "four.png", 4)
    grey = _image(tmp_path / "grey.png", 3, grey=True)
    out = tmp_path / "res"
    status = main(["segment", str(img), str(grey), "--k", "auto", "--features", "lab", "--smoothing", "1.0",
                   "--plot", "-o", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "K=4 (auto)" in text and "smoothing 1" in text
    assert (out / "four_plot.png").stat().st_size > 1000
    assert (out / "grey_plot.png").stat().st_size > 1000
    assert (out / "four_mask3.png").is_file()


def test_smoothing_method_expansion(tmp_path, capsys):
    pytest.importorskip("gmmfast.maxflow")
    img = _image(tmp_path / "e.png", 3)
    assert main(["segment", str(img), "--smoothing", "2", "--smoothing-method", "expansion",
                 "-o", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "e_mask2.png").is_file()


def test_same_stem_twice_gets_distinct_outputs(tmp_path):
    a = _image(tmp_path / "x" / "pic.png")
    b = _image(tmp_path / "y" / "pic.png", seed=3)
    assert main(["segment", str(a), str(b), "-k", "2", "-o", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "pic_segmented.png").is_file()
    assert (tmp_path / "o" / "pic_1_segmented.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["segment", "x.png", "-k", "zero"], "positive integer or 'auto'"),
    (["segment", "x.png", "-k", "0"], "positive integer or 'auto'"),
    (["segment", "x.png", "--smoothing", "-1"], ">= 0"),
    (["segment", "x.png", "--features", "hsv"], "invalid choice"),
    (["segment", "x.png", "--k-range", "5-2"], "smallest-largest"),
    (["segment"], "required"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_console_entry_and_help(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = lambda *a: subprocess.run([sys.executable, "-m", "gmmfast", *a], capture_output=True, text=True,
                                    env=env, cwd=tmp_path, timeout=120)
    top = run("--help")
    assert top.returncode == 0 and "segment" in top.stdout and "demo" in top.stdout
    sub = run("segment", "--help")
    assert sub.returncode == 0
    for option in ("--features", "--smoothing", "--plot", "-k", "-o"):
        assert option in sub.stdout
    img = _image(tmp_path / "p.png")
    done = run("segment", str(img), "-k", "2")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "Result" / "p_mask1.png").is_file()  # default output folder "Result"
    missing = run("segment", str(tmp_path / "nope.png"))
    assert missing.returncode == 1 and "nope.png" in missing.stderr


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo_out"
    assert main(["demo", "-o", str(out)]) == 0
    report = (out / "report.txt").read_text()
    assert "segment" in report and "GaussianMixture" in report and "0 failed" in report
    assert "adjusted Rand index" in report
    for line in report.splitlines():
        if line.startswith("    ") and line.strip().endswith((".png", ".txt")):
            assert (out / line.strip()).is_file(), line
    ari = float(report.split("true regions: ")[1].split(";")[0])
    assert ari > 0.9


def test_defaults_are_the_library_defaults(tmp_path, monkeypatch):
    """Without options the command calls segment() exactly as segment(path, 'auto') would run: the same K
    range, subsample size and seed (an unseeded run chose the rose's K = 2 or 3 from run to run, where the
    library and the web app say 3)."""
    import inspect

    import gmmfast._segmentation as seg_module

    calls = []
    real = seg_module.segment

    def spy(image, n_components, **kwargs):
        calls.append(kwargs)
        return real(image, n_components, **kwargs)

    monkeypatch.setattr(seg_module, "segment", spy)
    assert main(["segment", str(_image(tmp_path / "a.png")), "-k", "auto", "-o", str(tmp_path / "out")]) == 0
    assert len(calls) == 1
    defaults = {name: p.default for name, p in inspect.signature(real).parameters.items()}
    assert {name: calls[0][name] for name in calls[0]} == {name: defaults[name] for name in calls[0]}
