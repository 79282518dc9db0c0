"""``gamify bench matmul``: a verified scheme run as matrix multiplication, against the library matmul.

Both routines multiply the same random N×N matrices in one process, after warm-up calls
(so JAX compilation is not timed), run by run interleaved (alternating which goes first,
so drift in clock speed or load hits both alike). Each row streams out when its size is
done: medians with min–max, the speed-up t_library / t_scheme (below 1× is a slow-down)
and the largest difference from the library's result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shlex
import statistics
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gamify.cli.bench.machine import machine_info
from gamify.cli.common import UsageError
from gamify.tensor.codegen import SchemeMatmul, strassen
from gamify.tensor.flips import standard_scheme
from gamify.tensor.formats import alphatensor_schemes, read_scheme
from gamify.tensor.scheme import Scheme

BUILTINS = "strassen, naive:N,M,P, alphatensor:N,M,P"
WARMUP = 2  # untimed calls per routine and size: the first one compiles (JAX)
REFERENCE = (
    "AlphaTensor (Fawzi et al., Nature 2022) measured +8.5% over cuBLAS on a V100 at N=8192 with a "
    "rank-49 ⟨4,4,4⟩ scheme chosen for that GPU, and +4.3% for Strassen² (here: strassen --levels 2)"
)
_BUILTIN = re.compile(r"(naive|alphatensor):(\d+),(\d+),(\d+)")
_COLUMNS = ("N", "library ms (min–max)", "scheme ms (min–max)", "speed-up", "max abs err", "rel err")
_WIDTHS = (11, 24, 24, 9, 11, 8)

EXAMPLES = """\
examples:
  gamify bench matmul strassen
  gamify bench matmul strassen --levels 2 --sizes 1024,2048,4096,8192     (on a GPU)
  gamify bench matmul alphatensor:4,4,4 --backend numpy --json matmul.json
  gamify bench matmul scheme.exp --sizes 1000 --markdown matmul.md
  gamify bench matmul factorizations_r.npz --key 3,4,5
"""


def add_parser(suites) -> None:
    """Adds ``matmul`` to the ``gamify bench`` suites."""
    parser = suites.add_parser(
        "matmul",
        help="a verified scheme as a matmul routine, timed against the library matmul",
        description=textwrap.fill(
            "Run a verified matrix-multiplication scheme as code (one level of blocks, or --levels deep, "
            "the library matmul at the bottom) on random N×N matrices, timed against the library matmul "
            "in the same process. Prints one row per size as it finishes. " + REFERENCE + ".",
            88,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scheme",
        metavar="SCHEME",
        help="a scheme file (any format gamify verify reads) or a builtin: strassen (Strassen 1969, "
        "rank 7), naive:N,M,P (the N·M·P products of the definition), alphatensor:N,M,P (DeepMind's "
        "standard-arithmetic scheme, N<=M<=P, e.g. alphatensor:4,4,4 of rank 49)",
    )
    parser.add_argument("--key", metavar="N,M,P", help="the entry of an .npz archive")
    parser.add_argument(
        "--sizes",
        default="256,512,1024",
        help="comma-separated N (default 256,512,1024: well under a minute on a 2-core CPU; on a GPU "
        "try 1024,2048,4096,8192)",
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(float32)")
    parser.add_argument("--backend", choices=["jax", "numpy"], default="jax", help="(jax)")
    parser.add_argument("--levels", type=int, default=1, help="recursion depth of the scheme (1)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per routine and size (20)")
    parser.add_argument(
        "--no-pad", action="store_true", help="refuse sizes that are not whole blocks instead of padding"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")


def load_scheme(spec: str, key: str | None = None) -> Scheme:
    """The scheme named by SCHEME: a builtin (see :data:`BUILTINS`) or a file.

    Raises:
      UsageError: an unknown name, an AlphaTensor size with no scheme, --key with a builtin.
      ValueError, OSError: an unreadable file (from :func:`gamify.tensor.formats.read_scheme`).
    """
    match = _BUILTIN.fullmatch(spec)
    if (spec == "strassen" or match) and key is not None:
        raise UsageError(f"--key selects an entry of an .npz file, not of the builtin {spec!r}")
    if spec == "strassen":
        return strassen()
    if match:
        sizes = tuple(int(size) for size in match.groups()[1:])
        if min(sizes) < 1:
            raise UsageError(f"{spec}: sizes must be positive")
        if match.group(1) == "naive":
            return standard_scheme(*sizes)
        schemes, name = alphatensor_schemes("z"), "{},{},{}".format(*sizes)
        if name not in schemes:
            raise UsageError(
                f"no AlphaTensor scheme for ⟨{name}⟩: the archive holds sizes N<=M<=P "
                f"from {next(iter(schemes))} to {list(schemes)[-1]}"
            )
        return schemes[name]
    if not Path(spec).exists():
        raise UsageError(f"unknown scheme {spec!r}: no such file, and not a builtin ({BUILTINS})")
    return read_scheme(spec, key=key)


def _parse_sizes(text: str) -> list[int]:
    """'256,512' -> [256, 512]; anything but positive integers is a UsageError."""
    sizes = [item.strip() for item in text.split(",")]
    if not all(re.fullmatch(r"\d+", size) and int(size) > 0 for size in sizes):
        raise UsageError(f"--sizes must be positive integers separated by commas, got {text!r}")
    return [int(size) for size in sizes]


class _Backend(NamedTuple):
    """The two routines on one array library, with how to feed and wait for them."""

    library: Callable  # (a, b) -> a @ b, the library's
    scheme: Callable  # (a, b) -> a @ b by the scheme
    put: Callable  # numpy array -> an input on the device
    wait: Callable  # result -> result, once it is computed
    device: str  # what runs them, in words


@contextlib.contextmanager
def _jax_backend(routine: SchemeMatmul, dtype: str) -> Iterator[_Backend]:
    """Both routines compiled with jax.jit, on JAX's default device, in float64 when asked."""
    device = jax.devices()[0]
    with jax.enable_x64(dtype == "float64"):  # JAX computes in float32 unless asked
        yield _Backend(
            library=jax.jit(jnp.matmul),
            scheme=jax.jit(routine.jax),
            put=jax.device_put,
            wait=jax.block_until_ready,
            device=f"jax {jax.__version__} on {device.platform} ({device.device_kind})",
        )


