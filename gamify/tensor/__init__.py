"""The tensor domain: schemes (low-rank decompositions of 3-way tensors) and what finds them.

A library on top of the engine (:mod:`gamify`), which never imports it: exact
verification (:mod:`~gamify.tensor.scheme`), file formats (:mod:`~gamify.tensor.formats`),
the matrix-multiplication tensor (:mod:`~gamify.tensor.matmul`), flip-graph walks
(:mod:`~gamify.tensor.flips`), Hensel lifting (:mod:`~gamify.tensor.lift`), schemes as
code (:mod:`~gamify.tensor.codegen`), and the pieces the tensor game plays with: the
slice-rank bound (:mod:`~gamify.tensor.bound`), sign forms of terms
(:mod:`~gamify.tensor.terms`), changes of basis (:mod:`~gamify.tensor.basis`), target
files (:mod:`~gamify.tensor.targets`) and the native kernels (:mod:`~gamify.tensor.kernels`).
"""

from gamify.tensor.codegen import SchemeMatmul
from gamify.tensor.flips import FlipResult, walk
from gamify.tensor.formats import SchemeFormatError, alphatensor_schemes, read_scheme, write_scheme
from gamify.tensor.lift import LiftError, hensel_lift
from gamify.tensor.matmul import matmul_sizes, matmul_tensor
from gamify.tensor.scheme import Scheme, Verification

__all__ = [
    "FlipResult",
    "LiftError",
    "Scheme",
    "SchemeFormatError",
    "SchemeMatmul",
    "Verification",
    "alphatensor_schemes",
    "hensel_lift",
    "matmul_sizes",
    "matmul_tensor",
    "read_scheme",
    "walk",
    "write_scheme",
]
