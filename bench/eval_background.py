"""Quality and speed of background-subtraction pipelines on the shared CDnet clips.

Runs every pipeline it can import in this interpreter on ``../shared/data/cdnet-highway``
and ``cdnet-traffic`` (scored as that folder's README says: 170/85 unscored, 255 positive,
0/50 negative, precision/recall/F over all scored frames; highway scores frames >= 470
after feeding all 300, traffic feeds all 101 and scores from the 31st) and prints / saves
F, precision, recall and milliseconds per frame (the mask clean-up included, one thread).

Pipelines: gmmfast's ``BackgroundSubtractor`` (every ``method``) and its MOG2 class; OpenCV
MOG2 and KNN (``cv2``), each with and without a 5x5 median; OpenCV's bgsegm GSOC (needs
``opencv-contrib-python-headless``, which cannot share an environment with
``opencv-python-headless``); BGSLibrary's SuBSENSE and LOBSTER (``pybgs``).  Anchors that
live in other environments are run with that environment's Python and ``--only``, and the
JSON files merged::

    python bench/eval_background.py --json /tmp/ours.json
    /path/to/cvcontrib/bin/python bench/eval_background.py --only GSOC --json /tmp/gsoc.json
    /path/to/pybgs/bin/python bench/eval_background.py --only SuBSENSE,LOBSTER --json /tmp/bgs.json
    python bench/eval_background.py --merge /tmp/ours.json /tmp/gsoc.json /tmp/bgs.json

``--passes 4`` plays each clip forwards, backwards, forwards, backwards (no cut at the turns)
and scores every frame after the usual warm-up: a stand-in for a long run, where the model
has learnt what recurs (RESULTS "Long runs").

``--shake 2,4,8`` runs on highway seen through a generated shaking camera instead (``shaken``:
whole-pixel offsets of up to 2, 4 and 8 pixels, seeds 0 and 1): real scenery and truth,
with the camera motion of CDnet's cameraJitter category, which the shared data holds one
clip of (RESULTS, "Camera shake").

Speed: timings share the machine with whatever else runs, so compare pipelines within
one run (the ``ms`` column of one JSON), not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SEQUENCES = {"highway": "cdnet-highway", "traffic": "cdnet-traffic"}


def load(name: str):
    """(frames (T, H, W, 3) uint8 RGB, ground truth (T, H, W), scored (T,) bool)."""
    from PIL import Image
    folder = DATA / SEQUENCES[name]
    ins = sorted((folder / "input").glob("in*.jpg"))
    gts = sorted((folder / "groundtruth").glob("gt*.png"))
    if not ins or len(ins) != len(gts):
        raise FileNotFoundError(f"{folder}: frames or ground truth missing")
    frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in ins])
    gt = np.stack([np.asarray(Image.open(f)) for f in gts])
    if name == "highway":
        scored = np.array([int(f.stem[2:]) >= 470 for f in ins])
    else:
        scored = np.arange(len(ins)) >= 30
    return frames, gt, scored


def ping_pong(frames, gt, scored, passes: int):
    """The clip played forwards, backwards, ... ``passes`` times; every frame after the
    clip's warm-up is scored."""
    idx = list(range(len(frames)))
    order = list(idx)
    for k in range(1, passes):
        order += (idx[::-1] if k % 2 else idx)[1:]
    warm = int(np.argmax(scored))
    return frames[order], gt[order], np.arange(len(order)) >= warm


