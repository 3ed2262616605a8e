"""The one configuration table: every key of the project, defined once.

Each entry of :data:`KEYS` is a :class:`Key`: its type, default, help text, choices and minimum,
and its rules as metadata:

* ``part``: which part of the code reads it (``"run"``, ``"loader"``, ``"model"``,
  ``"optimizer"``, ``"distribution"``, ``"eval"``), and ``also``, other parts that read it too
  (``nvox`` is the model's and the loader's). The part is the key's section in ``--help``.
* ``scripts``: which scripts take it: ``"train"``, ``"eval"`` (val and test) or ``"both"``.
  A script hides the keys it does not take from ``--help`` and warns when one is given.
* ``resume``: what a resumed training run may do with it: ``"keep"`` (must equal the run's
  ``args.json``: it changes what the run computes), ``"change"`` (may be given anew; recorded in
  ``args.json``), ``"call"`` (describes one invocation: never compared, not recorded on a
  resume) or ``"process"`` (one process's place in a multi-process run: never recorded).
* ``registry``: for a key whose choices are the names of a registry, the registry's dotted path
  (``"models.fusion.FUSERS"``); ``choices`` then lists the names the project ships, accepted
  without importing it. The layers that may import models resolve the rest
  (:func:`training.config.registry_names`, :func:`models.lsm.lsm_config`).
* ``arg``: False for a model knob with no argument (it keeps its default in a run).
* ``ignored``: for a key of the release's argument files that does nothing here, why: read from
  files and skipped, refused on the command line with that reason.

Everything else is derived from the table: :class:`training.config.Args` (the arguments of
every script), the model's defaults and checks (:func:`models.lsm.lsm_config`), the loaders'
configuration (:class:`data.loaders.LoaderConfig`), the scripts' hidden keys and the resume
rule. **Adding a key is one new entry here.**

Standard library only: every package may import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["KEYS", "PARTS", "Key", "arguments", "defaults", "ignored", "keys_of",
           "table_dataclass"]

#: The parts of the code a key can belong to, in the order of the ``--help`` sections.
PARTS = ("run", "loader", "model", "optimizer", "distribution", "eval")
#: Values of :attr:`Key.scripts` and :attr:`Key.resume`.
SCRIPTS = ("train", "eval", "both")
RESUME = ("keep", "change", "call", "process")


@dataclass(frozen=True)
class Key:
    """One configuration key (see the module docstring for the rules).

    Attributes:
        type: ``int``, ``float``, ``bool`` or ``str``; the element type for a list key.
        default: the default; a tuple makes a list key, None an optional one.
        help: what it means (the ``--help`` text).
        part: the part of the code that reads it (one of :data:`PARTS`).
        also: other parts that read it.
        scripts: ``"train"``, ``"eval"`` or ``"both"``.
        resume: ``"keep"``, ``"change"``, ``"call"`` or ``"process"``.
        choices: the allowed values (for a registry key: the names the project ships), or None.
        minimum: the smallest allowed value (numbers, list elements), or None.
        registry: dotted path of the registry whose names are the choices, or None.
        arg: whether the scripts take it as an argument.
        ignored: for a release key that does nothing here, why; else None.
        name: the key (set by the table).
    """

    type: type
    default: Any
    help: str
    part: str
    also: tuple[str, ...] = ()
    scripts: str = "both"
    resume: str = "keep"
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    registry: str | None = None
    arg: bool = True
    ignored: str | None = None
    name: str = ""

    @property
    def optional(self) -> bool:
        """Whether None is a valid value (the default is None)."""
        return self.default is None

    @property
    def is_list(self) -> bool:
        """Whether the value is a list (stored as a tuple; the default is a tuple)."""
        return isinstance(self.default, tuple)

    @property
    def parts(self) -> tuple[str, ...]:
        """Every part that reads the key: :attr:`part` then :attr:`also`."""
        return (self.part, *self.also)

    @property
    def type_name(self) -> str:
        """Human-readable type, e.g. ``int``, ``list of float``, ``str or null``."""
        t = f"list of {self.type.__name__}" if self.is_list else self.type.__name__
        return f"{t} or null" if self.optional else t

    @property
    def annotation(self) -> str:
        """The Python type of the value, e.g. ``"int"``, ``"tuple[float, ...]"``,
        ``"str | None"`` (for the generated dataclasses)."""
        t = f"tuple[{self.type.__name__}, ...]" if self.is_list else self.type.__name__
        return f"{t} | None" if self.optional else t


def _ignored(reason: str) -> Key:
    """A key of the release's argument files that this project reads and skips."""
    return Key(str, None, f"Release argument, not used: {reason}.", "run", arg=False,
               ignored=reason)


