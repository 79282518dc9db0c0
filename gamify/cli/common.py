"""What every command shares: user errors, argument types, run directories and the one
start-or-resume flow of the commands that train (``gamify train``, ``gamify search``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import jax

from gamify import parallel, runs, train
from gamify.game import Game
from gamify.progress import ProgressDisplay
from gamify.registry import load_game
from gamify.tensor.formats import format_scheme, write_scheme
from gamify.tensor.scheme import Scheme

EXP_MAX_SIZE = 9  # .exp names entries by one digit per index: matrices up to 9×9


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 90, 90s, 5m, 1.5h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def probability(text: str) -> float:
    """An argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}")
    return value


def integers(text: str) -> list[int]:
    """An argparse type: comma-separated integers."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def three_sizes(text: str) -> tuple[int, int, int]:
    """An argparse type: three positive sizes, N,M,P."""
    values = integers(text)
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive sizes N,M,P, got {text!r}")
    return tuple(values)


@contextlib.contextmanager
def graceful_stop(what: str) -> Iterator[Callable[[], bool]]:
    """Within it, a first Ctrl-C asks the work to stop at its next safe point (where it keeps
    what it has) instead of raising KeyboardInterrupt wherever Python happens to be; a second
    Ctrl-C interrupts at once.

    Yields:
      ``stop_requested() -> bool``, for the work to poll.
    """
    requested = threading.Event()

    def on_sigint(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print(f"\ngamify: stopping {what} (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def write_scheme_files(scheme: Scheme, path: Path) -> list[Path]:
    """Writes a verified scheme as gamify JSON at ``path``, plus ``.exp`` beside it for matmul
    schemes whose matrices .exp can name; returns the paths written."""
    write_scheme(scheme, path)
    written = [path]
    if scheme.matmul is not None and max(scheme.matmul) <= EXP_MAX_SIZE:
        write_scheme(scheme, path.with_suffix(".exp"))
        written.append(path.with_suffix(".exp"))
    return written


def ensure_writable(out: Path) -> None:
    """Creates the folder ``out`` if needed and checks that files can be written there, before
    any work whose result would go there is done."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {e.strerror}") from None


