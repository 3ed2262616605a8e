"""Parametric, ShapeNet-like object families assembled from watertight mesh primitives.

ShapeNet cannot be downloaded here, so every one of the 13 LSM classes gets a hand-written
family of objects; six generic families (superquadrics, surfaces of revolution, extrusions, CSG
solids, blobs, random assemblies, in ``EXTRA_FAMILIES``) add shapes no class is built from,
with colour patterns (``texture``); implicit ones are meshed by marching cubes (``implicit``).
Each family samples a handful of continuous dimensions plus structural
variant choices (``sample_params``) and turns them deterministically into a list of coloured,
individually watertight parts (``build_parts``). The dataset builder unions the parts for
voxelisation and renders them with their colours.

Frame of the returned parts (ShapeNet convention): +y is up, the object's front faces +z,
sizes are in arbitrary units (roughly metres). The builder centres and rescales the object
(bounding-box diagonal 1) itself, so nothing here normalises.

Every part is at least ``MIN_THICKNESS_FRAC`` of the object's bounding-box diagonal thick in its
thinnest oriented-bounding-box dimension, so it survives a 32^3 voxelisation of the unit cube.

Modules: one per family (``airplane``, ``bench``, ... ``vessel``: ``sample`` and ``build``),
``primitives`` (``Part`` and the mesh primitives), ``sampler`` (palettes and the recording
``Sampler``), ``thickness`` (the minimum part thickness), ``registry`` (``FAMILIES`` and the
functions below), ``preview`` and ``gallery``.

Run ``python -m data.shapes --gallery docs/shapes_gallery.png`` to render a gallery.
"""

from __future__ import annotations

from data.layout import CLASSES
from data.shapes.gallery import main, render_gallery
from data.shapes.preview import render_preview
from data.shapes.primitives import RGB, SECTIONS, Part
from data.shapes.registry import (
    ALL_FAMILIES,
    EXTRA_FAMILIES,
    FAMILIES,
    NAME_TO_SYNSET,
    build_parts,
    make_object,
    sample_params,
)
from data.shapes.thickness import (
    MIN_THICKNESS_FRAC,
    enforce_min_thickness,
    object_diagonal,
    part_min_extent,
)

__all__ = [
    "ALL_FAMILIES",
    "CLASSES",
    "EXTRA_FAMILIES",
    "FAMILIES",
    "MIN_THICKNESS_FRAC",
    "NAME_TO_SYNSET",
    "RGB",
    "SECTIONS",
    "Part",
    "build_parts",
    "enforce_min_thickness",
    "main",
    "make_object",
    "object_diagonal",
    "part_min_extent",
    "render_gallery",
    "render_preview",
    "sample_params",
]