_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_UNET_DOWN = "a multiple of 16"

#: Every key, in the order of a run's ``args.json`` (arguments) and of the model's
#: configuration (model keys).
KEYS: dict[str, Key] = {
    # -- run ----------------------------------------------------------------------------------
    "argsjs": Key(str, None, "JSON file of arguments to start from (release key); the loaded "
                  "Args record the file actually read.", "run", resume="call"),
    "logdir": Key(str, "./log", "Parent folder of training runs; a run writes "
                  "<logdir>/<timestamp>/train.", "run", resume="change"),
    "log": Key(str, None, "An existing run folder (val/test/resume). Without --argsjs, "
               "<log>/args.json supplies the arguments, as in the release.", "run",
               resume="call"),
    "ckpt": Key(str, None, "Checkpoint to restore (train: resume; test: evaluate), e.g. "
                "mvnet-100000.", "run", resume="call"),
    "loglevel": Key(str, "info", "Logging level.", "run", resume="change", choices=_LOG_LEVELS),
    "rng_seed": Key(int, 0, "Seed of everything random in training (weights init, model order, "
                    "training views).", "run", also=("loader",), scripts="train", minimum=0),
    "model": Key(str, None, "Model to train or evaluate, by its registered name (null: the "
                 "script's own: vlsm for the voxels/ scripts, dlsm for the depth/ scripts).",
                 "run", choices=("vlsm", "dlsm"), registry="models.registry.MODELS"),
    # -- data ---------------------------------------------------------------------------------
    "data_root": Key(str, "datasets/full", "Data root in the release layout (renders/, "
                     "voxels/).", "loader"),
    "split_file": Key(str, "data/splits.json", "Split file {train|val|test: {synset: "
                      "[model_id, ...]}}; a bare name (e.g. splits_small) means "
                      "data/<name>.json.", "loader"),
    "val_split_file": Key(str, None, "Split file for validation (None: split_file).", "loader",
                          resume="change"),
    "test_split_file": Key(str, None, "Split file for testing (None: split_file).", "loader",
                           scripts="eval", resume="change"),
    "split": Key(str, "test", "Split evaluated by the test scripts.", "eval", scripts="eval",
                 resume="change", choices=("train", "val", "test")),
    "num_renders": Key(int, 20, "Rendered views per model in the data root.", "loader",
                       minimum=1),
    "nvox": Key(int, 32, "Voxel grid resolution N (grid of N^3 over [-0.5, 0.5]^3).", "model",
                also=("loader",), choices=(32, 64)),
    "im_h": Key(int, 224, "Network input height in pixels (renders are resized, K scaled; "
                f"{_UNET_DOWN}).", "model", also=("loader",), minimum=16),
    "im_w": Key(int, 224, "Network input width in pixels (renders are resized, K scaled; "
                f"{_UNET_DOWN}).", "model", also=("loader",), minimum=16),
    "prefetch_threads": Key(int, 6, "Parallel example loaders (0: tf.data AUTOTUNE).", "loader",
                            resume="change", minimum=0),
    "queue_size": Key(int, 32, "Examples buffered ahead of the model (the loader prefetches "
                      "ceil(queue_size / batch_size) batches).", "loader", scripts="train",
                      resume="change", minimum=1),
    "loader": Key(str, "auto", "Input pipeline: tf (tf.data), numpy (threads, no TensorFlow "
                  "needed: JAX-only GPU machines) or auto (tf when TensorFlow is installed, "
                  "else numpy).", "loader", resume="change", choices=("auto", "tf", "numpy")),
    "eval_seed": Key(int, 1, "Seed of the fixed per-model view choice of val/test (kept apart "
                     "from rng_seed so numbers compare across runs).", "loader", scripts="eval",
                     resume="change", minimum=0),
    # -- model --------------------------------------------------------------------------------
    "batch_size": Key(int, 8, "Models per training batch.", "loader", also=("optimizer",),
                      scripts="train", minimum=1),
    "im_batch": Key(int, 4, "Views per model in training (sequence length of the GRU).",
                    "loader", also=("optimizer",), scripts="train", minimum=1),
    "im_net": Key(str, "unet", "Image encoder.", "model", choices=("unet",)),
    "grid_net": Key(str, "unet32", "3D grid network (unet32 for 32^3 grids, unet64 for 64^3).",
                    "model", choices=("unet32", "unet64")),
    "rnn": Key(str, "gru", "3D convolutional recurrent fusion.", "model", choices=("gru", "lstm"),
               registry="models.fusion.FUSERS"),
    "norm": Key(str, "IN", "Normalisation: IN (instance, offset only), BN or none.", "model",
                choices=("IN", "BN", "none")),
    "im_channels": Key(int, 32, "Channels of the image encoder's output features (release 32).",
                       "model", minimum=1),
    "grid_channels": Key(int, 32, "Hidden channels of the recurrent unit and base width of the "
                         "grid network (release 32).", "model", minimum=1),
    "depth_channels": Key(int, 32, "D-LSM: base width of the depth network (release 32).",
                          "model", minimum=1),
    "depth_head": Key(
        str, "release", "D-LSM: output head. release: one depth channel trained with L1 over "
        "every pixel (the paper). mask: an extension, not in the paper: a depth channel trained "
        "with L1 over the true foreground only plus a foreground logit trained with "
        "cross-entropy; the depth map is the depth where the logit is > 0 and the background "
        "depth (10) elsewhere, which gives sharp silhouettes instead of blended "
        "object/background depth.", "model", choices=("release", "mask")),
    "ray_samples": Key(int, 64, "D-LSM: depth samples per ray in proj_slice.", "model",
                       minimum=1),
    "proj_x": Key(int, 4, "D-LSM: downsampling of the projected image (224 / proj_x pixels).",
                  "model", choices=(4, 8)),
    "sepup": Key(bool, True, "D-LSM: separable convs and resize-conv upsampling in the depth "
                 "network (the release D-LSM: true).", "model"),
    "im_skip": Key(bool, True, "D-LSM: skip features from the image encoder into the depth "
                   "network (the release D-LSM: true).", "model"),
    # model knobs without an argument (rnn_channels follows grid_channels in a run, as in the
    # release where one width serves both: training.tasks.model_config)
    "rnn_channels": Key(int, 32, "Hidden channels of the recurrent unit (the grid_channels "
                        "argument sets it).", "model", minimum=1, arg=False),
    "rnn_kernel": Key(int, 3, "Side of the recurrent unit's 3D convolution kernel.", "model",
                      minimum=1, arg=False),
    "rnn_layer_norm": Key(bool, True, "Layer norm in the recurrent cell.", "model", arg=False),
    "grid_range": Key(float, (-0.5, 0.5), "Grid bounds per axis (scene units).", "model",
                      arg=False),
    "z_range": Key(float, (1.0, 3.0), "D-LSM ray depth range (scene units).", "model",
                   arg=False),
    "proj_rounding": Key(str, "release", "Voxel lookup rounding of the D-LSM projection.",
                         "model", arg=False),
    # -- run: how a step is computed ----------------------------------------------------------
    "init_from": Key(str, None, "Warm start a new run: a checkpoint or run folder whose "
                     "variables with the same path and shape are copied into the model (e.g. a "
                     "trained V-LSM's trunk into a D-LSM); the rest keep their initialisation.",
                     "run", scripts="train", resume="call"),
    "jit_compile": Key(str, "auto", "Compile the training step with XLA: auto (Keras decides: "
                       "XLA on JAX, and on TensorFlow where the model supports it), true or "
                       "false.", "run", scripts="train", resume="change",
                       choices=("auto", "true", "false")),
    "precision": Key(str, "auto", "Compute precision of the convolutions (weights, norms, "
                     "gathers and losses stay float32; models/precision.py): auto (bfloat16 on "
                     "AMX/AVX512_BF16 CPUs with TensorFlow and on GPUs of compute capability "
                     "8+, else float32), float32, bfloat16, or float16 (loss scaling; GPUs "
                     "only, slow on a CPU). The val and test scripts compute in float32 unless "
                     "given --precision.", "run", resume="change",
                     choices=("auto", "float32", "bfloat16", "float16")),
    # -- optimisation -------------------------------------------------------------------------
    "loss": Key(str, "ce", "Training loss: ce (sigmoid cross-entropy on voxels, V-LSM) or l1 "
                "(depth, D-LSM).", "optimizer", scripts="train", choices=("ce", "l1")),
    "lr": Key(float, 1e-3, "Adam learning rate.", "optimizer", scripts="train",
              resume="change", minimum=0.0),
    "beta1": Key(float, 0.9, "Adam beta1.", "optimizer", scripts="train", resume="change",
                 minimum=0.0),
    "adam_epsilon": Key(float, 1e-8, "Adam epsilon: 1e-8 is the release's (TF1 "
                        "tf.train.AdamOptimizer); Keras' own default is 1e-7.", "optimizer",
                        scripts="train", resume="change", minimum=0.0),
    "decay_rate": Key(float, 1.0, "Staircase exponential lr decay factor (1: constant lr).",
                      "optimizer", scripts="train", resume="change", minimum=0.0),
    "decay_steps": Key(int, 10000, "Iterations between lr decays.", "optimizer",
                       scripts="train", resume="change", minimum=1),
    "niters": Key(int, 100000, "Training iterations.", "optimizer", scripts="train",
                  resume="change", minimum=1),
    "ckpt_iters": Key(int, 5000, "Iterations between checkpoints (mvnet-<iteration>).",
                      "optimizer", scripts="train", resume="change", minimum=1),
    "max_minutes": Key(float, 0.0, "Stop training after this many minutes of wall time, with a "
                       "checkpoint (resume it later with --log RUN, which keeps the limit "
                       "unless given --max_minutes again); 0: no limit.", "optimizer",
                       scripts="train", resume="change", minimum=0.0),
    "sum_iters": Key(int, 50, "Iterations between image/voxel summaries.", "optimizer",
                     scripts="train", resume="change", minimum=1),
    # -- scale-out (training/distribute.py) ---------------------------------------------------
    "distribution": Key(str, "auto", "Data-parallel training (JAX backend): auto (over all "
                        "devices when there is more than one, or several processes), "
                        "data_parallel (ask for it), none (one device). batch_size is the "
                        "global batch, split evenly between the devices.", "distribution",
                        scripts="train", resume="change",
                        choices=("auto", "none", "data_parallel")),
    "coordinator": Key(str, None, "HOST:PORT of process 0 for training over several processes "
                       "(hosts); else $JAX_COORDINATOR_ADDRESS, or found by JAX under SLURM.",
                       "distribution", scripts="train", resume="process"),
    "num_processes": Key(int, 0, "Processes of a multi-process run (0: from $JAX_NUM_PROCESSES "
                         "or SLURM's $SLURM_NTASKS, else 1).", "distribution", scripts="train",
                         resume="process", minimum=0),
    "process_id": Key(int, -1, "This process's index, 0 .. num_processes - 1 (-1: from "
                      "$JAX_PROCESS_ID or $SLURM_PROCID).", "distribution", scripts="train",
                      resume="process", minimum=-1),
    "peer_timeout": Key(int, 60, "Seconds after which a silent process of a multi-process run "
                        "counts as dead (the others then stop, naming it).", "distribution",
                        scripts="train", resume="change", minimum=5),
    # -- evaluation ---------------------------------------------------------------------------
    "val_batch_size": Key(int, 4, "Models per validation batch.", "eval", also=("loader",),
                          scripts="eval", resume="change", minimum=1),
    "val_im_batch": Key(int, 4, "Views per model in validation.", "eval", also=("loader",),
                        scripts="eval", resume="change", minimum=1),
    "test_batch_size": Key(int, 4, "Models per test batch.", "eval", also=("loader",),
                           scripts="eval", resume="change", minimum=1),
    "test_im_batch": Key(int, 4, "Views per model in testing.", "eval", also=("loader",),
                         scripts="eval", resume="change", minimum=1),
    "eval_thresh": Key(float, (0.4,), "Occupancy thresholds of the IoU metric.", "eval",
                       resume="change"),
    "sleep_time": Key(int, 15, "Validation: minutes between checks for new checkpoints.",
                      "eval", scripts="eval", resume="change", minimum=0),
    "result_file": Key(str, None, "Test: write the results table to this file (.txt and "
                       ".json); refused if either exists (results never overwrite a table).",
                       "eval", scripts="eval", resume="change"),
    "savedir": Key(str, None, "Test: folder for the result tables, saved predictions and "
                   "contact sheets (None: the run folder, or results/<name>/ for a shipped "
                   "model folder).", "eval", scripts="eval", resume="change"),
    # -- keys of the release's argument files that do nothing here ----------------------------
    "run_trace": _ignored("profile a training step with benchmarks/bm_profile_step.py"),
    "vis": _ignored("the test scripts save pictures with --contact_sheet N and --save_preds N"),
    "test_set_file": _ignored("the evaluated models are the split file's, their views fixed by "
                              "--eval_seed"),
}