def shake_offsets(n: int, amp: int, seed: int) -> np.ndarray:
    """(n, 2) whole-pixel camera offsets that wander as CDnet traffic's do: each frame the
    camera goes back to rest (25 %), takes a step of up to amp // 2 + 1 pixels each way
    (55 %, clipped to +-amp) or stays where it is."""
    rng = np.random.default_rng(seed)
    out, cur = np.zeros((n, 2), int), np.zeros(2, int)
    for t in range(n):
        r = rng.random()
        if r < 0.25:
            cur = np.zeros(2, int)
        elif r < 0.8:
            cur = np.clip(cur + rng.integers(-amp // 2 - 1, amp // 2 + 2, 2), -amp, amp)
        out[t] = cur
    return out


def shaken(frames, gt, scored, amp: int, seed: int):
    """The clip through a shaking camera: frame t and its truth cropped by ``amp`` on every
    side at the offset ``shake_offsets`` gives it."""
    h, w = frames.shape[1] - 2 * amp, frames.shape[2] - 2 * amp
    off = shake_offsets(len(frames), amp, seed) + amp
    crop = lambda a: np.ascontiguousarray(np.stack([a[t, y:y + h, x:x + w] for t, (y, x) in enumerate(off)]))
    return crop(frames), crop(gt), scored


def score(masks, gt, scored) -> dict:
    """Precision, recall and F over the scored frames (CDnet's conventions)."""
    tp = fp = fn = 0
    for m, g, s in zip(masks, gt, scored):
        if s:
            m = np.asarray(m, bool)
            pos, neg = g == 255, (g == 0) | (g == 50)
            tp += int(np.count_nonzero(m & pos))
            fp += int(np.count_nonzero(m & neg))
            fn += int(np.count_nonzero(~m & pos))
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    return {"F": 2 * p * r / max(p + r, 1e-12), "P": p, "R": r}


def _cv2_median(fn):
    import cv2

    def run(frame):
        return cv2.medianBlur(fn(frame), 5)
    return run


def _cv2_maker(factory, median: bool):
    """apply(frame RGB) -> foreground (255) of an OpenCV subtractor, fed BGR as OpenCV expects."""
    def make():
        import cv2
        cv2.setNumThreads(1)
        sub = factory()

        def fg(frame):
            return np.where(sub.apply(np.ascontiguousarray(frame[..., ::-1])) == 255, 255, 0).astype(np.uint8)
        return _cv2_median(fg) if median else fg
    return make


def _gmmfast_maker(**kw):
    def make():
        import gmmfast
        bs = gmmfast.BackgroundSubtractor(n_threads=1, **kw)
        return bs.apply
    return make


def _gmmfast_mog2_maker(median: bool):
    def make():
        import gmmfast
        m = gmmfast.BackgroundSubtractorMOG2(n_threads=1)

        def fg(frame):
            return np.where(m.apply(frame) == 255, 255, 0).astype(np.uint8)
        return _cv2_median(fg) if median else fg
    return make


def _pybgs_maker(name: str):
    def make():
        import pybgs
        algo = getattr(pybgs, name)()

        def fg(frame):
            return algo.apply(np.ascontiguousarray(frame[..., ::-1]))
        return fg
    return make


def pipelines() -> dict:
    """name -> (module the pipeline needs, maker)."""
    import cv2  # noqa: F401  (only names; the makers import lazily)
    out = {
        "gmmfast adaptive (default)": ("gmmfast", _gmmfast_maker()),
        "gmmfast mog2 (previous default)": ("gmmfast", _gmmfast_maker(method="mog2")),
        "gmmfast knn": ("gmmfast", _gmmfast_maker(method="knn")),
        "gmmfast MOG2 class, OpenCV defaults": ("gmmfast", _gmmfast_mog2_maker(False)),
    }
    for med in (False, True):
        suffix = " + median 5" if med else ""
        out["OpenCV MOG2" + suffix] = ("cv2", _cv2_maker(lambda: __import__("cv2").createBackgroundSubtractorMOG2(), med))
        out["OpenCV KNN" + suffix] = ("cv2", _cv2_maker(lambda: __import__("cv2").createBackgroundSubtractorKNN(), med))
        out["OpenCV GSOC" + suffix] = ("cv2.bgsegm", _cv2_maker(
            lambda: __import__("cv2").bgsegm.createBackgroundSubtractorGSOC(), med))
    out["SuBSENSE (BGSLibrary)"] = ("pybgs", _pybgs_maker("SuBSENSE"))
    out["LOBSTER (BGSLibrary)"] = ("pybgs", _pybgs_maker("LOBSTER"))
    return out


def _importable(module: str) -> bool:
    try:
        if module == "cv2.bgsegm":
            import cv2
            return hasattr(cv2, "bgsegm")
        __import__(module)
        return True
    except ImportError:
        return False


def run_one(make, frames) -> tuple[list, float]:
    fn = make()
    masks, total = [], 0.0
    for f in frames:
        t0 = time.perf_counter()
        m = fn(f)
        total += time.perf_counter() - t0
        masks.append(np.asarray(m) > 0)
    return masks, 1000.0 * total / len(frames)


def evaluate(only: list[str] | None, passes: int = 1, data: dict | None = None) -> dict:
    """{pipeline: {clip: P, R, F, ms}} of every pipeline importable here (name prefixes
    ``only``) on ``data`` ({clip: (frames, gt, scored)}; default the shared CDnet clips,
    played back and forth ``passes`` times)."""
    results: dict = {}
    if data is None:
        data = {name: load(name) for name in SEQUENCES}
        if passes > 1:
            data = {name: ping_pong(*d, passes) for name, d in data.items()}
    for pname, (module, make) in pipelines().items():
        if only and not any(pname.startswith(o) or o in pname for o in only):
            continue
        if not _importable(module):
            print(f"skip {pname}: {module} not importable here", file=sys.stderr)
            continue
        for seq, (frames, gt, scored) in data.items():
            masks, ms = run_one(make, frames)
            r = score(masks, gt, scored)
            r["ms"] = ms
            results.setdefault(pname, {})[seq] = r
            print(f"{seq:8s} {pname:40s} F {r['F']:.3f}  P {r['P']:.3f}  R {r['R']:.3f}  {ms:7.2f} ms/frame",
                  flush=True)
    return results


def table(results: dict) -> str:
    clips = list(dict.fromkeys(seq for seqs in results.values() for seq in seqs))
    lines = ["| pipeline | " + " | ".join(f"{seq} F | P | R | ms/frame" for seq in clips) + " |",
             "|---|" + "---:|" * 4 * len(clips)]
    for name, seqs in results.items():
        cells = []
        for seq in clips:
            r = seqs.get(seq)
            cells += ([f"{r['F']:.3f}", f"{r['P']:.3f}", f"{r['R']:.3f}", f"{r['ms']:.2f}"] if r else ["-"] * 4)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated pipeline name prefixes")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--merge", nargs="+", help="print one table from these JSON files")
    ap.add_argument("--passes", type=int, default=1,
                    help="play each clip back and forth this many times (a long run)")
    ap.add_argument("--shake", help="comma-separated amplitudes: highway through a shaking camera instead")
    args = ap.parse_args(argv)
    if args.passes < 1:
        ap.error("--passes must be at least 1")
    try:
        amps = [int(a) for a in args.shake.split(",")] if args.shake else []
    except ValueError:
        ap.error("--shake takes whole numbers of pixels, e.g. 2,4,8")
    if any(not 1 <= a <= 40 for a in amps):
        ap.error("--shake amplitudes must be 1 to 40 pixels")
    if args.merge:
        merged: dict = {}
        for path in args.merge:
            merged.update(json.loads(Path(path).read_text()))
        print(table(merged))
        return
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the shared CDnet clips are needed")
    data = None
    if amps:
        highway = load("highway")
        data = {f"highway shake {a} s{s}": shaken(*highway, a, s) for a in amps for s in (0, 1)}
    res = evaluate(args.only.split(",") if args.only else None, args.passes, data)
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
        print(f"wrote {os.fspath(args.json)}")


if __name__ == "__main__":
    main()
