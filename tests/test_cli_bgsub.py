"""``gmmfast bgsub``, run as a command and in-process.

The masks written are compared with the library's own subtractor run on the
same frames, and every method must write one mask per input frame.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
import gmmfast  # noqa: E402
from gmmfast.cli import bgsub, main  # noqa: E402
from gmmfast.data import sample_clip  # noqa: E402
from gmmfast.io import read_image, write_image  # noqa: E402
from gmmfast.video import read_video, write_video  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METHODS = bgsub.available_methods()


def f_measure(pred, truth):
    tp = np.count_nonzero(pred & truth)
    return 2 * tp / (2 * tp + np.count_nonzero(pred ^ truth))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, masks = sample_clip()
    path = tmp_path_factory.mktemp("clip") / "clip.gif"
    write_video(path, frames, fps=10)
    return path, read_video(path), masks


def _library_masks(method: str, frames: np.ndarray, train: int, **kw) -> np.ndarray:
    """The masks (0/127/255) the library's own subtractor gives for every frame."""
    if method in bgsub.ONLINE_METHODS:
        bs = gmmfast.BackgroundSubtractor(method=method, output="uint8")
        if train:
            bs.apply_many(frames[:train])
        return np.stack([bs.apply(f) for f in frames])
    if method == "pixelgmm":
        model = gmmfast.PixelGMM(**kw).fit(frames[:train])
        return np.stack([model.apply(f) for f in frames]).astype(np.uint8) * 255
    background = {"mean": gmmfast.mean_background, "median": gmmfast.median_background,
                  "kmeans": lambda s: gmmfast.kmeans_background(s, 3)}[method](frames[:train])
    return np.stack([gmmfast.subtract(f, background, 30.0) for f in frames]).astype(np.uint8) * 255


def _read_mask(path: Path) -> np.ndarray:
    """The written mask video as uint8; the GIF writer may nudge one corner pixel of a frame equal to
    the one before by one grey level (so GIF does not merge them): round to the nearest of 0/127/255."""
    m = read_video(path, grey=True).astype(int)
    levels = np.array([0, 127, 255])
    return levels[np.argmin(np.abs(m[..., None] - levels), axis=-1)].astype(np.uint8)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_writes_the_library_masks_for_every_frame(clip, tmp_path, method, capsys):
    path, frames, truth = clip
    out = tmp_path / "out"
    assert main(["bgsub", str(path), "-o", str(out), "--method", method]) == 0
    train = 0 if method in bgsub.ONLINE_METHODS else bgsub.DEFAULT_TRAIN_FRAMES
    assert f"80 frames of 160x120 ({train} learnt first, 80 masked)" in capsys.readouterr().out
    mask = _read_mask(out / "clip_mask.gif")
    assert mask.shape == (80, 120, 160)  # one mask per input frame, whatever the method
    np.testing.assert_array_equal(mask, _library_masks(method, frames, train))
    fg = read_video(out / "clip_foreground.gif")
    assert fg.shape == (80, 120, 160, 3)
    assert not fg[mask != 255].any()  # background blacked out
    kept = mask == 255
    assert np.abs(fg[kept].astype(int) - frames[kept].astype(int)).mean() < 2  # GIF palette rounding only
    assert sorted(p.name for p in out.iterdir()) == ["clip_background.png", "clip_foreground.gif", "clip_mask.gif"]
    found = mask[48:] == 255
    if method in ("adaptive", "mog2", "pixelgmm"):
        assert f_measure(found, truth[48:]) > 0.8
    else:  # the clip's flicker breaks single-mode backgrounds, but the sprites are found
        assert np.count_nonzero(found & truth[48:]) / np.count_nonzero(truth[48:]) > 0.9


def test_background_image_is_the_models(clip, tmp_path):
    path, frames, _ = clip
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "median", "--train-frames", "40"]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "clip_background.png"),
                                  np.rint(gmmfast.median_background(frames[:40])).astype(np.uint8))


@pytest.mark.parametrize("method", ["adaptive", "mog2", "knn"])
def test_online_methods_learn_training_frames_first(clip, tmp_path, method):
    if method not in METHODS:
        pytest.skip("this build has no online subtractor")
    path, frames, _ = clip
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", method, "--train-frames", "20"]) == 0
    np.testing.assert_array_equal(_read_mask(tmp_path / "clip_mask.gif"), _library_masks(method, frames, 20))


def test_shadows_are_grey(clip, tmp_path):
    if "mog2" not in METHODS:
        pytest.skip("this build has no online subtractor")
    path, frames, _ = clip
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "mog2", "--shadows"]) == 0
    expected = gmmfast.BackgroundSubtractorMOG2(detect_shadows=True).apply_many(frames)
    np.testing.assert_array_equal(_read_mask(tmp_path / "clip_mask.gif"), expected)
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", "knn", "--shadows", "--overwrite"]) == 1


