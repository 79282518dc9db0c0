"""Commands on schemes: ``gamify verify``, ``gamify flips``, ``gamify improve`` and ``gamify lift``.

Every scheme they print or write is verified exactly first (the library functions they
call, :mod:`gamify.tensor.flips` and :mod:`gamify.tensor.lift`, verify what they return).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from gamify.cli.common import (
    UsageError,
    ensure_writable,
    folder_lock,
    graceful_stop,
    parse_duration,
    positive_int,
    three_sizes,
    write_or_rescue,
)
from gamify.tensor import waring
from gamify.tensor.flips import (
    MAX_DIM,
    MAX_SEED,
    PLATEAU,
    PLATEAU_RANGE,
    FlipResult,
    max_threads,
    standard_scheme,
    symmetric_orbits,
    symmetric_scheme,
    walk,
)
from gamify.tensor.formats import SchemeFormatError, detect_format, npz_keys, read_scheme, write_scheme
from gamify.tensor.lift import DEFAULT_BITS, LiftError, hensel_lift
from gamify.tensor.matmul import matmul_sizes
from gamify.tensor.scheme import Scheme
from gamify.tensor.targets import load_target


def add_parsers(commands) -> None:
    """Adds ``verify``, ``flips``, ``improve`` and ``lift`` to the CLI's subcommands."""
    verify = commands.add_parser(
        "verify",
        help="check a scheme file exactly against its matrix-multiplication tensor (or any tensor), "
        "or a T-count/Toffoli decomposition against its phase tensor",
        description="Read a scheme file and check every Brent equation exactly (over Z, mod 2 over "
        "Z2, or over Q when a coefficient is a fraction such as 1/2) against the ⟨N,M,P⟩ tensor of "
        "its shape, the target a gamify scheme file stores (gamify search tensor writes it), or "
        "--tensor FILE. Prints the format, shape, field and rank, then OK or the first violated "
        "equation. An .npz archive without --key is checked entry by entry. A phase decomposition (gamify "
        "tcount's JSON) is checked against the tensor it stores or --tensor (a phase tensor file or a "
        "shipped name). Exit status: 0 all OK, "
        "1 some scheme is wrong, 2 some input could not be read.",
    )
    verify.add_argument("file", metavar="FILE", type=Path, help=".json, .exp, .txt or .npz scheme file")
    verify.add_argument(
        "--field", choices=["z2", "z", "q"], help="check over this field (default: the file's)"
    )
    verify.add_argument("--key", metavar="N,M,P", help="the .npz entry to check (default: every entry)")
    verify.add_argument(
        "--format", help="gamify, perminov-json, perminov-txt, exp or npz (default: from the file)"
    )
    verify.add_argument(
        "--matmul",
        type=three_sizes,
        metavar="N,M,P",
        help="the sizes the scheme must be for (.exp: instead of its largest indices)",
    )
    verify.add_argument(
        "--tensor",
        type=Path,
        metavar="FILE",
        help="check against this tensor (.npy or text, as gamify search tensor reads) instead",
    )
    flips = commands.add_parser(
        "flips",
        help="flip-graph local search over Z2 from the standard algorithm",
        description="Random walks on the flip graph of ⟨N,M,P⟩ schemes over Z2 (Kauers–Moosbauer), "
        "starting from the naive algorithm (rank N·M·P). Stops at --target-rank or --time; writes "
        "the best scheme, verified, as JSON and .exp.",
    )
    for name in ("n", "m", "p"):
        flips.add_argument(name, type=int, metavar=name.upper())
    flips.add_argument(
        "--field",
        choices=["z2", "z"],
        default="z2",
        help="z2 (walks over Z2); z: the same walks, then the best scheme Hensel-lifted to Z (--lift)",
    )
    flips.add_argument(
        "--symmetric",
        action="store_true",
        help="walk among cyclic-symmetric schemes only (square formats; Moosbauer & Poole): "
        "the way to ⟨5,5,5⟩ rank 93 (--plateau 10000 found it in about a minute on 2 cores)",
    )
    flips.add_argument(
        "--transposed",
        action="store_true",
        help="with --symmetric: keep the transposition symmetry (a,b,c) → (bᵀ,aᵀ,cᵀ) too, the "
        "6-element group of ⟨n,n,n⟩ (a smaller space; --plateau 100 suits it; ⟨4,4,4⟩ reaches 49 "
        "as the cyclic walks do, ⟨5,5,5⟩ ends higher: benchmarks/RESULTS.md)",
    )
    flips.add_argument(
        "--cubes",
        type=lambda text: tuple(text.split(",")),
        help="with --symmetric: the diagonal blocks of the fixed cubes x⊗x⊗x, e.g. 10001,01010,00100 "
        "(default: the partition Moosbauer & Poole used for each size; with --transposed: none, "
        "the walk starts from the naive algorithm)",
    )
    improve = commands.add_parser(
        "improve",
        help="lower the rank of a scheme by flip-graph local search over Z2",
        description="Random walks on the flip graph from a scheme file (any format gamify verify "
        "reads; Z schemes are taken mod 2). Stops at --target-rank or --time; writes the best "
        "scheme, verified, as JSON and .exp.",
    )
    improve.add_argument("file", type=Path, metavar="SCHEME")
    improve.add_argument("--key", help="the scheme's key in an .npz archive, e.g. 4,4,4")
    improve.add_argument(
        "--tensor",
        type=Path,
        metavar="FILE",
        help="the tensor the scheme decomposes (.npy or text, as gamify search tensor reads), for a "
        "scheme of any tensor that stores none (default: the target the file stores, else its matmul shape)",
    )
    improve.add_argument(
        "--lift", action="store_true", help="Hensel-lift the best scheme to Z (or Q) as well (gamify lift)"
    )
    for sub in (flips, improve):
        sub.add_argument("--target-rank", type=int, default=0, help="stop at this rank (default: run --time)")
        sub.add_argument(
            "--time", type=parse_duration, default=60.0, help="wall time, e.g. 30s, 5m (default 1m)"
        )
        sub.add_argument("--seed", type=int, default=0, help="random seed (0)")
        sub.add_argument("--threads", type=int, help="walkers in parallel (default: every core)")
        sub.add_argument(
            "--plateau",
            type=int,
            default=PLATEAU,
            help=f"flips without a reduction before a plus transition ({PLATEAU}; ~20000 suits ⟨4,4,4⟩ up)",
        )
        sub.add_argument(
            "--plateau-max",
            type=int,
            metavar="N",
            help="each stretch between reductions draws its plateau log-uniformly from [--plateau, N] "
            f"(default: --plateau, fixed; {PLATEAU_RANGE} × --plateau helped ⟨4,4,4⟩ and up, hurt "
            "smaller formats; with --luby: the cap)",
        )
        sub.add_argument(
            "--luby",
            action="store_true",
            help="stretch k's plateau is --plateau times the Luby sequence's k-th term (1,1,2,1,1,2,4,...; "
            "capped by --plateau-max when given): within a log factor of the best fixed plateau, "
            "whichever it is (Luby, Sinclair & Zuckerman 1993)",
        )
        sub.add_argument(
            "--no-plus",
            action="store_true",
            help="restart on plateaus instead of plus transitions (rank + 1)",
        )
        sub.add_argument(
            "--pool",
            type=int,
            default=0,
            metavar="N",
            help="walkers share a pool of up to N distinct schemes per rank and restart from it, rank by "
            "rank (breadth first); the pool's distinct schemes of the best rank are written to "
            "OUT/distinct/ (default 0: no pool, walkers restart from their best or start)",
        )
        sub.add_argument(
            "--pool-from",
            nargs="+",
            type=Path,
            default=[],
            metavar="PATH",
            help="with --pool: scheme files or folders of them (e.g. an earlier run's OUT/distinct/, "
            "from this machine or another) put in the pool first; walks restart from the lowest rank",
        )
        sub.add_argument(
            "--guide",
            type=Path,
            metavar="RUN_DIR",
            help="let a trained guide choose the plus transitions: a `gamify train flip_graph` run for "
            "this format; each round plays 16 games of that game by Gumbel MCTS from the current scheme "
            "(plain walks only: no --pool, --luby, --plateau-max, --no-plus or --symmetric)",
        )
        cluster = sub.add_argument_group('a Ray cluster (pip install "gamify[ray]"; README: Scaling out)')
        cluster.add_argument(
            "--ray",
            nargs="?",
            const="local",
            metavar="ADDRESS",
            help="walk on every CPU of a Ray cluster: rounds of the walker as Ray tasks (--threads "
            "each, default 1), one shared pool of the best schemes per rank (a Ray actor) that "
            "restarts draw from; ADDRESS: auto or HOST:PORT of a running cluster, none: a local "
            "Ray instance on this machine",
        )
        cluster.add_argument(
            "--walkers", type=positive_int, metavar="N", help="rounds at once (default: the cluster's CPUs)"
        )
        cluster.add_argument(
            "--round",
            type=parse_duration,
            default=10.0,
            metavar="T",
            help="the longest round of a walker before it reports to the pool (default 10s)",
        )
        sub.add_argument("--out", type=Path, help="output directory (default runs/flips-...)")
        sub.add_argument("--quiet", action="store_true", help="no progress lines")

    lift = commands.add_parser(
        "lift",
        help="Hensel-lift a scheme valid mod 2 to one over Z (or Q), verified exactly",
        description="Lift a Z2 scheme (any format gamify verify reads) 2-adically to integer or "
        "rational coefficients that reduce to it mod 2, verify it exactly over Z/Q and write it as "
        "JSON (plus .exp for matmul). Says so, exit status 1, when the scheme does not lift (some "
        "schemes only work in characteristic 2, e.g. AlphaTensor's rank-47 ⟨4,4,4⟩).",
    )
    lift.add_argument("file", type=Path, metavar="SCHEME")
    lift.add_argument("--key", help="the scheme's key in an .npz archive, e.g. 4,4,4")
    lift.add_argument(
        "--bits",
        type=int,
        default=DEFAULT_BITS,
        help=f"2-adic precision (default {DEFAULT_BITS}: fractions up to about 2^15 recovered)",
    )
    lift.add_argument("--out", type=Path, help="output JSON file (default: SCHEME-z.json beside it)")