@contextlib.contextmanager
def _numpy_backend(routine: SchemeMatmul, dtype: str) -> Iterator[_Backend]:
    """Both routines in numpy (``dtype`` needs no setup there), on the CPU's BLAS."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    blas_name = " ".join(filter(None, (blas.get("name"), blas.get("version"))))
    yield _Backend(
        library=np.matmul,
        scheme=routine.numpy,
        put=np.asarray,
        wait=lambda result: result,
        device=f"numpy {np.__version__} ({blas_name})",
    )


BACKENDS = {"jax": _jax_backend, "numpy": _numpy_backend}


def _timings(seconds: list[float]) -> dict[str, float]:
    """Median, min and max in milliseconds."""
    ms = [1e3 * s for s in seconds]
    return {"median": statistics.median(ms), "min": min(ms), "max": max(ms)}


def _measure(backend: _Backend, size: int, dtype: str, repeats: int, rng: np.random.Generator) -> dict:
    """Times both routines on one pair of random N×N matrices; returns one row of results."""
    a, b = (backend.put(rng.standard_normal((size, size), dtype=dtype)) for _ in range(2))
    routines = {"library": backend.library, "scheme": backend.scheme}
    for routine in routines.values():
        for _ in range(WARMUP):
            backend.wait(routine(a, b))
    seconds = {name: [] for name in routines}
    for run in range(repeats):
        for name in sorted(routines, reverse=run % 2 == 1):  # alternate which goes first
            start = time.perf_counter()
            backend.wait(routines[name](a, b))
            seconds[name].append(time.perf_counter() - start)
    expected = np.asarray(backend.library(a, b), np.float64)
    error = float(np.abs(np.asarray(backend.scheme(a, b), np.float64) - expected).max())
    library, scheme = _timings(seconds["library"]), _timings(seconds["scheme"])
    return {
        "size": size,
        "library_ms": library,
        "scheme_ms": scheme,
        "speedup": library["median"] / scheme["median"],
        "max_abs_error": error,
        "max_rel_error": error / max(float(np.abs(expected).max()), np.finfo(np.float64).tiny),
    }


def _ms(value: float) -> str:
    """Three significant digits, never in exponent form: 0.0523, 28.5, 1234."""
    return f"{value:.{max(0, 2 - math.floor(math.log10(value)))}f}"


def _span(timings: dict[str, float]) -> str:
    """'28.5 (27.9–30.1)': median (min–max)."""
    return f"{_ms(timings['median'])} ({_ms(timings['min'])}–{_ms(timings['max'])})"


def _cells(row: dict) -> list[str]:
    """One table row as text cells; a padded size shows what it was padded to ("30→32")."""
    size, shape = str(row["size"]), row["padded_shape"]
    if shape != [row["size"]] * 3:
        size += "→" + (str(shape[0]) if len(set(shape)) == 1 else "×".join(map(str, shape)))
    errors = [f"{row['max_abs_error']:.1e}", f"{row['max_rel_error']:.1e}"]
    return [size, _span(row["library_ms"]), _span(row["scheme_ms"]), f"{row['speedup']:.2f}×", *errors]


def _line(cells: list[str]) -> str:
    """Cells right-aligned in the table's columns."""
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, _WIDTHS, strict=True))