def test_options_reach_the_model(clip, tmp_path, capsys):
    pytest.importorskip("imageio_ffmpeg")
    path, frames, masks = clip
    code = main(["bgsub", str(path), "-o", str(tmp_path), "--method", "pixelgmm", "--format", "mp4",
                 "--grey", "-k", "3", "--threshold", "4", "--max-frames", "60", "--fps", "5"])
    assert code == 0, capsys.readouterr().err
    mask = read_video(tmp_path / "clip_mask.mp4", grey=True) > 127
    assert mask.shape == (60, 120, 160)
    grey = read_video(path, grey=True)[:60]
    expected = _library_masks("pixelgmm", grey, 48, n_components=3, threshold=4.0) == 255
    assert np.mean(mask == expected) > 0.99  # lossy video of the mask
    assert read_image(tmp_path / "clip_background.png").shape == (120, 160)


def test_folder_input(clip, tmp_path):
    _, frames, _ = clip
    for i, f in enumerate(frames[:20]):
        write_image(tmp_path / "frames" / f"{i}.png", f)
    assert main(["bgsub", str(tmp_path / "frames"), "-o", str(tmp_path / "o"), "--method", "median",
                 "--train-frames", "10"]) == 0
    mask = _read_mask(tmp_path / "o" / "frames_mask.gif")
    assert mask.shape[0] == 20
    bg = gmmfast.median_background(frames[:10])
    np.testing.assert_array_equal(mask, np.stack([gmmfast.subtract(f, bg, 30.0) for f in frames[:20]]) * 255)


@pytest.mark.parametrize("method", ["pixelgmm", "median"])
def test_clean_applies_the_pipelines_clean_up_to_a_batch_methods_masks(clip, tmp_path, method, capsys):
    # the batch methods' masks had no clean-up and no option for one: speckled on a dithered GIF
    # (the replaced project's traffic.gif: pixelgmm's agreement with its output F 0.51, cleaned 0.66)
    from scipy import ndimage

    path, frames, _ = clip
    assert main(["bgsub", str(path), "-o", str(tmp_path), "--method", method, "--clean"]) == 0
    raw = _library_masks(method, frames, bgsub.DEFAULT_TRAIN_FRAMES) > 0
    # the reference: a 5x5 median (majority) then a 3x3 closing, each with edges replicated
    med = ndimage.median_filter(raw.astype(np.uint8), size=(1, 5, 5), mode="nearest")
    closed = ndimage.grey_erosion(ndimage.grey_dilation(med, size=(1, 3, 3), mode="nearest"), size=(1, 3, 3),
                                  mode="nearest") > 0
    np.testing.assert_array_equal(_read_mask(tmp_path / "clip_mask.gif") == 255, closed)
    assert not np.array_equal(closed, raw)                 # (the clip gives the clean-up something to do)
    assert main(["bgsub", str(path), "-o", str(tmp_path / "x"), "--method", "mog2", "--clean"]) == 1
    assert "--clean applies to --method pixelgmm, mean, median, kmeans only" in _one_error_line(capsys.readouterr().err)


def test_a_frames_folder_is_not_its_own_output_folder(clip, tmp_path, capsys):
    # the run wrote frames_background.png among the frames, and the next run read it as an 81st frame
    _, frames, _ = clip
    for i, f in enumerate(frames[:12]):
        write_image(tmp_path / "frames" / f"{i}.png", f)
    for out in (tmp_path / "frames", tmp_path / "frames" / "." ):
        assert main(["bgsub", str(tmp_path / "frames"), "-o", str(out), "--train-frames", "4"]) == 1
        err = capsys.readouterr().err
        assert "is a folder of frames and the output folder" in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path / "frames")) == sorted(f"{i}.png" for i in range(12))


@pytest.mark.parametrize("as_folder", [False, True], ids=["gif", "folder"])
def test_short_video_learns_all_its_frames_by_default(clip, tmp_path, capsys, as_folder):
    # the default 48 training frames used to refuse a 20-frame video the user gave no option for;
    # a folder's frame count is known up front, a GIF's is found while reading
    _, frames, _ = clip
    short = frames[:20]
    if as_folder:
        for i, f in enumerate(short):
            write_image(tmp_path / "frames" / f"{i}.png", f)
        src = tmp_path / "frames"
    else:
        src = tmp_path / "short.gif"
        write_video(src, short, fps=10)
    assert main(["bgsub", str(src), "-o", str(tmp_path / "o"), "--method", "median"]) == 0
    assert "20 learnt first" in capsys.readouterr().out
    mask = _read_mask(tmp_path / "o" / f"{src.stem}_mask.gif")
    bg = gmmfast.median_background(read_video(src))
    np.testing.assert_array_equal(mask, np.stack([gmmfast.subtract(f, bg, 30.0) for f in read_video(src)]) * 255)


