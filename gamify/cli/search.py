"""``gamify search``: find a low-rank decomposition of a matmul tensor or any 3-way tensor.

Trains the tensor decomposition game by self-play plus synthetic demonstrations,
stops at the target rank or the time budget, and writes the best decomposition as
a verified scheme (gamify JSON, plus Kauers–Moosbauer ``.exp`` for matmul), the
metrics log and a plot of the best rank against time.

Known schemes teach the network too: ``--demonstrations FILE ...`` and every scheme
``--improve flips`` finds below the learned one are kept in the run's ``demonstrations/``
folder (gamify JSON, named by rank and content, so a scheme is kept once), and each of
them is replayed into the replay buffer once per iteration, each time in a fresh random
basis (``--demonstrations-basis given``: as written), this run and every ``--resume`` of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from gamify import parallel, pretrain, runs, train
from gamify.checkpoint import CheckpointError
from gamify.cli.common import (
    UsageError,
    add_parallel_options,
    check_layout,
    discarded_if_unstarted,
    integers,
    open_run,
    parse_duration,
    positive_int,
    probability,
    start_job,
    train_with_progress,
    with_shards,
    write_or_rescue,
)
from gamify.demonstrations import stack_episodes
from gamify.learner import LearnerConfig
from gamify.networks import NetworkConfig
from gamify.plots import plot_best_over_time
from gamify.registry import load_game
from gamify.search import SearchConfig
from gamify.tensor.bound import slice_rank_bound_exact
from gamify.tensor.flips import walk
from gamify.tensor.formats import SchemeFormatError, read_scheme, write_scheme
from gamify.tensor.records import reference_ranks
from gamify.tensor.scheme import Scheme
from gamify.tensor.targets import outside_z2

GAME = "tensor_decomposition"
PRESETS = ("cpu", "gpu", "tiny")
DEMONSTRATIONS = "demonstrations"  # the run's folder of schemes replayed every iteration
OPTION_OF_SETTING = {  # SearchConfig's names in its errors -> the options that set them
    "num_simulations": "--simulations",
    "num_samples": "--samples",
    "sample_temperature": "--temperature",
    "root_reward_weight": "--root-reward-weight",
}


def preset(name: str):
    """Settings per machine class: "cpu" is sized for a 2-core CPU and small tensors,
    "gpu" is a larger AlphaTensor-like network for an accelerator, "tiny" compiles in
    seconds (smoke tests, toy tensors)."""
    return {
        "cpu": train.TrainConfig(
            games_per_iteration=32,
            updates_per_iteration=32,
            batch_size=128,
            replay_capacity=50_000,
            demonstrations_per_iteration=64,
            eval_every=0,
            # A residual MLP: on 2 CPU cores an update costs ~4x less than the axial torso's.
            network=NetworkConfig(
                torso="resnet",
                hidden_size=256,
                num_layers=3,
                head_hidden_size=256,
                token_embed_size=64,
                num_quantiles=8,
            ),
            search=SearchConfig(
                num_simulations=32, num_samples=16, max_num_considered_actions=16, root_reward_weight=10.0
            ),
            learner=LearnerConfig(learning_rate=1e-3),
        ),
        "gpu": train.TrainConfig(
            games_per_iteration=256,
            updates_per_iteration=16,
            batch_size=512,
            replay_capacity=500_000,
            demonstrations_per_iteration=256,
            eval_every=0,
            network=NetworkConfig(
                torso="axial",
                hidden_size=128,
                num_layers=4,
                num_heads=8,
                head_hidden_size=256,
                token_embed_size=128,
                num_quantiles=16,
            ),
            search=SearchConfig(
                num_simulations=128, num_samples=32, max_num_considered_actions=16, root_reward_weight=10.0
            ),
            learner=LearnerConfig(learning_rate=5e-4),
        ),
        "tiny": train.TrainConfig(
            games_per_iteration=8,
            updates_per_iteration=2,
            batch_size=32,
            replay_capacity=2048,
            demonstrations_per_iteration=8,
            eval_every=0,
            network=NetworkConfig(
                torso="axial",
                hidden_size=8,
                num_layers=1,
                num_heads=2,
                head_hidden_size=16,
                token_embed_size=8,
                num_quantiles=4,
            ),
            search=SearchConfig(num_simulations=8, num_samples=8, max_num_considered_actions=8),
        ),
    }[name]


def add_parsers(commands) -> None:
    """Adds ``search matmul`` and ``search tensor`` to the CLI's subcommands."""
    search = commands.add_parser(
        "search",
        help="find a low-rank decomposition of a matmul tensor or any tensor",
        description="Learn and search for a low-rank decomposition (a scheme) of the matrix "
        "multiplication tensor ⟨N,M,P⟩ or of any 3-way tensor, over Z2 or Z. Stops at "
        "--target-rank or --budget; writes the best verified scheme, metrics and a plot.",
    )
    for sub in target_kinds(search, "search"):
        add_parallel_options(sub)
        sub.add_argument("--target-rank", type=int, help="stop once a decomposition of this rank is found")
        sub.add_argument(
            "--budget", type=parse_duration, default=600.0, help="wall time, e.g. 10m (default 10m)"
        )
        sub.add_argument(
            "--change-of-basis",
            type=probability,
            default=1.0,
            metavar="P",
            help="probability that a game starts in a random basis (AlphaTensor's augmentation; 1.0)",
        )
        sub.add_argument(
            "--simulations",
            type=int,
            metavar="N",
            help="search simulations per move (preset: cpu 32, gpu 128)",
        )
        sub.add_argument(
            "--samples",
            type=int,
            metavar="K",
            help="factored actions: candidate moves drawn from the policy per node (preset: cpu 16, gpu 32)",
        )
        sub.add_argument(
            "--temperature",
            type=float,
            metavar="T",
            help="factored actions: draw the candidates from the policy flattened to p^(1/T) (1 = as it "
            "is; above 1 more varied candidates, corrected for in the priors as Sampled MuZero does)",
        )
        sub.add_argument(
            "--root-reward-weight",
            type=float,
            metavar="W",
            help="flat actions: weight of each root move's immediate reward in its prior (preset: 10; "
            "0 = the network's prior alone)",
        )
        sub.add_argument(
            "--improve",
            choices=["flips"],
            help="then lower the found scheme's rank by flip-graph walks over Z2 (gamify improve)",
        )
        sub.add_argument(
            "--improve-time", type=parse_duration, default=60.0, help="wall time for --improve (default 1m)"
        )
        sub.add_argument(
            "--demonstrations",
            type=Path,
            nargs="+",
            default=[],
            metavar="FILE",
            help="known schemes to learn from (any format gamify reads, checked exactly): each is "
            "replayed once per iteration beside the synthetic demonstrations and kept in "
            "OUT/demonstrations/, which --resume replays too, with the schemes --improve found",
        )
        sub.add_argument(
            "--demonstrations-basis",
            choices=["random", "given"],
            default="random",
            help="replay each known scheme in a fresh random basis every iteration (random), or only "
            "as written (given: the ablation that shows what the random bases add)",
        )
        sub.add_argument(
            "--demonstration-repeats",
            type=positive_int,
            default=1,
            metavar="N",
            help="replay each known scheme N times per iteration, each copy in its own random basis "
            "(its weight among the self-play and synthetic examples; 1)",
        )
        sub.add_argument(
            "--network",
            choices=["trained", "frozen", "uniform"],
            default="trained",
            help="frozen: the network keeps its initial (or --init) weights (learning rate 0; the "
            "same search and compute otherwise); uniform: no network, a uniform prior and value 0 "
            "(the search alone). The ablations that show what learning adds (trained)",
        )
        sub.add_argument(
            "--init",
            type=Path,
            metavar="PRETRAINED",
            help="start the network from a gamify pretrain run (its folder): the same target, "
            "--field, --coefficients, --actions and --preset; self-play then fine-tunes it",
        )


