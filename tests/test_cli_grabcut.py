"""``gmmfast grabcut``, run as a user would: content of the files, errors in the options' terms."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PIL")
import gmmfast  # noqa: E402
from gmmfast.cli import main  # noqa: E402
from gmmfast.io import read_image, write_image  # noqa: E402


def _photo(path, seed=0):
    """A red disc on a noisy green-blue background."""
    rng = np.random.default_rng(seed)
    h, w = 70, 90
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3))
    img[:] = (40, 140, 120)
    disc = (yy - 35) ** 2 + (xx - 45) ** 2 < 18 ** 2
    img[disc] = (210, 40, 50)
    img += rng.normal(0, 10, img.shape)
    return write_image(path, np.clip(img, 0, 255).astype(np.uint8))


RECT = (20, 12, 50, 46)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def test_files_hold_the_library_result(tmp_path, capsys):
    src = _photo(tmp_path / "disc.png")
    out = tmp_path / "out"
    assert main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(out),
                 "--iterations", "3", "--components", "4"]) == 0
    res = gmmfast.grabcut(read_image(src), rect=RECT, max_iter=3, n_components=4)
    mask = read_image(out / "disc_mask.png")
    np.testing.assert_array_equal(mask, np.where(res.foreground, 255, 0))
    np.testing.assert_array_equal(read_image(out / "disc_cutout.png"), res.cutout())
    assert sorted(p.name for p in out.iterdir()) == ["disc_cutout.png", "disc_mask.png"]
    assert "disc.png: 90x70, 3 iterations" in capsys.readouterr().out


def test_a_16_bit_grey_image_is_cut_at_8_bits_with_a_warning(tmp_path, capsys):
    # it was refused ("convert it first") where segment and the web app take it
    grey8 = read_image(_photo(tmp_path / "disc.png"))[:, :, 0]       # red: the disc stands out
    grey16 = grey8.astype(np.uint16) * 257 + np.arange(grey8.size, dtype=np.uint16).reshape(grey8.shape) % 200
    src = write_image(tmp_path / "disc16.png", grey16)
    out = tmp_path / "out"
    assert main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "disc16.png has 16 bits per pixel; it is cut at 8" in err and len(err.strip().splitlines()) == 1
    res = gmmfast.grabcut(grey8, rect=RECT)           # the same top 8 bits, cut by the library
    assert 0.1 < res.foreground.mean() < 0.4
    np.testing.assert_array_equal(read_image(out / "disc16_mask.png"), np.where(res.foreground, 255, 0))


@pytest.mark.parametrize("margin, expected", [("0.3", 0.3), ("none", None), ("NONE", None), (None, 0.1)])
def test_margin_option_reaches_the_library(tmp_path, margin, expected):
    src = _photo(tmp_path / "disc.png")
    out = tmp_path / "out"
    extra = [] if margin is None else ["--margin", margin]
    assert main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(out), *extra]) == 0
    res = gmmfast.grabcut(read_image(src), rect=RECT, margin=expected)
    np.testing.assert_array_equal(read_image(out / "disc_mask.png"), np.where(res.foreground, 255, 0))


@pytest.mark.parametrize("argv, expected", [
    (["--margin", "-1"], "argument --margin: must be a number >= 0 or 'none', got '-1'"),
    (["--margin", "wide"], "argument --margin: must be a number >= 0 or 'none', got 'wide'"),
    (["--components", "0"], "argument -k/--components: must be between 1 and 32, got 0"),
    (["-k", "33"], "argument -k/--components: must be between 1 and 32, got 33"),
])
def test_bad_option_value_is_one_usage_line(tmp_path, capsys, argv, expected):
    src = _photo(tmp_path / "disc.png")
    with pytest.raises(SystemExit) as info:
        main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(tmp_path / "o"), *argv])
    assert info.value.code == 2
    assert expected in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, expected", [
    (["--rect", "0,0,90,70"], "--rect 0,0,90,70 covers the whole 90x70 image"),
    (["--rect", "100,100,5,5"], "--rect 100,100,5,5 lies outside the 90x70 image"),
])
def test_errors_in_the_options_terms(tmp_path, capsys, argv, expected):
    src = _photo(tmp_path / "disc.png")
    args = ["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(tmp_path / "o"), *argv]
    assert main(args) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert expected in line
    for internal in ("n_components", "init_mask", "rect=", "gmmfast.", "ValueError"):
        assert internal not in line
    assert not (tmp_path / "o").exists()  # a failed run leaves no folder behind


@pytest.mark.parametrize("content, expected", [
    (b"just some notes\n", "is a text file, not an image"),
    (b"", "is an empty file, not an image"),
])
def test_wrong_kind_of_input(tmp_path, capsys, content, expected):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(content)
    assert main(["grabcut", str(bad), "--rect", "1,1,5,5", "-o", str(tmp_path / "o")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert expected in line and line.count("photo.jpg") == 1


def test_truncated_image(tmp_path, capsys):
    src = _photo(tmp_path / "whole.png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    assert main(["grabcut", str(cut), "--rect", ",".join(map(str, RECT)), "-o", str(tmp_path / "o")]) == 1
    assert "damaged or truncated PNG image" in _one_error_line(capsys.readouterr().err)


def test_unwritable_output_folder(tmp_path, capsys):
    src = _photo(tmp_path / "disc.png")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(blocker / "sub")]) == 1
    assert "cannot write to the output folder" in _one_error_line(capsys.readouterr().err)


def test_read_only_output_folder(tmp_path, capsys, read_only_folder):
    src = _photo(tmp_path / "disc.png")
    for extra in ([], ["--overwrite"]):
        status = main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(read_only_folder.path),
                       *extra])
        read_only_folder.assert_refused(status, capsys.readouterr().err)


def test_overwrite(tmp_path, capsys):
    src = _photo(tmp_path / "disc.png")
    out = tmp_path / "o"
    rect = ",".join(map(str, RECT))
    assert main(["grabcut", str(src), "--rect", rect, "-o", str(out), "--iterations", "1"]) == 0
    first = (out / "disc_mask.png").read_bytes()
    capsys.readouterr()
    assert main(["grabcut", str(src), "--rect", "30,20,30,30", "-o", str(out)]) == 1
    assert "--overwrite" in _one_error_line(capsys.readouterr().err)
    assert (out / "disc_mask.png").read_bytes() == first
    assert main(["grabcut", str(src), "--rect", "30,20,30,30", "-o", str(out), "--overwrite"]) == 0
    res = gmmfast.grabcut(read_image(src), rect=(30, 20, 30, 30))
    np.testing.assert_array_equal(read_image(out / "disc_mask.png"), np.where(res.foreground, 255, 0))


def test_box_prior_option_runs_the_tightness_check(tmp_path, monkeypatch):
    # the Orchard-Bouman fit is made to lose the top half of the box (as person4 loses its
    # head), so the check fires: with --box-prior the k-means re-run's cut is written
    from gmmfast import GrabCut
    src = _photo(tmp_path / "disc.png")
    calls = []
    real = GrabCut._fit_engine

    def fit_engine(self, image, rect, mask, seeding):
        engine = real(self, image, rect, mask, seeding)
        calls.append(seeding)
        if seeding == "orchard-bouman":
            x, y, w, h = rect
            core = engine.engine              # the window's engine: rows from the window's top
            core._alpha.reshape(core._shape)[: y + h // 2 - engine.window[0].start] = 0
        return engine

    monkeypatch.setattr(GrabCut, "_fit_engine", fit_engine)
    rect = ",".join(map(str, RECT))
    assert main(["grabcut", str(src), "--rect", rect, "-o", str(tmp_path / "plain")]) == 0
    assert calls == ["orchard-bouman"]
    calls.clear()
    assert main(["grabcut", str(src), "--rect", rect, "-o", str(tmp_path / "prior"), "--box-prior"]) == 0
    assert calls == ["orchard-bouman", "kmeans"]
    expected = gmmfast.grabcut(read_image(src), rect=RECT, box_prior=True).foreground
    np.testing.assert_array_equal(read_image(tmp_path / "prior" / "disc_mask.png"), np.where(expected, 255, 0))
    plain = read_image(tmp_path / "plain" / "disc_mask.png")
    assert not plain[: RECT[1] + RECT[3] // 2].any()          # the damaged cut, kept without the option
    assert (read_image(tmp_path / "prior" / "disc_mask.png")[: RECT[1] + RECT[3] // 2] == 255).any()


def test_components_limit_is_the_kernels():
    from gmmfast._dispatch import load
    from gmmfast.cli.grabcut import MAX_COMPONENTS
    assert MAX_COMPONENTS == load("_grabcut").max_components()


def test_an_empty_cut_and_a_box_past_the_image_are_warned(tmp_path, capsys):
    """Both used to pass in silence: a box over plain background gave '0.0% foreground' and exit 0."""
    src = _photo(tmp_path / "disc.png")
    assert main(["grabcut", str(src), "--rect", "70,50,40,40", "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err), err
    assert "--rect 70,50,40,40 reaches past the 90x70 image; the box used is its part inside, 70,50,20,20" in err[0]
    assert "the cut-out is empty" in err[1]
    assert not read_image(tmp_path / "o" / "disc_mask.png").any()
    # a box inside the image around the disc: neither warning
    assert main(["grabcut", str(src), "--rect", ",".join(map(str, RECT)), "-o", str(tmp_path / "o2")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(sys.platform == "win32", reason="a file size limit needs POSIX resource limits")
def test_a_full_disk_names_the_output_file(tmp_path):
    # a full disk said only "no space left on device" (Pillow's write names no file), and a named
    # write showed the hidden staging folder's path; a file size limit stands in for the full disk
    src = _photo(tmp_path / "photo.png")
    script = ("import resource, sys; from gmmfast.cli import main; import gmmfast.io, PIL.PngImagePlugin; "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.RLIM_INFINITY)); sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", script, "grabcut", str(src), "--rect", ",".join(map(str, RECT)),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert line.startswith(f"gmmfast: error: {tmp_path / 'out' / 'photo_'}") and "file too large" in line, line
    assert ".gmmfast-" not in line
    assert not (tmp_path / "out").exists()                       # the run's own folder is removed again
