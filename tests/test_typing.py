"""The installed package's type hints, as a user's type checker sees them.

gmmfast ships ``py.typed``, so mypy reads its annotations.  These tests run
mypy on user code outside the checkout (so it analyses the installed package,
not the source folder): the README's examples and a tour of the public API
must pass ``--strict`` (every public name exported, every public callable
annotated, no annotation that rejects a documented use), and calls that break
the documented types must be reported (so the annotations are seen at all:
without ``py.typed`` mypy treats the package as untyped and reports none).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

README = Path(__file__).resolve().parents[1] / "README.md"

# Typical use of every public name, beyond the README's tour.
TOUR = '''
import numpy as np
import gmmfast
from gmmfast import io, maxflow, video
from gmmfast.compat import GC_INIT_WITH_RECT, grabCut

X, _, params = gmmfast.data.sample_mixture(1000)
gm = gmmfast.GaussianMixture(2, covariance_type="diag", random_state=np.random.default_rng(0))
predicted: np.ndarray = gm.fit(X).predict(X)
samples, which = gm.sample(10)
total = sum([gm.e_step_statistics(X[:500]), gm.e_step_statistics(X[500:])])
gm.m_step(gm.e_step_statistics(X), reseed_from=X[:100])
gm.partial_fit(X.tolist())
bic: float = gm.bic(X)
centres, index = gmmfast.kmeans_plusplus(X, 3, random_state=0)
km = gmmfast.kmeans(X, 3, init=centres)
seg = gmmfast.segment(gmmfast.data.sample_image().image, "auto", features="lab")
k: int = seg.n_components
frames, truth = gmmfast.data.sample_clip(20)
bg, centres3, sizes = gmmfast.kmeans_background(frames, 3, return_clusters=True)
only_bg: np.ndarray = gmmfast.kmeans_background(frames)
flag: bool = len(frames) > 5
either = gmmfast.kmeans_background(frames, return_clusters=flag)
knn = gmmfast.BackgroundSubtractorKNN()
knn_mask: np.ndarray = knn.apply(frames[0])
pg = gmmfast.PixelGMM(n_components=2).fit(frames[:10])
img = np.zeros((40, 40, 3), np.uint8)
r = gmmfast.grabcut(img, rect=(5, 5, 20, 20))
gc = gmmfast.GrabCut(max_iter=2).fit(img, rect=[5, 5, 20, 20]).refine(foreground=np.zeros((40, 40), bool))
m = np.zeros(img.shape[:2], np.uint8)
m, bgd, fgd = grabCut(img, m, (5, 5, 20, 20), None, None, 1, GC_INIT_WITH_RECT)
graph = maxflow.Graph(4, dtype=np.float32)
graph.add_edges([0, 1], [1, 2], 1.0, rev_cap=[0.5, 0.5])
graph.add_tedges(0, 5.0, 0.0)
flow: float = graph.maxflow()
smoothed, energy = maxflow.alpha_expansion(np.zeros((8, 8, 3)), 1.0, return_energy=True)
only_labels: np.ndarray = maxflow.alpha_expansion(np.zeros((8, 8, 3)), 1.0)
e: float = maxflow.potts_energy(np.zeros((8, 8, 3)), only_labels, 0.5)
image: np.ndarray = io.read_image("photo.png")
clip: np.ndarray = video.read_video("clip.mp4", max_frames=5)
results = gmmfast.segment_many(["a.png", "b.png"], 3, output_dir="Result", workers=1)
failed = [j.error for j in results if not j.ok]
loaded: gmmfast.GaussianMixture = gmmfast.GaussianMixture.load("gm.npz").set_params(n_threads=1)
fg_model: gmmfast.ColourModel = r.foreground_model
'''

# Each line breaks a documented type; mypy must say so on that line.
WRONG = '''
import gmmfast
gmmfast.GaussianMixture(n_components="3")
gmmfast.segment("photo.jpg", 3, smoothing="strong")
gmmfast.grabcut("photo.jpg", rect=(1, 2, 3, 4), max_iter=2.5)
gmmfast.BackgroundSubtractorMOG2(history="long")
n: str = gmmfast.GaussianMixture().fit([[0.0]]).score([[0.0]])
gmmfast.maxflow.Graph("4")
gmmfast.GaussianMixtur(2)
n = gmmfast.PixelGMM.load("pg.npz").n_iter_ + gmmfast.GaussianMixture.load("gm.npz").set_params().bic
'''


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def run_mypy(tmp_path: Path, name: str, code: str, *flags: str) -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(tmp_path / ".mypy_cache"),
         *flags, path.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    # one cache for the module's runs: the package and NumPy are analysed once
    return tmp_path_factory.mktemp("typing")


def test_readme_tour_and_public_api_pass_strict(workdir):
    blocks = readme_python_blocks()
    assert len(blocks) >= 3, "the README's python examples moved: update this test"
    code = blocks[0] + "\n" + TOUR
    out = run_mypy(workdir, "tour.py", code, "--strict")
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_scale_out_examples_type_check(workdir):
    # the user's own helpers and dask's untyped API are theirs, so not --strict here
    preamble = "import numpy as np\nimport gmmfast\nstream: list[np.ndarray] = []\n"
    for i, block in enumerate(readme_python_blocks()[1:], start=1):
        out = run_mypy(workdir, f"block{i}.py", preamble + block)
        assert out.returncode == 0, f"README python block {i}:\n{out.stdout}{out.stderr}"


def test_wrong_types_are_reported(workdir):
    out = run_mypy(workdir, "wrong.py", WRONG)
    lines = {int(m.group(1)) for m in re.finditer(r"wrong\.py:(\d+): error", out.stdout)}
    code_lines = [n for n, line in enumerate(WRONG.splitlines(), start=1)
                  if line.startswith(("gmmfast.", "n: str", "n = "))]
    assert "import-untyped" not in out.stdout, out.stdout
    assert sorted(lines) == code_lines, out.stdout
