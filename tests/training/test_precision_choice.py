"""What ``--precision auto`` picks on which hardware (training/precision.py)."""

from __future__ import annotations

import keras
import pytest

from models.precision import PRECISIONS
from training import precision as P


def test_auto_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    prec, why = P.fast_precision()
    assert prec in PRECISIONS and why
    monkeypatch.setattr(P, "_gpu_compute_capability", lambda: None)
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    want = "bfloat16" if keras.backend.backend() == "tensorflow" else "float32"
    assert P.resolve_precision("auto") == want
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert P.resolve_precision("auto") == "float32"
    monkeypatch.setattr(P, "_gpu_compute_capability", lambda: 9.0)
    assert P.resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(P, "_gpu_compute_capability", lambda: 7.0)
    assert P.resolve_precision("auto") == "float32"
    monkeypatch.setenv("LSM_PRECISION", "float16")
    assert P.resolve_precision("auto") == "float16"
    assert P.resolve_precision("float32") == "float32"  # explicit beats the environment
    monkeypatch.setenv("LSM_PRECISION", "half")
    with pytest.raises(ValueError, match="LSM_PRECISION"):
        P.resolve_precision("auto")
    with pytest.raises(ValueError, match="precision must be"):
        P.resolve_precision("fp8")
