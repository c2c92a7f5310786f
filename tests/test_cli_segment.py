"""The ``gmmfast segment`` and ``gmmfast demo`` commands, run as a user would.

The files written are compared with the library's own result on the same
input (``gmmfast.segment(...).output_files``), not only checked to exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gmmfast
from gmmfast.cli import main
from gmmfast.io import read_image, write_image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _image(path: Path, k: int = 3, grey: bool = False, seed: int = 0, size=(60, 80)) -> Path:
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    lab = (xx * k // w).astype(int)
    cols = np.array([[30, 40, 120], [200, 70, 60], [90, 200, 80], [240, 240, 200]], float)[:k]
    img = cols[lab] + rng.normal(0, 8, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if grey:
        img = img.mean(axis=2).astype(np.uint8)
    return write_image(path, img)


def _expected(path: Path, stem: str, k=3, background=None, **kw) -> dict:
    """The files the library's own segmentation of ``path`` gives (what the command must write)."""
    seg = gmmfast.segment(read_image(path), k, **kw)
    return seg.output_files(stem, background)


def _assert_written(out: Path, expected: dict) -> None:
    for name, picture in expected.items():
        np.testing.assert_array_equal(read_image(out / name), picture, err_msg=name)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def test_files_hold_the_library_result(tmp_path, capsys):
    a = _image(tmp_path / "a.png", 3)
    b = _image(tmp_path / "sub" / "b.png", 2, seed=1)
    out = tmp_path / "Result"
    assert main(["segment", str(a), str(b), "-k", "3", "-o", str(out)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 2 and str(a) in lines[0] and "K=3" in lines[0] and ", rgb," in lines[0]
    exp_a, exp_b = _expected(a, "a"), _expected(b, "b")
    _assert_written(out, exp_a)
    _assert_written(out, exp_b)
    assert sorted(os.listdir(out)) == sorted([*exp_a, *exp_b])  # exactly what the run produced
    binary = read_image(out / "a_binary.png")
    assert set(np.unique(binary)) == {0, 255}


def test_background_option_picks_the_binary_maps_black_component(tmp_path):
    a = _image(tmp_path / "a.png", 4)
    out = tmp_path / "o"
    assert main(["segment", str(a), "-k", "4", "--background", "2", "-o", str(out)]) == 0
    _assert_written(out, _expected(a, "a", 4, background=2))
    seg = gmmfast.segment(read_image(a), 4)
    np.testing.assert_array_equal(read_image(out / "a_binary.png") == 0, seg.labels == 2)


def test_background_beyond_k_is_refused(tmp_path, capsys):
    a = _image(tmp_path / "a.png", 3)
    assert main(["segment", str(a), "-k", "3", "--background", "5", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "--background 5, but the image has 3 components (0-2)" in _one_error_line(err)


def test_options_reach_the_library(tmp_path):
    a = _image(tmp_path / "a.png", 3)
    out = tmp_path / "o"
    assert main(["segment", str(a), "-k", "3", "--features", "lab", "--covariance-type", "diag", "--smoothing",
                 "0.5", "--seed", "4", "--max-iter", "7", "-o", str(out)]) == 0
    _assert_written(out, _expected(a, "a", features="lab", covariance_type="diag", smoothing=0.5,
                                   random_state=4, max_iter=7))


def _noisy(path: Path) -> Path:
    """Pixels with no clear clusters: where EM ends depends on the subsample and the start it is given."""
    rng = np.random.default_rng(11)
    return write_image(path, rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))


def test_runs_without_seed_repeat_byte_for_byte(tmp_path, capsys):
    a = _noisy(tmp_path / "a.png")
    argv = ["segment", str(a), "-k", "5", "--max-fit-pixels", "800"]
    runs = []
    for name in ("one", "two"):
        assert main([*argv, "-o", str(tmp_path / name)]) == 0
        runs.append({p.name: p.read_bytes() for p in (tmp_path / name).iterdir()})
    assert runs[0] == runs[1] and len(runs[0]) == 7
    # the default is the library's random_state=0 ...
    _assert_written(tmp_path / "one", _expected(a, "a", 5, max_fit_pixels=800, random_state=0))
    # ... and the test can tell seeds apart: another seed gives other labels on this image
    other = _expected(a, "a", 5, max_fit_pixels=800, random_state=7)
    assert any(not np.array_equal(read_image(tmp_path / "one" / n), other[n]) for n in other)
    # --seed still overrides the default
    assert main([*argv, "--seed", "7", "-o", str(tmp_path / "seven")]) == 0
    _assert_written(tmp_path / "seven", other)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    assert "random seed of the subsample and the fit (default: 0" in " ".join(capsys.readouterr().out.split())


def test_a_folder_stands_for_its_images(tmp_path, capsys):
    folder = tmp_path / "pics"
    paths = [_image(folder / f"img{i}.png", 2 + i % 2, seed=i) for i in (10, 2, 1)]
    (folder / "notes.md").write_text("not an image, and not picked up")
    out = tmp_path / "o"
    assert main(["segment", str(folder), "-k", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert [ln.split(":")[0] for ln in text.splitlines()] == [str(folder / f"img{i}.png") for i in (1, 2, 10)]
    for p in paths:
        _assert_written(out, _expected(p, p.stem, 2))


def test_a_users_file_named_like_an_output_is_never_replaced(tmp_path, capsys):
    # cell_mask1.png beside cell.png may be the user's own (a dataset's ground truth): a run into that
    # folder refuses, --overwrite too, rather than take it for an earlier output and replace it
    folder = tmp_path / "pics"
    _image(folder / "cell.png", 2, seed=1)
    theirs = _image(folder / "cell_mask1.png", 3, seed=2)
    before = theirs.read_bytes()
    inputs = [str(folder / "cell.png"), str(folder / "cell_mask1.png")]   # (the folder is refused at once, below)
    for extra in ([], ["--overwrite"]):
        assert main(["segment", *inputs, "-k", "2", "-o", str(folder), *extra]) == 1
        assert "cell_mask1.png" in capsys.readouterr().err
        assert theirs.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["cell.png",
                                                                                              "cell_mask1.png"]


def test_a_folder_of_images_is_not_the_output_folder(tmp_path, capsys):
    # the first run wrote its results among the images and the second refused them as an earlier
    # run's (or, with --overwrite, as inputs it would replace): refused at once, as bgsub does
    folder = tmp_path / "pics"
    _image(folder / "cell.png", 2, seed=1)
    assert main(["segment", str(folder), "-k", "2", "-o", str(tmp_path / "pics" / ".." / "pics")]) == 1
    assert "is a folder of images and the output folder" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["cell.png"]


def test_grey_image_is_reported_as_grey(tmp_path, capsys):
    g = _image(tmp_path / "g.png", 3, grey=True)
    assert main(["segment", str(g), "-o", str(tmp_path / "o")]) == 0
    line = capsys.readouterr().out
    assert ", gray," in line and "rgb" not in line
    assert main(["segment", str(g), "--features", "lab", "-o", str(tmp_path / "o2")]) == 0
    assert ", L*," in capsys.readouterr().out


def test_missing_and_unreadable_files_do_not_stop_the_others(tmp_path, capsys):
    good = _image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a PNG")
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    missing = tmp_path / "missing.jpg"
    status = main(["segment", str(missing), str(bad), str(notes), str(good), "-o", str(tmp_path / "out")])
    assert status == 1
    err = capsys.readouterr().err.splitlines()
    assert "Traceback" not in "".join(err) and len(err) == 4
    assert any("missing.jpg: no such file or folder" in ln for ln in err)
    assert any("'bad.png'" in ln or "bad.png" in ln for ln in err)
    notes_line = next(ln for ln in err if "notes.txt" in ln)
    assert "is a text file, not an image" in notes_line and notes_line.count("notes.txt") == 1
    assert err[-1].endswith("3 of 4 image(s) could not be segmented")
    _assert_written(tmp_path / "out", _expected(good, "good"))
    assert not (tmp_path / "out" / "bad_segmented.png").exists()


def test_one_bad_input_is_one_line(tmp_path, capsys):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    assert main(["segment", str(notes), "-o", str(tmp_path / "o")]) == 1
    assert "is a text file, not an image" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()  # a failed run leaves no folder behind


def test_work_sizes_are_checked_before_work(tmp_path, capsys):
    a = _image(tmp_path / "a.png", size=(10, 12))
    for argv, expected in [
        (["-k", "100000"], "must be at most 64"),
        (["-k", "auto", "--k-range", "2-1000"], "largest K must be at most 64"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(["segment", str(a), *argv])
        assert info.value.code == 2 and expected in _one_error_line(capsys.readouterr().err)
    assert main(["segment", str(a), "-k", "40", "-o", str(tmp_path / "o")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "-k asks for 40 components, but a 12x10 image is too small for more than 6" in line
    # -k auto is capped to what the pixels support instead
    assert main(["segment", str(a), "-k", "auto", "--k-range", "2-30", "-o", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    tiny = _image(tmp_path / "tiny.png", size=(2, 2))      # named --k-range, which was not given
    assert main(["segment", str(tiny), "-k", "auto", "-o", str(tmp_path / "o4")]) == 1
    assert "-k auto (K from 2, --k-range) asks for 2 components, but a 2x2 image is too small for more than 1" in \
        _one_error_line(capsys.readouterr().err)
    # --k-range with a fixed K was ignored in silence; --features takes any case, as -k auto does
    assert main(["segment", str(a), "-k", "3", "--k-range", "2-5", "-o", str(tmp_path / "o2")]) == 1
    assert "--k-range applies to -k auto only" in _one_error_line(capsys.readouterr().err)
    assert main(["segment", str(a), "-k", "AUTO", "--features", "LAB", "-o", str(tmp_path / "o3")]) == 0


def test_each_warning_is_printed_once_in_the_commands_terms(tmp_path, capsys):
    # two-colour images asked for three components: the library warns once per image
    paths = []
    for i in range(3):
        img = np.zeros((20, 30, 3), np.uint8)
        img[:, 15:] = (200, 30 * i, 40)
        paths.append(write_image(tmp_path / f"two{i}.png", img))
    assert main(["segment", *map(str, paths), "-k", "3", "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert "using -k 2" in err[0] and "n_components" not in err[0]
    assert all(p.name in err[0] for p in paths)


def test_rerun_refuses_then_overwrite_leaves_exactly_the_new_files(tmp_path, capsys):
    a = _image(tmp_path / "a.png", 4)
    out = tmp_path / "o"
    assert main(["segment", str(a), "-k", "5", "-o", str(out)]) == 0
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert main(["segment", str(a), "-k", "2", "-o", str(out)]) == 1
    assert "--overwrite" in _one_error_line(capsys.readouterr().err)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before  # untouched
    assert main(["segment", str(a), "-k", "2", "-o", str(out), "--overwrite"]) == 0
    expected = _expected(a, "a", 2)
    assert sorted(os.listdir(out)) == sorted(expected)  # a_mask2..4.png of the first run are gone
    _assert_written(out, expected)


def test_unwritable_output_folder(tmp_path, capsys):
    a = _image(tmp_path / "a.png")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["segment", str(a), "-o", str(blocker / "sub")]) == 1
    assert "cannot write to the output folder" in _one_error_line(capsys.readouterr().err)


def test_read_only_output_folder(tmp_path, capsys, read_only_folder):
    a = _image(tmp_path / "a.png")
    for extra in ([], ["--overwrite"]):
        status = main(["segment", str(a), "-o", str(read_only_folder.path), *extra])
        read_only_folder.assert_refused(status, capsys.readouterr().err)


def test_plot_paints_components_in_the_colours_its_legend_shows(tmp_path):
    mpl = pytest.importorskip("matplotlib")
    assert mpl
    from gmmfast.plotting import plot_segmentation

    a = _image(tmp_path / "four.png", 4)
    seg = gmmfast.segment(read_image(a), 4)
    fig = plot_segmentation(seg)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(shown, seg.segmented_image())
    bars = fig.axes[1].patches
    np.testing.assert_allclose([b.get_facecolor()[:3] for b in bars], seg.mean_colours() / 255.0, atol=1e-6)


@pytest.mark.skipif(not (DATA / "seed" / "rose.jpg").exists(), reason="shared data not present")
def test_rose_plot_shows_red_petals_red(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "o"
    assert main(["segment", str(DATA / "seed" / "rose.jpg"), "--plot", "-o", str(out)]) == 0
    seg = gmmfast.segment(read_image(DATA / "seed" / "rose.jpg"), 3)
    colours = seg.mean_colours().astype(int)
    red = int(np.argmax(colours[:, 0] - colours[:, 1]))
    assert colours[red, 0] > colours[red, 1] + 40  # the petals' component is red ...
    from gmmfast.plotting import plot_segmentation

    shown = np.asarray(plot_segmentation(seg).axes[0].images[0].get_array())
    petals = shown[seg.labels == red]
    assert np.all(petals[:, 0] > petals[:, 1])  # ... and painted red in the figure
    assert (out / "rose_plot.png").stat().st_size > 10_000


def test_auto_k_lab_smoothing_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    img = _image(tmp_path / "four.png", 4)
    grey = _image(tmp_path / "grey.png", 3, grey=True)
    out = tmp_path / "res"
    status = main(["segment", str(img), str(grey), "--k", "auto", "--features", "lab", "--smoothing", "1.0",
                   "--plot", "-o", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "(auto)" in text and "smoothing 1" in text
    seg = gmmfast.segment(read_image(img), "auto", features="lab", smoothing=1.0)
    _assert_written(out, seg.output_files("four"))
    assert read_image(out / "four_plot.png").shape[0] > 100
    assert read_image(out / "grey_plot.png").shape[0] > 100


def test_smoothing_method_expansion(tmp_path):
    pytest.importorskip("gmmfast.maxflow")
    img = _image(tmp_path / "e.png", 3)
    assert main(["segment", str(img), "--smoothing", "2", "--smoothing-method", "expansion",
                 "-o", str(tmp_path / "o")]) == 0
    _assert_written(tmp_path / "o", _expected(img, "e", smoothing=2.0, smoothing_method="expansion"))


def test_same_stem_twice_gets_distinct_outputs(tmp_path):
    a = _image(tmp_path / "x" / "pic.png")
    b = _image(tmp_path / "y" / "pic.png", seed=3)
    assert main(["segment", str(a), str(b), "-k", "2", "-o", str(tmp_path / "o")]) == 0
    _assert_written(tmp_path / "o", _expected(a, "pic_png", 2))
    _assert_written(tmp_path / "o", _expected(b, "pic_png_2", 2))
    # one file named twice (or with its folder) is segmented once, not into two stems
    assert main(["segment", str(a), str(a), str(tmp_path / "x"), "-k", "2", "-o", str(tmp_path / "once")]) == 0
    assert sorted(os.listdir(tmp_path / "once")) == sorted(_expected(a, "pic", 2))


def test_links_to_one_file_each_get_their_results(tmp_path):
    # a folder of symbolic links (a dataset's link farm) lost every name but the first to the
    # same file, in silence: duplicates were found by the file the name leads to
    a = _image(tmp_path / "data" / "a.png")
    (tmp_path / "farm").mkdir()
    for name in ("b.png", "c.png"):
        (tmp_path / "farm" / name).symlink_to(a)
    assert main(["segment", str(tmp_path / "farm"), "-k", "2", "-o", str(tmp_path / "o")]) == 0
    _assert_written(tmp_path / "o", {**_expected(a, "b", 2), **_expected(a, "c", 2)})
    results = gmmfast.segment_many(tmp_path / "farm", 2, output_dir=tmp_path / "lib")
    assert [r.stem for r in results] == ["b", "c"] and all(r.ok for r in results)


def test_clashing_names_keep_every_inputs_files(tmp_path, capsys):
    # photo.jpg and photo.png once became photo_ and photo_1_, and then photo_1.jpg's files replaced
    # photo.png's in the same run; a later run of photo.png alone replaced photo.jpg's
    jpg, png, one = (_image(tmp_path / name, k=2, seed=i) for i, name in
                     enumerate(["photo.jpg", "photo.png", "photo_1.jpg"]))
    out = tmp_path / "o"
    assert main(["segment", str(jpg), str(png), str(one), "-k", "2", "-o", str(out)]) == 0
    expected = {**_expected(jpg, "photo_jpg", 2), **_expected(png, "photo_png", 2), **_expected(one, "photo_1", 2)}
    assert sorted(os.listdir(out)) == sorted(expected)
    _assert_written(out, expected)
    assert main(["segment", str(png), "-k", "2", "-o", str(out), "--overwrite"]) == 0
    _assert_written(out, {**expected, **_expected(png, "photo", 2)})


@pytest.mark.parametrize("argv, message", [
    (["segment", "x.png", "-k", "zero"], "positive integer or 'auto'"),
    (["segment", "x.png", "-k", "0"], "positive integer or 'auto'"),
    (["segment", "x.png", "--smoothing", "-1"], ">= 0"),
    (["segment", "x.png", "--features", "hsv"], "invalid choice"),
    (["segment", "x.png", "--k-range", "5-2"], "not above the largest"),
    (["segment"], "required"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in _one_error_line(capsys.readouterr().err)


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def test_console_entry_and_help(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "gmmfast", *a], capture_output=True, text=True,
                                    env=_env(), cwd=tmp_path, timeout=120)
    top = run("--help")
    assert top.returncode == 0 and "segment" in top.stdout and "demo" in top.stdout
    for command in ("segment", "bgsub", "grabcut", "demo"):
        sub = run(command, "--help")
        assert sub.returncode == 0
        text = " ".join(sub.stdout.split())
        assert "``" not in text and ":class:" not in text  # no reStructuredText markup
        if command != "demo":
            assert "(default: out)" in text and "--overwrite" in text
    img = _image(tmp_path / "p.png")
    done = run("segment", str(img), "-k", "2")
    assert done.returncode == 0, done.stderr
    _assert_written(tmp_path / "out", _expected(img, "p", 2))  # the default output folder is out/
    missing = run("segment", str(tmp_path / "nope.png"))
    assert missing.returncode == 1 and _one_error_line(missing.stderr).endswith("nope.png: no such file or folder")


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo_out"
    for _ in range(2):  # a second demo replaces the first one's results
        assert main(["demo", "-o", str(out)]) == 0
    report = (out / "report.txt").read_text()
    assert "segment" in report and "GaussianMixture" in report and "0 failed" in report
    assert "adjusted Rand index" in report
    for line in report.splitlines():
        if line.startswith("    ") and line.strip().endswith((".png", ".txt", ".gif")):
            assert (out / line.strip()).is_file(), line
    ari = float(report.split("true regions: ")[1].split(";")[0])
    assert ari > 0.9
    assert not [p for p in out.rglob(".gmmfast-*")]
    # a folder of the user's is refused, not written over (their report.txt was replaced)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "report.txt").write_text("my notes")
    assert main(["demo", "-o", str(theirs)]) == 1
    assert "earlier demo did not write" in capsys.readouterr().err
    assert [p.name for p in theirs.iterdir()] == ["report.txt"] and (theirs / "report.txt").read_text() == "my notes"


def test_ctrl_c_leaves_the_earlier_run_intact(tmp_path, interrupt_cli):
    big = _image(tmp_path / "big.png", 4, size=(1200, 1600))
    small = _image(tmp_path / "small.png", 2, seed=5)
    out = tmp_path / "o"
    assert main(["segment", str(small), str(big), "-k", "2", "-o", str(out), "--max-fit-pixels", "2000"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # the second image of the new run is interrupted while it is segmented: the first image's new
    # files are complete and in place, the second's old files untouched, nothing half-written
    status, shown = interrupt_cli(["segment", str(small), str(big), "-k", "6", "--smoothing", "3",
                                   "--smoothing-method", "expansion", "-o", str(out), "--overwrite"],
                                  cwd=tmp_path, when=b"big.png (2/2): segmenting")
    assert status == 130, shown
    assert "interrupted" in shown and "Traceback" not in shown
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    expected = _expected(small, "small", 6, smoothing=3.0, smoothing_method="expansion")
    assert sorted(after) == sorted([n for n in before if n.startswith("big_")] + list(expected))
    assert all(after[n] == before[n] for n in after if n.startswith("big_"))
    _assert_written(out, expected)


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
    defaults["k_range"] = seg_module.DEFAULT_K_RANGE          # what k_range=None stands for
    assert {name: calls[0][name] for name in calls[0]} == {name: defaults[name] for name in calls[0]}


def test_a_large_photo_is_read_without_an_attack_warning_and_a_huge_one_refused_in_one_line(tmp_path, capsys,
                                                                                           monkeypatch):
    # a 15000x12000 photo ended in "internal error (DecompressionBombError ...)"; one of 95 megapixels
    # was segmented after Pillow's "could be decompression bomb DOS attack" warning about the user's own
    # photo. Pillow's limits, shrunk here (warning above 2000 pixels, error above 4000), stand in.
    import warnings

    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    big, huge = _image(tmp_path / "big.png", size=(50, 60)), _image(tmp_path / "huge.png", size=(70, 80))
    with warnings.catch_warnings(record=True) as seen:       # (main's filter must not outlive this test)
        warnings.simplefilter("always")
        assert main(["segment", str(big), "-o", str(tmp_path / "out")]) == 0
        assert "decompression" not in capsys.readouterr().err
        assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
        assert main(["segment", str(huge), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err and "exceeds limit of 4000 pixels" in err, err
    assert "Resize the image." in err and "PIL" not in err          # (the Python advice is left out)
    with pytest.raises(ValueError, match="exceeds limit.*MAX_IMAGE_PIXELS"):   # the library's: a ValueError
        read_image(huge)
    with pytest.warns(Image.DecompressionBombWarning):               # and Pillow's warning is the library's
        read_image(big)
