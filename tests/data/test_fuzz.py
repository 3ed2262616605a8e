"""Fuzz every file type of the release layout through the readers and both loaders.

A one-model, one-view data root (render PNG, depth PNG, camera ``.mat``, 32^3 voxel ``.mat``
and the split JSON) is written once; then each file in turn is replaced by a corrupted copy
(truncated at many points, emptied, zero-filled, random bytes, single bytes flipped or bits
toggled at many offsets, garbage appended, and per type well-formed files of the wrong shape,
type, dtype or content such as NaN), and read three ways: by its :mod:`data.io` reader, by
:class:`data.loaders.NumpyLoader` and by :class:`data.loaders.tf_loader.Loader` (tf.data).
Each read must either

* raise :class:`data.io.DataError` whose message contains the corrupted file's path, or
* succeed with a *correct* result:

  - PNG and JSON files: equal to the clean read. PNG chunks carry CRCs, which the reader
    verifies, so every changed byte of a PNG is an error for the reader and the numpy loader.
    The tf.data loader leaves CRCs to libpng, which fails on a bad CRC in a critical chunk and
    drops ancillary chunks with a bad CRC: it may therefore succeed, but only with the clean
    pixels. JSON has no checksum, but a changed byte almost always breaks the syntax, the
    UTF-8 or the split's structure, or names a model that is not on disk;
  - ``.mat`` (v5) files have no checksum: a changed byte inside a stored number legitimately
    reads as another number. For them a successful read only has to pass validation (the
    reader's own checks: finite cameras, a proper K, a rotation, the object in front; voxels
    0/1 of the right shape), and the loaders must return exactly what the reader returns.

The number of cases is counted and checked (hundreds); the test prints nothing. Only files the
loaders read are fuzzed: argument files (``args.json``, validated by :mod:`training.config`)
and the builder's ``dataset.json`` / ``params.json`` are not part of what a loader reads.
"""

from __future__ import annotations

import io as pyio
import json
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from data import io
from data.io import DataError
from data.layout import DataLayout
from data.loaders import LoaderConfig, NumpyLoader
from data.loaders.tf_loader import Loader
from geometry.camera import look_at
from tests.conftest import FAKE_K, box_voxels, render_box
from training.config import load_args

SYNSET, MODEL = "02691156", "fuzzmodel"
HALF = np.array([0.3, 0.2, 0.25])


# --------------------------------------------------------------------------------------------
# The clean root
# --------------------------------------------------------------------------------------------
def _write_root(root: Path) -> DataLayout:
    """One model, one view (view 0), 32^3 voxels, a split file with it as "val"."""
    layout = DataLayout(root)
    E = look_at(30.0, 20.0)
    mask, depth = render_box(HALF, FAKE_K, E)
    rgb = np.random.default_rng(0).integers(0, 256, (224, 224, 3))
    rgba = np.concatenate([rgb, 255 * mask[..., None]], -1).astype(np.uint8)
    io.write_render(layout.render_path(SYNSET, MODEL, 0), rgba)
    io.write_depth(layout.depth_path(SYNSET, MODEL, 0), depth)
    io.write_camera(layout.camera_path(SYNSET, MODEL, 0), FAKE_K, E)
    io.write_voxels(layout.voxel_path(SYNSET, MODEL, 32), box_voxels(HALF, 32))
    io.write_splits(root / "splits.json", {"train": {SYNSET: [MODEL]}, "val": {SYNSET: [MODEL]},
                                           "test": {SYNSET: [MODEL]}})
    return layout


def _config(root: Path) -> LoaderConfig:
    args = load_args(None, {"data_root": str(root), "split_file": str(root / "splits.json"),
                            "num_renders": 1, "im_batch": 1, "val_im_batch": 1,
                            "test_im_batch": 1, "val_batch_size": 1, "prefetch_threads": 1,
                            "queue_size": 1})
    return LoaderConfig.from_args(args)


