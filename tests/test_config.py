"""Kernel variant selection (GMMFAST_KERNELS) and gmmfast.show_config(), in fresh interpreters."""

import json
import os
import subprocess
import sys

import pytest

import gmmfast
from gmmfast._kernels import _cpu


def _last_json(stdout):
    # the last line: an editable install that rebuilds on import prints its build log first
    return json.loads(stdout.strip().splitlines()[-1])


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


def _modules_of(cfg, variant):
    """Every kernel module the config names, checked to belong to ``variant`` (or to be portable,
    or, for a kernel with no ``variant`` build, to be its widest build: avx2 under avx512)."""
    from gmmfast._kernels import _manifest

    for kernel, module in cfg["kernel_modules"].items():
        if kernel in _manifest.PORTABLE:
            suffix = ""
        elif variant in _manifest.KERNEL_VARIANTS[kernel]:
            suffix = f"_{variant}"
        else:
            assert variant == "avx512", (kernel, variant)
            suffix = "_avx2"
        assert module == f"gmmfast._kernels.{kernel}{suffix}", (kernel, module)
    return set(cfg["kernel_modules"])


def test_a_kernel_without_a_variant_loads_its_widest_narrower_build():
    from gmmfast._dispatch import module_name
    from gmmfast._kernels import _manifest

    width = {"baseline": 0, "avx2": 1, "avx512": 2}
    for kernel, built in _manifest.KERNEL_VARIANTS.items():
        for variant in width:
            loaded = module_name(kernel, variant).rsplit("_", 1)[1]
            assert loaded in built and width[loaded] <= width[variant], (kernel, variant, loaded)
            assert not [v for v in built if width[loaded] < width[v] <= width[variant]], (kernel, variant)
            if variant in built:
                assert loaded == variant


@pytest.mark.parametrize("variant", ["baseline", "avx2"])
def test_forced_variant_loads_its_own_modules(variant):
    if variant == "avx2" and not _cpu.has_avx2_fma():
        pytest.skip("the CPU has no AVX2/FMA")
    out = _config_with(variant)
    assert out.returncode == 0, out.stderr
    cfg = _last_json(out.stdout)
    assert cfg["kernel_variant"] == variant
    from gmmfast._kernels import _manifest

    assert _modules_of(cfg, variant) == set(_manifest.PER_VARIANT + _manifest.PORTABLE)


def test_forced_avx512_runs_or_says_why():
    from gmmfast._dispatch import _built

    out = _config_with("avx512")
    if _cpu.has_avx512() and not _built("avx512"):
        assert out.returncode != 0
        assert "this build has no such kernels" in out.stderr
    elif _cpu.has_avx512():
        assert out.returncode == 0, out.stderr
        cfg = _last_json(out.stdout)
        assert cfg["kernel_variant"] == "avx512"
        _modules_of(cfg, "avx512")
    else:
        assert out.returncode != 0
        assert "GMMFAST_KERNELS=avx512 was requested but this CPU does not report" in out.stderr


def test_automatic_choice_matches_the_cpu():
    out = _config_with(None)
    assert out.returncode == 0, out.stderr
    cfg = _last_json(out.stdout)
    from gmmfast._dispatch import _built

    # the widest variant the CPU runs and the build has (a compiler without AVX-512 targets
    # builds no avx512 kernels)
    if _cpu.has_avx512() and _built("avx512"):
        expected = "avx512"
    elif _cpu.has_avx2_fma():
        expected = "avx2"
    else:
        expected = "baseline"
    assert cfg["kernel_variant"] == expected
    assert cfg["cpu_has_avx512"] == _cpu.has_avx512()
    _modules_of(cfg, expected)


_HIDE_ONE_MODULE = """
import importlib.util, sys
real = importlib.util.find_spec
hidden = sys.argv[1]
importlib.util.find_spec = lambda name, *a: None if name == hidden else real(name, *a)
import gmmfast
"""