def prepare_run_dir(out: Path, resume: bool) -> None:
    """Checks that ``out`` holds a run to resume, or is empty (or new) and writable."""
    if resume:
        if not (out / runs.CONFIG).exists():
            raise UsageError(f"--resume: {out} holds no run (no {runs.CONFIG})")
        return
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} already holds files; use --resume to continue it or choose another --out")
    ensure_writable(out)


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``out`` (a file ``.gamify.lock`` in it) while its results are
    compared and replaced, so two commands writing into one folder take turns."""
    with open(out / ".gamify.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_or_rescue(scheme: Scheme, path: Path) -> list[Path]:
    """:func:`write_scheme_files`; when that fails (a full or read-only disk), the scheme goes to a
    new folder under the system's temporary directory, or as JSON to stdout, and then
    UsageError says where: a verified result is never lost."""
    try:
        return write_scheme_files(scheme, path)
    except OSError as e:
        failure = f"cannot write {e.filename or path}: {e.strerror}"
    try:
        rescued = write_scheme_files(scheme, Path(tempfile.mkdtemp(prefix="gamify-")) / path.name)
        where = "written to " + ", ".join(map(str, rescued)) + " instead"
    except OSError:
        sys.stdout.write(format_scheme(scheme))
        where = "printed above as gamify JSON"
    raise UsageError(f"{failure}; the rank-{scheme.rank} scheme was {where}")


def add_parallel_options(parser) -> None:
    """``--devices`` and the options that join a job of several processes."""
    group = parser.add_argument_group(
        "devices and processes (README: Scaling out)",
        "Self-play's games and each learner batch are split over the devices, the network is "
        "replicated; in a job of several processes every process runs this same command (with "
        "its own --process-id) and only process 0 writes files and shows progress.",
    )
    group.add_argument(
        "--devices",
        type=positive_int,
        metavar="N",
        help="devices to use (default: every device of the job; on a CPU, "
        "XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)",
    )
    group.add_argument(
        "--shards",
        type=positive_int,
        metavar="S",
        help="self-play's games in S groups, each with its own random stream, fixed when the run "
        "is created (default: the number of devices): the run is the same on any number of "
        "devices that divides S, and can resume on any of them",
    )
    group.add_argument(
        "--coordinator",
        metavar="HOST:PORT|auto",
        help="join a job of several processes: process 0's address (it listens on that port), or "
        "auto: the job as Slurm, Open MPI or Kubernetes describe it",
    )
    group.add_argument("--num-processes", type=positive_int, metavar="N", help="processes in the job")
    group.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1")
    group.add_argument(
        "--join-timeout",
        type=parse_duration,
        default=120.0,
        metavar="T",
        help="how long to wait for every process to join (default 2m)",
    )
    group.add_argument(
        "--heartbeat",
        type=parse_duration,
        default=20.0,
        metavar="T",
        help="a process silent this long is taken as lost, and the whole job stops (default 20s)",
    )


def start_job(args) -> parallel.Layout | None:
    """Joins the job (``--coordinator``) and picks the devices (``--devices``); call it before
    anything touches JAX. Returns None for a single device (plain jit)."""
    if args.coordinator is None and (args.num_processes is not None or args.process_id is not None):
        raise UsageError("--num-processes and --process-id need --coordinator")
    if args.coordinator is not None:
        try:
            parallel.connect(
                None if args.coordinator == "auto" else args.coordinator,
                args.num_processes,
                args.process_id,
                timeout=max(1, round(args.join_timeout)),
                heartbeat=max(1, round(args.heartbeat)),
            )
        except ValueError as e:
            raise UsageError(f"--coordinator: {e}") from None
    try:
        layout = parallel.layout(args.devices)
    except ValueError as e:
        raise UsageError(f"--devices: {e}") from None
    return layout if layout.size > 1 else None


def with_shards(
    config: train.TrainConfig, shards: int | None, layout: parallel.Layout | None
) -> train.TrainConfig:
    """``config`` playing its games in ``shards`` (``--shards``; default the number of devices),
    with its evaluation games rounded up to a multiple of them."""
    shards = shards or (layout.size if layout is not None else 1)
    if config.games_per_iteration % shards:
        raise UsageError(
            f"--shards: the {config.games_per_iteration} games of an iteration do not split into {shards}"
        )
    eval_games = -(-config.eval_games // shards) * shards
    return dataclasses.replace(config, shards=shards, eval_games=eval_games)


def check_layout(layout: parallel.Layout | None, config: train.TrainConfig) -> None:
    """UsageError naming the option when the run's shards or batch do not split over the devices."""
    if layout is None:
        return
    if config.shards % layout.size:
        raise UsageError(
            f"--shards: the run plays its games in {config.shards} shards, which do not split over "
            f"{layout.size} devices (use --devices D for a D that divides {config.shards})"
        )
    if config.batch_size % layout.size:
        raise UsageError(
            f"--batch-size ({config.batch_size}) must be a multiple of the number of devices ({layout.size})"
        )


def open_run(
    out: Path,
    game_spec: str,
    game_args: dict,
    config: train.TrainConfig,
    *,
    resume: bool,
    same_settings: bool = False,
    check: Callable[[Game], None] | None = None,
    explicit_network: frozenset[str] | None = None,
) -> tuple[runs.RunDirectory, Game, train.TrainConfig]:
    """Creates a run directory, or reopens one for ``--resume``; loads the game.

    A new run records the game, its arguments and version, and the settings in
    ``config.json``. A resumed run takes them from there (a run's settings are fixed when
    it is created) and refuses to continue when the installed game's rules have changed
    since (its ``version``).

    Args:
      out: the run directory.
      game_spec, game_args, config: what a new run is made of.
      resume: reopen ``out`` instead.
      same_settings: on resume, also require ``game_args`` to equal the recorded ones (a
        command whose options are the game's arguments).
      check: called with the game before anything is written; raises UsageError.
      explicit_network: for a new run, take the game's ``network_defaults`` for every
        NetworkConfig field not named here (the ones the command line set); None: ignore them.

    Returns:
      ``(directory, game, config)``. In a job of several processes only process 0 checks that
      ``out`` is new and writes there; the others make the same game and config.
    """
    directory = runs.RunDirectory(out)
    if directory.writes or resume:
        prepare_run_dir(out, resume)
    if resume:
        record = directory.read_config()
        if record["game"] != game_spec:
            raise UsageError(f"--resume: {out} is a run of {record['game']!r}, not {game_spec!r}")
        if same_settings and record["game_args"] != game_args:
            raise UsageError(f"--resume: {out} holds a run with other settings ({record['game_args']})")
        game_args, config = record["game_args"], record["train"]
    game = load_game(game_spec, **game_args)
    if resume and record.get("game_version") not in (None, game.version):
        raise UsageError(
            f"--resume: {out} was made with {game_spec} version {record['game_version']}, the installed "
            f"game is version {game.version} (its rules changed): start a new run"
        )
    if check is not None:
        check(game)
    if not resume:
        if explicit_network is not None:
            suggested = {k: v for k, v in game.network_defaults.items() if k not in explicit_network}
            config = dataclasses.replace(config, network=dataclasses.replace(config.network, **suggested))
        directory.write_config(game_spec, game_args, config, game_version=game.version)
    return directory, game, config


