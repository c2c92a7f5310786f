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


def test_automatic_choice_matches_the_cpu():
    out = _config_with(None)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["kernel_variant"] == ("avx2" if _cpu.has_avx2_fma() else "baseline")
    assert isinstance(cfg["avx512_passes"], bool)


def test_unknown_variant_is_a_clear_error():
    out = _config_with("sse9")
    assert out.returncode != 0
    assert "GMMFAST_KERNELS='sse9' is not understood" in out.stderr


def test_show_config_prints_every_key(capsys):
    gmmfast.show_config()
    printed = capsys.readouterr().out
    for key in gmmfast._config.config():
        assert key in printed