def run_verify(args) -> int:
    """``gamify verify``."""
    if waring.is_decomposition_file(args.file):
        return _verify_phase(args)
    fmt = args.format or detect_format(args.file)
    if fmt == "npz" and args.key is None:
        return _verify_npz(args)
    scheme = read_scheme(args.file, format=fmt, field=args.field, key=args.key, matmul=args.matmul)
    stored = scheme.target is not None
    if args.tensor is not None:
        try:
            target = load_target(args.tensor, "z")
        except ValueError as error:
            raise UsageError(f"--tensor: {error}") from None
        if target.shape != scheme.shape:
            raise UsageError(f"--tensor has shape {target.shape}, the scheme {scheme.shape}")
        if stored and not np.array_equal(target, scheme.target):
            print(f"note: {args.tensor} differs from the target stored in {args.file}; checking against it")
        scheme = dataclasses.replace(scheme, target=target)
    elif not stored:
        sizes = scheme.matmul or matmul_sizes(scheme.shape)
        if sizes is None:
            raise UsageError(
                f"{args.file}: shape {scheme.shape} is not a matrix-multiplication shape and the file "
                "stores no target: give the tensor with --tensor FILE"
            )
        scheme = dataclasses.replace(scheme, matmul=sizes)
    print(f"format  {fmt}" + (f", key {args.key}" if args.key else ""))
    shape = "{}x{}x{}".format(*scheme.shape)
    if args.tensor is not None:
        print(f"shape   {shape}, target {args.tensor}")
    elif stored:
        print(f"shape   {shape}, target stored in the file")
    else:
        print("shape   {} = matmul <{},{},{}>".format(shape, *scheme.matmul))
    print(f"field   {scheme.field}")
    print(f"rank    {scheme.rank}")
    result = scheme.verify()
    print("OK" if result.ok else f"WRONG: {result}")
    return 0 if result.ok else 1


