"""The dataset builder: geometry of built data, determinism, resuming, mesh folders, splits."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import trimesh

from data import build, io, shapes
from data.check import check_model, check_root, project_points, silhouette_agreement
from data.layout import CLASSES, N_VIEWS, SPLITS_DIR, DataLayout
from data.meshes import normalise_to_world


@pytest.mark.slow
def test_tiny_has_every_class_and_file(tiny_root):
    L = DataLayout(tiny_root)
    assert L.synsets() == sorted(CLASSES)
    for s in CLASSES:
        assert len(L.models(s)) == build.SIZES["tiny"]
    s, m = next(L.iter_models())
    names = {p.name for p in L.model_dir(s, m).iterdir()}
    for i in range(N_VIEWS):
        assert {f"render_{i}.png", f"depth_{i}.png", f"camera_{i}.mat"} <= names
    assert io.read_voxels(L.voxel_path(s, m, 32), 32).shape == (32, 32, 32)
    assert io.read_voxels(L.voxel_path(s, m, 64), 64).shape == (64, 64, 64)
    manifest = io.read_json(L.manifest_path)
    assert manifest["kind"] == "synthetic" and manifest["per_class"] == build.SIZES["tiny"]


@pytest.mark.slow
def test_voxels_project_inside_silhouettes(tiny_root):
    """Occupied voxel centres land inside the alpha mask for >= 99% of them, in every model,
    and all of them within one pixel (the render samples alpha at pixel centres)."""
    L = DataLayout(tiny_root)
    for s, m in L.iter_models():
        rep = check_model(L, s, m)
        assert not rep.errors, (s, m, rep.errors)
        assert rep.agreement >= 0.99, (s, m, rep.agreement)
        assert rep.agreement_1px == 1.0, (s, m, rep.agreement_1px)
        assert rep.occupancy32 > 0.001


def test_world_axis_order_matches_cameras(tiny_root):
    """A wrongly ordered grid (the storage order read as world) disagrees with the cameras."""
    L = DataLayout(tiny_root)
    s, m = "02691156", L.models("02691156")[0]
    grid = io.read_voxels(L.voxel_path(s, m, 32))
    stored = io.world_to_stored(grid)
    good, bad = [], []
    for i in range(4):
        K, E = io.read_camera(L.camera_path(s, m, i))
        alpha = io.read_render_rgba(L.render_path(s, m, i))[..., 3] > 0
        good.append(silhouette_agreement(grid, K, E, alpha))
        bad.append(silhouette_agreement(stored, K, E, alpha))
    assert min(good) > 0.98 and np.mean(bad) < 0.9


def test_depth_lies_on_the_mesh_surface(tiny_root):
    """Back-projected depth pixels are on the (re-generated) mesh surface."""
    from data import shapes

    L = DataLayout(tiny_root)
    for s in ("03001627", "02691156"):
        m = L.models(s)[0]
        job = next(j for j in build.synthetic_jobs(build.SIZES["tiny"], 0, [s]) if j.model == m)
        parts, _ = shapes.make_object(s, np.random.default_rng(job.seed))
        mesh = trimesh.util.concatenate(normalise_to_world([p.mesh for p in parts]))
        for i in (0, 7):
            depth = io.read_depth(L.depth_path(s, m, i))
            K, E = io.read_camera(L.camera_path(s, m, i))
            v, u = np.nonzero(depth < 9.99)
            sel = np.random.default_rng(i).choice(len(u), size=min(300, len(u)), replace=False)
            u, v, z = u[sel] + 0.5, v[sel] + 0.5, depth[v[sel], u[sel]]
            cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
            R, t = E[:3, :3].astype(np.float64), E[:3, 3].astype(np.float64)
            world = (cam - t) @ R
            _, dist, _ = trimesh.proximity.closest_point(mesh, world)
            assert np.max(dist) < 2e-3, (s, m, i, np.max(dist))
            # and the projection of those points returns the pixel we started from
            uvz = project_points(world, K, E)
            np.testing.assert_allclose(uvz[:, 0], u, atol=1e-3)


def test_same_seed_gives_identical_files(tiny_root, tmp_path):
    jobs = [j for j in build.synthetic_jobs(build.SIZES["tiny"], 0) if j.index == 0][:3]
    build.build(jobs, tmp_path, workers=1, progress=False)
    L0, L1 = DataLayout(tiny_root), DataLayout(tmp_path)
    for j in jobs:
        for p0 in sorted(L0.model_dir(j.synset, j.model).iterdir()):
            assert p0.read_bytes() == (L1.model_dir(j.synset, j.model) / p0.name).read_bytes(), p0
        for n in (32, 64):
            assert (L0.voxel_path(j.synset, j.model, n).read_bytes()
                    == L1.voxel_path(j.synset, j.model, n).read_bytes())


def test_other_seed_gives_other_models():
    a = build.synthetic_jobs(2, seed=0)
    b = build.synthetic_jobs(2, seed=1)
    assert {j.model for j in a}.isdisjoint({j.model for j in b})


def test_interrupted_build_resumes(tmp_path):
    jobs = build.synthetic_jobs(1, 0, ["04379243", "03636649"])
    build.build(jobs, tmp_path, workers=1, progress=False)
    L = DataLayout(tmp_path)
    first = jobs[0]
    before = L.render_path(first.synset, first.model, 5).read_bytes()
    # simulate a crash in the middle of the second model: a half-written temp folder
    shutil.rmtree(L.model_dir(jobs[1].synset, jobs[1].model))
    partial = L.renders_root / jobs[1].synset / f".tmp-{jobs[1].model}-999"
    partial.mkdir()
    (partial / "render_0.png").write_bytes(b"\x89PNG half")
    assert list(L.iter_models()) == [(first.synset, first.model)]  # loader never sees it
    report = build.build(jobs, tmp_path, workers=1, progress=False)
    assert (report.built, report.skipped, report.bad) == (1, 1, [])
    assert not partial.exists()
    assert L.render_path(first.synset, first.model, 5).read_bytes() == before
    assert not check_model(L, jobs[1].synset, jobs[1].model).errors


def test_committed_split_files_match_the_builder():
    for size in ("tiny", "small", "full"):
        committed = io.read_splits(SPLITS_DIR / build.split_file_name(size))
        assert committed == build.synthetic_splits(size), size
    full = build.synthetic_splits("full")
    n = {k: sum(len(v) for v in full[k].values()) for k in full}
    assert n == {"train": 13 * 210, "val": 13 * 30, "test": 13 * 60}


def test_splits_are_disjoint_and_cover_all():
    models = {"a": [f"m{i}" for i in range(10)], "b": [f"n{i}" for i in range(3)]}
    sp = build.make_splits(models, seed=0)
    for cls, ids in models.items():
        parts = [set(sp[k][cls]) for k in ("train", "val", "test")]
        assert set.union(*parts) == set(ids) and sum(map(len, parts)) == len(ids)
    assert [len(sp[k]["a"]) for k in ("train", "val", "test")] == [7, 1, 2]
    assert [len(sp[k]["b"]) for k in ("train", "val", "test")] == [1, 1, 1]


# ---------------------------------------------------------------------------------------------
# Bring your own meshes
# ---------------------------------------------------------------------------------------------
def _write_mesh_folder(root):
    (root / "mugs").mkdir(parents=True)
    body = trimesh.creation.cylinder(radius=0.4, height=1.0, sections=32)
    handle = trimesh.creation.torus(0.3, 0.08)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    handle.apply_translation([0.45, 0, 0])
    trimesh.util.concatenate([body, handle]).export(root / "mugs" / "mug_a.obj")
    trimesh.creation.icosphere(subdivisions=3, radius=0.7).export(root / "mugs" / "ball.ply")
    (root / "boxes").mkdir()
    trimesh.creation.box([1.0, 0.5, 0.3]).export(root / "boxes" / "crate.stl")
    trimesh.creation.capsule(height=0.8, radius=0.2).export(root / "boxes" / "pill.off")
    trimesh.creation.cone(0.5, 1.0).export(root / "boxes" / "cone.glb")
    # a ShapeNetCore-style tree: <synset>/<model>/models/model_normalized.obj
    d = root / "02958343" / "1a2b3c" / "models"
    d.mkdir(parents=True)
    open_box = trimesh.creation.box([1.0, 0.4, 0.5]).subdivide().subdivide().subdivide()
    open_box = trimesh.Trimesh(open_box.vertices, open_box.faces[3:])  # small holes: not watertight
    open_box.export(d / "model_normalized.obj")


@pytest.mark.slow
def test_mesh_folder_builds_a_trainable_dataset(tmp_path):
    src, root = tmp_path / "meshes", tmp_path / "mine"
    _write_mesh_folder(src)
    found = build.discover_meshes(src)
    assert [(c, m) for c, m, _ in found] == [
        ("02958343", "1a2b3c"), ("boxes", "cone"), ("boxes", "crate"), ("boxes", "pill"),
        ("mugs", "ball"), ("mugs", "mug_a")]
    assert build.main(["meshes", "--input", str(src), "--root", str(root), "--quiet",
                       "--workers", "1"]) == 0
    reports, table = check_root(root, root / "splits.json", progress=False, workers=1)
    assert len(reports) == 6 and not [r.errors for r in reports if r.errors]
    assert "mugs" in table and "boxes" in table
    splits = json.loads((root / "splits.json").read_text())
    assert sorted(splits["train"]["boxes"] + splits["val"]["boxes"]
                  + splits["test"]["boxes"]) == ["cone", "crate", "pill"]
    # normalised like ShapeNet: the voxels of the crate span the full bbox diagonal of 1
    grid = io.read_voxels(DataLayout(root).voxel_path("boxes", "crate", 64))
    idx = np.argwhere(grid)
    extent = (idx.max(0) - idx.min(0) + 1) / 64.0
    assert abs(np.linalg.norm(extent) - 1.0) < 0.06
    # y-up input: the crate's long axis (x) stays x, its y extent (0.5) becomes world z
    assert extent[0] > extent[2] > extent[1]


def test_mesh_folder_errors_name_the_path(tmp_path):
    with pytest.raises(io.DataError, match="does not exist"):
        build.discover_meshes(tmp_path / "nope")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(io.DataError, match="no mesh files"):
        build.discover_meshes(tmp_path / "empty")
    bad = tmp_path / "bad" / "cls"
    bad.mkdir(parents=True)
    (bad / "broken.obj").write_text("v 0 0 0\nthis is not an obj\n")
    report = build.build(build.mesh_jobs(tmp_path / "bad"), tmp_path / "out", workers=1,
                         progress=False)
    assert report.built == 0 and [(b.path, b.reason) for b in report.bad] == [
        (str(bad / "broken.obj"), "no faces")]


def test_build_only_some_splits(tmp_path):
    """`--splits test` builds exactly the test models; the root's split file stays whole."""
    root = tmp_path / "d"
    argv = ["synth", "--per_class", "5", "--classes", "03001627", "--root", str(root),
            "--workers", "1", "--quiet"]
    assert build.main([*argv, "--splits", "test"]) == 0
    splits = io.read_splits(root / "splits.json")
    assert sum(len(v) for sp in splits.values() for v in sp.values()) == 5
    built = set(DataLayout(root).iter_models())
    assert built == {("03001627", m) for m in splits["test"]["03001627"]} and built


