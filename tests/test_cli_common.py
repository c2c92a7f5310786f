"""What the subcommands share: the progress line, the staged outputs, messages in the user's terms."""

from __future__ import annotations

import io
import os
import re
import time
import warnings

import pytest

from gmmfast.cli._common import ArgumentParser, CLIError, Warnings, user_message
from gmmfast.cli._outputs import STAGING_PREFIX, Outputs, family
from gmmfast.cli._progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def screen(text: str) -> list[str]:
    """What a terminal shows for ``text``: carriage returns go back to the line start."""
    lines = []
    for raw in text.split("\n"):
        line: list[str] = []
        col = 0
        for ch in raw:
            if ch == "\r":
                col = 0
                continue
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        lines.append("".join(line).rstrip())
    return lines


# --------------------------------------------------------------------------- progress

def test_progress_line_fits_the_terminal_and_clears():
    out = FakeTerminal()
    p = Progress(out, width=40, tick=False)
    p.start("a very long description of a step " * 3, total=10)
    for _ in range(10):
        p.update()
    drawn = [seg for seg in out.getvalue().split("\r") if seg.strip()]
    assert drawn and all(len(seg) <= 39 for seg in drawn)  # never wraps into the next line
    p.finish()
    assert screen(out.getvalue()) == [""]  # the line is cleared when the step ends
    assert "\n" not in out.getvalue()


def test_progress_counts_and_bar():
    p = Progress(FakeTerminal(), width=200, tick=False)
    p.start("masking", total=4)
    p.update(3)
    line = p.line()
    assert "masking" in line and "3/4" in line and "[" + "#" * 18 + "-" * 6 + "]" in line


def test_text_printed_beside_the_progress_does_not_run_into_it():
    err, out = FakeTerminal(), FakeTerminal()
    p = Progress(err, width=60, tick=False)
    p.start("segmenting", total=3)
    p.update()
    p.write("a.png: done", out)
    # the bar was wiped before the line was printed, and drawn again after it
    before, after = err.getvalue().rsplit("\r", 2)[0], err.getvalue()
    assert screen(before)[-1] == ""
    assert "segmenting" in screen(after)[-1]
    assert out.getvalue() == "a.png: done\n"
    p.write("gmmfast: warning: x")  # on the progress stream itself
    shown = screen(err.getvalue())
    assert shown[-2] == "gmmfast: warning: x" and "segmenting" in shown[-1]


def test_progress_step_iterates_and_finishes_on_error():
    err = FakeTerminal()
    p = Progress(err, width=80, tick=False)
    assert list(p.step(range(5), "reading")) == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        for _ in p.step(range(5), "reading"):
            raise RuntimeError
    assert screen(err.getvalue())[-1] == ""


def test_progress_keeps_time_during_one_long_call():
    err = FakeTerminal()
    with Progress(err, width=80) as p:
        p.start("fitting")
        time.sleep(0.7)  # a long library call: no update() in it
        line = screen(err.getvalue())[-1]
    assert re.search(r"fitting 0\.[5-9] s|fitting [1-9]\.\d s", line), line


def test_no_progress_when_not_a_terminal():
    err = io.StringIO()
    with Progress(err, width=80) as p:
        p.start("x", 3)
        p.update(3)
        p.write("line")
    assert err.getvalue() == "line\n"


# --------------------------------------------------------------------------- messages

@pytest.mark.parametrize("library, names, expected", [
    ("n_components must be between 1 and 32, got 0.", {"n_components": "--components"},
     "--components must be between 1 and 32, got 0."),
    ("iterations must be an integer >= 0, got -1.", {"iterations": "--iterations"},
     "--iterations must be an integer >= 0, got -1."),
    ("did not converge in 10 iterations", {"iterations": "--iterations"}, "did not converge in 10 iterations"),
    ("'a.avi' ends after 35 frame(s) (x); pass max_frames=35 to read only those.",
     {"max_frames": "--max-frames"}, "'a.avi' ends after 35 frame(s) (x); pass --max-frames 35 to read only those."),
    ("rect covers the whole 20x10 image, so no pixel is known to be background; draw a box that leaves some "
     "background outside it, or use init_mask.", {"rect": "--rect"},
     "--rect covers the whole 20x10 image, so no pixel is known to be background; draw a box that leaves some "
     "background outside it."),
    ("the image has only 2 distinct colour(s) in the fitted pixels, fewer than 3 components; using "
     "n_components=2", {"n_components": "-k"},
     "the image has only 2 distinct colour(s) in the fitted pixels, fewer than 3 components; using -k 2"),
])
def test_library_messages_in_the_options_terms(library, names, expected):
    assert user_message(ValueError(library), names) == expected


