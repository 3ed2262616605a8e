"""Real meshes that an installable package ships: collect, build, check and test shipped models.

The meshes come from ``pybullet_data``, installed with the pybullet wheel
(``pip install -r requirements-real.txt``; 100 MB, not needed for anything else), so no
download link can die. Named objects (``pybullet_objects``: a scanned bunny, the COLLADA duck,
a mug, a textured torus, a soccer ball, a teddy bear made of convex pieces, a lego brick, robot
and machine parts, a shelf pod) and the first 40 procedurally generated objects of
``random_urdfs`` (``pybullet_random``) are copied with their material files into a mesh folder,
built with ``python -m data.build meshes`` (z up), checked with ``python -m data.check`` and
tested with ``voxels/test_vlsm.py`` or ``depth/test_dlsm.py`` (whichever network the folder
holds) for each model given, every model in the test split.

Usage::

    python scripts/real_meshes.py --root datasets/real --models pretrained/vlsm_cpu
    python scripts/real_meshes.py --models pretrained/vlsm_wild_cpu pretrained/dlsm_mask_cpu

Licences: pybullet and pybullet_data are distributed under the zlib licence
(https://github.com/bulletphysics/bullet3/blob/master/LICENSE.txt); the duck is Khronos'
COLLADA sample model (SCEA Shared Source License 1.0), the bunny derives from the Stanford 3D
Scanning Repository's bunny; the collected folder gets a ``SOURCES.md`` saying where each file
came from.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

from data import io

ROOT = Path(__file__).resolve().parents[1]

log = logging.getLogger("real_meshes")

#: Named objects in pybullet_data: output name -> path inside the package.
NAMED = {
    "bunny": "bunny.obj",
    "duck": "duck.obj",
    "mug": "objects/mug.obj",
    "torus_textured": "torus/torus_textured.obj",
    "soccerball": "soccerball.obj",
    "teddy_convex_pieces": "teddy2_VHACD_CHs.obj",
    "lego_brick": "lego/lego.obj",
    "husky_base": "husky/meshes/base_link.stl",
    "kiva_shelf_pod": "kiva_shelf/meshes/pod_lowres.stl",
    "differential_ring": "differential/diff_ring.stl",
    "kuka_link_0": "kuka_iiwa/meshes/link_0.obj",
    "kuka_link_3": "kuka_iiwa/meshes/link_3.obj",
    "franka_hand": "franka_panda/meshes/visual/hand.obj",
    "laikago_chassis": "laikago/chassis_zup.obj",
    "a1_trunk": "a1/meshes/trunk.obj",
    "wsg_gripper": "gripper/meshes/WSG-FMF.stl",
}
#: How many of pybullet_data's random_urdfs objects are used (000, 001, ...).
N_RANDOM = 40


def pybullet_data_dir() -> Path:
    """Folder of the installed pybullet_data package (one clear line if it is missing)."""
    try:
        import pybullet_data
    except ImportError:
        raise SystemExit("pybullet is not installed: pip install -r requirements-real.txt "
                         "(it ships the meshes this script uses)") from None
    return Path(pybullet_data.getDataPath())


def _copy_with_materials(src: Path, dst: Path) -> None:
    """Copy a mesh file and, for OBJ, its MTL files and the textures they name."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    if src.suffix.lower() != ".obj":
        return
    for line in src.read_text(errors="replace").splitlines():
        if line.startswith("mtllib"):
            mtl = src.parent / line.split(maxsplit=1)[1].strip()
            if not mtl.is_file():
                continue
            shutil.copyfile(mtl, dst.parent / mtl.name)
            for mline in mtl.read_text(errors="replace").splitlines():
                m = re.match(r"\s*map_\w+\s+(?:-\S+\s+\S+\s+)*(\S+)\s*$", mline)
                if m and (src.parent / m.group(1)).is_file():
                    shutil.copyfile(src.parent / m.group(1), dst.parent / Path(m.group(1)).name)


def collect(out: Path) -> int:
    """Copy the meshes into ``out/<class>/<name>.<ext>`` (the mesh builder's layout); returns
    the number of meshes. A folder that exists is left as it is (never overwritten)."""
    if out.exists():
        log.info("%s exists: using the meshes in it", out)
        return sum(1 for _ in out.rglob("*") if _.suffix.lower() in (".obj", ".stl"))
    data = pybullet_data_dir()
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    lines = ["# Sources", "", f"Copied from pybullet_data ({data}), zlib licence.", ""]
    for name, rel in NAMED.items():
        src = data / rel
        _copy_with_materials(src, tmp / "pybullet_objects" / name / f"{name}{src.suffix}")
        lines.append(f"- pybullet_objects/{name}: pybullet_data/{rel}")
    for i in range(N_RANDOM):
        src = data / "random_urdfs" / f"{i:03d}" / f"{i:03d}.obj"
        _copy_with_materials(src, tmp / "pybullet_random" / f"random_{i:03d}" / src.name)
        lines.append(f"- pybullet_random/random_{i:03d}: pybullet_data/random_urdfs/{i:03d}/")
    (tmp / "SOURCES.md").write_text("\n".join(lines) + "\n")
    tmp.rename(out)
    return len(NAMED) + N_RANDOM