@pytest.mark.parametrize("argv, expected", [
    (["--method", "median", "--train-frames", "81"], "has only 80 frames, fewer than --train-frames 81"),
    (["--method", "mean", "--train-frames", "0"], "--train-frames must be >= 1 for --method mean"),
    (["--method", "median", "--shadows"], "--shadows needs --method mog2"),
    (["--method", "mog2", "-k", "3"], "-k/--components applies to --method pixelgmm and kmeans only (got --method mog2)"),
    (["--method", "median", "--components", "2"], "-k/--components applies to --method pixelgmm and kmeans only"),
    (["--threshold", "12"], "--threshold applies to --method"),
])
def test_option_errors(clip, tmp_path, capsys, argv, expected):
    if ("--shadows" in argv or "mog2" in argv) and "mog2" not in METHODS:
        pytest.skip("no mog2 in this build")
    path, _, _ = clip
    out = tmp_path / "o"
    assert main(["bgsub", str(path), "-o", str(out), *argv]) == 1
    assert expected in _one_error_line(capsys.readouterr().err)
    assert not out.exists()  # a failed run leaves no (empty) folder behind


def _truncated_avi(tmp_path) -> Path:
    pytest.importorskip("imageio_ffmpeg")
    frames, _ = sample_clip()
    whole = write_video(tmp_path / "whole.avi", frames, fps=10)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 45 // 100])
    return cut


def test_wrong_kind_truncated_and_missing_inputs(clip, tmp_path, capsys):
    path, frames, _ = clip
    cases = []
    notes = tmp_path / "notes.mp4"
    notes.write_text("these are notes, not a video\n")
    cases.append((notes, "is a text file, not a video"))
    named_jpg = tmp_path / "notes.jpg"
    named_jpg.write_text("these are notes named like a photo\n")
    cases.append((named_jpg, "is a text file, not a video"))
    still = write_image(tmp_path / "still.jpg", frames[0])
    cases.append((still, "a still picture, not a video"))
    half = tmp_path / "half.gif"
    half.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cases.append((half, "is truncated"))
    cases.append((tmp_path / "missing.mp4", "no such video file or folder"))
    one = write_video(tmp_path / "one.gif", frames[:1])
    cases.append((one, "holds a single picture, not a video"))
    for bad, expected in cases:
        out = tmp_path / f"out-{bad.name}"
        assert main(["bgsub", str(bad), "-o", str(out)]) == 1, bad
        assert expected in _one_error_line(capsys.readouterr().err), bad
        assert not out.exists()


