"""Python threads and Ctrl-C.

* Eight threads working on separate objects at once get exactly the results of
  running the same calls one after another (the kernels release the GIL, so
  they really run at the same time).
* Threads sharing one object are serialised by the object's lock: no error, no
  half-updated model (the result equals a serial order of the same calls).
* Ctrl-C (SIGINT) during a long fit, segmentation, GrabCut or video run stops
  it within about one iteration or batch, with KeyboardInterrupt.
* A process forked after its parent ran threaded kernels (multiprocessing's
  "fork" pool) finishes its fit, on one thread under GNU OpenMP, instead of
  hanging.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gmmfast

N_THREADS = 8


def _in_threads(fn, args):
    with ThreadPoolExecutor(N_THREADS) as pool:
        return list(pool.map(fn, args))


def _clip(seed, n=10, h=48, w=64):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    for t in range(n):
        frames[t, 10:20, 3 * t:3 * t + 8] = 255
    return frames


def test_separate_objects_in_eight_threads_equal_serial_results():
    data = [gmmfast.data.sample_mixture(60_000, random_state=s)[0] for s in range(N_THREADS)]
    images = [gmmfast.data.sample_image(120, 160, random_state=s).image for s in range(N_THREADS)]
    clips = [_clip(s) for s in range(N_THREADS)]

    def fit(i):
        return gmmfast.GaussianMixture(3, random_state=i).fit(data[i]).means_

    def seg(i):
        return gmmfast.segment(images[i], 3, smoothing=1.0).labels

    def cut(i):
        return gmmfast.grabcut(images[i], rect=(30, 20, 100, 80)).mask

    def subtract(i):
        return gmmfast.BackgroundSubtractorMOG2().apply_many(clips[i])

    def pixel_gmm(i):
        return gmmfast.PixelGMM(2).fit(clips[i]).predict(clips[i][-1]).mask

    for job in (fit, seg, cut, subtract, pixel_gmm):
        serial = [job(i) for i in range(N_THREADS)]
        parallel = _in_threads(job, range(N_THREADS))
        for a, b in zip(serial, parallel):
            np.testing.assert_array_equal(a, b, err_msg=job.__name__)


def test_one_shared_mixture_is_serialised_not_corrupted():
    data = [gmmfast.data.sample_mixture(20_000, random_state=s)[0] for s in range(4)]
    gm = gmmfast.GaussianMixture(3, random_state=0)
    gm.fit(data[0])
    probe = data[0][:500]

    def work(i):
        if i % 2:
            gm.fit(data[i % 4])
        # a prediction never mixes the parameters of two fits: it is that of a whole model
        return gm.predict_proba(probe)

    results = _in_threads(work, range(N_THREADS))
    fits = [gmmfast.GaussianMixture(3, random_state=0).fit(d).predict_proba(probe) for d in data]
    for r in results:
        assert any(np.array_equal(r, f) for f in fits)
    assert any(np.array_equal(gm.means_, gmmfast.GaussianMixture(3, random_state=0).fit(d).means_)
               for d in data)


def test_one_shared_subtractor_is_serialised_not_corrupted():
    # frames large enough that calls overlap (the kernel releases the GIL for ~1 ms)
    frame = _clip(0, n=1, h=360, w=480)[0]
    shared = gmmfast.BackgroundSubtractorMOG2(history=50, n_threads=1)
    _in_threads(lambda _: [shared.apply(frame) for _ in range(10)], range(N_THREADS))
    serial = gmmfast.BackgroundSubtractorMOG2(history=50, n_threads=1)
    for _ in range(10 * N_THREADS):
        serial.apply(frame)
    assert shared.n_frames_ == serial.n_frames_ == 10 * N_THREADS
    for key in serial.state_:
        np.testing.assert_array_equal(shared.state_[key], serial.state_[key])


# --------------------------------------------------------------------------- Ctrl-C

_JOBS = {
    "fit": """
        X = np.random.default_rng(0).normal(size=(4_000_000, 3)).astype(np.float32)
        gm = gmmfast.GaussianMixture(6, max_iter=100000, tol=0, init_params="random_from_data", random_state=0)
        ready(); gm.fit(X)
    """,
    "segment": """
        img = np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
        ready()
        while True:
            gmmfast.segment(img, 8, smoothing=1.0, max_iter=1000, tol=0)
    """,
    "grabcut": """
        img = np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
        ready(); gmmfast.grabcut(img, rect=(100, 100, 1700, 1200), **{ITER: 100000})
    """,
    "video": """
        frames = np.random.default_rng(0).integers(0, 255, (16, 720, 1280, 3), dtype=np.uint8)
        sub = gmmfast.BackgroundSubtractor()
        ready()
        while True:
            sub.apply_many(frames)
    """,
}

_PRELUDE = """
import sys, time, inspect
import numpy as np
import gmmfast
ITER = "max_iter" if "max_iter" in inspect.signature(gmmfast.grabcut).parameters else "iterations"
def ready():
    print("ready", flush=True)
