"""The bridge to compiled code: gamify's extension module and XLA's FFI.

* :data:`core` is the compiled ``gamify._core`` (nanobind; pure C++ headers in
  ``cpp_ext/include/gamify/``), or None when it cannot be imported (e.g. a source tree
  that was never built). Domain libraries wrap its functions with checked Python ones
  (the tensor domain's are in :mod:`gamify.tensor.kernels`) and fall back to a reference
  implementation with one warning (:func:`warn_fallback`).
* :func:`ffi_available` registers the compiled XLA FFI handlers, which XLA calls from
  inside jitted code on CPU with no Python and no GIL (unlike ``jax.pure_callback``).
* :func:`host_kernel` lets a game author call any C function (a ``numba.cfunc``, say)
  inside jit through gamify's FFI trampoline.
"""

from __future__ import annotations

import functools
import warnings

import jax
import numpy as np

try:
    from gamify import _core as core
except ImportError as err:  # pragma: no cover - depends on how gamify was installed
    core = None
    _import_error: ImportError | None = err
else:
    _import_error = None

_warned = False

__all__ = ["available", "core", "ffi_available", "host_kernel", "warn_fallback", "warn_no_ffi"]


def available() -> bool:
    """Whether the compiled extension ``gamify._core`` was imported."""
    return core is not None


def warn_no_ffi() -> None:
    """Warns once that the FFI kernels are missing and the JAX reference runs inside jit."""
    global _warned
    if not _warned:
        _warned = True
        why = _import_error or "built without XLA's FFI headers"
        warnings.warn(
            f"gamify's native kernels cannot run inside jit ({why}); using the slower JAX "
            "implementation. Reinstall gamify with `pip install .` to build them.",
            RuntimeWarning,
            stacklevel=3,
        )


@functools.cache
def ffi_available() -> bool:
    """Whether the native kernels can be called inside jit (registers the XLA FFI handlers for CPU)."""
    targets = core.ffi_targets() if core is not None else {}
    for name, capsule in targets.items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    return bool(targets)


def warn_fallback() -> None:
    """Warns once that ``gamify._core`` is missing and a slower reference implementation runs."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"gamify._core is not available ({_import_error}); using the slower numpy "
            "implementation. Reinstall gamify with `pip install .` to build it.",
            RuntimeWarning,
            stacklevel=3,
        )


def host_kernel(address: int, item_shape, in_dtype, out_shape, out_dtype, *, keep_alive=None, reference=None):
    """A JAX function that calls a C function inside jit on CPU (gamify's FFI trampoline).

    The C function has the signature ``void fn(const in_t* in, out_t* out, int64_t batch)``
    and maps ``batch`` items of ``item_shape`` to ``batch`` items of ``out_shape``, C order;
    a ``numba.cfunc`` is the intended source (see :mod:`gamify.tensor.numba_bound`). XLA calls it
    with no Python and no GIL. gamify cannot check the function: a wrong signature crashes.

    Args:
      address: the function's address (``cfunc.address``).
      item_shape, in_dtype: one input item; inputs are [..., *item_shape].
      out_shape, out_dtype: one output item; outputs are [..., *out_shape].
      keep_alive: an object owning the code (the cfunc), kept as long as the function.
      reference: a JAX function with the same meaning, used on other platforms.

    Returns:
      ``f(x)``, jit- and vmap-friendly.
    """
    if not ffi_available():
        raise RuntimeError("host_kernel needs gamify._core built with XLA's FFI headers (pip install .)")
    item_shape, out_shape = tuple(item_shape), tuple(out_shape)

    def call(x):
        if x.dtype != np.dtype(in_dtype) or x.shape[x.ndim - len(item_shape) :] != item_shape:
            raise ValueError(
                f"expected {np.dtype(in_dtype)}[..., {item_shape}], got {x.dtype}{list(x.shape)}"
            )
        batch = x.shape[: x.ndim - len(item_shape)]
        out = jax.ShapeDtypeStruct(batch + out_shape, out_dtype)
        native_call = jax.ffi.ffi_call("gamify_host_kernel", out, vmap_method="broadcast_all")
        run = lambda y: native_call(y, fn=np.int64(address), item_rank=np.int64(len(item_shape)))  # noqa: E731
        if reference is None:
            return run(x)
        return jax.lax.platform_dependent(x, cpu=run, default=reference)

    call.keep_alive = keep_alive
    return call
