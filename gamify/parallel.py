"""Training on many devices and many processes, on JAX's own sharding and distributed runtime.

A :class:`Layout` is a one-dimensional mesh of devices (axis ``"games"``). A
:class:`gamify.Trainer` given one keeps its whole state (parameters, optimizer, replay, best
game) replicated on every device and splits the work, as the "Anakin" architecture does (Hessel
et al. 2021, "Podracer architectures for scalable reinforcement learning"):
- self-play's games, in the run's *shards* (``TrainConfig.shards``): each device plays its
  shards to their end with no communication (``jax.shard_map`` in
  :func:`gamify.selfplay.make_selfplay`). Sharding the game batch by ``jit`` alone was 3×
  slower on two CPU devices: the partitioner turned mctx's batch-indexed tree updates into
  collectives in every simulation.
- the examples of each learner batch (sharded ``jit``, :meth:`Layout.split`): XLA averages
  the gradients across devices.

What "the same run" means on N devices: each shard draws its own random stream whatever device
plays it, and the replay is sampled alike, so a run plays the same games on any number of
devices that divides its shards; only float sums come out in another order (a gradient is
summed per device, then across), which moves parameters by rounding. The tests hold the best
solution and the counts equal and the metrics within 1e-4.

Several processes (hosts, or processes on one host) join with :func:`connect`
(``jax.distributed.initialize``); every process then runs the same program over the mesh of
all processes' devices, and only process 0 writes files (:func:`writes_files`).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "games"


class Layout:
    """Devices in a 1-D mesh: what a Trainer's state is replicated on and its games split over.

    Args:
      devices: the devices, of this process and (after :func:`connect`) of the others.
    """

    def __init__(self, devices: Sequence[jax.Device]):
        if not devices:
            raise ValueError("a layout needs at least one device")
        self.devices = tuple(devices)
        self.mesh = Mesh(np.asarray(self.devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, P())

    @property
    def size(self) -> int:
        return len(self.devices)

    def __repr__(self) -> str:
        return f"Layout({self.size} × {self.devices[0].platform})"

    def split(self, tree):
        """Inside jit: ``tree``'s arrays split over the devices along their first axis (examples)."""
        sharding = NamedSharding(self.mesh, P(AXIS))
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)

    def place(self, tree):
        """Host (or single-device) values as arrays replicated on every device of the layout,
        those of other processes included (each process passes the same values)."""

        def put(x):
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, self.replicated, lambda index: x[index])

        return jax.tree.map(put, tree)

    def check_divisible(self, **counts: int) -> None:
        """Raises ValueError naming the first count that does not split evenly over the devices."""
        for name, count in counts.items():
            if count % self.size:
                raise ValueError(
                    f"{name} ({count}) must be a multiple of the number of devices ({self.size})"
                )


def layout(devices: int | None = None) -> Layout:
    """The first ``devices`` devices of the job (every process's; default: all of them).

    Raises:
      ValueError: more devices asked for than the job has.
    """
    available = jax.devices()
    if devices is None:
        devices = len(available)
    if not 1 <= devices <= len(available):
        where = f"{jax.process_count()} processes" if jax.process_count() > 1 else "this process"
        raise ValueError(
            f"{devices} devices asked for, {where} {'have' if jax.process_count() > 1 else 'has'} "
            f"{len(available)} ({available[0].platform}); on CPU, "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N makes N"
        )
    return Layout(available[:devices])


def parse_coordinator(text: str) -> str:
    """``HOST:PORT`` checked (the port in 1..65535); returned as given."""
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)", text)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return text


def connect(
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
    *,
    timeout: int = 120,
    heartbeat: int = 20,
) -> None:
    """Joins this process to a multi-process job (``jax.distributed.initialize``); call it before
    anything else touches JAX.

    Args:
      coordinator: process 0's ``HOST:PORT`` (process 0 listens there), or None to let JAX
        find the job from its environment (Slurm, Open MPI, Kubernetes, TPU pods).
      num_processes, process_id: the job's size and this process's index (None with
        ``coordinator=None``).
      timeout: seconds to wait for every process to join.
      heartbeat: seconds without news from a process after which the job is stopped (JAX's
        coordination service ends every process with an error naming the lost one).

    Raises:
      ValueError: inconsistent arguments, or the job could not be formed in time.
    """
    if coordinator is not None:
        host, port = parse_coordinator(coordinator).rsplit(":", 1)
        if num_processes is None or process_id is None:
            raise ValueError("a coordinator needs --num-processes and --process-id")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ValueError(f"process id {process_id} is not in 0..{num_processes - 1}")
        if process_id != 0:  # JAX's client aborts the process when it cannot connect: look first
            _wait_for_port(host.strip("[]"), int(port), timeout)
    try:
        jax.distributed.initialize(
            coordinator,
            num_processes,
            process_id,
            initialization_timeout=timeout,
            heartbeat_timeout_seconds=heartbeat,
        )
    except (RuntimeError, ValueError) as error:  # XlaRuntimeError is a RuntimeError
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        where = coordinator or "the environment's coordinator"
        raise ValueError(f"could not join the job at {where} within {timeout} s: {detail}") from None


def _wait_for_port(host: str, port: int, timeout: float) -> None:
    """Returns once ``host:port`` accepts a TCP connection; ValueError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ValueError(
                    f"could not join the job at {host}:{port} within {timeout:g} s: "
                    f"{error.strerror or error} (is process 0 running, and is the port open?)"
                ) from None
            time.sleep(0.5)


def writes_files() -> bool:
    """True in the process that writes checkpoints, metrics, results and progress: process 0."""
    return jax.process_index() == 0


def agree(values: Sequence[float]) -> np.ndarray:
    """Process 0's ``values`` in every process (a no-op in a single process): decisions taken on
    local clocks or signals (budgets, Ctrl-C) are taken once, so no process leaves the others
    waiting in a collective."""
    values = np.asarray(values, np.float32)
    if jax.process_count() == 1:
        return values
    return np.asarray(multihost_utils.broadcast_one_to_all(values))
