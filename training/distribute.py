"""Data-parallel training over the devices of a machine and over many processes (hosts).

JAX backend
-----------
* :func:`setup` sets ``keras.distribution.DataParallel`` over every device of every process
  (``keras.distribution.list_devices()``: the GPUs, else the CPU devices) *before* the model
  is built (Keras places variables when they are created): the variables are replicated, each
  global batch of ``batch_size`` models is split evenly along its first axis between the
  devices, and XLA averages the gradients. ``batch_size`` stays the *global* batch, so a run
  computes the same thing (to float rounding) on 1, 2 or 64 devices and resumes on any number.
* Several processes (one per host, or one per GPU under SLURM): ``jax.distributed`` is
  initialised first (``--coordinator HOST:PORT`` of process 0, ``--num_processes``,
  ``--process_id``; else ``$JAX_COORDINATOR_ADDRESS``, ``$JAX_NUM_PROCESSES``,
  ``$JAX_PROCESS_ID``; under SLURM with several tasks JAX reads SLURM's own variables). On
  CPUs JAX's cross-process collectives go through gloo. Each process reads only its own
  consecutive part of every global batch (:class:`data.loaders.LoaderConfig` ``num_shards`` /
  ``shard_index``), so the global batches are those of a single process, in the same order.
  Process 0 (the *chief*) resolves the run folder and the checkpoint to resume and tells the
  others (:class:`Peers`); only it writes checkpoints, summaries and ``finished.json``; every
  process restores the same checkpoint. The log folder must be on a file system that every
  process sees (as on any cluster).
* Failures: a process that fails (an exception) posts its message and exits at once; a
  process that dies stops its heartbeat. The others' next collective then fails, they name the
  failed or silent process (:meth:`Peers.explain_failure`), and stop with the newest
  checkpoint to resume from, within ``peer_timeout`` seconds at most.

TensorFlow backend
------------------
Refused with a message pointing to the JAX backend: ``tf.distribute`` does not drive Keras 3's
``train_on_batch`` loop, on which this project's training step, its resumable data stream and
its checkpoints rest (Keras 3 issues #20585, #21061 list further breakage).

Evaluation (``val_*.py``, ``test_*.py``) runs on one device of one process.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from training.config import Args, ConfigError

log = logging.getLogger(__name__)

#: Where the refusal on TensorFlow points to.
TF_REFUSAL = (
    "--distribution data_parallel and multi-process training need the JAX backend "
    "(KERAS_BACKEND=jax; see the README, 'Training on many GPUs'): Keras 3's "
    "tf.distribute support does not cover this project's training loop. On TensorFlow, train "
    "on one device (--distribution none).")


@dataclass(frozen=True)
class ProcessSettings:
    """How this process takes part in a run.

    Attributes:
        num_processes: processes of the run (1: this one alone).
        process_id: this process's index, 0 .. ``num_processes`` - 1.
        coordinator: ``HOST:PORT`` of process 0's coordination service (None: JAX finds it,
            under SLURM; or a single process).
        source: where the settings came from ("flags", "JAX environment", "SLURM", "single").
    """

    num_processes: int = 1
    process_id: int = 0
    coordinator: str | None = None
    source: str = "single"


def process_settings(args: Args, environ: Mapping[str, str] | None = None) -> ProcessSettings:
    """This process's place in a run: the flags, else JAX's variables, else SLURM's.

    Args:
        args: ``num_processes`` (0: not given), ``process_id`` (-1: not given),
            ``coordinator`` (None: not given).
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigError: settings that do not fit together (named by flag or variable).
    """
    env = os.environ if environ is None else environ

    def env_int(name: str) -> int | None:
        value = env.get(name, "").strip()
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"${name} must be an integer, got {value!r}") from None

    slurm_tasks = env_int("SLURM_NTASKS") or 1
    n, source = args.num_processes, "flags"
    if not n and env_int("JAX_NUM_PROCESSES"):
        n, source = env_int("JAX_NUM_PROCESSES"), "JAX environment"
    if not n and slurm_tasks > 1 and env.get("SLURM_PROCID"):
        n, source = slurm_tasks, "SLURM"
    n = n or 1
    if n == 1:
        return ProcessSettings()
    pid = args.process_id
    if pid < 0:
        pid = env_int("JAX_PROCESS_ID")
        if pid is None and source == "SLURM":
            pid = env_int("SLURM_PROCID")
    if pid is None or pid < 0:
        raise ConfigError(f"--process_id is needed for a run of {n} processes (or "
                          "$JAX_PROCESS_ID)")
    if pid >= n:
        raise ConfigError(f"--process_id {pid} is not in 0 .. {n - 1} (--num_processes {n})")
    coordinator = args.coordinator or env.get("JAX_COORDINATOR_ADDRESS") or None
    if coordinator is None and source != "SLURM":
        raise ConfigError(f"--coordinator HOST:PORT (process 0's address) is needed for a run "
                          f"of {n} processes (or $JAX_COORDINATOR_ADDRESS)")
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    return ProcessSettings(n, pid, coordinator, source)


@dataclass(frozen=True)
class Cluster:
    """The devices and processes a training run uses (see the module docstring).

    Attributes:
        data_parallel: a ``keras.distribution.DataParallel`` distribution is set.
        num_processes: processes of the run.
        process_id: this process's index.
        num_devices: devices of the run, all processes together.
        local_devices: devices of this process.
        peer_timeout: seconds after which a silent process counts as dead.
    """

    data_parallel: bool = False
    num_processes: int = 1
    process_id: int = 0
    num_devices: int = 1
    local_devices: int = 1
    peer_timeout: int = 60

    @property
    def chief(self) -> bool:
        """Whether this process writes the run's files (process 0)."""
        return self.process_id == 0

    @property
    def multi_process(self) -> bool:
        """Whether the run has more than one process."""
        return self.num_processes > 1

    def loader_shards(self) -> dict[str, int]:
        """The :class:`data.loaders.LoaderConfig` fields that give this process its part of
        every global batch."""
        return {"num_shards": self.num_processes, "shard_index": self.process_id}

    def describe(self) -> str:
        """One line for the log."""
        if not self.data_parallel:
            return "one device"
        where = (f"{self.num_processes} processes x {self.local_devices} device(s), this is "
                 f"process {self.process_id}" if self.multi_process else "one process")
        return f"data parallel over {self.num_devices} devices ({where})"