@pytest.mark.parametrize("kernel", ["_mog2", "_maxflow"])
def test_a_missing_kernel_module_is_named_at_import(kernel):
    # the import-time check looks for every kernel module of the chosen variant, so a broken
    # install fails at `import gmmfast` with the module's name, not at its first use
    from gmmfast._dispatch import module_name

    name = module_name(kernel, "baseline")
    env = dict(os.environ, GMMFAST_KERNELS="baseline")
    out = subprocess.run([sys.executable, "-c", _HIDE_ONE_MODULE, name], env=env, capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.dirname(gmmfast.__file__)))
    assert out.returncode != 0
    assert f"ImportError: gmmfast's compiled kernels are incomplete: {name} not found" in out.stderr


def test_the_import_check_finds_modules_without_importing_them():
    # `import gmmfast` should not pay for importing every kernel module to check it exists
    from gmmfast import _dispatch

    name = _dispatch.module_name("_mog2", _dispatch.VARIANT)
    module = sys.modules.pop(name, None)
    try:
        assert _dispatch._missing_modules(_dispatch.VARIANT) == []
        assert name not in sys.modules
    finally:
        if module is not None:
            sys.modules[name] = module


def test_load_refuses_an_unknown_kernel():
    from gmmfast._dispatch import load

    with pytest.raises(ValueError, match="no compiled kernel named '_nope'"):
        load("_nope")


def test_avx512_probe_implies_avx2():
    assert not _cpu.has_avx512() or _cpu.has_avx2_fma()


def test_unknown_variant_is_a_clear_error():
    out = _config_with("sse9")
    assert out.returncode != 0
    assert "GMMFAST_KERNELS='sse9' is not understood" in out.stderr
    # the command line says it in one line: its error handling is not loaded when the choice is made
    env = dict(os.environ, GMMFAST_KERNELS="sse9")
    out = subprocess.run([sys.executable, "-m", "gmmfast", "segment", "x.png"], env=env, capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.dirname(gmmfast.__file__)))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [
        "gmmfast: error: GMMFAST_KERNELS='sse9' is not understood; use 'auto', 'avx512', 'avx2' or 'baseline'."]


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


@pytest.mark.parametrize("pair", [("baseline", "avx2"), ("avx2", "avx512"), ("baseline", "avx512")],
                         ids="-".join)
def test_two_variants_fit_the_same_mixture(pair):
    from gmmfast._dispatch import _built, _cpu_runs

    for variant in pair:
        if not _cpu_runs(variant):
            pytest.skip(f"the CPU cannot run the {variant} kernels")
        if not _built(variant):
            pytest.skip(f"this build has no {variant} kernels")
    results = {}
    for name in pair:
        env = dict(os.environ, GMMFAST_KERNELS=name)
        out = subprocess.run([sys.executable, "-c", _FIT_CODE], env=env, capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(gmmfast.__file__)))
        assert out.returncode == 0, out.stderr
        results[name] = _last_json(out.stdout)
    # vector widths change only the order of the sums (and the last bits of exp): on well-separated
    # clusters the fits agree to 1e-5 (float32) / 1e-10 (float64), lower bound relative, means absolute
    a, b = pair
    for key, (lb, means) in results[b].items():
        tol = 1e-5 if key.startswith("float32") else 1e-10
        ref_lb, ref_means = results[a][key]
        assert abs(lb - ref_lb) <= tol * abs(ref_lb), key
        assert max(abs(x - y) for x, y in zip(means, ref_means)) <= tol, key


def _kernel_cpu_flags():
    """The CPU flags Linux reports (its own reading of CPUID and XCR0), or None elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def test_cpu_probe_agrees_with_linux():
    """The probe asks CPUID itself; Linux's /proc/cpuinfo is the independent reference.
    avx2 needs the whole x86-64-v3 set -march=haswell lets the compiler use, avx512 also
    the x86-64-v4 AVX-512 subsets (cpu_features.h)."""
    flags = _kernel_cpu_flags()
    if flags is None or "sse2" not in flags:
        pytest.skip("needs Linux on x86-64 (/proc/cpuinfo)")
    v3 = {"avx", "avx2", "fma", "bmi1", "bmi2", "abm", "movbe", "f16c"}
    v4 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
    # Linux drops "avx" and the AVX-512 flags when the OS does not enable their state
    assert _cpu.has_avx2_fma() == (v3 <= flags)
    assert _cpu.has_avx512() == (v3 <= flags and v4 <= flags)
