"""Meshes with trimesh: normalising parts into the world, reading mesh files and mesh folders.

Below both :mod:`data.shapes` and :mod:`data.build`. The transform itself is numpy-only
(:func:`geometry.normalise.normalising_transform`); this module applies it to trimesh meshes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh

from data import io
from geometry.normalise import normalising_transform

# logs under the builder's name (as when this code was part of data/build.py)
log = logging.getLogger("data.build")

#: Mesh file types read from a mesh folder.
MESH_EXTENSIONS = (".obj", ".ply", ".off", ".glb", ".gltf", ".stl")

_ID_OK = re.compile(r"[^A-Za-z0-9_.-]+")

RGB = tuple[float, float, float]


class BadMeshError(io.DataError):
    """An input mesh cannot be built. The message says why, without the file name."""


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def normalise_to_world(meshes: Sequence[trimesh.Trimesh], up: str = "y") -> list[trimesh.Trimesh]:
    """Normalise parts like ShapeNet and move them into the z-up world frame.

    Args:
        meshes: parts in their own frame (any units).
        up: ``"y"`` (ShapeNet) or ``"z"``: the up axis of the input.

    Returns:
        New meshes, jointly centred (bounding box) and scaled to a bounding-box diagonal of 1,
        in world coordinates (z up). Inputs are not modified.

    Raises:
        ValueError: ``up`` is not ``"y"`` or ``"z"``, or the bounding box is empty or
            degenerate (see :func:`geometry.normalise.normalising_transform`).
    """
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    bounds = np.array([m.bounds for m in meshes])
    M = normalising_transform(bounds[:, 0].min(axis=0), bounds[:, 1].max(axis=0), up)
    out = []
    for m in meshes:
        m = m.copy()
        m.apply_transform(M)
        out.append(m)
    return out


def _palette_color(rng: np.random.Generator) -> RGB:
    return tuple(float(c) for c in rng.uniform(0.25, 0.9, size=3))


def load_mesh_parts(path: Path, rng: np.random.Generator
                    ) -> tuple[list[trimesh.Trimesh], list[RGB]]:
    """Load a mesh file as one part with a colour (the mesh's own colour if it has one).

    Raises:
        BadMeshError: the file cannot be parsed or holds no faces.
    """
    try:
        mesh = trimesh.load(str(path), force="mesh", process=True)
    except Exception as e:
        raise BadMeshError(f"cannot be parsed: {one_line(e)}") from e
    if not isinstance(mesh, trimesh.Trimesh):
        raise BadMeshError(f"holds no triangle mesh (trimesh read a {type(mesh).__name__})")
    if len(mesh.faces) == 0:
        raise BadMeshError("no faces")
    color = _palette_color(rng)
    if mesh.visual is not None and mesh.visual.kind in ("face", "vertex", "texture"):
        try:
            fc = np.asarray(mesh.visual.to_color().face_colors, dtype=float)[:, :3] / 255.0
            color = tuple(float(c) for c in np.median(fc, axis=0))
        except Exception:  # a texture trimesh cannot reduce to colours: keep the palette
            log.debug("no usable colour in %s", path)
    return [mesh], [color]


def discover_meshes(folder: Path) -> list[tuple[str, str, Path]]:
    """Find meshes under ``folder``: ``(class, model_id, path)`` triples, sorted.

    Layouts understood:
        * ``folder/<class>/<name>.<ext>``: model id = file stem;
        * ``folder/<class>/<model>/.../<file>.<ext>`` (e.g. ShapeNetCore's
          ``<synset>/<model>/models/model_normalized.obj``): model id = ``<model>``; if a model
          folder holds several meshes, ``model_normalized.*`` wins, else the first by name.

    Raises:
        io.DataError: if the folder does not exist or holds no mesh file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise io.DataError(f"mesh folder does not exist: {folder}")
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in MESH_EXTENSIONS or not path.is_file():
            continue
        rel = path.relative_to(folder).parts
        if len(rel) < 2:
            log.warning("skipping %s: meshes must sit in a class folder", path)
            continue
        cls = _ID_OK.sub("_", rel[0])
        model = _ID_OK.sub("_", Path(rel[1]).stem if len(rel) == 2 else rel[1])
        key = (cls, model)
        if key not in found or path.stem == "model_normalized":
            found[key] = path
    if not found:
        raise io.DataError(f"no mesh files ({', '.join(MESH_EXTENSIONS)}) under {folder}")
    return [(c, m, p) for (c, m), p in sorted(found.items())]
