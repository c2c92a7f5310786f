"""``gmmfast bgsub``, run as a command and in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
from gmmfast.cli import bgsub, main  # noqa: E402
from gmmfast.data import sample_clip  # noqa: E402
from gmmfast.io import read_image  # noqa: E402
from gmmfast.video import read_video, write_video  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def f_measure(pred, truth):
    tp = np.count_nonzero(pred & truth)
    return 2 * tp / (2 * tp + np.count_nonzero(pred ^ truth))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, masks = sample_clip()
    path = tmp_path_factory.mktemp("clip") / "clip.gif"
    write_video(path, frames, fps=10)
    return path, read_video(path), masks


def test_command_line_pixelgmm(clip, tmp_path):
    path, frames, masks = clip
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "gmmfast", "bgsub", str(path), "-o", str(out), "--method", "pixelgmm",
         "--train-frames", "48"],
        capture_output=True, text=True, timeout=300,
        cwd=tmp_path,  # not the checkout: its gmmfast/ folder has no compiled modules
    )
    assert proc.returncode == 0, proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert "80 frames" in summary and "fps" in summary and "32 masked" in summary
    bg = read_image(out / "background.png")
    assert bg.shape == (120, 160, 3) and bg.dtype == np.uint8
    mask = read_video(out / "mask.gif", grey=True) > 127
    fg = read_video(out / "foreground.gif")
    assert mask.shape == (32, 120, 160) and fg.shape == (32, 120, 160, 3)
    assert f_measure(mask, masks[48:]) >= 0.95
    assert not fg[~mask].any()  # background blacked out


@pytest.mark.parametrize("method", ["mean", "median", "kmeans"])
def test_batch_methods_in_process(clip, tmp_path, method, capsys):
    path, frames, masks = clip
    code = main(["bgsub", str(path), "-o", str(tmp_path), "--method", method, "--train-frames", "40",
                 "--threshold", "35"])
    assert code == 0
    assert "40 training, 40 masked" in capsys.readouterr().out
    mask = read_video(tmp_path / "mask.gif", grey=True) > 127
    assert mask.shape == (40, 120, 160)
    # the clip's flicker breaks single-mode backgrounds, but the sprites are found
    assert np.count_nonzero(mask & masks[40:]) / np.count_nonzero(masks[40:]) > 0.95


def test_mp4_output_grey_and_options(clip, tmp_path, capsys):
    pytest.importorskip("imageio_ffmpeg")
    path, frames, masks = clip
    code = main(["bgsub", str(path), "-o", str(tmp_path), "--method", "pixelgmm", "--format", "mp4",
                 "--grey", "--n-components", "3", "--threshold", "5", "--max-frames", "60", "--fps", "5"])
    assert code == 0, capsys.readouterr().err
    mask = read_video(tmp_path / "mask.mp4", grey=True) > 127
    assert mask.shape == (12, 120, 160)
    assert f_measure(mask, masks[48:60]) > 0.9  # lossy video of the mask
    assert read_image(tmp_path / "background.png").shape == (120, 160)


def test_folder_input(clip, tmp_path):
    from gmmfast.io import write_image

    _, frames, _ = clip
    for i, f in enumerate(frames[:20]):
        write_image(tmp_path / "frames" / f"{i:03d}.png", f)
    assert main(["bgsub", str(tmp_path / "frames"), "-o", str(tmp_path / "o"), "--method", "median",
                 "--train-frames", "10"]) == 0
    assert read_video(tmp_path / "o" / "mask.gif").shape[0] == 10


def test_errors_are_reported(clip, tmp_path, capsys):
    path, _, _ = clip
    assert main(["bgsub", str(tmp_path / "missing.mp4"), "-o", str(tmp_path)]) == 1
    assert "no such video" in capsys.readouterr().err
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "median", "--train-frames", "80"]) == 1
    assert "leaves none" in capsys.readouterr().err
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"not a gif at all")
    assert main(["bgsub", str(bad), "-o", str(tmp_path)]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "pixelgmm", "--threshold", "-2"]) == 1
    assert "threshold" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bgsub", str(path), "-o", str(tmp_path), "--method", "nonsense"])


def test_shadows_only_with_mog2(clip, tmp_path, capsys):
    path, _, _ = clip
    if "mog2" in bgsub.available_methods():
        assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "median", "--shadows"]) == 1
        assert "--shadows needs --method mog2" in capsys.readouterr().err
    else:
        with pytest.raises(SystemExit):  # the option does not exist in this build
            main(["bgsub", str(path), "-o", str(tmp_path), "--shadows"])


def test_mog2_method_when_available(clip, tmp_path, capsys):
    if "mog2" not in bgsub.available_methods():
        pytest.skip("this build has no online subtractor")
    path, frames, masks = clip
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "mog2", "--shadows"]) == 0
    out = capsys.readouterr().out
    assert "80 frames" in out and "0 training, 80 masked" in out
    mask = read_video(tmp_path / "mask.gif", grey=True)
    assert mask.shape == (80, 120, 160)
    assert f_measure(mask[40:] > 127, masks[40:]) > 0.8


def test_knn_method(clip, tmp_path, capsys):
    if "knn" not in bgsub.available_methods():
        pytest.skip("this build has no online subtractor")
    path, frames, masks = clip
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "knn"]) == 0
    assert "0 training, 80 masked" in capsys.readouterr().out
    mask = read_video(tmp_path / "mask.gif", grey=True)
    assert mask.shape == (80, 120, 160)
    assert f_measure(mask[40:] > 127, masks[40:]) > 0.8                        # against the clip's truth
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "knn", "--shadows"]) == 1


def test_demo_step(tmp_path):
    lines = []
    bgsub.demo_step(tmp_path, lines.append)
    assert (tmp_path / "clip.gif").exists()
    assert (tmp_path / "bgsub-pixelgmm" / "mask.gif").exists()
    assert any(line.startswith("bgsub pixelgmm") and "F = " in line for line in lines)
    f = float(next(line for line in lines if line.startswith("bgsub pixelgmm")).split("F = ")[1].split()[0])
    assert f >= 0.95


@pytest.mark.skipif(not (DATA / "seed" / "traffic.gif").exists(), reason="shared data not present")
def test_traffic_demo_command(tmp_path):
    ref = read_video(DATA / "seed" / "traffic_reference.gif", grey=True) > 127
    assert main(["bgsub", str(DATA / "seed" / "traffic.gif"), "-o", str(tmp_path), "--method", "pixelgmm",
                 "--grey"]) == 0
    mask = read_video(tmp_path / "mask.gif", grey=True) > 127
    assert mask.shape == ref.shape
    assert f_measure(mask, ref) >= 0.65
