"""Phase tensors: the T-count and Toffoli count of a quantum circuit as tensor ranks over GF(2).

A circuit over {CNOT, Toffoli} (plus Hadamards, gadgetized away) applies, besides a
linear reversible map, one diagonal phase ``(-1)^P(x)`` where ``P`` is a cubic
polynomial over GF(2). Everything below degree three is Clifford (Z and CZ gates) and
free, so only ``P``'s cubic monomials ``x_i x_j x_k`` (``i < j < k``) matter: they are
the **phase tensor**, stored as the sorted list of those triples. Its dense form is
the symmetric binary tensor ``T`` of shape ``(n, n, n)`` with ``T[σ(i, j, k)] = 1`` for
the six orderings of each monomial and zero wherever an index repeats.

- **T-count (Waring rank)**: the fewest parities ``u ∈ GF(2)^n`` with
  ``Σ u⊗u⊗u = T (mod 2)`` -- *every* entry, the repeated-index ones included (they are
  the linear and quadratic T/CS phases, which are not Clifford). Each parity is one T
  gate (Amy & Mosca 2019; AlphaTensor-Quantum, Ruiz et al. 2025).
- **Toffoli count (CP rank up to lower terms)**: the fewest terms ``(a, b, c)`` with
  ``Σ Sym(a⊗b⊗c) = T (mod 2)``, ``Sym`` the sum over the six orderings of the factors:
  ``P(x) = Σ (a·x)(b·x)(c·x)`` up to quadratic and linear terms, one CCZ (Toffoli) per
  term. ``Sym(a⊗b⊗c)`` is zero on repeated indices, so the comparison is exact on the
  dense tensor. A term ``(a, b, c)`` is also the 7 parities ``a, b, c, a+b, a+c, b+c,
  a+b+c`` (the 7-T Toffoli): :func:`toffoli_to_waring`.

These are the counts polytof (Khoruzhii et al. 2026) tabulates: its ``Waring``
decompositions satisfy every entry (checked on its published files), and its ``CP`` is the
skew-symmetric rank above. Vectors are Python ints / ``uint64`` bit masks (bit ``i`` is
``x_i``), so ``n <= 64``.

Files: polytof's ``.npy`` (int64 ``(nnz + 1, 3)``, first row ``(n, n, n)``, then one row
``i < j < k`` per monomial), a dense 0/1 ``(n, n, n)`` ``.npy`` (symmetric, zero on
repeated indices), or a gamify JSON file (``{"n": n, "monomials": [[i, j, k], ...]}``,
or a decomposition file written by :func:`write_decomposition`, which stores its
tensor).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import io
import itertools
import json
from pathlib import Path

import numpy as np

from gamify.checkpoint import atomic_write_bytes

MAX_N = 64  # vectors are uint64 bit masks
FORMAT = "gamify-phase"  # the JSON format tag of decomposition files
KINDS = ("waring", "toffoli")


class PhaseTensorError(ValueError):
    """A phase tensor or a decomposition file is not valid; the message is one line for the CLI."""


@dataclasses.dataclass(frozen=True, eq=False)
class PhaseTensor:
    """The cubic part of a phase polynomial over GF(2): sorted monomials ``i < j < k`` < n."""

    n: int
    monomials: np.ndarray  # int64 [nnz, 3], rows strictly increasing, sorted, distinct
    name: str = ""

    def __post_init__(self):
        m = np.asarray(self.monomials, np.int64).reshape(-1, 3)
        if not 3 <= self.n <= MAX_N:
            raise PhaseTensorError(f"n must be in [3, {MAX_N}] (vectors are 64-bit masks), got {self.n}")
        if len(m) and (m.min() < 0 or m.max() >= self.n):
            raise PhaseTensorError(f"a monomial's index is outside [0, {self.n})")
        if len(m) and not np.all((m[:, 0] < m[:, 1]) & (m[:, 1] < m[:, 2])):
            bad = m[~((m[:, 0] < m[:, 1]) & (m[:, 1] < m[:, 2]))][0]
            raise PhaseTensorError(f"monomial {tuple(int(x) for x in bad)} is not i < j < k")
        order = np.lexsort(m.T[::-1])
        m = m[order]
        if len(m) > 1 and np.any(np.all(m[1:] == m[:-1], axis=1)):
            raise PhaseTensorError(
                "a monomial is listed twice (x·x = 0 over GF(2): drop both or fix the file)"
            )
        m.setflags(write=False)
        object.__setattr__(self, "monomials", m)

    @property
    def nnz(self) -> int:
        """The number of cubic monomials (polytof's nnz)."""
        return len(self.monomials)

    def dense(self) -> np.ndarray:
        """uint8 [n, n, n]: the symmetric tensor, zero wherever an index repeats."""
        t = np.zeros((self.n,) * 3, np.uint8)
        for perm in itertools.permutations(range(3)):
            t[tuple(self.monomials[:, p] for p in perm)] = 1
        return t

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, PhaseTensor)
            and self.n == other.n
            and np.array_equal(self.monomials, other.monomials)
        )

    __hash__ = None


