"""prepare_data.sh: the ShapeNet-release path (unpack + validate) and the dead-link message."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from data.layout import DataLayout

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(REPO / "prepare_data.sh"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_release_tarball_is_unpacked_and_validated(tiny_root, tmp_path):
    # a release-like archive: one top folder holding renders/ and voxels/ (two classes)
    archive = tmp_path / "shapenet_release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for sub in ("renders", "voxels/modelVoxels32", "voxels/modelVoxels64"):
            for synset in ("02691156", "03001627"):
                tar.add(tiny_root / sub / synset, arcname=f"shapenet_release/{sub}/{synset}")
    out = tmp_path / "shapenet"
    r = _run("--shapenet", str(archive), "--root", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert DataLayout(out).synsets() == ["02691156", "03001627"]
    assert "airplane" in r.stdout and "0 with problems" in r.stdout


def test_bad_inputs_fail_with_a_clear_message(tmp_path):
    r = _run("--shapenet", str(tmp_path / "missing.tar.gz"), "--root", str(tmp_path / "x"))
    assert r.returncode == 1 and "archive not found" in r.stderr
    r = _run("--frobnicate")
    assert r.returncode == 2 and "unknown option '--frobnicate'" in r.stderr
    r = _run("--meshes", str(tmp_path))
    assert r.returncode == 2 and "--meshes needs --root" in r.stderr


def test_download_says_what_to_fetch_and_where(tmp_path):
    r = _run("--download", "--root", str(tmp_path / "shapenet"))
    assert r.returncode == 1
    assert "drive.google.com" in r.stderr and "--shapenet <archive.tar.gz>" in r.stderr
    assert "./prepare_data.sh --size small" in r.stderr
