"""The geometry core: the project's conventions and the constants and numpy helpers that
``data/``, ``ops/``, ``models/``, ``training/``, ``demo/`` and ``vis/`` share.

Numpy only (no Keras, no TensorFlow, no trimesh), so every package may import it.

Conventions (shared by ``data/``, ``ops/`` and ``models/``; drawn in ``docs/camera.md``)
---------------------------------------------------------------------------------------

World frame
    z-up, the Blender frame of the release renders. The object lives in the cube
    ``[vmin, vmax]^3 = [-0.5, 0.5]^3`` (scene units; ShapeNet models are normalised to it).

Voxel grid
    An ``N^3`` grid over that cube is indexed ``grid[x, y, z]`` = world axes. Cell ``i`` along
    an axis spans ``[vmin + i * vsize, vmin + (i + 1) * vsize)`` with ``vsize = (vmax - vmin) / N``
    and its centre is ``vmin + (i + 0.5) * vsize``.

Camera frame
    OpenCV axes: x right, y down, z forward (into the scene). Depth is the camera-frame ``z``
    in scene units.

Extrinsic
    ``[..., 3, 4]`` world -> camera matrix ``E = [R | t]``: ``x_cam = R @ x_world + t``.
    Camera -> world is ``[R^T | -R^T t]``; the camera centre in the world is ``C = -R^T t``.

Intrinsic
    ``[..., 3, 3]`` pinhole matrix ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels of
    the full-size (224 x 224) image, e.g. ``fx = fy = 420, cx = cy = 112``. A camera point
    ``(X, Y, Z)`` projects to ``u = fx X / Z + cx`` (column), ``v = fy Y / Z + cy`` (row).

Pixels
    Pixel ``(row v, col u)`` is addressed by integer ``(v, u)`` and covers the continuous
    square ``[u, u + 1) x [v, v + 1)``; its centre is ``(u + 0.5, v + 0.5)``. This is the
    rendering convention (Blender; ``cx = cy = 112`` is the centre of a 224 image), used by
    the ray projection (:mod:`ops.project`) and the visual hull (:mod:`ops.visual_hull`).
    Quirk kept from the release for checkpoint compatibility: its unprojection
    (:mod:`ops.unproject`) reads a projected ``(u, v)`` directly as a sampling index, i.e. as
    if integer coordinates were pixel centres (a half-pixel shift), and rescales to feature
    maps without a half-pixel correction (:func:`ops.camera.scale_intrinsics`).

Modules: :mod:`geometry.camera` (render cameras: intrinsics, look-at, viewpoints, pixel
centres), :mod:`geometry.grid` (the voxel grid: cell centres, the release's storage order),
:mod:`geometry.depth` (depth-map constants and the foreground test) and
:mod:`geometry.normalise` (the transform that puts a model in the unit cube, z up). The
``keras.ops`` tensor versions (projection, rigid transforms) are in :mod:`ops.camera`.
"""
