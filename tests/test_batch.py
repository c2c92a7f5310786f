"""gmmfast.segment_many: many images in this process, in local processes and on a Dask cluster.

The reference is the serial run, itself the same as calling gmmfast.segment
and Segmentation.save per file (checked here): every way of running must
write byte-identical files, report a failing file and finish the others.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gmmfast
from gmmfast import segment_many

pytest.importorskip("PIL")
from gmmfast.io import write_image  # noqa: E402


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six generated photos (two with the same name in different folders), a corrupt file, a missing one."""
    root = tmp_path_factory.mktemp("photos")
    paths = []
    for i in range(6):
        img = gmmfast.data.sample_image(height=60 + 8 * i, width=90, random_state=i).image
        folder = root / ("b" if i == 5 else "a")
        paths.append(str(write_image(folder / f"photo{i if i < 5 else 0}.png", img)))
    (root / "a" / "broken.png").write_bytes(b"not a png")
    return root, paths[:3] + [str(root / "a" / "broken.png"), str(root / "a" / "missing.png")] + paths[3:]


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def check_report(results, paths):
    assert [r.path for r in results] == paths
    bad = {r.path: r.error for r in results if not r.ok}
    assert set(bad) == {paths[3], paths[4]}
    assert "missing.png" in bad[paths[4]] or "No such file" in bad[paths[4]]
    assert all(r.files and r.summary.startswith("90x") for r in results if r.ok)
    assert [results[0].stem, results[-1].stem] == ["photo0_png", "photo0_png_2"]   # same name, made unique


@pytest.fixture(scope="module")
def serial(photos, tmp_path_factory):
    _, paths = photos
    out = tmp_path_factory.mktemp("serial")
    done = []
    results = segment_many(paths, 3, output_dir=out, features="lab", smoothing=1.0, on_done=done.append)
    check_report(results, paths)
    assert len(done) == len(paths)
    return out, results


def test_serial_run_is_segment_and_save(photos, serial, tmp_path):
    _, paths = photos
    out, _ = serial
    gmmfast.segment(paths[0], 3, features="lab", smoothing=1.0).save(tmp_path, "photo0_png")
    for name, data in outputs(tmp_path).items():
        assert (out / name).read_bytes() == data


def test_local_processes_write_the_same_files(photos, serial, tmp_path):
    _, paths = photos
    results = segment_many(paths, 3, output_dir=tmp_path, features="lab", smoothing=1.0, workers=2)
    check_report(results, paths)
    assert outputs(tmp_path) == outputs(serial[0])


@pytest.mark.parametrize("given", ["address", "client"])
def test_dask_cluster_writes_the_same_files(photos, serial, tmp_path, given):
    # a Client of the caller's that is not the default one ("No clients found" from as_completed)
    distributed = pytest.importorskip("distributed")
    _, paths = photos
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        results = segment_many(paths, 3, output_dir=tmp_path, features="lab", smoothing=1.0,
                               scheduler=cluster.scheduler_address if given == "address" else client)
    check_report(results, paths)
    assert outputs(tmp_path) == outputs(serial[0])


@contextlib.contextmanager
def _scheduler_and_worker(port_offset: int, *worker_options: str):
    """A Dask scheduler and one worker as processes of their own (so that a test can kill either):
    (address, scheduler process, worker process)."""
    port = 20000 + (os.getpid() + port_offset) % 20000
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}",
                               "--nthreads", "1", "--no-dashboard", *worker_options], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    try:
        yield f"tcp://127.0.0.1:{port}", scheduler, worker
    finally:
        for proc in (scheduler, worker):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("lost", ["scheduler", "worker"])
def test_a_lost_scheduler_or_last_worker_ends_the_run_with_one_error(photos, tmp_path, monkeypatch, lost):
    # the scheduler: each input still running was reported as its own "worker failed: FutureCancelledError
    # ..." line, and the CLI's workers, finishing after the run had removed its staging folder, wrote it
    # back for good; the only worker (no nanny to restart it): the scheduler kept the remaining jobs
    # waiting for a worker, and the run waited for ever
    pytest.importorskip("distributed")
    from gmmfast import _dask as gd

    monkeypatch.setattr(gd, "WORKER_WAIT", 2.0)
    _, paths = photos
    error, words = {"scheduler": (ConnectionError, r"lost the Dask scheduler at .*: \d+ of 6 inputs were not done"),
                    "worker": (RuntimeError, r"every worker of the Dask cluster at .* left during the batch, and "
                                             r"none came back within 2 s \(\d of 6 tasks not done\)")}[lost]
    with _scheduler_and_worker(0 if lost == "scheduler" else 7, "--no-nanny") as (address, scheduler, worker):
        seen = []

        def kill_one(result):
            seen.append(result)
            if len(seen) == 1:
                (scheduler if lost == "scheduler" else worker).kill()

        with pytest.raises(error, match=words) as caught:
            segment_many([p for p in paths if Path(p).name.startswith("photo")], 3, output_dir=tmp_path,
                         scheduler=address, on_done=kill_one)
        assert len(seen) >= 1 and all(r.ok for r in seen)
        # the jobs not reported done, not every job (the count took in the done ones lost with the worker)
        assert f"{6 - len(seen)} of 6" in str(caught.value)