def target_kinds(parser, command: str) -> tuple:
    """Adds the ``matmul N M P`` and ``tensor FILE`` subcommands, each with
    :func:`add_game_options`, to ``parser``; returns both, for the command's own options."""
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    matmul = kinds.add_parser("matmul", help="the tensor of multiplying N×M by M×P matrices")
    for name in ("n", "m", "p"):
        matmul.add_argument(name, type=int, metavar=name.upper())
    tensor = kinds.add_parser("tensor", help="any 3-way tensor from a .npy or text file")
    tensor.add_argument("file", type=Path, metavar="FILE")
    for sub in (matmul, tensor):
        add_game_options(sub, command)
    return matmul, tensor


def add_game_options(sub, command: str) -> None:
    """The options that define the game and the run's folder, shared by search and pretrain."""
    sub.add_argument("--field", choices=["z2", "z"], default="z2", help="coefficients mod 2 or integers (z2)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (0)")
    sub.add_argument("--out", type=Path, help=f"output directory (default runs/{command}-...)")
    sub.add_argument("--resume", action="store_true", help=f"continue the {command} run in --out")
    sub.add_argument("--preset", choices=PRESETS, default="cpu", help="network and search sizes (cpu)")
    sub.add_argument(
        "--max-rank",
        type=int,
        help="step limit: longest decomposition tried (pretrain: the largest random one drawn)",
    )
    sub.add_argument(
        "--actions",
        choices=["auto", "flat", "factored"],
        default="auto",
        help="one action per term (flat, with a full-width look at the root's rewards) or "
        "tokens (factored, sampled search); auto: flat for few terms, e.g. ⟨2,2,2⟩ over z2",
    )
    sub.add_argument(
        "--coefficients",
        type=integers,
        metavar="F",
        help="factor entries allowed over z, comma-separated, e.g. --coefficients=-1,0,1 (default -2..2)",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress display")


def game_args_of(args, command: str) -> tuple[dict, str]:
    """The tensor game's arguments from :func:`add_game_options`' options, and the run's
    default folder name."""
    game_args = {"field": args.field}
    if hasattr(args, "change_of_basis"):
        game_args["change_of_basis"] = args.change_of_basis
    if args.coefficients is not None:
        game_args["coefficients"] = args.coefficients
    game_args["actions"] = args.actions
    if args.max_rank is not None:
        game_args["max_steps"] = args.max_rank
    if args.kind == "matmul":
        game_args.update(n=args.n, m=args.m, p=args.p)
        return game_args, f"{command}-matmul-{args.n}x{args.m}x{args.p}-{args.field}"
    game_args["target"] = str(args.file.resolve())
    return game_args, f"{command}-{args.file.stem}-{args.field}"


def scheme_from_actions(game, actions: np.ndarray):
    """The rank-one terms of a game's moves as a :class:`Scheme`."""
    terms = [game.decode(action) for action in actions]
    u, v, w = (np.array([term[i] for term in terms], np.int64).reshape(len(terms), -1) for i in range(3))
    target = None if game.matmul else game.target  # a matmul tensor is known by its sizes
    return Scheme(u=u, v=v, w=w, field=game.field, matmul=game.matmul, target=target)


def run_search(args) -> int:
    """The ``gamify search`` command."""
    layout = start_job(args)  # before anything touches JAX
    game_args, default_name = game_args_of(args, "search")
    out = args.out or Path("runs") / default_name
    config = with_shards(dataclasses.replace(preset(args.preset), seed=args.seed), args.shards, layout)
    overrides = {
        "root_reward_weight": args.root_reward_weight,
        "num_simulations": args.simulations,
        "num_samples": args.samples,
        "sample_temperature": args.temperature,
    }
    overrides = {name: value for name, value in overrides.items() if value is not None}
    try:
        config = dataclasses.replace(config, search=dataclasses.replace(config.search, **overrides))
    except ValueError as error:  # e.g. --simulations 0: SearchConfig names the setting
        message = str(error)
        for setting, option in OPTION_OF_SETTING.items():
            message = message.replace(setting, option)
        raise UsageError(message) from None
    if args.network != "trained":  # same search, same updates computed, none applied
        config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, learning_rate=0.0))
    if args.network == "uniform":
        config = dataclasses.replace(config, network=dataclasses.replace(config.network, torso="uniform"))
    config = dataclasses.replace(
        config,
        vary_episodes=args.demonstrations_basis == "random",
        episode_repeats=args.demonstration_repeats,
    )
    schemes = []

    def check(game) -> None:  # every setting and file checked before anything is written
        if args.init is not None and args.network == "uniform":
            raise UsageError("--init gives a network its weights; --network uniform has none")
        if args.improve and (game.field != "z2" or max(game.shape) > 64):
            raise UsageError("--improve flips works over z2 with factors of at most 64 entries")
        if args.target_rank is not None and not 1 <= args.target_rank <= game.max_steps:
            raise UsageError(
                f"--target-rank must be in [1, {game.max_steps}] (the step limit), got {args.target_rank}"
            )
        schemes.extend(_read_demonstration(game, path)[0] for path in args.demonstrations)
        if args.kind == "tensor" and game.field == "z2" and outside_z2(args.file):
            print(f"note: {args.file} has entries other than 0 and 1: over z2 they are taken mod 2")

    directory, game, config = open_run(
        out, GAME, game_args, config, resume=args.resume, same_settings=True, check=check
    )
    with discarded_if_unstarted(out, args.resume):
        check_layout(layout, config)
        return _search(args, out, directory, game, config, schemes, layout)


