"""benchmarks/bm_ab.py's machinery: two versions of the same modules in one process, each
object keeping its own version's code, and a revision exported from git."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import bm_ab  # noqa: E402


def _version(root: Path, value: int) -> Path:
    (root / "pkg_ab").mkdir(parents=True)
    (root / "pkg_ab" / "__init__.py").write_text("")
    (root / "pkg_ab" / "core.py").write_text(f"VALUE = {value}\n")
    (root / "pkg_ab" / "user.py").write_text(
        "from pkg_ab.core import VALUE\n\ndef value():\n    return VALUE\n")
    return root


def test_switching_keeps_each_versions_objects(tmp_path: Path) -> None:
    a, b = _version(tmp_path / "a", 1), _version(tmp_path / "b", 2)
    names = bm_ab._top_level_names(a)
    assert "pkg_ab" in names
    saved = list(sys.path)
    try:
        bm_ab._switch_to(a, names)
        value_a = importlib.import_module("pkg_ab.user").value
        bm_ab._switch_to(b, names)
        value_b = importlib.import_module("pkg_ab.user").value
        assert (value_a(), value_b()) == (1, 2)  # a's function still reads a's module
        assert str(a) not in sys.path and sys.path[0] == str(b)
    finally:
        for mod in [m for m in sys.modules if m.split(".")[0] == "pkg_ab"]:
            del sys.modules[mod]
        sys.path[:] = saved


def test_export_revision_holds_the_tracked_files(tmp_path: Path) -> None:
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    root, commit = bm_ab.export_revision("HEAD", tmp_path)
    assert (root / "benchmarks" / "bm_train_step.py").is_file()
    assert (root / "models" / "lsm.py").read_bytes() == subprocess.run(
        ["git", "show", f"{commit}:models/lsm.py"], cwd=REPO, capture_output=True,
        check=True).stdout
    with pytest.raises(SystemExit, match="unknown git revision 'no-such-rev'"):
        bm_ab.export_revision("no-such-rev", tmp_path)