def test_a_result_lost_with_the_last_worker_ends_with_the_documented_error(monkeypatch):
    # the job had finished, but its result was still on the worker that was then killed: result()
    # waited for the job to run again on no worker, and when the watcher cancelled it, the batch took
    # the cancellation for a lost scheduler (seen once on CI)
    distributed = pytest.importorskip("distributed")
    from gmmfast import _dask as gd

    monkeypatch.setattr(gd, "WORKER_WAIT", 2.0)
    with _scheduler_and_worker(13, "--no-nanny") as (address, _, worker), \
            distributed.Client(address, set_as_default=False) as client:
        fut = client.submit(sum, [1, 2], pure=False)
        assert fut.result() == 3
        worker.kill()
        worker.wait()
        t0 = time.monotonic()
        with pytest.raises(gd.ClusterNotReady, match="left during the test, and none came back within 2 s"):
            for _ in gd.finished(client, [fut], "the test"):
                pass
        assert time.monotonic() - t0 < 30


def test_folder_and_errors(photos, tmp_path):
    root, _ = photos
    results = segment_many(root / "a", 2, output_dir=tmp_path, max_fit_pixels=2000)
    assert [Path(r.path).name for r in results] == ["broken.png", "photo0.png", "photo1.png", "photo2.png",
                                                     "photo3.png", "photo4.png"]
    assert [r.ok for r in results] == [False] + [True] * 5
    with pytest.raises(ValueError, match="no image files"):
        segment_many(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else None, 2)
    with pytest.raises(ValueError, match="workers"):
        segment_many(root / "a", 2, workers=0)
    one = segment_many([str(root / "a" / "photo1.png")], 2, output_dir=tmp_path / "one", workers=1,
                       max_fit_pixels=2000)                  # one worker process
    assert one[0].ok and one[0].files
    # options are checked before any job starts (each job used to fail with the same message)
    for options, error, what in [(dict(features="hsv"), ValueError, "features"),
                                 (dict(smoothin=1.0), TypeError, "smoothin"),
                                 (dict(n_components=0), ValueError, "n_components")]:
        with pytest.raises(error, match=what):
            segment_many([str(root / "a" / "photo1.png")], **{"n_components": 2, **options},
                         output_dir=tmp_path / "never", workers=2)
    assert not (tmp_path / "never").exists()
    with pytest.raises(TypeError, match="on_done"):
        segment_many(root / "a", 2, output_dir=tmp_path / "never", on_done=5)
    with pytest.raises(TypeError, match="plot"):
        segment_many(root / "a", 2, output_dir=tmp_path / "never", plot="yes")
    assert not (tmp_path / "never").exists()


_CRASHING_JOB = '''
import os, signal
from gmmfast._batch import segment_job

def job(path, stem, *rest):
    if stem == "photo1":              # this file's worker dies as a crash in native code would
        os.kill(os.getpid(), signal.SIGKILL)
    return segment_job(path, stem, *rest)
'''


def test_a_dying_worker_costs_only_its_own_file(photos, serial, tmp_path, monkeypatch):
    """A worker process that dies (killed, out of memory, a native crash) fails the file it was
    on; the other files are still segmented, on a replacement worker, with the same bytes."""
    from gmmfast._batch import run_jobs, unique_stems

    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "crashing_jobs.py").write_text(_CRASHING_JOB)
    monkeypatch.syspath_prepend(str(tmp_path / "jobs"))     # spawned workers get the parent's sys.path
    import crashing_jobs

    _, paths = photos
    ok = [p for p in paths if "broken" not in p and "missing" not in p]
    out = tmp_path / "out"
    options = {"features": "lab", "smoothing": 1.0, "n_threads": 1}
    jobs = [(p, s, str(out), 3, options, False) for p, s in zip(ok, unique_stems(ok))]
    results = run_jobs(crashing_jobs.job, jobs, workers=2)
    assert [r.stem for r in results] == unique_stems(ok)
    failed = [r for r in results if not r.ok]
    assert [r.stem for r in failed] == ["photo1"] and "worker process died" in failed[0].error and "twice" in failed[0].error
    expected = {k: v for k, v in outputs(serial[0]).items() if not k.startswith("photo1_")}
    assert outputs(out) == expected


