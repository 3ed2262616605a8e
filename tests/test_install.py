"""The project as installed (``make venv`` runs ``pip install --no-deps -e .``): the entry
scripts run from any working directory with no ``PYTHONPATH``, the installed distribution is
this checkout, and no tracked code edits ``sys.path`` to find the packages.

What the ``--help`` test proves: each of the six scripts, started by path from a folder outside
the repository (so neither the working directory nor the script's own folder, ``voxels/`` or
``depth/``, holds a package), imports ``training.cli`` from the installation and parses its
command line. ``--help`` imports no framework, so the six run side by side in a few seconds.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = [f"{folder}/{what}_{kind}.py" for folder, kind in (("voxels", "vlsm"),
                                                              ("depth", "dlsm"))
           for what in ("train", "val", "test")]
#: ``sys.path`` changed in place (``insert``, ``append``, ``extend``, ``+=``, slice assignment).
SYS_PATH_EDIT = re.compile(r"sys\.path\.(insert|append|extend)\(|sys\.path\s*(\+=|\[[^]]*\]\s*=)")
#: Tracked code allowed to change ``sys.path``, and why.
EXEMPT = {
    "benchmarks/": "maintainer tools, kept apart (issue 34, part 7)",
    "tests/test_bm_ab.py": "puts decoy folders on sys.path: the A/B tool under test must "
                           "ignore them",
}


def test_installed_editable_from_this_checkout() -> None:
    # every "lsm" metadata on the path (the build's lsm.egg-info in the checkout is one, with
    # no record of an installation): one must be an editable install of this folder
    installs = [json.loads(d.read_text("direct_url.json") or "{}")
                for d in importlib.metadata.distributions(name="lsm")]
    assert {"dir_info": {"editable": True}, "url": REPO.as_uri()} in installs, (
        f"the lsm project is not installed editable from {REPO} in this Python (make venv): "
        f"{installs}")


def test_every_package_is_in_the_distribution() -> None:
    """``pyproject.toml``'s include patterns find every package and subpackage of the project
    (a wheel holds them all, a folder added later included), and nothing of tests or tools."""
    tomllib = pytest.importorskip("tomllib")
    setuptools = pytest.importorskip("setuptools")
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(setuptools.find_packages(str(REPO), include=find["packages"]["find"]["include"]))
    tops = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "benchmarks"}
    expected = {".".join(p.parent.relative_to(REPO).parts) for top in tops
                for p in (REPO / top).rglob("__init__.py")}
    assert found == expected
    assert {"training", "data.loaders", "data.shapes"} <= found


def test_scripts_run_from_any_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    procs = {s: subprocess.Popen([sys.executable, str(REPO / s), "--help"], cwd=tmp_path,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
             for s in SCRIPTS}
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{script}: {err[-2000:]}"
        assert out.startswith(f"usage: {Path(script).name} [-h] "), f"{script}: {out[:300]}"
        assert "--argsjs" in out, f"{script}: {out[:300]}"


def test_no_tracked_code_changes_sys_path() -> None:
    ls = subprocess.run(["git", "ls-files", "*.py", "*.ipynb"], cwd=REPO, capture_output=True,
                        text=True)
    if ls.returncode:
        pytest.skip("not a git checkout")
    offenders = []
    for name in ls.stdout.splitlines():
        path = REPO / name
        if any(name.startswith(e) for e in EXEMPT) or not path.is_file():
            continue
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if SYS_PATH_EDIT.search(line):
                offenders.append(f"{name}:{i}: {line.strip()}")
    assert not offenders, "sys.path edited (install the project instead):\n" + "\n".join(
        offenders)