def _search(args, out, directory, game, config, schemes, layout) -> int:
    """The search itself, once the run directory is open."""
    if directory.writes:
        for scheme in schemes:
            record_demonstration(scheme, out)
    parallel.agree([0])  # a barrier in a job of several processes: the others read what 0 recorded
    trainer = train.Trainer(game, config, episodes=load_demonstrations(game, out), layout=layout)
    if args.init is not None and not (args.resume and (out / runs.CHECKPOINT).exists()):
        trainer.initial_params = load_pretrained(args.init, trainer)
    target = None if args.target_rank is None else -float(args.target_rank)
    budget = runs.Budget(max_seconds=args.budget, target_return=target)
    state, reason = train_with_progress(
        trainer, directory, budget, resume=args.resume, quiet=args.quiet, rank=True
    )
    if not directory.writes:  # process 0 verifies, improves, writes and reports for the job
        return 130 if reason == runs.STOPPED else 0
    print(f"stopped: {reason}; {int(state.games)} games in {state_elapsed(out):.0f} s; files in {out}")
    status = 130 if reason == runs.STOPPED else 0
    solution = train.best_solution(trainer, state)
    if solution is None or not solution["solved"]:
        # The slice ranks give a decomposition of the target itself: never report worse.
        known = slice_rank_bound_exact(game.target, game.field)
        searched = (
            "" if solution is None else f"; the search's best game ended at rank ≤ {-solution['return']:g}"
        )
        print(f"no complete decomposition found yet: rank ≤ {known} from the target's slice ranks{searched}")
        _plot(out, game, args)
        return status
    scheme = scheme_from_actions(game, np.asarray(solution["actions"]))
    check = scheme.verify(game.target)
    if not check.ok:  # the game's rules guarantee this; never write an unverified scheme
        raise RuntimeError(f"internal error: the found decomposition does not verify: {check}")
    print(f"rank {scheme.rank} decomposition, verified exactly over {game.field.upper()}:")
    print(solution["text"])
    learned = scheme
    if args.improve:
        write_scheme(scheme, out / "scheme-search.json")
        scheme = improve_with_flips(scheme, game.target, args.target_rank or 1, args.improve_time, args.seed)
    written = write_or_rescue(scheme, out / "scheme.json")  # first: the plot is optional
    print("written: " + ", ".join(map(str, written)))
    if scheme is not learned:  # the walk found better: a resumed search learns from it
        game.scheme_demonstration(scheme)  # playable as moves, as a resume needs
        print(f"recorded {record_demonstration(scheme, out)} as a demonstration for --resume")
    _plot(out, game, args)
    return status