def _check_table(table: dict[str, Key]) -> None:
    """Name every key and check that each entry is well formed (at import: a malformed new
    entry fails every script and test at once, naming the key)."""
    for name, key in table.items():
        object.__setattr__(key, "name", name)
        values = () if key.default is None else key.default if key.is_list else (key.default,)
        problems = [
            (key.type not in (int, float, bool, str), f"type {key.type!r}"),
            (key.part not in PARTS or not set(key.also) <= set(PARTS),
             f"part {key.part!r} / also {key.also!r} (parts: {PARTS})"),
            (key.scripts not in SCRIPTS, f"scripts {key.scripts!r} (one of {SCRIPTS})"),
            (key.resume not in RESUME, f"resume {key.resume!r} (one of {RESUME})"),
            (key.ignored is None and any(type(v) is not key.type for v in values),
             f"default {key.default!r} is not of type {key.type.__name__}"),
        ]
        for bad, what in problems:
            if bad:
                raise TypeError(f"config.KEYS[{name!r}]: invalid {what}")


_check_table(KEYS)


def keys_of(part: str | None = None, *, script: str | None = None,
            resume: str | None = None) -> tuple[str, ...]:
    """Names of the table's keys (ignored release keys left out), in table order.

    Args:
        part: only keys that this part reads (:attr:`Key.part` or :attr:`Key.also`).
        script: only the arguments this script takes: ``"train"`` or ``"eval"`` (keys of
            ``scripts`` that script or ``"both"``), or ``"both"`` (every argument).
        resume: only keys of this :attr:`Key.resume` rule.

    Returns:
        The names, e.g. ``keys_of("model")`` for the model's configuration keys.
    """
    if script is not None and script not in SCRIPTS:
        raise ValueError(f"script must be one of {SCRIPTS}, got {script!r}")
    out = []
    for name, key in KEYS.items():
        if key.ignored is not None or (part is not None and part not in key.parts):
            continue
        if script is not None and (not key.arg or script != "both"
                                   and key.scripts not in (script, "both")):
            continue
        if resume is not None and key.resume != resume:
            continue
        out.append(name)
    return tuple(out)


