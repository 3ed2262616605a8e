"""get_models.sh and download_sample.sh: the release's download scripts, offline.

Every URL points at something that fails at once (a closed local port, a missing file) or at a
``file://`` archive the test writes, so no test needs the network; each run takes milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEAD_URLS = "http://127.0.0.1:9/x.tar.gz file:///nonexistent/lsm/x.tar.gz"

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("curl") is None or shutil.which("tar") is None,
    reason="needs bash, curl and tar",
)


@dataclass(frozen=True)
class Script:
    name: str
    archive: str
    folder: str
    md5: str
    url_var: str
    md5_var: str
    drive_link: str


SCRIPTS = [
    Script("get_models.sh", "models_lsm_v1_small.tar.gz", "models_lsm_v1",
           "8955572bb300a52a8b0dcf78d7e47b19", "LSM_MODELS_URL", "LSM_MODELS_MD5",
           "https://drive.google.com/file/d/1HAZuKWYxYybDMqb6RA5PLvUes52x3dhm"),
    Script("download_sample.sh", "shapenet_sample.tar.gz", "shapenet_sample",
           "696f75abebf387af55e8e06661162926", "LSM_SAMPLE_URL", "LSM_SAMPLE_MD5",
           "https://drive.google.com/open?id=1qg0t_nKMBMz_GhyIUdBK2l_aNqfFewNe"),
]


@pytest.fixture(params=SCRIPTS, ids=[s.name for s in SCRIPTS])
def script(request) -> Script:
    return request.param


def run(script: Script, tmp_path: Path, *args: str, urls: str = DEAD_URLS,
        md5: str | None = None) -> subprocess.CompletedProcess:
    """Run the script from a folder outside the repository, as a user might."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSM_")}
    env[script.url_var] = urls
    if md5 is not None:
        env[script.md5_var] = md5
    return subprocess.run(["bash", str(REPO / script.name), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def make_archive(script: Script, where: Path) -> tuple[Path, str]:
    """A small .tar.gz holding ``<folder>/...`` as the release's would; returns (path, md5)."""
    src = where / "src"
    files = {
        "get_models.sh": ["vlsm-release/train/args.json", "vlsm-release/train/checkpoint",
                          "vlsm-release/train/mvnet-100000.index",
                          "dlsm-release/train/args.json", "dlsm-release/train/checkpoint",
                          "dlsm-release/train/mvnet-100000.index"],
        "download_sample.sh": ["renders/03001627/abc/render_0.png",
                               "voxels/modelVoxels32/03001627/abc.mat"],
    }[script.name]
    for rel in files:
        f = src / script.folder / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"content of {rel}\n")
    where.mkdir(parents=True, exist_ok=True)
    archive = where / "served.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / script.folder, arcname=script.folder)
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_help_exits_zero(script, tmp_path):
    res = run(script, tmp_path, "--help")
    assert res.returncode == 0, res.stderr
    assert "--dest" in res.stdout and script.url_var in res.stdout


def test_unknown_option_is_refused(script, tmp_path):
    res = run(script, tmp_path, "--bogus")
    assert res.returncode == 2
    assert "--bogus" in res.stderr


def test_every_url_failing_says_what_to_download(script, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    res = run(script, tmp_path, "--dest", str(dest))
    assert res.returncode == 1
    err = res.stderr
    assert script.archive in err
    assert script.md5 in err  # the release's checksum, no override given
    assert str(dest / script.archive) in err  # the exact path the script looks at
    assert script.drive_link in err
    for url in DEAD_URLS.split():
        assert url in err  # one line per URL tried
    assert err.count("curl:") == 2  # curl's messages, summarised, not its raw output
    assert listing(dest) == {"keep.txt"}  # no partial download, no temp file


def test_download_verify_unpack(script, tmp_path):
    served, md5 = make_archive(script, tmp_path / "server")
    dest = tmp_path / "dest"
    res = run(script, tmp_path, "--dest", "dest",  # relative to the caller's folder
              urls=f"http://127.0.0.1:9/x.tar.gz file://{served}", md5=md5)
    assert res.returncode == 0, res.stderr
    assert (dest / script.archive).read_bytes() == served.read_bytes()
    assert listing(dest / script.folder) == listing(tmp_path / "server" / "src" / script.folder)
    assert {p.name for p in dest.iterdir()} == {script.archive, script.folder}  # no temp left
    assert f"unpacked {dest / script.folder}" in res.stdout
    if script.name == "get_models.sh":
        log = dest / "models_lsm_v1"
        assert (f"python voxels/test_vlsm.py --log {log}/vlsm-release/train --ckpt mvnet-100000"
                " --test_split_file data/splits.json") in res.stdout
        assert (f"python depth/test_dlsm.py --log {log}/dlsm-release/train --ckpt mvnet-100000"
                " --test_split_file data/splits.json") in res.stdout
        assert (f"python scripts/convert_release.py --log {log}/vlsm-release/train"
                " --ckpt mvnet-100000 --out log/vlsm-release") in res.stdout
    else:
        assert "data root" in res.stdout and str(dest / script.folder) in res.stdout


def test_wrong_md5_deletes_the_download(script, tmp_path):
    served, md5 = make_archive(script, tmp_path / "server")
    wrong = "0" * 32
    dest = tmp_path / "dest"
    dest.mkdir()
    res = run(script, tmp_path, "--dest", str(dest), urls=f"file://{served}", md5=wrong)
    assert res.returncode == 1
    assert f"file://{served}" in res.stderr and md5 in res.stderr and "deleted" in res.stderr
    assert wrong in res.stderr
    assert listing(dest) == set()


def test_present_archive_is_unpacked_without_download(script, tmp_path):
    served, md5 = make_archive(script, tmp_path / "server")
    dest = tmp_path / "dest"
    dest.mkdir()
    shutil.copy(served, dest / script.archive)
    res = run(script, tmp_path, "--dest", str(dest), md5=md5)  # the URLs all fail
    assert res.returncode == 0, res.stderr
    assert "not downloading" in res.stdout
    assert "127.0.0.1" not in res.stdout + res.stderr
    assert listing(dest / script.folder) == listing(tmp_path / "server" / "src" / script.folder)


def test_present_archive_with_wrong_md5_is_left_alone(script, tmp_path):
    served, md5 = make_archive(script, tmp_path / "server")
    dest = tmp_path / "dest"
    dest.mkdir()
    shutil.copy(served, dest / script.archive)
    res = run(script, tmp_path, "--dest", str(dest), md5="f" * 32)
    assert res.returncode == 1
    assert md5 in res.stderr and script.md5_var in res.stderr
    assert listing(dest) == {script.archive}  # the user's file is kept, nothing unpacked


def test_existing_folder_is_not_overwritten(script, tmp_path):
    served, md5 = make_archive(script, tmp_path / "server")
    dest = tmp_path / "dest"
    (dest / script.folder).mkdir(parents=True)
    (dest / script.folder / "mine.txt").write_text("mine\n")
    shutil.copy(served, dest / script.archive)
    res = run(script, tmp_path, "--dest", str(dest), md5=md5)
    assert res.returncode == 0, res.stderr
    assert "already exists" in res.stdout
    assert listing(dest / script.folder) == {"mine.txt"}
    assert (dest / script.folder / "mine.txt").read_text() == "mine\n"


def test_archive_with_another_top_folder_does_not_replace_it(tmp_path):
    """An archive whose top entry already exists in --dest is not unpacked over it."""
    script = SCRIPTS[1]
    src = tmp_path / "server" / "src" / "other"
    src.mkdir(parents=True)
    (src / "new.txt").write_text("new\n")
    served = tmp_path / "server" / "served.tar.gz"
    with tarfile.open(served, "w:gz") as tar:
        tar.add(src, arcname="other")
    dest = tmp_path / "dest"
    (dest / "other").mkdir(parents=True)
    res = run(script, tmp_path, "--dest", str(dest), urls=f"file://{served}",
              md5=hashlib.md5(served.read_bytes()).hexdigest())
    assert res.returncode == 0, res.stderr
    assert "already exists" in res.stdout
    assert listing(dest / "other") == set()


def test_archive_escaping_dest_is_refused(tmp_path):
    script = SCRIPTS[0]
    payload = tmp_path / "evil.txt"
    payload.write_text("x\n")
    served = tmp_path / "server.tar.gz"
    with tarfile.open(served, "w:gz") as tar:
        tar.add(payload, arcname="../evil.txt")
    dest = tmp_path / "a" / "dest"
    res = run(script, tmp_path, "--dest", str(dest), urls=f"file://{served}",
              md5=hashlib.md5(served.read_bytes()).hexdigest())
    assert res.returncode == 1
    assert "outside" in res.stderr
    assert not (tmp_path / "a" / "evil.txt").exists()
    assert listing(dest) == {script.archive}  # verified archive kept, nothing unpacked