def _verify_phase(args) -> int:
    """A Waring (T-count) or Toffoli decomposition of a phase tensor, exactly, entry by entry."""
    decomposition = waring.read_decomposition(args.file)
    tensor = decomposition.tensor
    if args.tensor is not None:
        tensor = waring.load_tensor(args.tensor)
        if tensor != decomposition.tensor:
            print(f"note: {args.tensor} differs from the tensor stored in {args.file}; checking against it")
    label = "T-count" if decomposition.kind == "waring" else "Toffoli count"
    print(f"format  {waring.FORMAT}, {decomposition.kind}")
    print(
        f"tensor  n = {tensor.n}, {tensor.nnz} cubic monomials" + (f", {args.tensor}" if args.tensor else "")
    )
    print(f"{label:<7} {decomposition.count}")
    wrong = decomposition.check(tensor)
    print("OK" if wrong is None else f"WRONG: entry {wrong} of the tensor differs")
    return 0 if wrong is None else 1


def _verify_npz(args) -> int:
    """Checks every entry of an .npz archive, one line each."""
    keys = npz_keys(args.file)
    print(f"format  npz, {len(keys)} schemes")
    counts = {"OK": 0, "wrong": 0, "unreadable": 0}
    width = max(map(len, keys), default=0)
    for key in keys:
        try:
            scheme = read_scheme(args.file, format="npz", field=args.field, key=key)
        except SchemeFormatError as e:
            counts["unreadable"] += 1
            print(f"{key:<{width}}  unreadable: {e.reason}")
            continue
        result = scheme.verify()
        counts["OK" if result.ok else "wrong"] += 1
        verdict = "OK" if result.ok else f"WRONG: {result}"
        print(f"{key:<{width}}  {scheme.field:<2}  rank {scheme.rank:<4}  {verdict}")
    print(", ".join(f"{count} {status}" for status, count in counts.items()))
    return 1 if counts["wrong"] else 2 if counts["unreadable"] else 0