def _add_bad_meshes(cls_dir):
    """Four meshes that cannot be built, with the reason the builder gives for each."""
    (cls_dir / "broken.obj").write_text("v 0 0 0\nthis is not an obj\n")
    (cls_dir / "garbage.ply").write_bytes(bytes(range(256)) * 2)
    (cls_dir / "point.obj").write_text("v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n")
    (cls_dir / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    return {"broken.obj": "no faces", "garbage.ply": "cannot be parsed",
            "point.obj": "degenerate", "flat.obj": "no volume"}


def _meshes_argv(src, root, *extra):
    return ["meshes", "--input", str(src), "--root", str(root), "--quiet", "--workers", "1",
            *extra]


@pytest.mark.slow
def test_bad_meshes_are_skipped_one_line_each(tmp_path, caplog):
    """Good meshes are built, each bad one is named with its reason on one WARNING line and
    listed in skipped.json; the split lists the built models only; exit status 0."""
    src, root = tmp_path / "meshes", tmp_path / "mine"
    _write_mesh_folder(src)
    reasons = _add_bad_meshes(src / "boxes")
    with caplog.at_level(logging.INFO, logger="data.build"):
        assert build.main(_meshes_argv(src, root)) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name, why in reasons.items():
        line = [w for w in warnings if w.startswith(f"skipped {src / 'boxes' / name}: ")]
        assert len(line) == 1 and why in line[0] and "\n" not in line[0], (name, warnings)
    assert any(f"built 6, skipped 4 (see {root / 'skipped.json'})" in w for w in warnings)
    skipped = io.read_json(root / "skipped.json")
    assert sorted(e["path"] for e in skipped) == sorted(str(src / "boxes" / n) for n in reasons)
    assert all(e["reason"] for e in skipped)
    splits = io.read_splits(root / "splits.json")
    listed = {(c, m) for sp in splits.values() for c, ms in sp.items() for m in ms}
    assert listed == set(DataLayout(root).iter_models()) and len(listed) == 6
    reports, _ = check_root(root, root / "splits.json", progress=False, workers=1)
    assert len(reports) == 6 and not [r.errors for r in reports if r.errors]


def test_all_meshes_bad_exits_1(tmp_path, caplog):
    src, root = tmp_path / "meshes", tmp_path / "mine"
    (src / "junk").mkdir(parents=True)
    _add_bad_meshes(src / "junk")
    with caplog.at_level(logging.INFO, logger="data.build"):
        assert build.main(_meshes_argv(src, root)) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "no model could be built" in errors[0]
    assert not (root / "splits.json").exists()
    assert len(io.read_json(root / "skipped.json")) == 4


def _digest(root):
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_rerun_on_a_cleaned_copy_completes_the_build(tmp_path):
    """Bad files removed (in a copy of the input folder): the rerun on the same root builds what
    is missing, leaves what was built untouched and ends identical to a fresh build."""
    src, root = tmp_path / "meshes", tmp_path / "mine"
    _write_mesh_folder(src)
    _add_bad_meshes(src / "boxes")
    assert build.main(_meshes_argv(src, root)) == 0
    before = _digest(root / "renders")
    stat = {p: p.stat().st_mtime_ns for p in (root / "renders").rglob("*.png")}
    clean = tmp_path / "meshes_clean"
    shutil.copytree(src, clean)
    for name in ("broken.obj", "garbage.ply", "point.obj"):
        (clean / "boxes" / name).unlink()
    trimesh.creation.box([0.2, 1.0, 0.6]).export(clean / "boxes" / "flat.obj")  # fixed
    assert build.main(_meshes_argv(clean, root)) == 0
    after = _digest(root / "renders")
    assert {k: v for k, v in after.items() if k in before} == before
    assert all(p.stat().st_mtime_ns == t for p, t in stat.items())
    assert {k.split("/")[1] for k in after} - {k.split("/")[1] for k in before} == {"flat"}
    assert not (root / "skipped.json").exists()
    fresh = tmp_path / "fresh"
    assert build.main(_meshes_argv(clean, fresh)) == 0
    # identical to a fresh build of the cleaned copy, but for the provenance of the models
    # built in the first run: their params.json names the mesh file they were built from
    kept = {k for k in before if k.endswith("params.json")}
    assert len(kept) == 6
    for k in kept:
        assert io.read_json(root / "renders" / k)["source"].startswith(str(src))
    assert ({k: v for k, v in _digest(root).items() if k.removeprefix("renders/") not in kept}
            == {k: v for k, v in _digest(fresh).items() if k.removeprefix("renders/") not in kept})


@pytest.mark.parametrize("extra, key", [(["--seed", "1"], "seed"), (["--up", "z"], "up")])
def test_rerun_with_other_options_is_refused(tmp_path, caplog, extra, key):
    src, root = tmp_path / "meshes", tmp_path / "mine"
    (src / "boxes").mkdir(parents=True)
    trimesh.creation.box([1.0, 0.5, 0.3]).export(src / "boxes" / "crate.stl")
    assert build.main(_meshes_argv(src, root)) == 0
    manifest = (root / "dataset.json").read_bytes()
    with caplog.at_level(logging.INFO, logger="data.build"):
        assert build.main(_meshes_argv(src, root, *extra)) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(root) in errors[0] and f"{key}=" in errors[0], errors
    assert (root / "dataset.json").read_bytes() == manifest


def test_synth_rerun_with_another_seed_is_refused(tmp_path, caplog):
    root = tmp_path / "d"
    argv = ["synth", "--per_class", "1", "--classes", "03001627", "--root", str(root),
            "--workers", "1", "--quiet"]
    assert build.main(argv) == 0
    assert build.main(argv) == 0  # same options: nothing to do, accepted
    with caplog.at_level(logging.INFO, logger="data.build"):
        assert build.main([*argv, "--seed", "3"]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(root) in errors[0] and "seed=0" in errors[0]


def test_committed_protocol_and_family_split_files_match_the_builder():
    seen1, seen2 = (set(build.UNSEEN_PROTOCOLS[p]) for p in ("unseen1", "unseen2"))
    assert seen1.isdisjoint(seen2) and seen1 | seen2 == set(CLASSES) and len(seen1) == 6
    for size in ("small", "full"):
        base = build.synthetic_splits(size)
        for proto, seen in build.UNSEEN_PROTOCOLS.items():
            got = io.read_splits(SPLITS_DIR / build.protocol_file_name(size, proto))
            assert got == build.protocol_splits(base, seen), (size, proto)
            assert set(got["train"]) == set(got["val"]) == set(seen)
            assert got["test"] == base["test"]  # every class is tested, seen or not
    for size in ("tiny", "small", "full"):
        every = io.read_splits(SPLITS_DIR / build.split_file_name(size, "all"))
        assert every == build.synthetic_splits(size, families="all"), size
        shapenet = build.synthetic_splits(size)
        for k in shapenet:  # the ShapeNet part of "all" is the ShapeNet split itself
            assert {c: every[k][c] for c in shapenet[k]} == shapenet[k]
            assert set(every[k]) - set(shapenet[k]) == set(shapes.EXTRA_FAMILIES)


def test_committed_wild_protocol_split_files_train_on_the_families_and_test_shapenet():
    families = set(shapes.EXTRA_FAMILIES)
    for size in ("small", "full"):
        every = build.synthetic_splits(size, families="all")
        for proto, seen in build.UNSEEN_PROTOCOLS.items():
            got = io.read_splits(SPLITS_DIR / build.protocol_file_name(size, proto, "all"))
            assert got == build.wild_protocol_splits(every, proto), (size, proto)
            for k in ("train", "val"):  # seen ShapeNet classes and every family, same models
                assert set(got[k]) == set(seen) | families
                assert all(got[k][c] == every[k][c] for c in got[k])
            assert set(got["test"]) == set(CLASSES)  # the unseen ones are never trained on
            assert all(got["test"][c] == every["test"][c] for c in CLASSES)
            plain = io.read_splits(SPLITS_DIR / build.protocol_file_name(size, proto))
            assert got["test"] == plain["test"]  # same test models as the plain protocol


@pytest.mark.slow
def test_extra_families_join_a_root_and_keep_its_split(tmp_path):
    root = tmp_path / "r"
    argv = ["synth", "--size", "tiny", "--root", str(root), "--quiet", "--workers", "1"]
    assert build.main([*argv, "--classes", "04379243"]) == 0
    before = io.read_splits(root / "splits.json")
    assert build.main([*argv, "--classes", "blob", "revolution"]) == 0
    after = io.read_splits(root / "splits.json")
    assert set(after["train"]) == {"04379243", "blob", "revolution"}
    assert all(after[k]["04379243"] == before[k]["04379243"] for k in before)
    L = DataLayout(root)
    assert len(L.models("blob")) == len(L.models("revolution")) == build.SIZES["tiny"]
    reports, _ = check_root(root, root / "splits.json", progress=False, workers=1)
    assert len(reports) == 9 and not [r.errors for r in reports if r.errors]


def test_unknown_class_is_one_line(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="data.build"):
        assert build.main(["synth", "--size", "tiny", "--root", str(tmp_path / "r"),
                           "--classes", "teapot", "--quiet"]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "'teapot'" in errors[0] and "superquadric" in errors[0]
    assert not (tmp_path / "r").exists()


def test_check_flags_voxels_that_miss_the_object_or_stray(tmp_path):
    """A mesh model's voxels with half the object missing fail the coverage test; voxels
    moved three cells off fail the cube agreement; the true voxels pass both."""
    src, root = tmp_path / "meshes", tmp_path / "mine"
    (src / "boxes").mkdir(parents=True)
    trimesh.creation.box([1.0, 0.5, 0.3]).export(src / "boxes" / "crate.stl")
    assert build.main(_meshes_argv(src, root)) == 0
    L = DataLayout(root)
    path = L.voxel_path("boxes", "crate", 32)
    grid = io.read_voxels(path, 32)
    rep = check_model(L, "boxes", "crate", views=6)
    assert not rep.errors and rep.coverage > 0.97 and rep.cube_agreement == 1.0
    half = grid.copy()
    half[16:] = 0  # world x > 0 lost (storage order does not matter for the test)
    io.write_voxels(path, half)
    rep = check_model(L, "boxes", "crate", views=6)
    assert any("voxels miss part of the object" in e for e in rep.errors), rep.errors
    io.write_voxels(path, np.roll(grid, 3, axis=2))
    rep = check_model(L, "boxes", "crate", views=6)
    assert any("cubes touch the silhouettes" in e for e in rep.errors), rep.errors


@pytest.mark.slow
def test_meshes_added_to_a_synthetic_root(tmp_path, caplog):
    root, src = tmp_path / "r", tmp_path / "meshes"
    argv = ["synth", "--size", "tiny", "--root", str(root), "--quiet", "--workers", "1",
            "--classes", "04379243"]
    assert build.main(argv) == 0
    manifest = io.read_json(root / "dataset.json")
    (src / "boxes").mkdir(parents=True)
    trimesh.creation.box([1.0, 0.5, 0.3]).export(src / "boxes" / "crate.stl")
    trimesh.creation.icosphere(radius=0.5).export(src / "boxes" / "ball.ply")
    trimesh.creation.capsule(height=0.8, radius=0.2).export(src / "boxes" / "pill.off")
    # without --add the synthetic root refuses the mesh build (another kind of build)
    with caplog.at_level(logging.ERROR, logger="data.build"):
        assert build.main(_meshes_argv(src, root)) == 1
    assert build.main(_meshes_argv(src, root, "--add")) == 0
    splits = io.read_splits(root / "splits.json")
    assert set(splits["train"]) == {"04379243", "boxes"}
    assert sum(len(splits[k].get("boxes", [])) for k in splits) == 3
    after = io.read_json(root / "dataset.json")
    assert after["kind"] == manifest["kind"] == "synthetic"
    assert after["added"] == [str(src.resolve())]
    assert build.main(argv) == 0  # the synthetic build still accepts the root
    reports, _ = check_root(root, root / "splits.json", progress=False, workers=1)
    assert len(reports) == 6 and not [r.errors for r in reports if r.errors]


@pytest.mark.slow
def test_worker_pools_start_without_the_parents_tensorflow() -> None:
    """The builder's and checker's pool workers are fresh interpreters: forked ones inherited a
    TensorFlow parent's thread pools and could hang for ever in their destructors (seen in a
    ``make test`` run: both workers of the tiny dataset's build blocked in
    ``tensorflow::data::UnboundedThreadPool``)."""
    import tensorflow as tf

    assert sum(int(v) for v in tf.data.Dataset.range(3).map(lambda v: v + 1)) == 6  # TF runs
    with build.worker_context().Pool(1) as pool:
        assert pool.apply(eval, ("'tensorflow' in __import__('sys').modules",)) is False
