"""``config.runtime``: importing any of the packages that lead to TensorFlow turns on
TensorFlow's oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS=1``) before TensorFlow loads, unless the
environment already says otherwise. TensorFlow enables oneDNN by itself only on CPUs with
AVX-512 VNNI, AVX512_BF16 or AMX; without this, an AVX2-only CPU trains on Eigen's 3D
convolutions, about 8x slower (``docs/performance.md``). Each case runs in a fresh interpreter,
since the variable only matters before TensorFlow's first import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PACKAGES = ["ops", "models", "data", "training", "demo"]


def _python(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env,
                                                            "TF_CPP_MIN_LOG_LEVEL": "3"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("package", PACKAGES[:-1])
def test_importing_a_package_turns_onednn_on_before_tensorflow_loads(package: str) -> None:
    code = (f"import os, sys, {package}; "
            "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), 'tensorflow' in sys.modules)")
    assert _python(code) == "1 False"


@pytest.mark.parametrize("given, enabled", [(None, "True"), ("0", "False")])
def test_tensorflow_runs_onednn_unless_the_environment_says_no(given: str | None,
                                                               enabled: str) -> None:
    """The package imported first, TensorFlow after it: TensorFlow's own report of whether
    oneDNN is on (a private but stable function; skipped where it is missing)."""
    pytest.importorskip("tensorflow")
    code = ("import demo, os\n"
            "try:\n"
            "    from tensorflow.python.util._pywrap_util_port import IsMklEnabled\n"
            "except ImportError:\n"
            "    print('missing'); raise SystemExit\n"
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], IsMklEnabled())")
    out = _python(code, **({} if given is None else {"TF_ENABLE_ONEDNN_OPTS": given}))
    if out == "missing":
        pytest.skip("this TensorFlow has no IsMklEnabled")
    assert out == f"{given or '1'} {enabled}"