def test_advice_about_options_the_command_lacks_is_dropped():
    text = ("Best performing initialization did not converge. Try different init parameters, or increase "
            "max_iter, tol, or check for degenerate data.")
    assert "max_iter" not in user_message(text, {}) and "reg_covar" not in user_message(text, {})
    assert user_message(text, {"max_iter": "--max-iter"}).endswith("raise it with --max-iter")
    cov = ("Some covariances were not positive definite (degenerate or collinear data); added 0.001 to their "
           "diagonals. Consider increasing reg_covar.")
    assert "reg_covar" not in user_message(cov, {})


def test_os_errors_are_file_and_reason():
    exc = PermissionError(13, "Permission denied", "/x/y.png")
    assert user_message(exc) == "/x/y.png: permission denied"


def test_each_warning_is_printed_once(capsys):
    with Warnings({"n_components": "-k"}) as caught:
        for source in ("a.png", "b.png", "c.png"):
            caught.source = source
            for _ in range(5):
                warnings.warn("using n_components=2", UserWarning)
            caught.collect()
    err = capsys.readouterr().err.splitlines()
    assert err == ["gmmfast: warning: using -k 2 (a.png, b.png, c.png)"]


def test_argument_errors_are_one_line(capsys):
    p = ArgumentParser(prog="gmmfast x")
    p.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--n", "q"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gmmfast x: error: argument --n")