def interrupted(exc_type, exc, tb):   # the moment KeyboardInterrupt reaches the top (CLOCK_MONOTONIC is system-wide)
    if exc_type is KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
    sys.__excepthook__(exc_type, exc, tb)
sys.excepthook = interrupted
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
@pytest.mark.parametrize("job", sorted(_JOBS))
def test_ctrl_c_stops_a_long_run_quickly(job):
    code = _PRELUDE + textwrap.dedent(_JOBS[job])
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(1.5)                         # well inside the long computation
        assert proc.poll() is None, proc.stderr.read()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        exited = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert "KeyboardInterrupt" in err, err[-2000:]
    raised = float(proc.stdout.read().split()[-1]) - t0
    print(f"{job}: KeyboardInterrupt {raised:.2f} s after SIGINT, process gone after {exited:.2f} s")
    # one iteration / batch / cut of these sizes takes well under a second on a quiet
    # 2-core machine; the bound leaves room for a loaded one
    assert raised < 5.0, f"{job}: KeyboardInterrupt {raised:.2f} s after SIGINT"


_FORK_SCRIPT = textwrap.dedent("""
    import json, multiprocessing as mp, sys, warnings
    import numpy as np, gmmfast
    from gmmfast import _threads

    X = np.random.default_rng(0).normal(size=(100_000, 3))

    def fit(_):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gm = gmmfast.GaussianMixture(3, n_threads=2, max_iter=5, random_state=0).fit(X)
        return gm.means_.tolist(), [str(w.message) for w in caught if w.category is RuntimeWarning]

    if __name__ == "__main__":
        parent = gmmfast.GaussianMixture(3, n_threads=int(sys.argv[1]), max_iter=5, random_state=0).fit(X)
        with mp.get_context("fork").Pool(1) as pool:
            means, warned = pool.apply(fit, (0,))
        print(json.dumps({"parent": parent.means_.tolist(), "child": means, "warned": warned,
                          "gnu": _threads._GNU_OPENMP}))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif(gmmfast._threads.available_cpus() < 2, reason="needs two CPUs for a thread team")
@pytest.mark.parametrize("parent_threads", [2, 1])
def test_a_child_forked_after_threaded_kernels_finishes(tmp_path, parent_threads):
    # Under GNU OpenMP a forked child's first multi-threaded region used to wait
    # forever; the child must finish with the parent's result (threads do not
    # change it) and, when the parent had started a team, say it ran on one thread.
    script = tmp_path / "fork_after_threads.py"
    script.write_text(_FORK_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(parent_threads)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the pool's child too
        proc.communicate()
        pytest.fail("the forked child hung in its first threaded kernel")
    assert proc.returncode == 0, stderr[-2000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["child"], out["parent"], rtol=1e-12, atol=0)
    expect_warning = out["gnu"] and parent_threads > 1
    assert len(out["warned"]) == int(expect_warning), out["warned"]
    if expect_warning:
        assert "spawn" in out["warned"][0] and "one thread" in out["warned"][0]


@pytest.mark.parametrize("n_threads", [4097, 100_000])
def test_an_absurd_thread_count_is_refused_not_a_crash(n_threads):
    # 100,000 crashed segment, grabcut, GridGraph and BackgroundSubtractor (SIGSEGV), and at 32,768
    # GNU OpenMP ended the process ("Thread creation failed"): each is refused before any kernel runs
    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    calls = [lambda: gmmfast.segment(image, 2, n_threads=n_threads),
             lambda: gmmfast.grabcut(image, (4, 4, 20, 14), n_threads=n_threads),
             lambda: gmmfast.maxflow.GridGraph((4, 5), n_threads=n_threads).maxflow(),
             lambda: gmmfast.BackgroundSubtractor(n_threads=n_threads).apply(image),
             lambda: gmmfast.GaussianMixture(2, n_threads=n_threads).fit(image.reshape(-1, 3) / 255.0)]
    for call in calls:
        with pytest.raises(ValueError, match="n_threads must be None, -1 or an integer from 1 to 4096"):
            call()


def _children(pid: int) -> set[int]:
    """Worker processes of ``pid``: its children (Linux's /proc lists) that multiprocessing spawned
    to run jobs (not its resource tracker)."""
    kids: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            kids.update(int(k) for k in fh.read().split())
    workers = set()
    for kid in kids:
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as fh:
                if b"spawn_main" in fh.read():         # (the tracker runs resource_tracker.main)
                    workers.add(kid)
        except OSError:
            pass
    return workers


def _default_sigint() -> None:
    """In the child, before exec: SIGINT at its default (a job started in the background by a
    non-interactive shell inherits it ignored, and the test would wait for nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="reads child processes from Linux's /proc")
@pytest.mark.parametrize("whom", ["main", "group"])
def test_ctrl_c_stops_workers_at_once_and_leaves_no_process(tmp_path, whom):
    # `bgsub --workers 2` went on for 30-40 s after Ctrl-C (the job a worker had queued cannot be
    # cancelled, and the pool waited for it), and a SIGKILL then left a worker running on its own;
    # both inputs had also gone to one worker while the other idled
    rng = np.random.default_rng(0)
    for i in range(4):
        gmmfast.io.write_image(tmp_path / f"p{i}.png", rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "segment", str(tmp_path), "-k", "8", "--smoothing",
                             "1", "--smoothing-method", "expansion", "--workers", "2", "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:     # both workers started
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) >= 2, proc.stderr.read() if proc.poll() is not None else workers
        time.sleep(4.0)                                     # the workers are inside their first images
        assert proc.poll() is None
        t0 = time.monotonic()
        if whom == "main":
            proc.send_signal(signal.SIGINT)                 # a supervisor signals the main process only
        else:
            os.killpg(proc.pid, signal.SIGINT)              # a terminal's Ctrl-C: the whole group
        proc.wait(timeout=60)
        exited = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read()
    assert proc.returncode == 130 and "interrupted" in err, err
    assert exited < 6.0, f"exited {exited:.1f} s after SIGINT"     # (an image takes about 10 s here)
    time.sleep(0.5)
    alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}") and
             open(f"/proc/{pid}/stat").read().split()[2] != "Z"]
    assert not alive, f"worker processes left running: {alive}"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to a child needs POSIX signals")
def test_sigterm_stops_the_command_line_as_ctrl_c_does(tmp_path):
    # SIGTERM (timeout, docker stop) ended the process where it stood: its hidden staging folder,
    # with partial files in it, stayed in the output folder
    image = tmp_path / "big.png"
    gmmfast.io.write_image(image, np.random.default_rng(0).integers(0, 256, (900, 1200, 3), dtype=np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "gmmfast", "segment", str(image), "-k", "8", "--smoothing", "1",
                             "--smoothing-method", "expansion", "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".gmmfast-") for p in out.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == 143 and "terminated" in err and err.count("\n") == 1, err
    assert list(out.iterdir()) == []