def _plot(out: Path, game, args) -> None:
    """best_rank.png from the metrics, with the target and best-known ranks as lines; a
    failure says why and costs nothing else."""
    field = game.field.upper()
    if game.matmul:
        title = "⟨{},{},{}⟩ over {}".format(*game.matmul, field)
        best_known = reference_ranks(game.matmul, game.field)["best_known"]
    else:
        title, best_known = f"{args.file.name} over {field}", None
    try:
        plot_best_over_time(
            out / runs.METRICS,
            out / "best_rank.png",
            ylabel="best rank",
            negate=True,
            title=f"gamify search: {title}",
            target=args.target_rank,
            best_known=best_known,
        )
    except (OSError, ValueError) as error:
        print(f"best_rank.png not written: {error}")
    else:
        print(f"written: {out / 'best_rank.png'}")


def record_demonstration(scheme, out: Path) -> Path:
    """Writes a scheme into the run's demonstrations, named by rank and content (kept once)."""
    digest = hashlib.sha256(b"".join(factor.tobytes() for factor in (scheme.u, scheme.v, scheme.w)))
    path = out / DEMONSTRATIONS / f"rank{scheme.rank}-{digest.hexdigest()[:12]}.json"
    path.parent.mkdir(exist_ok=True)
    write_scheme(scheme, path)
    return path


