"""Kernel variant selection (GMMFAST_KERNELS) and gmmfast.show_config(), in fresh interpreters."""

import json
import os
import subprocess
import sys

import pytest

import gmmfast
from gmmfast import _cpu


def _config_with(env_value):
    env = dict(os.environ)
    if env_value is None:
        env.pop("GMMFAST_KERNELS", None)
    else:
        env["GMMFAST_KERNELS"] = env_value
    code = "import json, gmmfast; print(json.dumps(gmmfast._config.config()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(gmmfast.__file__)))
    return out


@pytest.mark.parametrize("variant", ["baseline", "avx2"])
def test_forced_variant_has_no_512_bit_passes(variant):
    if variant == "avx2" and not _cpu.has_avx2_fma():
        pytest.skip("the CPU has no AVX2/FMA")
    out = _config_with(variant)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["kernel_variant"] == variant
    assert cfg["avx512_passes"] is False


def test_forced_avx512_runs_or_says_why():
    from gmmfast._dispatch import _available

    out = _config_with("avx512")
    if _cpu.has_avx512() and not _available("avx512"):
        assert out.returncode != 0
        assert "this build has no such kernels" in out.stderr
    elif _cpu.has_avx512():
        assert out.returncode == 0, out.stderr
        cfg = json.loads(out.stdout)
        assert cfg["kernel_variant"] == "avx512"
        assert cfg["avx512_passes"] is True
    else:
        assert out.returncode != 0
        assert "GMMFAST_KERNELS=avx512 was requested but this CPU does not report" in out.stderr


def test_automatic_choice_matches_the_cpu():
    out = _config_with(None)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    from gmmfast._dispatch import _available

    # the widest variant the CPU runs and the build has (a compiler without AVX-512 targets
    # builds no avx512 kernels)
    if _cpu.has_avx512() and _available("avx512"):
        expected = "avx512"
    elif _cpu.has_avx2_fma():
        expected = "avx2"
    else:
        expected = "baseline"
    assert cfg["kernel_variant"] == expected
    assert cfg["cpu_has_avx512"] == _cpu.has_avx512()
    assert isinstance(cfg["avx512_passes"], bool)


def test_avx512_probe_implies_avx2():
    assert not _cpu.has_avx512() or _cpu.has_avx2_fma()


def test_unknown_variant_is_a_clear_error():
    out = _config_with("sse9")
    assert out.returncode != 0
    assert "GMMFAST_KERNELS='sse9' is not understood" in out.stderr


def test_show_config_prints_every_key(capsys):
    gmmfast.show_config()
    printed = capsys.readouterr().out
    for key in gmmfast._config.config():
        assert key in printed


_FIT_CODE = """
import json, sys, numpy as np, gmmfast
rng = np.random.default_rng(7)
X = np.concatenate([rng.normal(c, s, (4000, 3)) for c, s in ((0, 1), (6, 0.5), (-6, 1.5))])
out = {}
for dtype in ("float32", "float64"):
    for cov in ("full", "diag"):
        g = gmmfast.GaussianMixture(3, covariance_type=cov, means_init=[[0, 0, 0], [5, 5, 5], [-5, -5, -5]],
                                    max_iter=30, tol=0, n_threads=2).fit(X.astype(dtype))
        out[f"{dtype}-{cov}"] = [g.lower_bound_, g.means_.ravel().tolist()]
print(json.dumps(out))
"""


@pytest.mark.parametrize("variant", ["baseline", "avx2", "avx512"])
def test_every_variant_fits_the_same_mixture(variant):
    from gmmfast._dispatch import _available, _cpu_runs

    if not _cpu_runs(variant):
        pytest.skip(f"the CPU cannot run the {variant} kernels")
    if not _available(variant):
        pytest.skip(f"this build has no {variant} kernels")
    results = {}
    for name in ("baseline", variant):
        env = dict(os.environ, GMMFAST_KERNELS=name)
        out = subprocess.run([sys.executable, "-c", _FIT_CODE], env=env, capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(gmmfast.__file__)))
        assert out.returncode == 0, out.stderr
        results[name] = json.loads(out.stdout)
    # vector widths change only the order of the sums (and the last bits of exp): on well-separated
    # clusters the fits agree to 1e-5 (float32) / 1e-10 (float64), lower bound relative, means absolute
    for key, (lb, means) in results[variant].items():
        tol = 1e-5 if key.startswith("float32") else 1e-10
        ref_lb, ref_means = results["baseline"][key]
        assert abs(lb - ref_lb) <= tol * abs(ref_lb), key
        assert max(abs(a - b) for a, b in zip(means, ref_means)) <= tol, key
