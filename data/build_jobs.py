"""What a build makes: the jobs (one per model, synthetic or from a mesh folder) and the splits.

Everything here depends only on the options (seed, size, classes, mesh folder), never on what
is rendered: the split of a named size can be computed without building it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.layout import CLASSES
from data.meshes import discover_meshes

#: Models per class for each named synthetic size.
SIZES: dict[str, int] = {"tiny": 3, "small": 24, "full": 300}
#: Family sets of ``data.build synth --families``: the 13 ShapeNet-like classes, the six
#: generic families (:data:`data.shapes.EXTRA_FAMILIES`, their class folders are their names)
#: or both.
FAMILY_SETS = ("shapenet", "extra", "all")
#: Split fractions (train, val, test).
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


@dataclass
class Job:
    """One model to build.

    Attributes:
        synset: class folder name (a ShapeNet synset id for synthetic data).
        model: model id (folder / file stem).
        seed: per-model seed for the cameras (and the shape, for synthetic models).
        source: ``"synth"`` or the path of a mesh file.
        index: model index within its class (synthetic models).
        up: up axis of a source mesh, ``"y"`` or ``"z"``.
    """

    synset: str
    model: str
    seed: list[int]
    source: str = "synth"
    index: int = 0
    up: str = "y"
    extra: dict[str, Any] = field(default_factory=dict)


def synthetic_model_id(seed: int, synset: str, index: int) -> str:
    """ShapeNet-like 32-hex model id of synthetic model ``index`` of a class."""
    return hashlib.md5(f"lsm-synth/{seed}/{synset}/{index}".encode()).hexdigest()


def family_classes(families: str = "shapenet") -> list[str]:
    """Class folders of a family set (see :data:`FAMILY_SETS`), ShapeNet synsets first."""
    from data.shapes import EXTRA_FAMILIES

    if families not in FAMILY_SETS:
        raise ValueError(f"families must be one of {FAMILY_SETS}, got {families!r}")
    return ([*CLASSES] if families != "extra" else []) + (
        [*EXTRA_FAMILIES] if families != "shapenet" else [])


def _class_seed(synset: str) -> int:
    """Seed component of a class: the synset id's number, or a digest of a family's name."""
    if synset.isdigit():
        return int(synset)
    return int(hashlib.md5(synset.encode()).hexdigest()[:8], 16)


def synthetic_jobs(per_class: int, seed: int = 0,
                   synsets: Sequence[str] | None = None) -> list[Job]:
    """Jobs of a synthetic dataset: ``per_class`` models for each synset (ShapeNet synset id
    or extra family name; default the 13 ShapeNet classes).

    Model ``i`` of a class depends only on (seed, synset, i), so a smaller size is a prefix of a
    larger one.
    """
    synsets = list(synsets or CLASSES)
    # index-major order: a build interrupted (or still running) holds a balanced prefix of
    # every class, e.g. all of `small` once 24 models per class are done
    return [Job(synset=s, model=synthetic_model_id(seed, s, i), seed=[seed, _class_seed(s), i],
                index=i)
            for i in range(per_class) for s in synsets]


def mesh_jobs(folder: Path, seed: int = 0, up: str = "y") -> list[Job]:
    """Jobs for every mesh in a folder (see :func:`discover_meshes`)."""
    jobs = []
    for cls, model, path in discover_meshes(folder):
        digest = int(hashlib.md5(f"{cls}/{model}".encode()).hexdigest()[:8], 16)
        jobs.append(Job(synset=cls, model=model, seed=[seed, digest], source=str(path), up=up))
    return jobs


def models_of(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """``{synset: [model_id, ...]}`` of some jobs."""
    models: dict[str, list[str]] = {}
    for j in jobs:
        models.setdefault(j.synset, []).append(j.model)
    return models


def split_counts(n: int) -> tuple[int, int, int]:
    """(train, val, test) sizes for ``n`` models of a class: 70/10/20, each non-empty if n >= 3."""
    if n < 3:
        return n, 0, 0
    n_val = max(1, round(n * SPLIT_FRACTIONS[1]))
    n_test = max(1, round(n * SPLIT_FRACTIONS[2]))
    return n - n_val - n_test, n_val, n_test


def make_splits(models: dict[str, list[str]], seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """Seeded 70/10/20 split per class.

    Args:
        models: ``{synset: [model_id, ...]}``.
        seed: permutation seed.

    Returns:
        ``{"train"|"val"|"test": {synset: sorted ids}}``.
    """
    out: dict[str, dict[str, list[str]]] = {"train": {}, "val": {}, "test": {}}
    for synset, ids in models.items():
        ids = sorted(ids)
        digest = int(hashlib.md5(synset.encode()).hexdigest()[:8], 16)
        perm = np.random.default_rng([seed, digest]).permutation(len(ids))
        n_tr, n_va, _ = split_counts(len(ids))
        chosen = [ids[i] for i in perm]
        out["train"][synset] = sorted(chosen[:n_tr])
        out["val"][synset] = sorted(chosen[n_tr:n_tr + n_va])
        out["test"][synset] = sorted(chosen[n_tr + n_va:])
    return out


def synthetic_splits(size: str, seed: int = 0, families: str = "shapenet"
                     ) -> dict[str, dict[str, list[str]]]:
    """The split of a named synthetic size (depends only on ids, not on rendering)."""
    return make_splits(models_of(synthetic_jobs(SIZES[size], seed, family_classes(families))),
                       seed)


#: The unseen-category protocol (as the release's splits1 / splits2 files): the classes a model
#: is trained (and validated) on; it is tested on every class, seen and unseen. ``unseen1``
#: trains on the release's six (cabinet, chair, lamp, table, telephone, vessel), ``unseen2`` on
#: the other seven.
UNSEEN_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "unseen1": ("02933112", "03001627", "03636649", "04379243", "04401088", "04530566"),
    "unseen2": ("02691156", "02828884", "02958343", "03211117", "03691459", "04090263",
                "04256520"),
}


def protocol_splits(splits: dict[str, dict[str, list[str]]], seen: Sequence[str],
                    tested: Sequence[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """A split for the unseen-category protocol: train and val keep only the ``seen`` classes,
    test keeps every class of ``tested`` (default: every class; same models as ``splits``)."""
    keep = set(seen)
    test = set(splits["test"] if tested is None else tested)
    return {"train": {c: m for c, m in splits["train"].items() if c in keep},
            "val": {c: m for c, m in splits["val"].items() if c in keep},
            "test": {c: m for c, m in splits["test"].items() if c in test}}


def protocol_file_name(size: str, protocol: str, families: str = "shapenet") -> str:
    """Repository split file of an unseen-category protocol: ``splits_unseen1.json`` (full),
    ``splits_<size>_unseen1.json`` else; ``_all`` appended when the six generic families are
    trained on too (:func:`wild_protocol_splits`)."""
    stem = f"splits_{protocol}" if size == "full" else f"splits_{size}_{protocol}"
    return f"{stem}.json" if families == "shapenet" else f"{stem}_{families}.json"


def wild_protocol_splits(splits_all: dict[str, dict[str, list[str]]], protocol: str
                         ) -> dict[str, dict[str, list[str]]]:
    """The unseen-category protocol with the generic families in training: train and val hold
    the protocol's seen ShapeNet classes and the six generic families (their models of
    ``splits_all``, a ``families="all"`` split), test the 13 ShapeNet classes only, so the
    test table's seen and unseen means are over ShapeNet classes as in :func:`protocol_splits`.
    """
    from data.shapes import EXTRA_FAMILIES

    return protocol_splits(splits_all, [*UNSEEN_PROTOCOLS[protocol], *EXTRA_FAMILIES], CLASSES)


def split_file_name(size: str, families: str = "shapenet") -> str:
    """Repository split file of a named synthetic size: ``splits.json`` for ``full``,
    ``splits_<size>.json`` else; ``_extra`` or ``_all`` is appended for those family sets."""
    stem = "splits" if size == "full" else f"splits_{size}"
    return f"{stem}.json" if families == "shapenet" else f"{stem}_{families}.json"