def from_dense(t: np.ndarray, name: str = "") -> PhaseTensor:
    """The phase tensor of a dense symmetric 0/1 tensor that is zero on repeated indices."""
    t = np.asarray(t)
    if t.ndim != 3 or len(set(t.shape)) != 1:
        raise PhaseTensorError(f"a phase tensor is n×n×n, got shape {t.shape}")
    if not np.isin(t, (0, 1)).all():
        raise PhaseTensorError("a phase tensor's entries must be 0 or 1 (it lives over GF(2))")
    t = t.astype(np.uint8)
    for perm in itertools.permutations(range(3)):
        if not np.array_equal(t, t.transpose(perm)):
            raise PhaseTensorError("the tensor is not symmetric (T[i,j,k] must not depend on the order)")
    n = t.shape[0]
    i, j, k = np.nonzero(t)
    repeated = (i == j) | (j == k) | (i == k)
    if repeated.any():
        at = (int(i[repeated][0]), int(j[repeated][0]), int(k[repeated][0]))
        raise PhaseTensorError(
            f"entry {at} repeats an index: a circuit's cubic phase is zero there (linear and quadratic "
            "phases are not part of a phase tensor)"
        )
    upper = (i < j) & (j < k)
    return PhaseTensor(n, np.stack([i[upper], j[upper], k[upper]], axis=1), name)


def read_tensor(path) -> PhaseTensor:
    """Reads a phase tensor: polytof ``.npy``, a dense ``.npy``, or gamify JSON (see the module doc)."""
    path = Path(path)
    name = path.stem
    if path.suffix == ".json":
        data = _read_json(path)
        return _tensor_from_json(data, path.name, name)
    if path.suffix != ".npy":
        raise PhaseTensorError(f"{path.name}: a phase tensor is a .npy or .json file")
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise PhaseTensorError(f"{path.name}: not a readable .npy file ({e})") from None
    if not np.issubdtype(a.dtype, np.integer) and a.dtype != np.bool_:
        raise PhaseTensorError(f"{path.name}: entries must be integers, got {a.dtype}")
    if a.ndim == 3:
        try:
            return from_dense(a, name)
        except PhaseTensorError as e:
            raise PhaseTensorError(f"{path.name}: {e}") from None
    if a.ndim != 2 or a.shape[1] != 3 or len(a) < 1:
        raise PhaseTensorError(
            f"{path.name}: expected polytof's (nnz + 1, 3) triples or a dense (n, n, n) tensor, "
            f"got shape {a.shape}"
        )
    head = a[0]
    if not (head[0] == head[1] == head[2]):
        raise PhaseTensorError(
            f"{path.name}: first row {tuple(int(x) for x in head)} is not (n, n, n): a bilinear "
            "(non-symmetric) tensor is not a phase tensor"
        )
    try:
        return PhaseTensor(int(head[0]), a[1:], name)
    except PhaseTensorError as e:
        raise PhaseTensorError(f"{path.name}: {e}") from None


def write_tensor(path, tensor: PhaseTensor) -> None:
    """Writes polytof's ``.npy`` form (readable by :func:`read_tensor` and by polytof)."""
    rows = np.concatenate([np.full((1, 3), tensor.n, np.int64), tensor.monomials])
    buffer = io.BytesIO()
    np.save(buffer, rows)
    atomic_write_bytes(Path(path), buffer.getvalue())


# --- decompositions -----------------------------------------------------------------------


