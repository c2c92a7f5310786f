"""GrabCut on the 30 shared MSR GrabCut images against cv2.grabCut (issue 16).

Both libraries run the same protocol: the box of ``bboxes/*.txt`` (x1 y1 x2 y2
corners) or the scribbles of ``scribbles/*.png`` (255 foreground, 128
background strokes; inside the box probable foreground, outside background),
5 iterations, one thread, default parameters.  OpenCV's k-means seeding is
random: its generator is reset to the state of a fresh process
(``cv2.setRNGSeed(0)``) before every call, so its scores do not depend on
the order of the images.  The score is the IoU of the foreground with
``seg_GT == 255`` over the pixels whose ``seg_GT`` is not 128 (the unscored
band along the object's border).

The goals of issue 16 are the assertions below.  The ones the defaults do not
meet yet are marked ``xfail(strict=True)``: they fail loudly (XPASS) once a
change meets them, so the marker has to go.  The floor checks (no collapse,
mean at least OpenCV's) are plain assertions.

A further check compares the defaults with ``multiscale=False`` (every
iteration at full resolution): the coarse start, a speed shortcut, may cost no
image more than 0.02 IoU.  And ``gmmfast.compat.grabCut``, called as the
OpenCV code is, must score exactly as the defaults on every image.

Skipped when the shared data or OpenCV is absent.  It costs about 2 minutes
of CPU, most of it OpenCV's, and runs two images at a time: about 1-1.5
minutes on two idle cores (7 minutes on the loaded development machine).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gmmfast import GrabCut

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grabcut"
ITERATIONS = 5

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared GrabCut data not present")


def _names() -> list[str]:
    return sorted(p.stem for p in (DATA / "bboxes").glob("*.txt"))


def _load(name: str):
    from PIL import Image
    path = DATA / "imgs" / f"{name}.jpg"
    if not path.exists():
        path = DATA / "imgs" / f"{name}.png"
    img = np.asarray(Image.open(path).convert("RGB"))
    gt = np.asarray(Image.open(DATA / "seg_GT" / f"{name}.bmp").convert("L"))
    x1, y1, x2, y2 = map(int, (DATA / "bboxes" / f"{name}.txt").read_text().split())
    strokes = np.asarray(Image.open(DATA / "scribbles" / f"{name}.png").convert("L"))
    rect = (x1, y1, x2 - x1, y2 - y1)
    mask = np.zeros(gt.shape, np.uint8)                 # GC_BGD outside the box
    mask[y1:y2, x1:x2] = 3                              # GC_PR_FGD inside
    mask[strokes == 255] = 1                            # GC_FGD strokes
    mask[strokes == 128] = 0                            # GC_BGD strokes
    return img, gt, rect, mask


def iou(fg: np.ndarray, gt: np.ndarray) -> float:
    scored = gt != 128
    truth = gt == 255
    return np.count_nonzero(fg & truth & scored) / max(np.count_nonzero((fg | truth) & scored), 1)


def _opencv(cv2, img, rect, mask):
    cv2.setNumThreads(1)
    cv2.setRNGSeed(0)               # the generator's state in a fresh process
    bgr = np.ascontiguousarray(img[:, :, ::-1])
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    if mask is None:
        m = np.zeros(img.shape[:2], np.uint8)
        cv2.grabCut(bgr, m, rect, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_RECT)
    else:
        m = mask.copy()
        cv2.grabCut(bgr, m, None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    return (m & 1).astype(bool)


def _score_image(cv2, name: str) -> dict:
    img, gt, rect, mask = _load(name)

    def ours(**kw):
        return (iou(GrabCut(max_iter=ITERATIONS, n_threads=1, **kw).fit(img, rect=rect).foreground_, gt),
                iou(GrabCut(max_iter=ITERATIONS, n_threads=1, **kw).fit(img, mask=mask).foreground_, gt))

    (box, scr), (box_full, scr_full) = ours(), ours(multiscale=False)
    return {"box": (box, iou(_opencv(cv2, img, rect, None), gt), box_full, iou(_compat(img, rect, None), gt)),
            "scribbles": (scr, iou(_opencv(cv2, img, None, mask), gt), scr_full, iou(_compat(img, None, mask), gt))}


def _compat(img, rect, mask):
    """gmmfast.compat.grabCut, called as the OpenCV code above calls cv2.grabCut."""
    from gmmfast import compat

    bgr = np.ascontiguousarray(img[:, :, ::-1])
    m = np.zeros(img.shape[:2], np.uint8) if mask is None else mask.copy()
    mode = compat.GC_INIT_WITH_RECT if mask is None else compat.GC_INIT_WITH_MASK
    compat.grabCut(bgr, m, rect, None, None, ITERATIONS, mode)     # all cores: the cut does not depend on them
    return (m & 1).astype(bool)


@pytest.fixture(scope="module")
def scores() -> dict:
    """{name: {"box": (gmmfast IoU, OpenCV IoU, gmmfast multiscale=False IoU), "scribbles": (...)}}."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("PIL")
    names = _names()
    assert len(names) >= 30, f"expected the 30 shared GrabCut images, found {len(names)}"
    # both libraries release the GIL in their kernels: two images at a time on two cores
    with ThreadPoolExecutor(2) as ex:
        out = dict(zip(names, ex.map(lambda n: _score_image(cv2, n), names)))
    print()
    print(f"{'image':10s} {'box':>6s} {'cv2':>6s}   {'scr':>6s} {'cv2':>6s}")
    for name, s in out.items():
        print(f"{name:10s} {s['box'][0]:6.3f} {s['box'][1]:6.3f}   {s['scribbles'][0]:6.3f} {s['scribbles'][1]:6.3f}")
    for mode in ("box", "scribbles"):
        a, c = _arrays(out, mode)
        print(f"{mode}: mean {a.mean():.4f} vs OpenCV {c.mean():.4f}, worst difference {np.min(a - c):+.3f}")
    return out