# --------------------------------------------------------------------------------------------
# Corruptions
# --------------------------------------------------------------------------------------------
def _png(width: int, height: int, bit_depth: int, colour: int, rows: bytes) -> bytes:
    """A hand-made PNG (for types PIL does not write)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def _pil_png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = pyio.BytesIO()
    im = Image.fromarray(arr)
    (im.convert(mode) if mode else im).save(buf, format="PNG")
    return buf.getvalue()


def _mat(**variables: object) -> bytes:
    buf = pyio.BytesIO()
    scipy.io.savemat(buf, variables)
    return buf.getvalue()


def _byte_damage(raw: bytes, seed: int) -> Iterator[tuple[str, bytes]]:
    """Format-blind corruptions of a file's bytes."""
    n = len(raw)
    rng = np.random.default_rng(seed)
    for cut in sorted({0, 1, 8, 33, n // 4, n // 2, 3 * n // 4, n - 12, n - 1}):
        if 0 <= cut < n:
            yield f"truncated at {cut}", raw[:cut]
    yield "zero-filled", bytes(n)
    for k in range(2):
        yield f"random bytes {k}", rng.bytes(n)
    yield "random after the first 128 bytes", raw[:128] + rng.bytes(max(n - 128, 0))
    offsets = {0, 4, 8, 12, 16, 24, 25, 33, 64, 128, n // 3, n // 2, 2 * n // 3, n - 9, n - 1}
    offsets |= {int(i) for i in rng.integers(0, n, 6)}
    for off in sorted(o for o in offsets if 0 <= o < n):
        b = bytearray(raw)
        b[off] ^= 0xFF
        yield f"byte {off} flipped", bytes(b)
    for off in sorted({int(i) for i in rng.integers(0, n, 5)}):
        b = bytearray(raw)
        b[off] ^= 1 << int(rng.integers(8))
        yield f"one bit toggled at {off}", bytes(b)
    yield "garbage appended", raw + b"\x00garbage\xff"
    yield "content twice", raw + raw


def _render_cases(raw: bytes) -> Iterator[tuple[str, bytes]]:
    rgba = np.asarray(Image.open(pyio.BytesIO(raw)))
    yield from _byte_damage(raw, 1)
    yield "100x100", _pil_png(rgba[:100, :100])
    yield "224x200", _pil_png(rgba[:, :200])
    yield "200x224", _pil_png(rgba[:200])
    for mode in ("RGB", "L", "LA", "P", "1"):
        yield f"mode {mode}", _pil_png(rgba, mode)
    yield "16-bit RGBA", _png(224, 224, 16, 6, b"".join(b"\0" + bytes(224 * 8)
                                                       for _ in range(224)))
    yield "16-bit grey (a depth map)", _pil_png(rgba[..., 0].astype(np.uint16) * 257)
    yield "zlib stream of the wrong length", _png(224, 224, 8, 6, bytes(100))
    yield "re-encoded (same pixels)", _pil_png(rgba)  # a correct file: must read equal


def _depth_cases(raw: bytes) -> Iterator[tuple[str, bytes]]:
    values = np.asarray(Image.open(pyio.BytesIO(raw)))
    yield from _byte_damage(raw, 2)
    yield "224x200", _pil_png(values[:, :200])
    yield "8-bit grey", _pil_png((values >> 8).astype(np.uint8))
    eight = np.repeat((values >> 8).astype(np.uint8)[..., None], 4, -1)
    yield "8-bit RGBA (a render)", _pil_png(eight)
    yield "8-bit RGB", _pil_png(eight[..., :3])
    yield "16-bit RGB", _png(224, 224, 16, 2, b"".join(b"\0" + bytes(224 * 6)
                                                      for _ in range(224)))
    yield "zlib stream of the wrong length", _png(224, 224, 16, 0, bytes(100))
    yield "re-encoded (same values)", _pil_png(values)


def _camera_cases(raw: bytes) -> Iterator[tuple[str, bytes]]:
    mat = {k: v for k, v in scipy.io.loadmat(pyio.BytesIO(raw)).items() if not k.startswith("_")}
    K, E = mat["K"], mat["extrinsic"]
    yield from _byte_damage(raw, 3)

    def with_(**kw: object) -> bytes:
        return _mat(**{**mat, **kw})

    yield "no K", _mat(**{k: v for k, v in mat.items() if k != "K"})
    yield "no extrinsic", _mat(**{k: v for k, v in mat.items() if k != "extrinsic"})
    yield "no keys", _mat(x=np.eye(3))
    yield "K all zeros", with_(K=np.zeros((3, 3)))
    yield "K NaN", with_(K=np.where(np.eye(3) > 0, np.nan, K))
    yield "K inf", with_(K=np.where(K > 0, np.inf, K))
    yield "K negative focal", with_(K=K * np.diag([-1.0, 1.0, 1.0]))
    yield "K bottom row", with_(K=K + [[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    yield "K lower entry", with_(K=K + [[0, 0, 0], [5, 0, 0], [0, 0, 0]])
    yield "K 3x4", with_(K=np.hstack([K, K[:, :1]]))
    yield "K 1-D", with_(K=K.ravel())
    yield "K string", with_(K="K")
    yield "K complex", with_(K=K + 1j)
    yield "K bool", with_(K=K > 0)
    yield "K cell", with_(K=np.array([K, K], dtype=object))
    yield "K struct", with_(K={"fx": 420.0})
    yield "K int32 (same values)", with_(K=K.astype(np.int32))
    yield "extrinsic NaN", with_(extrinsic=E * np.nan)
    yield "extrinsic inf", with_(extrinsic=np.where(np.eye(4) > 0, np.inf, E))
    yield "extrinsic 3x3", with_(extrinsic=E[:3, :3])
    yield "extrinsic bottom row", with_(extrinsic=np.vstack([E[:3], [[0, 0, 1, 1]]]))
    yield "extrinsic scaled", with_(extrinsic=np.diag([2.0, 2.0, 2.0, 1.0]) @ E)
    yield "extrinsic sheared", with_(extrinsic=E + np.diag([0.01, 0, 0, 0])[[1, 0, 2, 3]])
    yield "extrinsic reflected", with_(extrinsic=np.diag([1.0, -1, 1, 1]) @ E)
    yield "object behind", with_(extrinsic=np.diag([-1.0, 1, -1, 1]) @ E)
    yield "extrinsic zeros", with_(extrinsic=np.zeros((4, 4)))
    yield "extrinsic 3x4 (same camera)", with_(extrinsic=E[:3])
    yield "extrinsic float32 (same camera)", with_(extrinsic=E.astype(np.float32))
    yield "extra keys", with_(junk=np.arange(5))
    yield "a voxel file", _mat(Volume=box_voxels(HALF, 32))


def _voxel_cases(raw: bytes) -> Iterator[tuple[str, bytes]]:
    stored = scipy.io.loadmat(pyio.BytesIO(raw))["Volume"]
    yield from _byte_damage(raw, 4)
    yield "no Volume", _mat(Vol=stored)
    yield "float 0/1", _mat(Volume=stored.astype(np.float32))
    yield "NaN", _mat(Volume=np.where(stored > 0, np.nan, 0.0))
    yield "value 2", _mat(Volume=stored * 2)
    yield "value 255", _mat(Volume=stored * 255)
    yield "value -1", _mat(Volume=-stored.astype(np.int8))
    yield "complex", _mat(Volume=stored + 1j)
    yield "string", _mat(Volume="Volume")
    yield "2-D", _mat(Volume=stored[0])
    yield "not cubic", _mat(Volume=stored[:, :, :16])
    yield "64^3", _mat(Volume=np.zeros((64, 64, 64), np.uint8))
    yield "empty", _mat(Volume=np.zeros((0, 0, 0), np.uint8))
    yield "cell", _mat(Volume=np.array([stored, stored], dtype=object))
    yield "a camera file", _mat(K=FAKE_K, extrinsic=look_at(0, 0))
    yield "bool (same grid)", _mat(Volume=stored > 0)
    yield "uint16 uncompressed (same grid)", _mat(Volume=stored.astype(np.uint16))


def _split_cases(raw: bytes) -> Iterator[tuple[str, bytes]]:
    obj = json.loads(raw)
    yield from _byte_damage(raw, 5)
    yield "a list", b"[]"
    yield "a string", b'"val"'
    yield "null", b"null"
    yield "unknown split", json.dumps({**obj, "training": {}}).encode()
    yield "no val", json.dumps({k: v for k, v in obj.items() if k != "val"}).encode()
    yield "empty val", json.dumps({**obj, "val": {}}).encode()
    yield "ids not a list", json.dumps({**obj, "val": {SYNSET: MODEL}}).encode()
    yield "id not a string", json.dumps({**obj, "val": {SYNSET: [1]}}).encode()
    yield "classes a list", json.dumps({**obj, "val": [SYNSET]}).encode()
    yield "model not on disk", json.dumps({**obj, "val": {SYNSET: ["nope"]}}).encode()
    yield "class not on disk", json.dumps({**obj, "val": {"0000": [MODEL]}}).encode()
    yield "UTF-8 BOM", b"\xef\xbb\xbf" + raw
    yield "UTF-16", raw.decode().encode("utf-16")
    yield "deep nesting", b"[" * 100000 + b"]" * 100000
    yield "compact (same splits)", json.dumps(obj).encode()


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------
def _first_batch(loader: NumpyLoader | Loader) -> dict[str, np.ndarray]:
    """The loader's first batch as numpy (ids left out); the iterator is closed at once."""
    it = loader.iterate()
    try:
        batch = next(it)
    finally:
        it.close()
    return {k: np.asarray(v) for k, v in batch.items() if k not in ("synset", "model_id")}


def _outcome(read: Callable[[], object], path: Path, what: str) -> object | None:
    """The result of ``read()``, or None if it raised a DataError naming ``path``."""
    try:
        return read()
    except DataError as e:
        assert str(path) in str(e), f"{what}: DataError does not name {path}: {e}"
        assert "Traceback" not in str(e) and "{{" not in str(e), f"{what}: raw message: {e}"
        return None


def _same(got: object, want: object) -> bool:
    if isinstance(got, tuple):
        return all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, np.ndarray):
        return np.array_equal(got, want)
    return got == want


def _check_read(kind: str, got: object, want: object, path: Path,
                what: str) -> dict[str, np.ndarray] | None:
    """Check a successful read; returns the batch entries a loader must then give (None: the
    reader refused the file)."""
    if got is None:
        return None
    if kind in ("render", "depth"):  # CRCs: any change is caught
        np.testing.assert_array_equal(got, want, err_msg=f"{what} (reader): silently wrong")
        return {}
    if kind == "camera":  # no checksum: a changed number must pass validation
        K, E = got
        io.check_camera(K.astype(np.float64), E.astype(np.float64), path, (224, 224))
        return {"K": K[None, None], "extrinsic": E[None, None, :3]}
    if kind == "voxels":
        assert got.shape == (32, 32, 32) and set(np.unique(got)) <= {0, 1}, what
        return {"voxels": got[None, ..., None].astype(np.float32)}
    # split: no checksum; read_splits validated the structure. The val loaders must either
    # refuse it naming the file (e.g. a model id no longer on disk) or give the clean batch.
    assert set(got) <= {"train", "val", "test"}, what
    return {}


def _assert_batch(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    assert set(got) == set(want), what
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"{what}: silently wrong {k}")


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "data"
    _write_root(root)
    return root


@pytest.mark.slow
def test_fuzz_every_file_type(fuzz_root: Path) -> None:
    layout = DataLayout(fuzz_root)
    config = _config(fuzz_root)
    tf_loader, np_loader = Loader(config, "val"), NumpyLoader(config, "val")
    clean = {"tf": _first_batch(tf_loader), "numpy": _first_batch(np_loader)}
    paths = {
        "render": layout.render_path(SYNSET, MODEL, 0),
        "depth": layout.depth_path(SYNSET, MODEL, 0),
        "camera": layout.camera_path(SYNSET, MODEL, 0),
        "voxels": layout.voxel_path(SYNSET, MODEL, 32),
        "split": fuzz_root / "splits.json",
    }
    size = (224, 224)  # the loaders' render_hw: they check sizes, so the readers do here
    readers: dict[str, Callable[[Path], object]] = {
        "render": lambda p: io.read_render_rgba(p, size),
        "depth": lambda p: io.read_depth(p, size),
        "camera": lambda p: io.read_camera(p, size),
        "voxels": lambda p: io.read_voxels(p, 32),
        "split": io.read_splits,
    }
    cases = {"render": _render_cases, "depth": _depth_cases, "camera": _camera_cases,
             "voxels": _voxel_cases, "split": _split_cases}
    counts: dict[str, int] = {}
    outcomes = {"error": 0, "equal": 0, "changed but valid": 0}
    for kind, path in paths.items():
        original = path.read_bytes()
        want = readers[kind](path)
        counts[kind] = 0
        try:
            for name, data in cases[kind](original):
                what = f"{kind} {name}"
                path.write_bytes(data)
                got = _outcome(lambda p=path, k=kind: readers[k](p), path, f"{what} (reader)")
                expect = _check_read(kind, got, want, path, what)
                if got is None:
                    outcomes["error"] += 1
                else:
                    outcomes["equal" if _same(got, want) else "changed but valid"] += 1
                for name_l, make, reuse in (("numpy", NumpyLoader, np_loader),
                                            ("tf", Loader, tf_loader)):
                    label = f"{what} ({name_l} loader)"
                    # The split is read by the constructor; other files at iteration.
                    batch = _outcome(lambda m=make, r=reuse, k=kind: _first_batch(
                        m(config, "val") if k == "split" else r), path, label)
                    if batch is None:
                        # A loader may refuse what the reader accepts only for the split file
                        # (the constructor also checks the models are on disk).
                        assert expect is None or kind == "split", f"{label}: refused a good file"
                        continue
                    if expect is None:
                        # libpng drops ancillary chunks with bad CRCs: tf.data may then
                        # succeed, but only with the clean pixels.
                        assert name_l == "tf" and kind in ("render", "depth"), \
                            f"{label}: read a file that the reader refuses"
                        expect = {}
                    _assert_batch(batch, {**clean[name_l], **expect}, label)
                counts[kind] += 1
        finally:
            path.write_bytes(original)
    total = sum(counts.values())
    assert min(counts.values()) >= 40 and total >= 250, counts
    assert outcomes["error"] > total // 2, outcomes


def test_fuzz_root_is_clean(fuzz_root: Path, tmp_path: Path) -> None:
    """The fuzz fixture itself reads without error (so every failure above is the damage)."""
    root = tmp_path / "copy"
    shutil.copytree(fuzz_root, root)
    assert _first_batch(NumpyLoader(_config(root), "val"))["voxels"].sum() > 0