@contextlib.contextmanager
def discarded_if_unstarted(out: Path, resume: bool) -> Iterator[None]:
    """Enter after :func:`open_run`: a new run that fails or is interrupted before its first
    metrics line leaves ``out`` empty again (open_run found it empty or absent, so all it holds
    is the run's), and the same ``--out`` works again."""
    try:
        yield
    except BaseException:
        metrics = out / runs.METRICS
        started = (metrics.exists() and metrics.stat().st_size) or (out / runs.CHECKPOINT).exists()
        if not resume and not started and parallel.writes_files():
            with contextlib.suppress(OSError):  # the error that got us here is the one to report
                for path in out.iterdir():
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise


def train_with_progress(
    trainer: train.Trainer,
    directory: runs.RunDirectory,
    budget: runs.Budget,
    *,
    resume: bool,
    quiet: bool,
    rank: bool = False,
    checkpoint_every: float = 30.0,
) -> tuple[train.TrainState, str]:
    """Trains from the run's checkpoint (on resume) until the budget, with live progress.

    Returns:
      ``(final state, why it stopped)``; the reason is ``runs.STOPPED`` after a Ctrl-C, which
      the command then reports with exit status 130 once it has written its results.
    """
    state, elapsed = None, 0.0
    if resume and directory.has_checkpoint():
        state, elapsed = directory.load(trainer)
    elif resume:  # said even with --quiet: the run's log starts over
        directory.drop_metrics_after(0)
        print(
            f"{directory.dir} has no checkpoint: starting it from the beginning (its metrics log too; "
            "best.json is kept unless beaten)",
            file=sys.stderr,
        )
    quiet = quiet or not directory.writes  # one progress display per job: process 0's
    with ProgressDisplay(max_seconds=budget.max_seconds, quiet=quiet, rank=rank) as display:
        if state is not None:
            display.message(
                f"resuming {directory.dir} at iteration {int(state.iteration)}, {int(state.games)} games"
            )
        try:
            with graceful_stop("after this iteration, with a checkpoint") as stop_requested:
                trainer.check_memory()  # before anything is allocated
                state, reason = runs.train_until(
                    trainer,
                    directory,
                    budget,
                    state=state,
                    elapsed=elapsed,
                    checkpoint_every=checkpoint_every,
                    on_iteration=display.update,
                    should_stop=stop_requested,
                )
        except jax.errors.JaxRuntimeError as error:
            if jax.process_count() == 1:
                raise
            detail = str(error).strip().splitlines()[0]  # a collective failed: a peer is gone
            raise UsageError(
                f"the job lost a process ({detail}); its last checkpoint is in {directory.dir}: "
                "start the job again with --resume"
            ) from None
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the loop
            saved, where = directory.saved_iteration, directory.dir
            if saved is not None:
                said = f"interrupted: checkpoint of iteration {saved} saved in {where}"
            elif directory.has_checkpoint():
                said = f"interrupted: {where} keeps its earlier checkpoint"
            else:
                said = "interrupted before the first checkpoint: nothing saved"
            print(said, file=sys.stderr)
            raise
    if reason == runs.STOPPED:
        print(f"interrupted: checkpoint of iteration {directory.saved_iteration} saved in {directory.dir}")
    return state, reason
