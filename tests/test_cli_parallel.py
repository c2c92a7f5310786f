"""``gmmfast segment`` and ``gmmfast bgsub`` with --workers (local processes) and --scheduler (a Dask cluster).

The reference is the serial run of the same command: every way of running must
write byte-identical files, report a failing input on one line naming it, skip
it, finish the others and exit 1.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import gmmfast
from gmmfast.cli import main
from gmmfast.cli import _parallel

pytest.importorskip("PIL")
from gmmfast.io import write_image  # noqa: E402
from gmmfast.video import write_video  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes, as in test_mixture_dask."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Five generated photos of different sizes and one file that is not an image."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(5):
        image = gmmfast.data.sample_image(height=50 + 6 * i, width=70, random_state=i).image
        write_image(root / f"photo{i}.png", image)
    (root / "photo2b.png").write_text("not a picture\n")
    return root


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two short generated clips and one file that is not a video."""
    root = tmp_path_factory.mktemp("videos")
    for i in range(2):
        frames, _ = gmmfast.data.sample_clip(24, 48, 64, random_state=i)
        write_video(root / f"cam{i}.gif", frames, fps=10)
    (root / "cam9.gif").write_text("not a video\n")
    return [str(root / name) for name in ("cam0.gif", "cam9.gif", "cam1.gif")]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def check_report(status, out, err, bad: str, n_good: int, n_all: int):
    """Exit 1; one error line naming the bad input plus the count line; a line per finished input."""
    assert status == 1
    errors = err.strip().splitlines()
    assert len(errors) == 2, err
    assert errors[0].startswith("gmmfast: error: ") and bad in errors[0] and "internal error" not in err
    assert f"of {n_all}" in errors[1]
    assert len(out.strip().splitlines()) == n_good, out


@pytest.fixture(scope="module")
def segment_serial(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "seg"
    assert main(["segment", str(photos), "-o", str(out), "--features", "lab", "--smoothing", "1"]) == 1
    written = files(out)
    assert len(written) == 5 * 5 and not any(n.startswith("photo2b") for n in written)
    return written


@pytest.mark.parametrize("how", ["workers", "scheduler"])
def test_segment_in_parallel_writes_the_serial_files(photos, segment_serial, cluster, tmp_path, capsys, how):
    out = tmp_path / "Result"
    where = ["--workers", "2"] if how == "workers" else ["--scheduler", cluster.scheduler_address]
    status, stdout, err = run(capsys, ["segment", str(photos), "-o", str(out), "--features", "lab",
                                       "--smoothing", "1", *where])
    check_report(status, stdout, err, "photo2b.png", 5, 6)
    assert files(out) == segment_serial
    assert not [p for p in out.iterdir() if p.name.startswith(".gmmfast-")]      # staging folder removed
    for i in range(5):
        assert f"photo{i}.png: 70x{50 + 6 * i}, K=3" in stdout


def test_segment_in_parallel_refuses_earlier_files_and_bad_options(photos, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["segment", str(photos / "photo0.png"), "-o", str(out)]) == 0
    capsys.readouterr()
    status, _, err = run(capsys, ["segment", str(photos / "photo0.png"), "-o", str(out), "--workers", "2"])
    assert status == 1 and "--overwrite" in err
    status, _, err = run(capsys, ["segment", str(photos), "--workers", "2", "--scheduler", "tcp://h:1"])
    assert status == 1 and err.count("\n") == 1 and "not both" in err
    with pytest.raises(SystemExit):
        main(["segment", str(photos), "--workers", "0"])


def test_unreachable_scheduler_is_one_error_line(photos, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(_parallel, "CONNECT_TIMEOUT", 1.0)
    status, out, err = run(capsys, ["segment", str(photos), "-o", str(tmp_path / "o"),
                                    "--scheduler", "tcp://127.0.0.1:9"])
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler" in err and "tcp://127.0.0.1:9" in err
    assert not (tmp_path / "o").exists()


def test_a_scheduler_without_workers_is_one_error_line(photos, tmp_path, capsys, monkeypatch):
    # the run waited for a worker for ever (as it did when the workers could not import gmmfast)
    distributed = pytest.importorskip("distributed")
    from gmmfast import _dask

    monkeypatch.setattr(_dask, "WORKER_WAIT", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as empty:
        status, out, err = run(capsys, ["segment", str(photos), "-o", str(tmp_path / "o"),
                                        "--scheduler", empty.scheduler_address])
    assert status == 1 and err.count("\n") == 1, err
    assert "has no workers (waited 1 s" in err and "(--scheduler)" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("address", ["bogus", "http://localhost:8787", "tcp://nohost"])
def test_a_malformed_scheduler_address_is_named_as_one(photos, tmp_path, capsys, address):
    # 'bogus' was "something answered there, but not as a Dask scheduler": nothing had answered
    pytest.importorskip("distributed")
    status, out, err = run(capsys, ["segment", str(photos), "-o", str(tmp_path / "o"), "--scheduler", address])
    assert status == 1 and err.count("\n") == 1 and "is not a scheduler address" in err
    assert "answered" not in err and not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def bgsub_serial(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("bgserial") / "bg"
    assert main(["bgsub", *videos, "-o", str(out), "--method", "median", "--train-frames", "8"]) == 1
    written = files(out)
    assert sorted(written) == sorted(f"cam{i}_{what}" for i in range(2)
                                     for what in ("background.png", "mask.gif", "foreground.gif"))
    return written


@pytest.mark.parametrize("how", ["workers", "scheduler"])
def test_bgsub_many_videos_in_parallel_writes_the_serial_files(videos, bgsub_serial, cluster, tmp_path, capsys,
                                                               how):
    out = tmp_path / "Result"
    where = ["--workers", "2"] if how == "workers" else ["--scheduler", cluster.scheduler_address]
    status, stdout, err = run(capsys, ["bgsub", *videos, "-o", str(out), "--method", "median",
                                       "--train-frames", "8", *where])
    check_report(status, stdout, err, "cam9.gif", 2, 3)
    assert files(out) == bgsub_serial


def test_bgsub_serial_run_of_many_is_each_video_alone(videos, bgsub_serial, tmp_path):
    for video in (videos[0], videos[2]):
        assert main(["bgsub", video, "-o", str(tmp_path), "--method", "median", "--train-frames", "8"]) == 0
    assert files(tmp_path) == bgsub_serial


def test_a_job_of_a_run_that_ended_does_not_write_its_staging_folder_back(tmp_path):
    # the writers create missing folders: a job finishing on a worker after its run had ended (the scheduler
    # lost, an interrupt) made the removed staging folder again, and nothing ever removed it
    from gmmfast.cli._common import CLIError

    staging = tmp_path / ".gmmfast-gone"
    job = _parallel._JobOutputs(tmp_path, staging)
    with pytest.raises(CLIError, match="has ended"):
        job.stage("a_mask0.png")
    assert not staging.exists() and job.staged == []