def _describe(name: str, routine: SchemeMatmul) -> str:
    """'strassen: ⟨2,2,2⟩ rank 7 over Z, verified; 1 level: 7 block products for 8 (...)'."""
    scheme, levels = routine.scheme, routine.levels
    n, m, p = scheme.matmul
    field = {"z": "Z", "q": "Q (coefficients like 1/2)"}[scheme.field]
    products, naive = scheme.rank**levels, (n * m * p) ** levels
    return (
        f"{name}: ⟨{n},{m},{p}⟩ rank {scheme.rank} over {field}, verified; {levels} level"
        f"{'s' if levels > 1 else ''}: {products} block products for {naive} "
        f"(at most {naive / products:.2f}× fewer multiplications)"
    )


def _command(args) -> str:
    """This run as a command line."""
    parts = ["gamify bench matmul", shlex.quote(args.scheme)]
    parts += [f"--key {args.key}"] if args.key else []
    parts += [f"--sizes {args.sizes}", f"--dtype {args.dtype}", f"--backend {args.backend}"]
    parts += [f"--levels {args.levels}", f"--repeats {args.repeats}"] + (["--no-pad"] if args.no_pad else [])
    return " ".join(parts)


def _markdown(args, header: list[str], rows: list[dict]) -> str:
    """A heading, machine, date and command, the header lines and the table, in markdown."""
    machine, device = machine_info(), header[0].split("; ")[-1]  # the jax device or numpy's BLAS
    lines = [
        f"### gamify bench matmul {args.scheme}" + (f" --levels {args.levels}" if args.levels > 1 else ""),
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}; {device}",
        f"- date: {machine['date']}, gamify {machine['gamify']}",
        f"- command: `{_command(args)}`",
        *(f"- {line.split(None, 1)[0]}: {line.split(None, 1)[1]}" for line in header[1:]),
        "",
    ]
    lines += ["| " + " | ".join(_COLUMNS) + " |", "|" + "--:|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join([*lines, "", REFERENCE + ".", ""])


def _record(args, routine: SchemeMatmul, header: list[str], rows: list[dict]) -> dict:
    """The run as JSON: settings, the header lines, one entry per size."""
    scheme = routine.scheme
    return {
        "suite": "matmul",
        "scheme": {
            "name": args.scheme,
            "matmul": list(scheme.matmul),
            "rank": scheme.rank,
            "field": scheme.field,
        },
        "levels": args.levels,
        "backend": args.backend,
        "dtype": args.dtype,
        "repeats": args.repeats,
        "warmup": WARMUP,
        "header": header,
        "rows": rows,
        "reference": REFERENCE,
    }


def run(args) -> int:
    """``gamify bench matmul SCHEME ...``."""
    sizes = _parse_sizes(args.sizes)
    if args.levels < 1 or args.repeats < 1:
        raise UsageError(f"--levels and --repeats must be positive, got {args.levels} and {args.repeats}")
    routine = SchemeMatmul(load_scheme(args.scheme, args.key), levels=args.levels, pad=not args.no_pad)
    shapes = [routine.padded_shape(size, size, size) for size in sizes]  # --no-pad: fail before timing
    rng = np.random.default_rng(0)
    with BACKENDS[args.backend](routine, args.dtype) as backend:
        header = [
            f"machine   {platform.platform()}, {os.cpu_count()} CPUs; {backend.device}",
            f"scheme    {_describe(args.scheme, routine)}",
            f"settings  {args.backend}, {args.dtype}, N×N @ N×N; median of {args.repeats} timed runs after "
            f"{WARMUP} warm-up calls (compilation excluded), library and scheme interleaved",
        ]
        print("\n".join(header), _line(list(_COLUMNS)), sep="\n", flush=True)
        rows = []
        for size, shape in zip(sizes, shapes, strict=True):
            row = _measure(backend, size, args.dtype, args.repeats, rng)
            rows.append({**row, "padded_shape": list(shape)})
            print(_line(_cells(rows[-1])), flush=True)
    print(
        "speed-up = library time / scheme time (below 1× is a slow-down)",
        f"reference: {REFERENCE}.",
        sep="\n",
    )
    if args.json:
        args.json.write_text(json.dumps(_record(args, routine, header, rows), indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(_markdown(args, header, rows))
    return 0