def test_ctrl_c_while_the_command_line_is_read_is_one_line(capsys, monkeypatch):
    # building the parser imports the library (a second or so on a cold start): Ctrl-C then
    # printed a traceback
    import gmmfast.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["segment", "x.png"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err


# --------------------------------------------------------------------------- outputs

def _names(folder):
    return sorted(os.listdir(folder))


def test_outputs_land_together_on_commit(tmp_path):
    with Outputs(tmp_path / "new" / "out") as out:
        out.stage("a_mask.png").write_bytes(b"1")
        out.stage("a_cutout.png").write_bytes(b"2")
        assert _names(tmp_path / "new" / "out") == [n for n in _names(tmp_path / "new" / "out")
                                                    if n.startswith(STAGING_PREFIX)]
        written = out.commit()
    assert sorted(p.name for p in written) == ["a_cutout.png", "a_mask.png"]
    assert _names(tmp_path / "new" / "out") == ["a_cutout.png", "a_mask.png"]


def test_failed_run_leaves_nothing_and_removes_the_folder_it_made(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Outputs(tmp_path / "new" / "out") as out:
            out.stage("a_mask.png").write_bytes(b"1")
            raise KeyboardInterrupt
    assert _names(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="staging folders are locked with flock")
def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    # a run killed with SIGKILL left its hidden staging folder (with its partial outputs) for good;
    # a live run's folder must survive the next run's sweep
    import signal
    import subprocess
    import sys

    stay = ("import sys, time; from gmmfast.cli._outputs import Outputs; "
            "out = Outputs(sys.argv[1]).open(); out.stage('a_mask.png').write_bytes(b'1'); "
            "print('ready', flush=True); time.sleep(60)")
    runs = [subprocess.Popen([sys.executable, "-c", stay, str(tmp_path)], stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    try:
        for run in runs:
            assert run.stdout.readline().strip() == "ready"
        stages = _names(tmp_path)
        assert len(stages) == 2 and all(n.startswith(STAGING_PREFIX) for n in stages)
        runs[0].send_signal(signal.SIGKILL)
        runs[0].wait()
        assert len(_names(tmp_path)) == 2                  # nothing cleans up after SIGKILL itself
        with Outputs(tmp_path) as out:
            out.stage("b_mask.png").write_bytes(b"2")
            out.commit()
        left = _names(tmp_path)
        assert "b_mask.png" in left and len(left) == 2      # the live run's folder, and nothing else
        live = [n for n in left if n.startswith(STAGING_PREFIX)]
        assert len(live) == 1 and (tmp_path / live[0] / "a_mask.png").exists()
    finally:
        for run in runs:
            run.kill()
            run.wait()
            run.stdout.close()


def test_two_runs_started_together_into_one_folder_do_not_mix(tmp_path):
    # both passed the check at their start, both committed, both reported success, and the folder held
    # a mix of the two runs' files (a K=2 picture beside a K=3 run's third mask)
    fam = [family("a", r"mask\d+\.png|segmented\.png")]
    first, second = Outputs(tmp_path).open(), Outputs(tmp_path).open()
    for out in (first, second):
        out.check_free(fam)
    for name in ("a_mask0.png", "a_mask1.png", "a_mask2.png", "a_segmented.png"):
        first.stage(name).write_bytes(b"3")
    for name in ("a_mask0.png", "a_mask1.png", "a_segmented.png"):
        second.stage(name).write_bytes(b"2")
    first.commit(fam)
    with pytest.raises(CLIError, match="a_mask0.png was written by another run while this one worked"):
        second.commit(fam)
    second.discard_staged()
    first.close()
    second.close()
    assert _names(tmp_path) == ["a_mask0.png", "a_mask1.png", "a_mask2.png", "a_segmented.png"]
    assert {(tmp_path / n).read_bytes() for n in _names(tmp_path)} == {b"3"}


@pytest.mark.skipif(os.name != "posix", reason="commits take turns through flock")
def test_commits_into_one_folder_take_turns(tmp_path):
    import threading

    from gmmfast.cli._outputs import _folder_locked

    held, release = threading.Event(), threading.Event()

    def other_run():
        with _folder_locked(tmp_path):
            held.set()
            release.wait(10)

    t = threading.Thread(target=other_run)
    t.start()
    held.wait(10)
    with Outputs(tmp_path, overwrite=True) as out:
        out.stage("a_mask.png").write_bytes(b"1")
        committed = threading.Thread(target=out.commit)
        committed.start()
        committed.join(0.5)
        assert committed.is_alive() and _names(tmp_path) == [n for n in _names(tmp_path)
                                                              if n.startswith(STAGING_PREFIX)]
        release.set()
        committed.join(10)
    t.join()
    assert _names(tmp_path) == ["a_mask.png"]


def test_earlier_run_is_refused_or_replaced_exactly(tmp_path):
    fam = family("a", r"mask\d+\.png|binary\.png")
    for name in ("a_mask0.png", "a_mask1.png", "a_mask2.png", "a_binary.png", "ab_mask0.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"old")
    with Outputs(tmp_path) as out, pytest.raises(CLIError, match="--overwrite"):
        out.check_free([fam])
    with Outputs(tmp_path, overwrite=True) as out:
        out.check_free([fam])
        out.stage("a_mask0.png").write_bytes(b"new")
        out.stage("a_binary.png").write_bytes(b"new")
        out.commit([fam])
    assert _names(tmp_path) == ["a_binary.png", "a_mask0.png", "ab_mask0.png", "notes.txt"]
    assert (tmp_path / "a_mask0.png").read_bytes() == b"new"
    assert (tmp_path / "ab_mask0.png").read_bytes() == b"old"  # another input's files are not touched


def test_a_folder_where_an_output_goes_is_refused_before_work(tmp_path):
    (tmp_path / "a_mask0.png").mkdir()
    for overwrite in (False, True):
        with Outputs(tmp_path, overwrite=overwrite) as out, pytest.raises(CLIError, match="is a folder") as caught:
            out.check_free([family("a", r"mask\d+\.png")])
        assert ".gmmfast-" not in str(caught.value)      # not the staging folder's name


def test_an_input_is_never_replaced(tmp_path):
    src = tmp_path / "a_mask3.png"
    src.write_bytes(b"input")
    fam = family("a", r"mask\d+\.png")
    with Outputs(tmp_path, overwrite=True, protect=[src]) as out:
        out.stage("a_mask0.png").write_bytes(b"new")
        out.commit([fam])
    assert src.read_bytes() == b"input"


def test_unwritable_folder_fails_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CLIError, match="cannot write to the output folder"):
        Outputs(blocker / "sub").open()


@pytest.mark.parametrize("argv, words", [
    # argparse takes -5,-5,10,10 for an option: "expected one argument" alone sent users looking elsewhere
    (["grabcut", "x.png", "--rect", "-5,-5,10,10"], "is written --rect=VALUE"),
    (["segment", "x.png", "-k"], "is written --components=VALUE"),
    # "holds a single picture, not a video" for a six-frame file
    (["bgsub", "x.gif", "--max-frames", "1"], "--max-frames: must be >= 2"),
    # "must look like 2-8" when it did
    (["segment", "x.png", "--k-range", "0-3"], "smallest K of 1 or more"),
    (["segment", "x.png", "--k-range", "5-3"], "smallest K of 1 or more"),
])
def test_option_errors_say_what_to_change(capsys, argv, words):
    from gmmfast.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and words in err, err


def test_a_reader_that_stops_reading_fails_nothing(tmp_path):
    # `gmmfast segment photos/ | head -1` reported every later input as failed ("broken pipe")
    # and exited 1, though all the files were written
    import subprocess
    import sys

    import numpy as np

    import gmmfast

    rng = np.random.default_rng(0)
    n = 40                                                # lines still to come when the reader leaves
    for i in range(n):
        gmmfast.io.write_image(tmp_path / f"p{i}.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "segment", str(tmp_path), "-k", "2", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith(str(tmp_path / "p0.png"))
    proc.stdout.close()                                   # as head -1 does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "error" not in err and "Exception ignored" not in err, err
    assert sorted(p.name for p in out.iterdir() if p.name.endswith("_binary.png")) == \
        sorted(f"p{i}_binary.png" for i in range(n))
