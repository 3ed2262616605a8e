"""The release data layout: the one place that knows where every file lives.

The layout is the one of the original LSM ShapeNet release::

    <root>/renders/<synset>/<model_id>/render_{i}.png   RGBA 224x224, i = 0..19
    <root>/renders/<synset>/<model_id>/depth_{i}.png    uint16, scene units = v * DEPTH_SCALE
    <root>/renders/<synset>/<model_id>/camera_{i}.mat   K (3x3), extrinsic (4x4 world->camera)
    <root>/voxels/modelVoxels32/<synset>/<model_id>.mat key 'Volume', uint8 32^3
    <root>/voxels/modelVoxels64/<synset>/<model_id>.mat key 'Volume', uint8 64^3

Split files (``{"train"|"val"|"test": {synset: [model_id, ...]}}``) live in the repository's
``data/`` folder. Nothing else in the project builds these paths by hand.

A model directory is only ever created by an atomic rename of a complete temporary directory
whose name starts with a dot (see :mod:`data.build`), so every directory this module lists is
complete; names starting with a dot are never listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: ShapeNet synset id -> class name, in the order of the release's tables.
CLASSES: dict[str, str] = {
    "02691156": "airplane",
    "02828884": "bench",
    "02933112": "cabinet",
    "02958343": "car",
    "03001627": "chair",
    "03211117": "display",
    "03636649": "lamp",
    "03691459": "loudspeaker",
    "04090263": "rifle",
    "04256520": "sofa",
    "04379243": "table",
    "04401088": "telephone",
    "04530566": "vessel",
}

#: Renders per model in the release.
N_VIEWS = 20
#: Render size (pixels, square) in the release.
IM_SIZE = 224
#: Voxel resolutions shipped by the release.
VOXEL_SIZES = (32, 64)

#: Repository folder holding the split JSON files.
SPLITS_DIR = Path(__file__).resolve().parent


def class_name(synset: str) -> str:
    """Class name of a synset id, or the id itself for a class that is not in ShapeNet's 13."""
    return CLASSES.get(synset, synset)


@dataclass(frozen=True)
class DataLayout:
    """Paths of one data root in the release layout.

    Args:
        root: the data root (the folder that holds ``renders/`` and ``voxels/``).
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- folders ---------------------------------------------------------------------------
    @property
    def renders_root(self) -> Path:
        """``<root>/renders``."""
        return self.root / "renders"

    def voxels_root(self, nvox: int) -> Path:
        """``<root>/voxels/modelVoxels<nvox>``."""
        return self.root / "voxels" / f"modelVoxels{int(nvox)}"

    def model_dir(self, synset: str, model: str) -> Path:
        """Folder of one model's renders, depths and cameras."""
        return self.renders_root / synset / model

    # -- files -----------------------------------------------------------------------------
    def render_path(self, synset: str, model: str, view: int) -> Path:
        """RGBA render of one view (PNG, ``IM_SIZE`` square)."""
        return self.model_dir(synset, model) / f"render_{int(view)}.png"

    def depth_path(self, synset: str, model: str, view: int) -> Path:
        """uint16 depth PNG of one view."""
        return self.model_dir(synset, model) / f"depth_{int(view)}.png"

    def camera_path(self, synset: str, model: str, view: int) -> Path:
        """Camera ``.mat`` of one view (K and the 4x4 world-to-camera extrinsic)."""
        return self.model_dir(synset, model) / f"camera_{int(view)}.mat"

    def voxel_path(self, synset: str, model: str, nvox: int) -> Path:
        """Voxel ``.mat`` (key ``'Volume'``) at resolution ``nvox``."""
        return self.voxels_root(nvox) / synset / f"{model}.mat"

    def params_path(self, synset: str, model: str) -> Path:
        """Optional JSON with how a model was made (synthetic parameters or source mesh)."""
        return self.model_dir(synset, model) / "params.json"

    @property
    def manifest_path(self) -> Path:
        """``<root>/dataset.json``: what built this root (written by the builder)."""
        return self.root / "dataset.json"

    # -- listing ---------------------------------------------------------------------------
    def synsets(self) -> list[str]:
        """Synset folders present under ``renders/``, sorted."""
        if not self.renders_root.is_dir():
            return []
        return sorted(
            p.name for p in self.renders_root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def models(self, synset: str) -> list[str]:
        """Complete model folders of one synset, sorted (temporary dot-folders are skipped)."""
        d = self.renders_root / synset
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))

    def iter_models(self) -> Iterator[tuple[str, str]]:
        """All ``(synset, model_id)`` pairs on disk."""
        for synset in self.synsets():
            for model in self.models(synset):
                yield synset, model

    def has_model(self, synset: str, model: str) -> bool:
        """Whether the model's render folder exists (it is only ever created complete)."""
        return self.model_dir(synset, model).is_dir()


def split_path(name: str) -> Path:
    """Path of a split file in the repository's ``data/`` folder.

    Args:
        name: ``"splits"`` (the default dataset), ``"splits_small"``, ``"splits_tiny"``...
            or an existing path, returned as is.
    """
    p = Path(name)
    if p.suffix == ".json" and (p.exists() or p.parent != Path(".")):
        return p
    return SPLITS_DIR / f"{p.stem}.json"