def setup(args: Args) -> Cluster:
    """Join the run's processes and set the distribution, before any model is built.

    Call once per training, before anything touches a device: ``jax.distributed`` must be
    initialised first (a process joins once; a second call reuses it).

    Args:
        args: ``distribution``, ``coordinator``, ``num_processes``, ``process_id``,
            ``peer_timeout`` and ``batch_size`` (the global batch).

    Returns:
        The :class:`Cluster`.

    Raises:
        ConfigError: a request the backend cannot serve (TensorFlow), a batch that does not
            split evenly between the devices, or process settings that do not fit together.
        PeerError: the processes could not meet (names the coordinator).
    """
    settings = process_settings(args)
    if keras.backend.backend() != "jax":
        if args.distribution == "data_parallel" or settings.num_processes > 1:
            raise ConfigError(TF_REFUSAL)
        return Cluster(peer_timeout=args.peer_timeout)
    import jax

    if settings.num_processes > 1:
        if args.distribution == "none":
            raise ConfigError(f"--distribution none cannot run {settings.num_processes} "
                              "processes: drop it (or use --num_processes 1)")
        _initialize(settings, args.peer_timeout)
    num_devices, local = jax.device_count(), jax.local_device_count()
    dp = args.distribution == "data_parallel" or (
        args.distribution == "auto" and (num_devices > 1 or settings.num_processes > 1))
    if not dp:
        keras.distribution.set_distribution(None)
        return Cluster(local_devices=local, peer_timeout=args.peer_timeout)
    if args.batch_size % num_devices:
        raise ConfigError(
            f"--batch_size {args.batch_size} (the global batch) does not split evenly between "
            f"{num_devices} devices ({settings.num_processes} process(es) x {local}): use a "
            f"multiple of {num_devices}")
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    cluster = Cluster(True, settings.num_processes, settings.process_id, num_devices, local,
                      args.peer_timeout)
    log.info("%s", cluster.describe())
    return cluster


def teardown() -> None:
    """Unset the distribution (the process may build other models afterwards)."""
    if keras.backend.backend() == "jax":
        keras.distribution.set_distribution(None)


class PeerError(RuntimeError):
    """Another process of the run failed or died; the message names it."""


def _initialize(settings: ProcessSettings, timeout_s: int) -> None:
    """``jax.distributed.initialize`` for ``settings`` (once per process)."""
    import jax

    if jax.distributed.is_initialized():
        return
    kwargs: dict[str, Any] = {"heartbeat_timeout_seconds": int(timeout_s),
                              "initialization_timeout": max(int(timeout_s), 300)}
    if settings.source != "SLURM" or settings.coordinator is not None:
        kwargs.update(coordinator_address=settings.coordinator,
                      num_processes=settings.num_processes, process_id=settings.process_id)
    log.info("process %d of %d: joining the run at %s (%s)", settings.process_id,
             settings.num_processes, settings.coordinator or "the SLURM job's first node",
             settings.source)
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as e:  # jax raises several types; one line naming the coordinator
        raise PeerError(f"process {settings.process_id} of {settings.num_processes} could not "
                        f"join the run at {settings.coordinator}: {str(e).splitlines()[0]}"
                        ) from None


