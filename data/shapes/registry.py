"""The registry of the shape families and the public way to sample and build an object.

Each family is a module of this package with ``sample(s: Sampler)``, which draws the
parameters, and ``build(dims, variants, add)``, which turns them into parts. ``FAMILIES`` maps
the 13 ShapeNet class names to that pair (their class folders are synset ids);
``EXTRA_FAMILIES`` the generic families (superquadrics, surfaces of revolution, extrusions, CSG
solids, blobs, random assemblies), whose class folder is the family name itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from data.layout import CLASSES
from data.shapes import (
    airplane,
    assembly,
    bench,
    blob,
    cabinet,
    car,
    chair,
    csg,
    display,
    extrusion,
    lamp,
    loudspeaker,
    revolution,
    rifle,
    sofa,
    superquadric,
    table,
    telephone,
    vessel,
)
from data.shapes.primitives import Add, Part
from data.shapes.sampler import Sampler
from data.shapes.texture import apply_pattern
from data.shapes.thickness import enforce_min_thickness

Family = tuple[Callable[[Sampler], None], Callable[[dict, dict, Add], None]]

#: Class name -> ``(sample, build)`` of its family module (the 13 ShapeNet classes).
FAMILIES: dict[str, Family] = {
    "airplane": (airplane.sample, airplane.build),
    "bench": (bench.sample, bench.build),
    "cabinet": (cabinet.sample, cabinet.build),
    "car": (car.sample, car.build),
    "chair": (chair.sample, chair.build),
    "display": (display.sample, display.build),
    "lamp": (lamp.sample, lamp.build),
    "loudspeaker": (loudspeaker.sample, loudspeaker.build),
    "rifle": (rifle.sample, rifle.build),
    "sofa": (sofa.sample, sofa.build),
    "table": (table.sample, table.build),
    "telephone": (telephone.sample, telephone.build),
    "vessel": (vessel.sample, vessel.build),
}

#: Generic families beyond the ShapeNet classes: name -> ``(sample, build)``. Their class folder
#: (the "synset" of the data layout) is the name itself.
EXTRA_FAMILIES: dict[str, Family] = {
    "superquadric": (superquadric.sample, superquadric.build),
    "revolution": (revolution.sample, revolution.build),
    "extrusion": (extrusion.sample, extrusion.build),
    "csg": (csg.sample, csg.build),
    "blob": (blob.sample, blob.build),
    "assembly": (assembly.sample, assembly.build),
}

#: Every family, ShapeNet classes first.
ALL_FAMILIES: dict[str, Family] = {**FAMILIES, **EXTRA_FAMILIES}

#: Class name -> class folder: the synset id of a ShapeNet class, the name of an extra family.
NAME_TO_SYNSET: dict[str, str] = {**{name: synset for synset, name in CLASSES.items()},
                                  **{name: name for name in EXTRA_FAMILIES}}


def _family(synset: str) -> str:
    """Class name for a synset id (a class name is accepted too)."""
    if synset in CLASSES:
        return CLASSES[synset]
    if synset in NAME_TO_SYNSET:
        return synset
    raise KeyError(f"unknown synset {synset!r}; known: {sorted(CLASSES)} and the extra "
                   f"families {sorted(EXTRA_FAMILIES)}")


def sample_params(synset: str, rng: np.random.Generator) -> dict:
    """Draw the parameters of one object of a class.

    Args:
        synset: ShapeNet synset id (e.g. ``"03001627"``), class name (``"chair"``) or extra
            family name (``"blob"``).
        rng: random generator; the same seed gives the same parameters.

    Returns:
        JSON-serialisable dict ``{"synset": str, "variants": {name: str | bool | int},
        "dims": {name: float}, "colors": {name: [r, g, b]}}``: ``dims`` are continuous shape
        parameters (object units, degrees or fractions, as their names say), ``variants`` are the
        structural choices and ``colors`` are linear RGB in [0, 1].
    """
    name = _family(synset)
    s = Sampler(NAME_TO_SYNSET[name], rng)
    ALL_FAMILIES[name][0](s)
    return s.params


def build_parts(synset: str, params: dict) -> list[Part]:
    """Build the parts of one object, deterministically from ``params``.

    Args:
        synset: ShapeNet synset id or class name; must match ``params["synset"]``'s class.
        params: as returned by ``sample_params`` (possibly after a JSON round trip).

    Returns:
        Parts in the ShapeNet frame (+y up, front +z, arbitrary units, not normalised), with
        per-face colours when the parameters hold a pattern; every mesh is watertight and at
        least ``MIN_THICKNESS_FRAC`` x the object's bounding-box
        diagonal thick.
    """
    name = _family(synset)
    if _family(params.get("synset", synset)) != name:
        raise ValueError(f"params are for {params['synset']}, not {synset}")
    colors = {k: (float(c[0]), float(c[1]), float(c[2])) for k, c in params["colors"].items()}
    parts: list[Part] = []

    def add(mesh: trimesh.Trimesh, color_key: str, part_name: str) -> None:
        parts.append(Part(mesh=mesh, color=colors[color_key], name=part_name))

    ALL_FAMILIES[name][1](dict(params["dims"]), dict(params["variants"]), add)
    enforce_min_thickness(parts)
    apply_pattern(parts, params)
    return parts


def make_object(synset: str, rng: np.random.Generator) -> tuple[list[Part], dict]:
    """Sample parameters and build the object: ``build_parts(synset, sample_params(...))``.

    Returns:
        ``(parts, params)`` with parts as in ``build_parts`` and params as in ``sample_params``.
    """
    params = sample_params(synset, rng)
    return build_parts(synset, params), params