#: Objects of the README figure.
FIGURE_MODELS = ("bunny", "duck", "mug", "torus_textured", "teddy_convex_pieces", "husky_base",
                 "random_003", "random_011")


def figure(root: Path, model_dir: str, out: Path, names: tuple[str, ...] = FIGURE_MODELS,
           n_views: int = 4) -> None:
    """Reconstructions of some real meshes after ``n_views`` views (the test script's views):
    one input view, the LSM's grid, the visual hull and the ground truth, one row each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from demo.datasets import load_views
    from demo.model import load_lsm, predict
    from geometry.depth import foreground
    from ops.visual_hull import visual_hull
    from vis.figures import plot_reconstruction_rows
    from vis.meshes import IOU_THRESH

    lsm = load_lsm(model_dir)
    splits = io.read_splits(root / "all_test.json")["test"]
    where = {m: c for c, ms in splits.items() for m in ms}
    rows = []
    for name in names:
        if name not in where:
            log.warning("figure: %s is not in %s", name, root)
            continue
        v = load_views(root, where[name], name, lsm.args, n_views=n_views)
        probs = np.asarray(predict(lsm, v["images"], v["K"], v["extrinsic"]))[-1]
        masks = foreground(v["depth"]).astype(np.float32)[None]
        hull = np.asarray(visual_hull(masks, v["K"][None], v["extrinsic"][None],
                                      nvox=lsm.args.nvox))[0, -1]
        gt = v["voxels"] > 0.5

        def iou(g: np.ndarray, gt: np.ndarray = gt) -> float:
            return 100.0 * (g & gt).sum() / max((g | gt).sum(), 1)

        pred = probs > IOU_THRESH
        rows.append({"title": name.replace("_", " "), "image": v["full_images"][0],
                     "grids": [(f"LSM, {n_views} views\nIoU {iou(pred):.1f}", probs,
                                IOU_THRESH, (0.35, 0.55, 0.85)),
                               (f"visual hull\nIoU {iou(hull > 0.5):.1f}", hull, 0.5,
                                (0.55, 0.7, 0.4)),
                               ("ground truth\n", gt.astype(np.float32), 0.5,
                                (0.85, 0.55, 0.3))]})
    fig = plot_reconstruction_rows(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    log.info("wrote %s", out)


def _run(cmd: list[str]) -> None:
    log.info("$ %s", " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("datasets/real"), help="data root to build")
    p.add_argument("--meshes", type=Path, default=None,
                   help="mesh folder to collect into (default: <root>_meshes)")
    p.add_argument("--models", nargs="*", default=["pretrained/vlsm_cpu"],
                   help="V-LSM or D-LSM run or shipped model folders to test (each with its "
                   "test script: voxel IoU, or depth error and fused-point Chamfer / F-score)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--figure", type=Path, default=None,
                   help="also draw reconstructions of some objects by the first model (PNG)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    meshes = a.meshes or a.root.with_name(a.root.name + "_meshes")
    n = collect(meshes)
    log.info("%d meshes in %s", n, meshes)
    py = sys.executable
    build = [py, "-m", "data.build", "meshes", "--input", str(meshes), "--root", str(a.root),
             "--up", "z", "--quiet"]
    if a.workers:
        build += ["--workers", str(a.workers)]
    _run(build)
    _run([py, "-m", "data.check", "--root", str(a.root), "--quiet"])
    # every built model in the test split: the models were never trained on
    splits = io.read_splits(a.root / "splits.json")
    every = {c: sorted({m for s in splits.values() for m in s.get(c, [])})
             for c in sorted({c for s in splits.values() for c in s})}
    split_file = a.root / "all_test.json"
    io.write_splits(split_file, {"train": {}, "val": {}, "test": every})
    from demo.model import model_kind

    kinds = {model: model_kind(model) for model in a.models}
    for model, kind in kinds.items():
        test = "voxels/test_vlsm.py" if kind == "vlsm" else "depth/test_dlsm.py"
        _run([py, test, "--log", model, "--data_root", str(a.root),
              "--test_split_file", str(split_file), "--contact_sheet", "8"])
    vlsms = [model for model, kind in kinds.items() if kind == "vlsm"]
    if a.figure and vlsms:
        figure(a.root, vlsms[0], a.figure)
    elif a.figure:
        log.warning("--figure draws a V-LSM's grids: none of --models is a V-LSM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