class Peers:
    """What the processes of a run tell each other, beside the training step's collectives.

    Through the key-value store of JAX's coordination service (process 0 hosts it):

    * :meth:`share` - process 0 gives the others a JSON value (the run folder, the checkpoint
      to resume, or why it could not start);
    * a heartbeat thread per process (``lsm/beat/<i>``, every second) and :meth:`post_failure`
      (``lsm/failed/<i>``) let :meth:`explain_failure` name the process that died or failed;
    * :meth:`any_of` - whether any process raises a flag (stop on a signal, out of time), so that
      all stop at the same iteration.

    With one process every method is local (nothing is sent).
    """

    BEAT_S = 1.0

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._client = None
        self._stop = threading.Event()
        self._shared = 0
        if cluster.multi_process:
            from jax._src import distributed  # the client of jax.distributed's service

            self._client = distributed.global_state.client
            threading.Thread(target=self._beat, name="lsm-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        count = 0
        while not self._stop.wait(self.BEAT_S):
            count += 1
            try:
                self._client.key_value_set(f"lsm/beat/{self.cluster.process_id}", str(count),
                                           allow_overwrite=True)
            except Exception:  # the coordinator is gone: explain_failure says so
                return

    def close(self) -> None:
        """Stop the heartbeat."""
        self._stop.set()

    def share(self, value: Any = None) -> Any:
        """Process 0's ``value`` (JSON-ready), on every process; waits for it at most
        ``max(peer_timeout, 300)`` seconds.

        Raises:
            PeerError: process 0 did not answer in time.
        """
        if self._client is None:
            return value
        self._shared += 1
        key = f"lsm/share/{self._shared}"
        if self.cluster.chief:
            self._client.key_value_set(key, json.dumps(value))
            return value
        timeout_s = max(self.cluster.peer_timeout, 300)
        try:
            return json.loads(self._client.blocking_key_value_get(key, timeout_s * 1000))
        except Exception as e:
            raise PeerError(f"process 0 did not answer within {timeout_s} s "
                            f"({str(e).splitlines()[0]})") from None

    def any_of(self, *flags: bool) -> tuple[bool, ...]:
        """For each flag, whether it is set on any process (a collective: every process
        calls it with as many flags)."""
        if self._client is None:
            return tuple(bool(f) for f in flags)
        from jax.experimental import multihost_utils

        got = multihost_utils.process_allgather(np.array([int(f) for f in flags], np.int32))
        return tuple(bool(v) for v in np.asarray(got).reshape(-1, len(flags)).max(axis=0))

    def post_failure(self, message: str) -> None:
        """Tell the other processes why this one stops (best effort)."""
        if self._client is None:
            return
        try:
            self._client.key_value_set(f"lsm/failed/{self.cluster.process_id}", message,
                                       allow_overwrite=True)
        except Exception:
            pass

    def explain_failure(self) -> str | None:
        """Which process failed (its posted message) or went silent, reading the store for up
        to ``peer_timeout`` seconds; None when every other process still runs (the error
        was this process's own)."""
        if self._client is None:
            return None
        me, n = self.cluster.process_id, self.cluster.num_processes
        deadline = time.monotonic() + self.cluster.peer_timeout
        last: dict[int, str] = {}
        while True:
            try:
                failed = dict(self._client.key_value_dir_get("lsm/failed/"))
                beats = dict(self._client.key_value_dir_get("lsm/beat/"))
            except Exception:
                return "process 0 (it hosts the run's coordination service) is gone"
            if failed:
                return "; ".join(f"process {k.rsplit('/', 1)[-1]} failed: {v}"
                                 for k, v in sorted(failed.items()))
            now = {int(k.rsplit("/", 1)[-1]): v for k, v in beats.items()}
            silent = sorted(i for i in range(n) if i != me and last and now.get(i) == last.get(i))
            if silent:
                return (f"process{'es' if len(silent) > 1 else ''} "
                        f"{', '.join(map(str, silent))} stopped (no heartbeat)")
            if time.monotonic() > deadline:
                return None
            last = now
            time.sleep(3 * self.BEAT_S)


def is_peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is a collective that failed because another process went away."""
    name = type(error).__name__
    text = str(error)
    return (name in ("JaxRuntimeError", "XlaRuntimeError")
            or (isinstance(error, ValueError)
                and any(s in text for s in ("Gloo", "UNAVAILABLE", "coordination"))))


__all__ = ["Cluster", "PeerError", "Peers", "ProcessSettings", "TF_REFUSAL", "is_peer_failure",
           "process_settings", "setup", "teardown"]