def test_truncated_video_says_where_it_ends(tmp_path, capsys):
    cut = _truncated_avi(tmp_path)
    assert main(["bgsub", str(cut), "-o", str(tmp_path / "o")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "cut.avi is truncated" in line and "--max-frames" in line
    # asked for more frames than the cut file holds: told exactly how many there are
    assert main(["bgsub", str(cut), "-o", str(tmp_path / "o"), "--max-frames", "80"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    n = int(line.split("ends after ")[1].split(" ")[0])
    assert 10 < n < 40 and f"--max-frames {n}" in line and "max_frames" not in line
    assert main(["bgsub", str(cut), "-o", str(tmp_path / "o"), "--max-frames", str(n)]) == 0
    assert read_video(tmp_path / "o" / "cut_mask.gif").shape[0] == n


def test_text_file_without_the_video_extra(tmp_path, monkeypatch, capsys):
    import gmmfast.video as video

    def no_ffmpeg():
        raise ImportError("reading and writing MP4/AVI needs imageio-ffmpeg: pip install 'gmmfast[video]'")

    monkeypatch.setattr(video, "_ffmpeg", no_ffmpeg)
    notes = tmp_path / "notes.avi"
    notes.write_text("not a video")
    assert main(["bgsub", str(notes), "-o", str(tmp_path / "o")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "is a text file, not a video" in line and "ffmpeg" not in line.lower()


def test_unwritable_output_folder(clip, tmp_path, capsys):
    path, _, _ = clip
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["bgsub", str(path), "-o", str(blocker / "sub")]) == 1
    assert "cannot write to the output folder" in _one_error_line(capsys.readouterr().err)


def test_read_only_output_folder(clip, capsys, read_only_folder):
    path, _, _ = clip
    for extra in ([], ["--overwrite"]):
        status = main(["bgsub", str(path), "-o", str(read_only_folder.path), *extra])
        read_only_folder.assert_refused(status, capsys.readouterr().err)


def test_overwrite_and_exact_outputs(clip, tmp_path, capsys):
    pytest.importorskip("imageio_ffmpeg")
    path, _, _ = clip
    out = tmp_path / "o"
    assert main(["bgsub", str(path), "-o", str(out), "--method", "median"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["bgsub", str(path), "-o", str(out), "--method", "mean"]) == 1
    assert "--overwrite" in _one_error_line(capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["bgsub", str(path), "-o", str(out), "--method", "mean", "--format", "mp4", "--overwrite"]) == 0
    # the GIFs of the first run are gone: the folder holds exactly what the second run wrote
    assert sorted(p.name for p in out.iterdir()) == ["clip_background.png", "clip_foreground.mp4",
                                                     "clip_mask.mp4"]


def test_demo_step(tmp_path):
    lines = []
    bgsub.demo_step(tmp_path, lines.append)
    assert (tmp_path / "clip.gif").exists()
    assert read_video(tmp_path / "bgsub-pixelgmm" / "clip_mask.gif").shape[0] == 80
    assert any(line.startswith("bgsub pixelgmm") and "F = " in line for line in lines)
    assert any(line.startswith(f"bgsub {METHODS[0]}") for line in lines)  # the recommended method is shown
    f = float(next(line for line in lines if line.startswith("bgsub pixelgmm")).split("F = ")[1].split()[0])
    assert f >= 0.95


@pytest.mark.skipif(not (DATA / "seed" / "traffic.gif").exists(), reason="shared data not present")
def test_traffic_demo_command(tmp_path):
    ref = read_video(DATA / "seed" / "traffic_reference.gif", grey=True) > 127
    assert main(["bgsub", str(DATA / "seed" / "traffic.gif"), "-o", str(tmp_path), "--method", "pixelgmm",
                 "--grey"]) == 0
    mask = read_video(tmp_path / "traffic_mask.gif", grey=True) > 127
    assert mask.shape[0] == read_video(DATA / "seed" / "traffic.gif").shape[0]
    assert f_measure(mask[-ref.shape[0]:], ref) >= 0.65


@pytest.mark.skipif(not (DATA / "seed" / "traffic.avi").exists(), reason="shared data not present")
def test_shared_truncated_avi(tmp_path, capsys):
    cut = tmp_path / "traffic.avi"
    data = (DATA / "seed" / "traffic.avi").read_bytes()
    cut.write_bytes(data[: len(data) * 45 // 100])
    assert main(["bgsub", str(cut), "-o", str(tmp_path / "o")]) == 1
    assert "is truncated" in _one_error_line(capsys.readouterr().err)


def test_command_line_in_a_subprocess(clip, tmp_path):
    path, frames, _ = clip
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "gmmfast", "bgsub", str(path), "-o", str(out), "--method", "median"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        cwd=tmp_path,  # not the checkout: its gmmfast/ folder has no compiled modules
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a terminal: no progress drawn
    assert "80 frames" in proc.stdout
    np.testing.assert_array_equal(_read_mask(out / "clip_mask.gif"), _library_masks("median", frames, 48))


def _snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def test_ctrl_c_leaves_the_earlier_run_intact(clip, tmp_path, interrupt_cli):
    if "mog2" not in METHODS:
        pytest.skip("this build has no online subtractor")
    path, frames, _ = clip
    long = write_video(tmp_path / "long.gif", np.concatenate([frames] * 8), fps=10)  # 640 frames
    out = tmp_path / "o"
    assert main(["bgsub", str(long), "-o", str(out), "--method", "median", "--max-frames", "60"]) == 0
    before = _snapshot(out)
    status, shown = interrupt_cli(["bgsub", str(long), "-o", str(out), "--overwrite"], cwd=tmp_path,
                                  when=b"masking")
    assert status == 130, shown
    assert "interrupted" in shown and "Traceback" not in shown
    assert _snapshot(out) == before  # no partial GIF, no staging folder, the old files as they were


def test_gif_outputs_larger_than_the_free_memory_are_refused_before_work(clip, tmp_path, capsys, monkeypatch):
    # the GIF writer holds every frame until it encodes them at the end: a long HD video ran out of
    # memory after all its work. The check compares the frames' pixels with the free memory.
    from gmmfast import _memory

    assert sys.platform != "linux" or _memory.available_memory() > 0          # read from the system here
    path, frames, _ = clip
    need = bgsub.GIF_BYTES_PER_PIXEL * frames.shape[0] * frames.shape[1] * frames.shape[2]
    monkeypatch.setattr(_memory, "available_memory", lambda: int(need))      # less than need / 0.8
    assert main(["bgsub", str(path), "-o", str(tmp_path / "gif")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "--format mp4" in line and f"its {frames.shape[0]} frames" in line
    assert not (tmp_path / "gif").exists() or not list((tmp_path / "gif").iterdir())
    assert main(["bgsub", str(path), "--format", "mp4", "-o", str(tmp_path / "mp4")]) == 0   # streamed: no check
    monkeypatch.setattr(_memory, "available_memory", lambda: int(2 * need))
    assert main(["bgsub", str(path), "-o", str(tmp_path / "fits")]) == 0