def arguments() -> dict[str, Key]:
    """The keys the scripts take as arguments (the fields of :class:`training.config.Args`)."""
    return {name: KEYS[name] for name in keys_of(script="both")}


def defaults(part: str | None = None) -> dict[str, Any]:
    """``{name: default}`` of :func:`keys_of` ``(part)`` (a new dict)."""
    return {name: KEYS[name].default for name in keys_of(part)}


def ignored() -> dict[str, str]:
    """``{name: why}`` for the release's keys that this project reads from files and skips."""
    return {name: key.ignored for name, key in KEYS.items() if key.ignored is not None}


_T = TypeVar("_T", bound=type)


def table_dataclass(names: Iterable[str], *, rename: dict[str, str] | None = None,
                    with_defaults: bool = True, kw_only: bool = False) -> Callable[[_T], _T]:
    """Class decorator: a frozen dataclass whose fields are table keys, then the class's own.

    The fields named ``names`` come first, in that order, typed by :attr:`Key.annotation`,
    with the table default when ``with_defaults`` (else required); ``rename`` maps a key to
    the field that holds it. The class's own annotated fields follow. So a class holding a
    part of the configuration (the arguments, the loader's keys) never lists key names.
    """
    rename = rename or {}

    def wrap(cls: _T) -> _T:
        own = dict(cls.__dict__.get("__annotations__", {}))
        annotations = {}
        for name in names:
            key = KEYS[name]
            attr = rename.get(name, name)
            annotations[attr] = key.annotation
            if with_defaults:
                setattr(cls, attr, dataclasses.field(default=key.default,
                                                     metadata={"key": name}))
            else:
                setattr(cls, attr, dataclasses.field(metadata={"key": name}))
        annotations.update(own)
        cls.__annotations__ = annotations
        return dataclass(frozen=True, kw_only=kw_only)(cls)  # type: ignore[return-value]

    return wrap