_UNGUARDED_SCRIPT = """
import sys, gmmfast
results = gmmfast.segment_many(sys.argv[1:-1], 2, output_dir=sys.argv[-1], workers=2)
print("ERRORS", [r.error for r in results])
"""


def test_a_script_without_a_main_guard_is_told_what_to_change(photos, tmp_path):
    """Spawned workers import the calling script again; without `if __name__ == "__main__":` each
    one dies starting workers of its own. Every file then fails, and the message says why."""
    _, paths = photos
    script = tmp_path / "unguarded.py"
    script.write_text(_UNGUARDED_SCRIPT)
    ok = [p for p in paths if "broken" not in p and "missing" not in p]
    proc = subprocess.run([sys.executable, str(script), *ok, str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("ERRORS")]
    assert line, proc.stderr[-2000:]
    errors = ast.literal_eval(line[-1][len("ERRORS "):])
    assert len(errors) == len(ok) and all(e and '`if __name__ == "__main__":`' in e for e in errors), errors
    # the first file's two deaths tell: the others are not tried (60 files took 169 s of tracebacks)
    assert proc.stderr.count("RuntimeError") <= 2 * 2 * 2, proc.stderr.count("RuntimeError")


def _serve(answer: bytes | None):
    """A TCP server on a free local port that accepts and answers ``answer`` (None: never answers)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.recv(1000)
                conn.sendall(answer)
                conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return server, f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("answer, expected", [
    (None, "gave no Dask answer"),
    (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "not as a Dask scheduler"),
], ids=["silent", "http"])
def test_a_port_that_is_not_a_scheduler_fails_in_bounded_time(answer, expected):
    # dask.distributed's own timeout does not cover the handshake: a silent port hung for ever and an
    # HTTP answer gave "Unable to allocate 3.07 EiB"; run in a child so that its hung thread stays there
    pytest.importorskip("distributed")
    server, address = _serve(answer)
    code = ("import time; from gmmfast._batch import connect\n"
            "t = time.perf_counter()\n"
            f"try: connect({address!r}, 1.0)\n"
            "except ConnectionError as e: print(round(time.perf_counter() - t, 1), e)\n")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    seconds, _, message = done.stdout.partition(" ")
    assert done.returncode == 0 and expected in message and address in message, done.stdout + done.stderr
    assert float(seconds) < 1.0 + 5.0 + 2.0


@given(st.lists(st.tuples(st.sampled_from(["", "d/", "e/"]), st.sampled_from(["a", "A", "a_1", "a_png", "a_PNG_2", "b"]),
                          st.sampled_from([".png", ".jpg", ".PNG", ""])), max_size=8, unique=True))
@settings(max_examples=300, deadline=None)
def test_unique_stems_are_distinct_and_independent_of_unrelated_inputs(parts):
    from gmmfast._batch import unique_stems

    paths = [folder + name + ext for folder, name, ext in parts]
    stems = unique_stems(paths)
    assert len({stem.casefold() for stem in stems}) == len(paths)     # distinct on any file system
    names = [Path(p).stem or "image" for p in paths]
    for path, name, stem in zip(paths, names, stems):
        folded = [n.casefold() for n in names]
        if folded.count(name.casefold()) == 1 and stem != name:   # an unclashing name keeps its stem unless taken
            assert name.casefold() in {s.casefold() for s in stems}
        # run by itself, an input's stem is its plain name
        assert unique_stems([path]) == [name]


def test_segment_many_lists_inputs_as_the_command_line_does(tmp_path):
    # segment_many sorted a folder by code point (p10 before p2) and segmented a file named twice
    # twice (as pic_png and pic_png_2), where the command line gives p2 first and one pic
    from gmmfast._batch import image_paths
    from gmmfast.cli.segment import expand_inputs

    for name in ("p10.png", "p2.png", "P1.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    given = [str(tmp_path), str(tmp_path / "p2.png"), str(tmp_path / "p2.png")]
    assert image_paths(given) == [str(tmp_path / n) for n in ("P1.jpg", "p2.png", "p10.png")]
    assert image_paths(given) == [str(p) for p in expand_inputs(given)[0]]


def test_segment_many_replaces_none_of_its_inputs(tmp_path):
    # into the folder of its images, a second call segmented the first call's files as images (and
    # wrote cell_mask0_mask0.png ...); a user's cell_mask1.png beside cell.png was replaced
    folder = tmp_path / "pics"
    img = gmmfast.data.sample_image(height=40, width=50, random_state=0).image
    write_image(folder / "cell.png", img)
    theirs = write_image(folder / "cell_mask1.png", img[:, :, 0])
    before = theirs.read_bytes()
    with pytest.raises(ValueError, match=r"is a folder of images and the output folder.*\(output_dir\)"):
        segment_many(folder, 2, output_dir=folder)
    with pytest.raises(ValueError, match="cell_mask1.png' is an input and would be replaced"):
        segment_many([folder / "cell.png", folder / "cell_mask1.png"], 2, output_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["cell.png", "cell_mask1.png"]
    assert theirs.read_bytes() == before
    theirs.unlink()
    done = segment_many([folder / "cell.png"], 2, output_dir=folder)     # files named: beside them is fine
    assert done[0].ok and (folder / "cell_segmented.png").exists()


@pytest.mark.parametrize("n_jobs", [2, 3])
def test_every_worker_gets_a_job_before_any_gets_two(n_jobs):
    # each worker was handed two jobs before the next got one: two videos on --workers 2 ran one
    # after the other in one process while the other idled
    import os

    from gmmfast._batch import run_jobs

    pids = run_jobs(os.getpid, [()] * n_jobs, workers=2)
    assert len(set(pids)) == 2 and os.getpid() not in pids


_SLOW_WRITER = '''
import time
from gmmfast._files import atomic_write

def job(path):
    with atomic_write(path) as fh:     # a job interrupted while it writes its file
        fh.write(b"x" * 1000)
        # short sleeps, as a job runs Python between its writes: a signal lands on any thread of the
        # worker (NumPy's BLAS threads too), and the main thread's handler runs at its next bytecode;
        # one 6 s sleep would only end after the kill (seen: 3 runs in 6 under load left a .part)
        for _ in range(60):
            time.sleep(0.1)
        fh.write(b"y")
    return path
'''

_INTERRUPTED_RUN = '''
import os, signal, sys, time, threading
sys.path.insert(0, sys.argv[1])
from gmmfast._batch import run_jobs
import slow_writer

if __name__ == "__main__":
    out = sys.argv[2]
    # SIGINT to this process only (a supervisor's, or Jupyter's interrupt: the workers learn of it from
    # us), or to the whole group (a terminal's Ctrl-C: the workers get it too, then our SIGTERM)
    send = (lambda: os.kill(os.getpid(), signal.SIGINT)) if sys.argv[3] == "main" else \
        (lambda: os.killpg(0, signal.SIGINT))
    threading.Thread(target=lambda: (time.sleep(3), send()), daemon=True).start()
    t0 = time.monotonic()
    try:
        run_jobs(slow_writer.job, [(os.path.join(out, f"out{i}.bin"),) for i in range(4)], workers=2)
    except KeyboardInterrupt:
        print("interrupted", round(time.monotonic() - t0, 1))
'''


@pytest.mark.parametrize("whom", ["main", "group"])
def test_an_interrupted_run_leaves_no_partial_file(tmp_path, whom):
    # ending the workers at once (SIGTERM) left the .part file of the job each was writing beside the
    # results: segment_many writes straight into output_dir. A stopped worker now unwinds its job.
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "slow_writer.py").write_text(_SLOW_WRITER)
    (tmp_path / "run.py").write_text(_INTERRUPTED_RUN)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path / "jobs"), str(out), whom],
                          capture_output=True, text=True, timeout=120, start_new_session=True)
    assert "interrupted" in proc.stdout, proc.stderr[-2000:]
    assert float(proc.stdout.split()[-1]) < 3 + 4, proc.stdout          # not the jobs' 6 s each
    assert sorted(os.listdir(out)) == [], os.listdir(out)


_SLEEPER = '''
import time

def job(i):
    time.sleep(2.5)
    return i
'''


def test_a_worker_killed_from_outside_costs_its_job_one_retry(tmp_path, monkeypatch):
    # SIGTERM from outside to one worker (a supervisor, the OOM killer's cousin) ended the whole run
    # with SystemExit 143 once workers unwound their jobs on SIGTERM; the job is tried again instead
    import multiprocessing
    import signal
    import threading

    from gmmfast._batch import run_jobs

    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "sleeper.py").write_text(_SLEEPER)
    monkeypatch.syspath_prepend(str(tmp_path / "jobs"))
    import sleeper

    def kill_one():
        workers = [p for p in multiprocessing.active_children() if p.name.startswith("SpawnProcess")]
        if workers:
            os.kill(workers[0].pid, signal.SIGTERM)

    timer = threading.Timer(1.5, kill_one)
    timer.start()
    try:
        assert run_jobs(sleeper.job, [(i,) for i in range(3)], workers=2) == [0, 1, 2]
    finally:
        timer.cancel()