def load_demonstrations(game, out: Path):
    """The episodes of every scheme in the run's demonstrations, batched, or None if there are none."""
    paths = sorted((out / DEMONSTRATIONS).glob("*.json"))
    return stack_episodes([_read_demonstration(game, path)[1] for path in paths]) if paths else None


def _read_demonstration(game, path: Path):
    """(scheme, episode) of a scheme file, read over the game's field; UsageError if unplayable."""
    try:
        scheme = read_scheme(path, field=game.field)
        return scheme, game.scheme_demonstration(scheme)
    except OSError as error:
        raise UsageError(f"--demonstrations: cannot read {path}: {error.strerror}") from None
    except SchemeFormatError as error:  # its message names the file
        raise UsageError(f"--demonstrations: {error}") from None
    except ValueError as error:
        raise UsageError(f"--demonstrations: {path}: {error}") from None


def load_pretrained(path: Path, trainer) -> object:
    """The parameters of a pretrain run's folder (or its checkpoint file) for a search's
    trainer, after checking it was pretrained for the same game.

    Raises:
      UsageError: no pretrain run there, another game, or another network.
    """
    folder = path.parent if path.is_file() else path
    try:
        record = runs.RunDirectory(folder).read_config()
    except CheckpointError as error:
        raise UsageError(f"--init: {error}") from None
    theirs = load_game(record["game"], **record["game_args"])
    ours = trainer.game
    rules = lambda game: (game.shape, game.field, game.coefficients, game.actions)  # noqa: E731
    if rules(theirs) != rules(ours) or (theirs.target != ours.target).any():
        raise UsageError(
            f"--init: {folder} was pretrained for another game ({_describe(theirs)}), this search "
            f"plays {_describe(ours)}"
        )
    try:
        return pretrain.load_params(folder / runs.CHECKPOINT, trainer.fresh_params())
    except CheckpointError as error:
        raise UsageError(
            f"--init: {folder}'s network does not fit this search's (pretrained with another "
            f"--preset?): {error}"
        ) from None


def _describe(game) -> str:
    coefficients = "" if game.field == "z2" else f" coefficients {','.join(map(str, game.coefficients))}"
    return f"shape {game.shape} over {game.field}{coefficients}, {game.actions} actions"


def improve_with_flips(scheme, target: np.ndarray, target_rank: int, seconds: float, seed: int):
    """The learned search's scheme, lowered by flip-graph walks over Z2 when they find better."""
    result = walk(scheme, target_rank, seconds, target=target, seed=seed)
    if result.scheme.rank < scheme.rank:
        print(f"flips: rank {scheme.rank} → {result.scheme.rank} in {result.seconds:.1f} s, verified exactly")
        return result.scheme
    print(f"flips: no lower rank than {scheme.rank} in {result.seconds:.1f} s")
    return scheme


def state_elapsed(out: Path) -> float:
    """Seconds the run has taken, from its last whole metrics line (0 before the first)."""
    for line in reversed((out / runs.METRICS).read_text().splitlines()):
        try:
            return float(json.loads(line)["elapsed"])
        except (ValueError, KeyError, TypeError):
            continue  # a line torn by a kill
    return 0.0


COMMANDS = {"search": run_search}