def _arrays(scores: dict, mode: str):
    ours = np.array([s[mode][0] for s in scores.values()])
    opencv = np.array([s[mode][1] for s in scores.values()])
    return ours, opencv


def _below(scores: dict, mode: str, tol: float) -> dict:
    return {n: round(s[mode][0] - s[mode][1], 3) for n, s in scores.items() if s[mode][0] < s[mode][1] - tol}


# --------------------------------------------------------------------------- floors (met)

@pytest.mark.parametrize("mode", ["box", "scribbles"])
def test_mean_iou_at_least_opencv(scores, mode):
    ours, opencv = _arrays(scores, mode)
    assert ours.mean() >= opencv.mean(), (ours.mean(), opencv.mean())


@pytest.mark.parametrize("mode", ["box", "scribbles"])
def test_no_collapse(scores, mode):
    # a cut-out that loses most of the object where OpenCV finds it (24077 was 0.000 vs 0.826)
    assert not _below(scores, mode, 0.25)


@pytest.mark.parametrize("mode", ["box", "scribbles"])
def test_coarse_start_costs_no_image_more_than_002(scores, mode):
    """The multiscale start is a speed shortcut: on every image it stays within 0.02 IoU
    of cutting every iteration at full resolution, or above it (scissors is 0.015 below)."""
    worse = {n: round(s[mode][0] - s[mode][2], 3) for n, s in scores.items() if s[mode][0] < s[mode][2] - 0.02}
    assert not worse


@pytest.mark.parametrize("mode", ["box", "scribbles"])
def test_compat_grabcut_scores_as_the_defaults(scores, mode):
    """OpenCV's signature gives the defaults' cut (the box's window), not the whole image's."""
    assert {n: (s[mode][0], s[mode][3]) for n, s in scores.items() if abs(s[mode][0] - s[mode][3]) > 1e-9} == {}


# --------------------------------------------------------------------------- issue 16 goals

@pytest.mark.xfail(strict=True, reason="issue 16 goal not met: box mean IoU is +0.0297 over OpenCV, "
                                       "not +0.03 (bench/RESULTS.md, GrabCut)")
def test_box_mean_iou_beats_opencv_by_003(scores):
    ours, opencv = _arrays(scores, "box")
    assert ours.mean() >= opencv.mean() + 0.03, (ours.mean(), opencv.mean())


def test_box_no_image_more_than_003_below_opencv(scores):
    assert not _below(scores, "box", 0.03)


def test_scribbles_no_image_more_than_003_below_opencv(scores):
    assert not _below(scores, "scribbles", 0.03)
