"""benchmarks/maintainer/bm_ab.py's machinery: two versions of the same modules in one process,
each object keeping its own version's code, found by a meta-path finder (``sys.path`` is never
changed), and a revision exported from git."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.maintainer import bm_ab

REPO = Path(__file__).resolve().parents[1]


def _version(root: Path, value: int, init: bool = True) -> Path:
    """A copy of package ``pkg_ab`` whose ``user.value()`` returns ``value`` (read through a
    second module, so a mix-up of the two copies' modules shows)."""
    (root / "pkg_ab").mkdir(parents=True)
    if init:
        (root / "pkg_ab" / "__init__.py").write_text("")
    (root / "pkg_ab" / "core.py").write_text(f"VALUE = {value}\n")
    (root / "pkg_ab" / "user.py").write_text(
        "from pkg_ab.core import VALUE\n\ndef value():\n    return VALUE\n")
    return root


@pytest.fixture
def clean_imports():
    """Leaves sys.modules, sys.meta_path and sys.path as they were."""
    meta, path = list(sys.meta_path), list(sys.path)
    yield
    for mod in [m for m in sys.modules if m.split(".")[0] == "pkg_ab"]:
        del sys.modules[mod]
    sys.meta_path[:] = meta
    assert sys.path == path, "bm_ab changed sys.path"
    importlib.invalidate_caches()


@pytest.mark.parametrize("init", [True, False], ids=["package", "namespace_package"])
def test_switching_keeps_each_versions_objects(tmp_path: Path, clean_imports, init) -> None:
    a = _version(tmp_path / "a", 1, init)
    b = _version(tmp_path / "b", 2, init)
    decoy = _version(tmp_path / "decoy", 99, init)  # first on sys.path: must never be used
    names = bm_ab._top_level_names(a)
    assert "pkg_ab" in names
    sys.path.insert(0, str(decoy))
    try:
        bm_ab._switch_to(a, names)
        importlib.import_module("pkg_ab")
        # sys.path changes after the package is imported (old revisions' benchmark scripts
        # insert their folder): a namespace package must not look its submodules up again
        sys.path.append(str(tmp_path))
        user_a = importlib.import_module("pkg_ab.user")
        bm_ab._switch_to(b, names)
        user_b = importlib.import_module("pkg_ab.user")
    finally:
        sys.path[:] = [p for p in sys.path if p not in (str(decoy), str(tmp_path))]
    # each side ran its own files, and a's function still reads a's module after the switch
    assert Path(user_a.__file__).is_relative_to(a) and Path(user_b.__file__).is_relative_to(b)
    assert (user_a.value(), user_b.value()) == (1, 2)
    assert sys.modules["pkg_ab.core"].VALUE == 2
    assert sum(isinstance(f, bm_ab.SideFinder) for f in sys.meta_path) == 1


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