def run_flips(args) -> int:
    """``gamify flips`` / ``gamify improve``."""
    symmetric = args.command == "flips" and args.symmetric
    transposed = args.command == "flips" and args.transposed
    cubes = False  # whether the walk starts from symmetric_scheme's cubes
    if args.threads is not None and not 1 <= args.threads <= max_threads():
        raise UsageError(f"--threads must be in [1, {max_threads()}] (4 per core here), got {args.threads}")
    if args.plateau < 1 or args.target_rank < 0:
        raise UsageError("--plateau must be positive, --target-rank non-negative")
    if args.plateau_max is None:
        args.plateau_max = 0 if args.luby else args.plateau
    if args.plateau_max and args.plateau_max < args.plateau:
        raise UsageError(f"--plateau-max must be at least --plateau ({args.plateau}), got {args.plateau_max}")
    if args.pool < 0:
        raise UsageError(f"--pool must be 0 or positive, got {args.pool}")
    if not 0 <= args.seed < MAX_SEED:
        raise UsageError(f"--seed must be in [0, 2^63), got {args.seed}")
    if args.command == "flips":
        sizes = (args.n, args.m, args.p)
        if min(sizes) < 1:
            raise UsageError(f"N, M, P must be positive, got {sizes}")
        n, m, p = sizes
        largest = max(n * m, m * p, p * n)
        if largest > MAX_DIM:  # checked before the naive scheme is built
            limit = f"flips handle factors of at most {MAX_DIM} entries"
            raise UsageError(f"{limit}; ⟨{n},{m},{p}⟩ has {largest}")
        if args.cubes and not symmetric:
            raise UsageError("--cubes goes with --symmetric")
        if transposed and not symmetric:
            raise UsageError("--transposed goes with --symmetric")
        if symmetric and len(set(sizes)) != 1:
            raise UsageError(f"--symmetric needs a square format N N N, got {sizes}")
        # under the 6-element group the naive algorithm is invariant as it is, and it walks better
        # from there than from the cubes (⟨4,4,4⟩ 49 against 56 in 30 s, RESULTS.md)
        cubes = symmetric and (not transposed or args.cubes)
        start = symmetric_scheme(args.n, args.cubes) if cubes else standard_scheme(*sizes)
        name = "flips-{}x{}x{}".format(*sizes) + (
            "-sixfold" if transposed else "-symmetric" if symmetric else ""
        )
    else:
        start = read_scheme(args.file, key=args.key)
        if args.tensor is not None:
            try:
                target = load_target(args.tensor, "z2") & 1
            except ValueError as error:
                raise UsageError(f"--tensor: {error}") from None
            if target.shape != start.shape:
                raise UsageError(f"--tensor has shape {target.shape}, the scheme {start.shape}")
            start = dataclasses.replace(start, target=target, matmul=None)
        sizes = None if start.target is not None else start.matmul or matmul_sizes(start.shape)
        if sizes is None and start.target is None:
            raise UsageError(
                f"{args.file}: shape {start.shape} is not a matrix-multiplication shape and the file "
                "stores no target: give the tensor with --tensor FILE"
            )
        if sizes is None and args.guide is not None:
            raise UsageError("--guide walks matrix-multiplication schemes only")
        if sizes is not None:
            start = dataclasses.replace(start, matmul=sizes)
        name = f"improve-{args.file.stem}" + (f"-{args.key.replace(',', 'x')}" if args.key else "")
    if max(start.shape) > MAX_DIM:
        raise UsageError(
            f"flips handle factors of at most {MAX_DIM} entries; the scheme's have {max(start.shape)}"
        )
    out = args.out or Path("runs") / name
    pooled = _pool_schemes(args.pool_from, start, args.pool)
    ensure_writable(out)  # before the walk: its result must have somewhere to go

    def show(result: FlipResult) -> None:
        if not args.quiet:
            rate = result.flips / max(result.seconds, 1e-9)
            pool = (
                "  pool " + " ".join(f"{rank}:{held}" for rank, held, _ in result.pool[:3])
                if result.pool
                else ""
            )
            print(
                f"{result.seconds:6.1f} s  rank {result.scheme.rank:4d}  flips {result.flips:,}  "
                f"({rate / 1e6:.2f} M/s)  restarts {result.restarts:,}  "
                f"plus {result.plus_transitions:,}{pool}",
                flush=True,
            )

    origin = "the naive algorithm" if args.command == "flips" else str(args.file)
    if symmetric and cubes:
        origin = "the naive algorithm made cyclic-symmetric, {} orbits + {} cubes".format(
            *map(len, symmetric_orbits(start))
        )
    if transposed:
        origin += ", walked under the 6-element group"
    guide = _load_guide(args, sizes) if args.guide is not None else None
    what = "⟨{},{},{}⟩".format(*sizes) if sizes else "a {}x{}x{} tensor".format(*start.shape)
    print(f"start: rank {start.rank} ({origin}), {what} over Z2")
    with graceful_stop("the walk; its best scheme will be written") as stop_requested:
        if guide is not None:
            result = _guided_walk(args, start, guide, stop_requested)
        elif args.ray is not None:
            result = _ray_walk(args, start, pooled, symmetric, transposed, show, stop_requested)
        else:
            result = walk(
                start,
                args.target_rank,
                args.time,
                plateau=args.plateau,
                plateau_max=args.plateau_max,
                luby=args.luby,
                pool_size=args.pool,
                pool_schemes=pooled,
                plus_transitions=not args.no_plus,
                symmetric=symmetric,
                transposed=transposed,
                seed=args.seed,
                threads=args.threads,
                progress=show,
                should_stop=stop_requested,
            )
    verdict = "reached the target" if result.reached else "stopped at the time limit"
    if result.interrupted:
        verdict = "interrupted"
    print(f"rank {result.scheme.rank} ({verdict}), verified exactly over Z2, {result.seconds:.2f} s")
    with folder_lock(out):  # the comparison and the writes, as one step against other runs
        kept = _kept_rank(out / "scheme.json", start)
        if result.distinct and (kept is None or kept >= result.scheme.rank):
            _write_distinct(result.distinct, out / "distinct")
        if kept is not None and kept <= result.scheme.rank:  # never replace a better earlier result
            print(f"kept {out / 'scheme.json'}: it already holds a rank-{kept} scheme")
            return 130 if result.interrupted else 0  # nothing new to lift either
        written = write_or_rescue(result.scheme, out / "scheme.json")
    print("written: " + ", ".join(map(str, written)))
    if result.interrupted:  # the best so far is saved; a lift could take long: not now
        return 130
    if args.lift if args.command == "improve" else args.field == "z":
        hint = "; the Z2 scheme is kept (another seed may find one that lifts)"
        return lift_and_write(result.scheme, out / "scheme-z.json", hint=hint)
    return 0


