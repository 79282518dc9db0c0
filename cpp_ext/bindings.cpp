// nanobind bindings for gamify._core: the only file here that knows about Python.
// Kernels live in include/gamify/*.hpp; this file checks nothing beyond what the
// ndarray types enforce (gamify/native.py validates inputs and gives the errors).
#include <cstdint>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "gamify/gf2.hpp"

namespace nb = nanobind;

namespace {

using RowsIn = nb::ndarray<const uint64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using RanksOut = nb::ndarray<nb::numpy, int32_t, nb::ndim<1>>;

RanksOut gf2_rank(RowsIn rows) {
  const std::size_t batch = rows.shape(0);
  const std::size_t num_rows = rows.shape(1);
  auto* out = new int32_t[batch > 0 ? batch : 1];
  nb::capsule owner(out, [](void* p) noexcept { delete[] static_cast<int32_t*>(p); });
  {
    nb::gil_scoped_release release;
    gamify::gf2::rank_batch(rows.data(), batch, num_rows, out);
  }
  return RanksOut(out, {batch}, owner);
}

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "gamify's native kernels (private; use gamify.native).";
  m.def("gf2_rank", &gf2_rank, nb::arg("rows"),
        "Ranks over GF(2) of B bit-packed matrices.\n\n"
        "Args:\n"
        "  rows: uint64[B, R], C-contiguous; bit c of rows[b, r] is entry (r, c).\n\n"
        "Returns:\n"
        "  int32[B], the rank of each matrix.");
}