def bits(vectors, n: int) -> np.ndarray:
    """uint8 [len, n]: the bit masks as 0/1 rows."""
    v = np.asarray([int(x) for x in vectors], dtype=np.uint64).reshape(-1, 1)
    return ((v >> np.arange(n, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)


def masks(rows) -> np.ndarray:
    """uint64 [len]: 0/1 rows as bit masks (inverse of :func:`bits`)."""
    rows = np.atleast_2d(np.asarray(rows, np.uint64))
    if rows.size == 0:
        return np.zeros(0, np.uint64)
    return (rows << np.arange(rows.shape[1], dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


def waring_tensor(parities, n: int) -> np.ndarray:
    """uint8 [n, n, n]: Σ u⊗u⊗u mod 2."""
    a = bits(parities, n).astype(np.int64)
    return (np.einsum("qi,qj,qk->ijk", a, a, a) % 2).astype(np.uint8)


def toffoli_tensor(terms, n: int) -> np.ndarray:
    """uint8 [n, n, n]: Σ Sym(a⊗b⊗c) mod 2 over terms ``(a, b, c)`` (the six orderings summed)."""
    terms = np.asarray(terms, np.uint64).reshape(-1, 3)
    a, b, c = (bits(terms[:, f], n).astype(np.int64) for f in range(3))
    t = np.einsum("qi,qj,qk->ijk", a, b, c)
    return (sum(t.transpose(p) for p in itertools.permutations(range(3))) % 2).astype(np.uint8)


def check_waring(tensor: PhaseTensor, parities) -> tuple[int, int, int] | None:
    """None when Σ u⊗u⊗u equals the tensor on every entry, else the first entry that differs."""
    return _first_difference(waring_tensor(parities, tensor.n), tensor.dense())


def check_toffoli(tensor: PhaseTensor, terms) -> tuple[int, int, int] | None:
    """None when Σ Sym(a⊗b⊗c) equals the tensor on every entry, else the first entry that differs."""
    return _first_difference(toffoli_tensor(terms, tensor.n), tensor.dense())


def _first_difference(got: np.ndarray, want: np.ndarray):
    diff = np.argwhere(got != want)
    return None if len(diff) == 0 else tuple(int(x) for x in diff[0])


def cancel_pairs(parities) -> np.ndarray:
    """uint64: the parities with zeros and equal pairs removed (u⊗u⊗u twice is zero), sorted."""
    values, counts = np.unique(np.asarray(parities, np.uint64), return_counts=True)
    return values[(counts % 2 == 1) & (values != 0)]


def toffoli_to_waring(terms) -> np.ndarray:
    """The parities of 7 T gates per Toffoli term: every nonzero sum of ``a, b, c``, pairs cancelled.

    Σ over the 7 nonzero combinations ``u`` of u⊗u⊗u is exactly Sym(a⊗b⊗c) (a repeated
    factor appears an even number of times), so the Waring decomposition has the same tensor.
    """
    terms = np.asarray(terms, np.uint64).reshape(-1, 3)
    a, b, c = terms[:, 0], terms[:, 1], terms[:, 2]
    return cancel_pairs(np.concatenate([a, b, c, a ^ b, a ^ c, b ^ c, a ^ b ^ c]))


def monomial_terms(tensor: PhaseTensor) -> np.ndarray:
    """The trivial Toffoli decomposition: one term ``(x_i, x_j, x_k)`` per monomial."""
    return (np.uint64(1) << tensor.monomials.astype(np.uint64)).astype(np.uint64)


# --- changes of basis -----------------------------------------------------------------------


def gf2_inverse(g: np.ndarray) -> np.ndarray:
    """uint8: the inverse over GF(2) of an invertible 0/1 matrix; PhaseTensorError if singular."""
    g = np.asarray(g, np.uint8) % 2
    n = len(g)
    work = np.concatenate([g, np.eye(n, dtype=np.uint8)], axis=1)
    for col in range(n):
        rows = np.nonzero(work[col:, col])[0]
        if len(rows) == 0:
            raise PhaseTensorError("the change of basis is singular over GF(2)")
        pivot = col + rows[0]
        work[[col, pivot]] = work[[pivot, col]]
        others = np.nonzero(work[:, col])[0]
        work[others[others != col]] ^= work[col]
    return work[:, n:]


def apply_matrix(matrix: np.ndarray, vectors) -> np.ndarray:
    """uint64: ``matrix @ v`` over GF(2) for each bit-mask vector ``v``."""
    matrix = np.asarray(matrix, np.uint8)
    rows = bits(vectors, matrix.shape[1]).astype(np.int64)
    return masks((rows @ matrix.T.astype(np.int64)) % 2)


def change_basis(tensor: PhaseTensor, g: np.ndarray) -> PhaseTensor:
    """The tensor ``T'`` with ``T'[a,b,c] = Σ T[i,j,k] g[i,a] g[j,b] g[k,c]``: ``P(x)`` with ``x = g y``.

    A decomposition ``u'`` of ``T'`` maps back to one of ``T`` by :func:`map_back`. The class
    of phase tensors (symmetric, zero on repeated indices) is closed under this.
    """
    g = np.asarray(g, np.int64) % 2
    t = np.einsum("ijk,ia,jb,kc->abc", tensor.dense().astype(np.int64), g, g, g) % 2
    return from_dense(t, tensor.name)


def map_back(g: np.ndarray, vectors) -> np.ndarray:
    """Vectors of a decomposition of ``change_basis(T, g)`` as vectors of one of ``T``: ``g^{-T} u'``.

    Works for parities and for the factors of Toffoli terms alike (each is a linear form).
    """
    return apply_matrix(gf2_inverse(np.asarray(g, np.uint8)).T, vectors)


def random_basis(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random invertible n×n matrix over GF(2) (rejection: ~29% of draws are invertible)."""
    while True:
        g = rng.integers(0, 2, size=(n, n), dtype=np.uint8)
        try:
            gf2_inverse(g)
        except PhaseTensorError:
            continue
        return g


# --- files --------------------------------------------------------------------------------


def write_decomposition(path, tensor: PhaseTensor, kind: str, vectors, **meta) -> None:
    """Verifies, then writes atomically, a Waring (parities) or Toffoli (terms) decomposition as JSON.

    Vectors are bit strings, ``x_0`` first. The file stores the tensor, so
    ``gamify verify FILE`` checks it alone (and ``--tensor`` checks it against another file).
    """
    vectors = np.asarray(vectors, np.uint64)
    bad = check_waring(tensor, vectors) if kind == "waring" else check_toffoli(tensor, vectors.reshape(-1, 3))
    if bad is not None:
        raise PhaseTensorError(f"refusing to write a wrong {kind} decomposition (entry {bad} differs)")
    n = tensor.n

    def word(x) -> str:
        return "".join(str(b) for b in bits([x], n)[0])

    body = {"format": FORMAT, "kind": kind, "n": n, "monomials": tensor.monomials.tolist()}
    if kind == "waring":
        body |= {"t_count": len(vectors), "parities": [word(x) for x in vectors]}
    else:
        terms = vectors.reshape(-1, 3)
        body |= {"toffoli_count": len(terms), "terms": [[word(x) for x in t] for t in terms]}
    body |= meta
    atomic_write_bytes(Path(path), (json.dumps(body, indent=1) + "\n").encode())


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """A decomposition read from a file: its tensor, kind and vectors (parities, or terms [r, 3])."""

    tensor: PhaseTensor
    kind: str
    vectors: np.ndarray

    @property
    def count(self) -> int:
        return len(self.vectors)

    def check(self, tensor: PhaseTensor | None = None):
        """None if it decomposes ``tensor`` (default: its own) exactly, else the first wrong entry."""
        tensor = self.tensor if tensor is None else tensor
        if tensor.n != self.tensor.n:
            raise PhaseTensorError(f"the decomposition has n = {self.tensor.n}, the tensor n = {tensor.n}")
        return (check_waring if self.kind == "waring" else check_toffoli)(tensor, self.vectors)


def is_decomposition_file(path) -> bool:
    """Whether ``path`` is a JSON file with gamify's phase-decomposition tag (cheap sniff)."""
    path = Path(path)
    if path.suffix != ".json":
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return f'"{FORMAT}"'.encode() in head


def read_decomposition(path) -> Decomposition:
    """Reads a file written by :func:`write_decomposition` (or by hand in that format)."""
    path = Path(path)
    data = _read_json(path)
    if data.get("format") != FORMAT:
        raise PhaseTensorError(f"{path.name}: not a {FORMAT} file (its 'format' is {data.get('format')!r})")
    kind = data.get("kind")
    if kind not in KINDS:
        raise PhaseTensorError(f"{path.name}: 'kind' must be one of {KINDS}, got {kind!r}")
    tensor = _tensor_from_json(data, path.name, path.stem)
    key = "parities" if kind == "waring" else "terms"
    raw = data.get(key)
    if not isinstance(raw, list):
        raise PhaseTensorError(f"{path.name}: '{key}' must be a list")
    words = raw if kind == "waring" else _flatten_terms(raw, path.name)
    vectors = np.array([_parse_word(w, tensor.n, path.name) for w in words], np.uint64)
    return Decomposition(tensor, kind, vectors if kind == "waring" else vectors.reshape(-1, 3))


def _flatten_terms(raw, where: str) -> list:
    if not all(isinstance(t, list) and len(t) == 3 for t in raw):
        raise PhaseTensorError(f"{where}: each Toffoli term is a list of three bit strings")
    return [w for t in raw for w in t]


def _parse_word(word, n: int, where: str) -> int:
    if not isinstance(word, str) or len(word) != n or set(word) - {"0", "1"}:
        raise PhaseTensorError(f"{where}: a vector must be a string of {n} bits, got {word!r:.80}")
    return sum(1 << i for i, ch in enumerate(word) if ch == "1")


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise PhaseTensorError(f"{path.name}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PhaseTensorError(f"{path.name}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise PhaseTensorError(f"{path.name}: expected a JSON object")
    return data


def _tensor_from_json(data: dict, where: str, name: str) -> PhaseTensor:
    n, monomials = data.get("n"), data.get("monomials")
    if not isinstance(n, int) or isinstance(n, bool):
        raise PhaseTensorError(f"{where}: 'n' must be an integer")
    if not isinstance(monomials, list) or not all(
        isinstance(m, list) and len(m) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in m)
        for m in monomials
    ):
        raise PhaseTensorError(f"{where}: 'monomials' must be a list of [i, j, k] integer triples")
    try:
        return PhaseTensor(n, np.array(monomials, np.int64).reshape(-1, 3), name)
    except PhaseTensorError as e:
        raise PhaseTensorError(f"{where}: {e}") from None


# --- shipped benchmarks ---------------------------------------------------------------------


def _slug(name: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())


@functools.cache
def benchmarks() -> tuple[dict, ...]:
    """polytof's benchmark table for the shipped tensors: id, alias, name, slug, n, nnz, best counts.

    ``toffoli`` and ``tcount`` are the best known counts (polytof's ``docs/tensors.md``).
    """
    resource = importlib.resources.files("gamify.tensor") / "data" / "polytof" / "best_known.json"
    rows = json.loads(resource.read_text())
    return tuple({**row, "slug": _slug(row["name"])} for row in rows)


def benchmark_tensor(spec: str) -> PhaseTensor:
    """A shipped tensor by polytof ID (``0820``; an ATQ alias such as ``0120`` too) or name (``tof_3``)."""
    key = _slug(spec)
    for row in benchmarks():
        ids = (row["id"], row.get("alias"))
        if spec in ids or key == row["slug"]:
            chosen = spec if spec in ids else row["id"]
            resource = importlib.resources.files("gamify.tensor") / "data" / "polytof" / f"{chosen}.npy"
            with importlib.resources.as_file(resource) as path:
                tensor = read_tensor(path)
            return dataclasses.replace(tensor, name=f"{chosen} {row['name']}")
    raise PhaseTensorError(
        f"no shipped phase tensor {spec!r} (ids such as 0820, names such as tof_3; "
        "`gamify tcount --list` lists them)"
    )


def benchmark_row(ident: str) -> dict | None:
    """polytof's row for a shipped tensor by ID or ATQ alias (a tensor's name starts with it), else None."""
    ident = ident.split(" ")[0]
    return next((row for row in benchmarks() if ident in (row["id"], row.get("alias"))), None)


def load_tensor(spec) -> PhaseTensor:
    """A phase tensor from a file (a path that exists or ends in .npy/.json) or a shipped ID or name."""
    path = Path(spec)
    if path.suffix in (".npy", ".json") or path.exists():
        if not path.is_file():
            raise PhaseTensorError(f"{spec}: no such file")
        return read_tensor(path)
    return benchmark_tensor(str(spec))