def _ray_walk(args, start: Scheme, pooled, symmetric, transposed, show, stop_requested) -> FlipResult:
    """``--ray``: the walk as rounds on a Ray cluster (gamify.tensor.ray_walks)."""
    try:
        import ray  # deferred: Ray is an optional extra

        from gamify.tensor import ray_walks  # deferred: it imports Ray
    except ImportError:
        raise UsageError('--ray needs Ray: pip install "gamify[ray]"') from None
    address = None if args.ray == "local" else args.ray
    try:
        with ray_walks.session(address):  # (a caller of main() may have started Ray: then that one)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            threads = args.threads or 1
            walkers = args.walkers or max(1, cpus // threads)
            print(f"ray: {cpus} CPUs, {walkers} walkers of {threads} thread{'s' if threads > 1 else ''}")
            return ray_walks.ray_walk(
                start,
                args.target_rank,
                args.time,
                walkers=args.walkers,
                threads=threads,
                round_seconds=args.round,
                pool_size=args.pool or 16,
                pool_schemes=pooled,
                seed=args.seed,
                progress=show,
                on_lost=lambda line: print(f"ray: {line}", file=sys.stderr, flush=True),
                should_stop=stop_requested,
                plateau=args.plateau,
                plateau_max=args.plateau_max,
                luby=args.luby,
                plus_transitions=not args.no_plus,
                symmetric=symmetric,
                transposed=transposed,
            )
    except ray_walks.JoinError as error:
        raise UsageError(f"--ray: {error}") from None


def _load_guide(args, sizes):
    """The trained guide of ``--guide``, after refusing the options a guided walk does not take."""
    refused = [
        flag
        for flag, given in (
            ("--pool", args.pool),
            ("--luby", args.luby),
            ("--no-plus", args.no_plus),
            ("--symmetric", getattr(args, "symmetric", False)),
            ("--plateau-max", args.plateau_max not in (0, args.plateau)),
        )
        if given
    ]
    if refused:
        raise UsageError(f"--guide walks the plain flip graph: drop {', '.join(refused)}")
    from gamify.games import flip_graph  # deferred: it imports JAX, which only guided walks need

    try:
        guide = flip_graph.load_guide(args.guide)
    except (ValueError, OSError) as error:
        raise UsageError(f"--guide: {error}") from error
    if guide.sizes != tuple(sizes):  # the observations' width is the format's
        raise UsageError(
            f"--guide {args.guide} was trained for ⟨{','.join(map(str, guide.sizes))}⟩, not "
            f"⟨{','.join(map(str, sizes))}⟩"
        )
    return guide


def _guided_walk(args, start: Scheme, guide, stop_requested) -> FlipResult:
    """``--guide``: the search over the flip_graph game steers the walk (games/flip_graph.py)."""
    from gamify.games import flip_graph  # deferred, as in _load_guide

    def show(result) -> None:
        if not args.quiet:
            rate = result.flips / max(result.seconds, 1e-9)
            print(
                f"{result.seconds:6.1f} s  rank {result.scheme.rank:4d}  flips {result.flips:,}  "
                f"({rate / 1e6:.2f} M/s)  rounds {result.rounds}",
                flush=True,
            )

    print(
        f"compiling the guided search (plateau {guide.plateau}, {guide.moves} moves per game, "
        f"{guide.search.num_simulations} simulations per move)...",
        flush=True,
    )
    result = flip_graph.guided_walk(
        start,
        args.target_rank,
        args.time,
        guide,
        seed=args.seed,
        threads=args.threads,
        progress=show,
        should_stop=stop_requested,
    )
    return FlipResult(
        result.scheme, result.reached, result.flips, 0, 0, 0, result.seconds, result.interrupted
    )


def _pool_schemes(paths: list[Path], start: Scheme, pool: int) -> list[Scheme]:
    """The schemes of --pool-from (files, or folders of .json files), each checked against the
    start's tensor; UsageError for anything that cannot seed the pool."""
    if paths and not pool:
        raise UsageError("--pool-from goes with --pool N")
    files = [f for path in paths for f in (sorted(path.glob("*.json")) if path.is_dir() else [path])]
    target, schemes = start.to_z2().tensor(), []
    for path in files:
        try:
            scheme = read_scheme(path).to_z2()
        except (OSError, ValueError) as error:  # SchemeFormatError is a ValueError
            raise UsageError(f"--pool-from: cannot read {path}: {error}") from None
        if scheme.shape != start.shape or not scheme.verify(target).ok:
            raise UsageError(f"--pool-from: {path} does not decompose the same tensor over Z2")
        schemes.append(dataclasses.replace(scheme, matmul=start.matmul))
    if paths and not schemes:
        raise UsageError(f"--pool-from: no scheme files in {', '.join(map(str, paths))}")
    return schemes


def _write_distinct(schemes: tuple[Scheme, ...], folder: Path) -> None:
    """The pool's distinct schemes of the best rank as folder/rankR-KKK.json, replacing the
    folder's earlier set (of a rank no better)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k, scheme in enumerate(schemes):
        write_scheme(scheme, folder / f"rank{scheme.rank}-{k:03d}.json")
    print(f"written: {len(schemes)} distinct rank-{schemes[0].rank} schemes in {folder}")


def lift_and_write(scheme: Scheme, path: Path, bits: int | None = None, hint: str = "") -> int:
    """Hensel-lifts a Z2 scheme and writes it (JSON, plus .exp for matmul); 1 when it does not lift."""
    start = time.perf_counter()
    try:
        lifted = hensel_lift(scheme, bits=bits or DEFAULT_BITS)
    except LiftError as e:
        print(f"lift: {e}{hint}")
        return 1
    ring = "Z" if lifted.field == "z" else "Q (fractional coefficients)"
    print(f"lift: rank {lifted.rank} over {ring} in {time.perf_counter() - start:.2f} s, verified exactly")
    written = write_or_rescue(lifted, path)
    print("written: " + ", ".join(map(str, written)))
    return 0


def _kept_rank(path: Path, start: Scheme) -> int | None:
    """The rank of a valid Z2 scheme of ``start``'s tensor already at path, else None."""
    try:
        scheme = read_scheme(path, field="z2", matmul=start.matmul)
        return scheme.rank if scheme.shape == start.shape and scheme.verify(start.tensor()).ok else None
    except (OSError, SchemeFormatError, ValueError):
        return None


def run_lift(args) -> int:
    """``gamify lift``."""
    scheme = read_scheme(args.file, key=args.key)
    sizes = scheme.matmul or matmul_sizes(scheme.shape)
    if sizes is None:
        raise UsageError(f"{args.file}: shape {scheme.shape} is not a matrix-multiplication shape")
    if not 2 <= args.bits <= 62:
        raise UsageError(f"--bits must be in [2, 62], got {args.bits}")
    scheme = dataclasses.replace(scheme, matmul=sizes).to_z2()
    out = args.out or args.file.with_name(f"{args.file.stem}{'-' + args.key if args.key else ''}-z.json")
    ensure_writable(out.parent)
    print("lifting: rank {} scheme for ⟨{},{},{}⟩ from {}".format(scheme.rank, *sizes, args.file))
    return lift_and_write(scheme, out, bits=args.bits)


COMMANDS = {"verify": run_verify, "flips": run_flips, "improve": run_flips, "lift": run_lift}
