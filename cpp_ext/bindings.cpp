// nanobind bindings for gamify._core: the only file here that knows about Python.
// Kernels live in include/gamify/*.hpp; this file checks nothing beyond what the
// ndarray types enforce (gamify/native.py validates inputs and gives the errors).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/vector.h>

#include "gamify/flips.hpp"
#include "gamify/sixfold.hpp"
#include "gamify/gf2.hpp"
#include "gamify/pool.hpp"
#include "gamify/tensor.hpp"
#ifdef GAMIFY_WITH_FFI
#include "gamify/ffi.hpp"
#endif

namespace nb = nanobind;

namespace {

template <class T, class... Extra>
using In = nb::ndarray<const T, nb::c_contig, nb::device::cpu, Extra...>;
template <class T, class... Extra>
using Out = nb::ndarray<nb::numpy, T, Extra...>;

// A new numpy array of `count` T's owned by a capsule (freed with the array).
template <class T>
std::pair<T*, nb::capsule> allocate(std::size_t count) {
  T* data = new T[count > 0 ? count : 1];  // every caller writes all of it
  return {data, nb::capsule(data, [](void* p) noexcept { delete[] static_cast<T*>(p); })};
}

gamify::tensor::Shape tensor_shape(std::size_t i, std::size_t j, std::size_t k) {
  const gamify::tensor::Shape shape{i, j, k};
  if (!shape.valid()) throw nb::value_error("tensor dimensions must be in [1, 64]");
  return shape;
}

Out<int32_t, nb::ndim<1>> gf2_rank(In<uint64_t, nb::ndim<2>> rows) {
  const std::size_t batch = rows.shape(0);
  auto [out, owner] = allocate<int32_t>(batch);
  {
    nb::gil_scoped_release release;
    gamify::gf2::rank_batch(rows.data(), batch, rows.shape(1), out);
  }
  return Out<int32_t, nb::ndim<1>>(out, {batch}, owner);
}

template <class T>
Out<int32_t, nb::ndim<1>> slice_rank_bound(In<T, nb::ndim<4>> residual, bool z2) {
  const std::size_t batch = residual.shape(0);
  const auto shape = tensor_shape(residual.shape(1), residual.shape(2), residual.shape(3));
  auto [out, owner] = allocate<int32_t>(batch);
  {
    nb::gil_scoped_release release;
    for (std::size_t b = 0; b < batch; ++b) {
      out[b] = gamify::tensor::slice_rank_bound(residual.data() + b * shape.size(), shape, z2);
    }
  }
  return Out<int32_t, nb::ndim<1>>(out, {batch}, owner);
}

// residual - u (x) v (x) w for a batch; returns (new residual, in_range[B]).
template <class T>
nb::tuple subtract_terms(In<T, nb::ndim<4>> residual, In<T, nb::ndim<2>> u, In<T, nb::ndim<2>> v,
                         In<T, nb::ndim<2>> w, bool z2) {
  const std::size_t batch = residual.shape(0);
  const auto shape = tensor_shape(residual.shape(1), residual.shape(2), residual.shape(3));
  auto [next, next_owner] = allocate<T>(batch * shape.size());
  auto [ok, ok_owner] = allocate<bool>(batch);
  {
    nb::gil_scoped_release release;
    for (std::size_t b = 0; b < batch; ++b) {
      ok[b] = gamify::tensor::subtract_term(residual.data() + b * shape.size(), u.data() + b * shape.i,
                                            v.data() + b * shape.j, w.data() + b * shape.k, shape, z2,
                                            next + b * shape.size());
    }
  }
  return nb::make_tuple(Out<T, nb::ndim<4>>(next, {batch, shape.i, shape.j, shape.k}, next_owner),
                        Out<bool, nb::ndim<1>>(ok, {batch}, ok_owner));
}

// In place on bit-packed residuals words[B, I, J] (bit k of word (i, j) is entry (i, j, k));
// u, v, w are bit masks. Returns zero[B]: the residual became zero.
Out<bool, nb::ndim<1>> subtract_terms_packed(nb::ndarray<uint64_t, nb::ndim<3>, nb::c_contig, nb::device::cpu> words,
                                             In<uint64_t, nb::ndim<1>> u, In<uint64_t, nb::ndim<1>> v,
                                             In<uint64_t, nb::ndim<1>> w) {
  const std::size_t batch = words.shape(0), dim_i = words.shape(1), dim_j = words.shape(2);
  auto [zero, owner] = allocate<bool>(batch);
  {
    nb::gil_scoped_release release;
    for (std::size_t b = 0; b < batch; ++b) {
      zero[b] = gamify::tensor::subtract_term_packed(words.data() + b * dim_i * dim_j, u.data()[b], v.data()[b],
                                                     w.data()[b], dim_i, dim_j);
    }
  }
  return Out<bool, nb::ndim<1>>(zero, {batch}, owner);
}

nb::tuple verify(In<int64_t, nb::ndim<2>> u, In<int64_t, nb::ndim<2>> v, In<int64_t, nb::ndim<2>> w,
                 In<int64_t, nb::ndim<3>> target, bool z2) {
  const gamify::tensor::Shape shape{target.shape(0), target.shape(1), target.shape(2)};  // any size
  int64_t first, count = 0;
  {
    nb::gil_scoped_release release;
    first = gamify::tensor::verify(u.data(), v.data(), w.data(), u.shape(0), target.data(), shape, z2, &count);
  }
  return nb::make_tuple(first, count);
}

gamify::flips::Scheme terms_from(In<uint64_t, nb::ndim<2>> terms) {
  if (terms.shape(1) != 3) throw nb::value_error("terms must be [R, 3] bit masks (a, b, c)");
  gamify::flips::Scheme scheme(terms.shape(0));
  for (std::size_t r = 0; r < scheme.size(); ++r) {
    for (std::size_t f = 0; f < 3; ++f) scheme[r].f[f] = terms.data()[r * 3 + f];
  }
  return scheme;
}

// Every term of a scheme as terms[R, 3] bit masks (a symmetric scheme's orbits written out).
gamify::flips::Scheme written_out(const gamify::flips::Scheme& scheme) { return scheme; }
gamify::flips::Scheme written_out(const gamify::flips::SymmetricScheme& scheme) {
  gamify::flips::Scheme terms;
  for (const auto& orbit : scheme.orbits) {
    for (int k = 0; k < 3; ++k) terms.push_back(gamify::flips::rotated(orbit, k));
  }
  for (const uint64_t cube : scheme.cubes) terms.push_back({{cube, cube, cube}});
  return terms;
}

// A WalkerPool for Python: schemes as numpy arrays, totals as a tuple.
template <class Walker, class State>
class FlipSearch {
 public:
  FlipSearch(const State& start, const gamify::flips::Options& options, std::size_t threads,
             const std::vector<State>& given)
      : pool_(start, options, threads, given) {}

  // Walks for up to `seconds`; returns whether a walker reached the target rank.
  bool run(double seconds) {
    nb::gil_scoped_release release;
    return pool_.run(seconds);
  }

  // The lowest-rank scheme of all walkers, every term written out: terms[R', 3].
  Out<uint64_t, nb::ndim<2>> best() const { return to_array(written_out(pool_.best())); }

  // The scheme pool's schemes of one rank, each written out.
  nb::list pooled(std::size_t rank) const {
    nb::list out;
    for (const State& scheme : pool_.pooled(rank)) out.append(to_array(written_out(scheme)));
    return out;
  }

  // The shared pool's levels, lowest rank first: [(rank, schemes held, open)].
  nb::list levels() const {
    nb::list out;
    for (const auto& level : pool_.levels()) out.append(nb::make_tuple(level.rank, level.schemes, level.open));
    return out;
  }

  // Totals over the walkers: (flips, reductions, restarts, plus transitions).
  nb::tuple stats() const {
    const gamify::flips::Stats total = pool_.stats();
    return nb::make_tuple(total.flips, total.reductions, total.restarts, total.plus);
  }

 private:
  static Out<uint64_t, nb::ndim<2>> to_array(const gamify::flips::Scheme& scheme) {
    auto [out, owner] = allocate<uint64_t>(scheme.size() * 3);
    for (std::size_t r = 0; r < scheme.size(); ++r) {
      for (std::size_t f = 0; f < 3; ++f) out[r * 3 + f] = scheme[r].f[f];
    }
    return Out<uint64_t, nb::ndim<2>>(out, {scheme.size(), 3}, owner);
  }

  gamify::flips::WalkerPool<Walker, State> pool_;
};

using PlainSearch = FlipSearch<gamify::flips::Walker, gamify::flips::Scheme>;
using SymmetricSearch = FlipSearch<gamify::flips::SymmetricWalker, gamify::flips::SymmetricScheme>;
using SixfoldSearch = FlipSearch<gamify::flips::SixfoldWalker, gamify::flips::Scheme>;

template <class Search>
void bind_search(nb::class_<Search>& search) {
  search.def("run", &Search::run, nb::arg("seconds"), "Walks up to `seconds`; True once the target is reached.")
      .def("best", &Search::best, "The lowest-rank scheme so far, every term: terms[R, 3] bit masks.")
      .def("stats", &Search::stats, "(flips, reductions, restarts, plus transitions) so far.")
      .def("levels", &Search::levels, "The scheme pool's levels [(rank, schemes, open)], lowest rank first.")
      .def("pooled", &Search::pooled, nb::arg("rank"), "The scheme pool's schemes of one rank: [terms[R, 3]].");
}

// The constructor of a search whose schemes are plain term lists (terms[R, 3]), and its methods.
template <class Search>
void bind_term_search(nb::class_<Search> search) {
  search.def(
      "__init__",
      [](Search* self, In<uint64_t, nb::ndim<2>> terms, std::size_t target_rank, uint64_t max_flips, uint64_t plateau,
         bool plus, uint64_t seed, std::size_t threads, uint64_t plateau_max, std::size_t plus_levels,
         std::size_t pool_size, double pool_greed, std::vector<In<uint64_t, nb::ndim<2>>> given, std::size_t side,
         bool luby) {
        const gamify::flips::Options options{target_rank, max_flips,   plateau,   plus,       seed, plateau_max,
                                             plus_levels, pool_size,   pool_greed, side,      luby};
        std::vector<gamify::flips::Scheme> schemes;
        for (const auto& scheme : given) schemes.push_back(terms_from(scheme));
        new (self) Search(terms_from(terms), options, threads, schemes);
      },
      nb::arg("terms"), nb::arg("target_rank"), nb::arg("max_flips"), nb::arg("plateau"), nb::arg("plus_transitions"),
      nb::arg("seed"), nb::arg("threads"), nb::arg("plateau_max") = 0, nb::arg("plus_levels") = 1,
      nb::arg("pool_size") = 0, nb::arg("pool_greed") = 0.0,
      nb::arg("given") = std::vector<In<uint64_t, nb::ndim<2>>>{}, nb::arg("side") = 0, nb::arg("luby") = false);
  bind_search(search);
}

// walk_stretch() for a batch: terms uint32[B, R, 3] (all-zero rows are empty slots; factors of
// at most 32 entries), one seed each; `threads` split the batch. Returns the final schemes in
// the same layout (terms first, then empty rows) and the flips each made.
nb::tuple flip_stretches(In<uint32_t, nb::ndim<3>> terms, In<uint64_t, nb::ndim<1>> seeds, uint64_t plateau,
                         std::size_t threads) {
  const std::size_t batch = terms.shape(0), rows = terms.shape(1);
  if (terms.shape(2) != 3 || seeds.shape(0) != batch) throw nb::value_error("terms [B, R, 3] and seeds [B] are required");
  auto [out, owner] = allocate<uint32_t>(batch * rows * 3);
  auto [made, made_owner] = allocate<uint64_t>(batch);
  {
    nb::gil_scoped_release release;
    auto work = [&](std::size_t first, std::size_t last) {
      for (std::size_t b = first; b < last; ++b) {
        const uint32_t* in = terms.data() + b * rows * 3;
        gamify::flips::Scheme scheme;
        for (std::size_t r = 0; r < rows; ++r) {
          if (in[3 * r] | in[3 * r + 1] | in[3 * r + 2]) scheme.push_back({{in[3 * r], in[3 * r + 1], in[3 * r + 2]}});
        }
        const auto [final, count] = gamify::flips::walk_stretch(scheme, seeds.data()[b], plateau);
        uint32_t* dst = out + b * rows * 3;
        std::fill(dst, dst + rows * 3, 0u);
        for (std::size_t r = 0; r < final.size(); ++r) {
          for (int f = 0; f < 3; ++f) dst[3 * r + f] = static_cast<uint32_t>(final[r].f[f]);
        }
        made[b] = count;
      }
    };
    const std::size_t workers = std::max<std::size_t>(1, std::min(threads, batch));
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work, batch * w / workers, batch * (w + 1) / workers);
    work(0, batch / workers);
    for (auto& thread : pool) thread.join();
  }
  return nb::make_tuple(Out<uint32_t, nb::ndim<3>>(out, {batch, rows, 3}, owner),
                        Out<uint64_t, nb::ndim<1>>(made, {batch}, made_owner));
}

// The Brent equations' Jacobian mod 2 at a 0/1 scheme, rows bit-packed (see tensor.hpp).
Out<uint64_t, nb::ndim<2>> brent_jacobian(In<uint8_t, nb::ndim<2>> u, In<uint8_t, nb::ndim<2>> v,
                                          In<uint8_t, nb::ndim<2>> w, In<int64_t, nb::ndim<1>> column) {
  const gamify::tensor::Shape shape{u.shape(1), v.shape(1), w.shape(1)};
  const std::size_t rank = u.shape(0), unknowns = rank * (shape.i + shape.j + shape.k);
  if (v.shape(0) != rank || w.shape(0) != rank || column.shape(0) != unknowns) {
    throw nb::value_error("u, v, w need one row per term and column one entry per unknown");
  }
  for (std::size_t x = 0; x < unknowns; ++x) {
    if (column.data()[x] < 0 || static_cast<std::size_t>(column.data()[x]) >= unknowns) {
      throw nb::value_error("column entries must be in [0, unknowns)");
    }
  }
  const std::size_t words = (unknowns + 63) / 64;
  auto [rows, owner] = allocate<uint64_t>(shape.size() * words);
  {
    nb::gil_scoped_release release;
    gamify::tensor::brent_jacobian(u.data(), v.data(), w.data(), rank, shape, column.data(), words, rows);
  }
  return Out<uint64_t, nb::ndim<2>>(rows, {shape.size(), words}, owner);
}

// J x = e over GF(2), J factored once (gamify.lift solves one system per lifting step).
class Gf2System {
 public:
  Gf2System(In<uint64_t, nb::ndim<2>> rows, std::size_t num_cols) {
    if (rows.shape(1) != (num_cols + 63) / 64) throw nb::value_error("rows need ceil(num_cols / 64) words each");
    nb::gil_scoped_release release;
    system_.emplace(rows.data(), rows.shape(0), num_cols);
  }

  std::size_t rank() const { return system_->rank(); }

  // x (uint64[ceil(num_cols / 64)]) or None when J x = e has no solution.
  nb::object solve(In<uint64_t, nb::ndim<1>> e) const {
    if (e.shape(0) != (system_->num_rows() + 63) / 64) throw nb::value_error("e needs ceil(num_rows / 64) words");
    const std::size_t words = (system_->num_cols() + 63) / 64;
    auto [x, owner] = allocate<uint64_t>(words);
    bool solved;
    {
      nb::gil_scoped_release release;
      solved = system_->solve(e.data(), x);
    }
    if (!solved) return nb::none();
    return nb::cast(Out<uint64_t, nb::ndim<1>>(x, {words}, owner));
  }

 private:
  std::optional<gamify::gf2::LinearSystem> system_;
};

#ifdef GAMIFY_WITH_FFI
nb::dict ffi_targets() {
  nb::dict targets;
  targets["gamify_bound_z2"] = nb::capsule(reinterpret_cast<void*>(GamifyBoundZ2));
  targets["gamify_bound_z"] = nb::capsule(reinterpret_cast<void*>(GamifyBoundZ));
  targets["gamify_step_z2"] = nb::capsule(reinterpret_cast<void*>(GamifyStepZ2));
  targets["gamify_step_z"] = nb::capsule(reinterpret_cast<void*>(GamifyStepZ));
  targets["gamify_host_kernel"] = nb::capsule(reinterpret_cast<void*>(GamifyHostKernel));
  return targets;
}
#else
nb::dict ffi_targets() { return nb::dict(); }
#endif

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "gamify's native kernels (private; use gamify.native).";
  m.def("gf2_rank", &gf2_rank, nb::arg("rows"),
        "Ranks over GF(2) of B bit-packed matrices.\n\n"
        "Args:\n"
        "  rows: uint64[B, R], C-contiguous; bit c of rows[b, r] is entry (r, c).\n\n"
        "Returns:\n"
        "  int32[B], the rank of each matrix.");
  const char* bound_doc = "Slice-rank bounds int32[B] of tensors [B, I, J, K] (over GF(2) if z2, else Q).";
  m.def("slice_rank_bound", &slice_rank_bound<int8_t>, nb::arg("residual"), nb::arg("z2"), bound_doc);
  m.def("slice_rank_bound", &slice_rank_bound<int32_t>, nb::arg("residual"), nb::arg("z2"), bound_doc);
  const char* subtract_doc = "(residual - u⊗v⊗w for each of B tensors, in_range bool[B]); mod 2 if z2.";
  m.def("subtract_terms", &subtract_terms<int8_t>, nb::arg("residual"), nb::arg("u"), nb::arg("v"),
        nb::arg("w"), nb::arg("z2"), subtract_doc);
  m.def("subtract_terms", &subtract_terms<int16_t>, nb::arg("residual"), nb::arg("u"), nb::arg("v"),
        nb::arg("w"), nb::arg("z2"), subtract_doc);
  m.def("subtract_terms", &subtract_terms<int32_t>, nb::arg("residual"), nb::arg("u"), nb::arg("v"),
        nb::arg("w"), nb::arg("z2"), subtract_doc);
  m.def("subtract_terms_packed", &subtract_terms_packed, nb::arg("words"), nb::arg("u"), nb::arg("v"),
        nb::arg("w"), "In place on bit-packed Z2 residuals uint64[B, I, J]; returns zero bool[B].");
  m.def("verify", &verify, nb::arg("u"), nb::arg("v"), nb::arg("w"), nb::arg("target"), nb::arg("z2"),
        "(first violated flat index or -1 (-2: int64 overflow), number violated) of a scheme.");
  bind_term_search(nb::class_<PlainSearch>(m, "FlipSearch", "Flip-graph random walks over GF(2); see gamify.flips."));
  bind_term_search(nb::class_<SixfoldSearch>(
      m, "SixfoldFlipSearch",
      "Flip-graph walks among <n,n,n> schemes invariant under the cyclic shift and the transposition; see gamify.flips."));
  nb::class_<SymmetricSearch> symmetric(
      m, "SymmetricFlipSearch", "Flip-graph walks among cyclic-symmetric schemes over GF(2); see gamify.flips.");
  symmetric.def(
      "__init__",
      [](SymmetricSearch* self, In<uint64_t, nb::ndim<2>> orbits, In<uint64_t, nb::ndim<1>> cubes,
         std::size_t target_rank, uint64_t max_flips, uint64_t plateau, bool plus, uint64_t seed, std::size_t threads,
         uint64_t plateau_max, std::size_t plus_levels, std::size_t pool_size, double pool_greed,
         std::vector<std::pair<In<uint64_t, nb::ndim<2>>, In<uint64_t, nb::ndim<1>>>> given, bool luby) {
        const auto symmetric = [](const auto& orbits, const auto& cubes) {
          return gamify::flips::SymmetricScheme{terms_from(orbits), {cubes.data(), cubes.data() + cubes.shape(0)}};
        };
        const gamify::flips::Options options{target_rank, max_flips,   plateau,   plus,       seed, plateau_max,
                                             plus_levels, pool_size,   pool_greed, 0,         luby};
        std::vector<gamify::flips::SymmetricScheme> schemes;
        for (const auto& [o, c] : given) schemes.push_back(symmetric(o, c));
        new (self) SymmetricSearch(symmetric(orbits, cubes), options, threads, schemes);
      },
      nb::arg("orbits"), nb::arg("cubes"), nb::arg("target_rank"), nb::arg("max_flips"), nb::arg("plateau"),
      nb::arg("plus_transitions"), nb::arg("seed"), nb::arg("threads"), nb::arg("plateau_max") = 0,
      nb::arg("plus_levels") = 1, nb::arg("pool_size") = 0, nb::arg("pool_greed") = 0.0,
      nb::arg("given") = std::vector<std::pair<In<uint64_t, nb::ndim<2>>, In<uint64_t, nb::ndim<1>>>>{},
      nb::arg("luby") = false);
  bind_search(symmetric);
  m.def("flip_stretches", &flip_stretches, nb::arg("terms"), nb::arg("seeds"), nb::arg("plateau"), nb::arg("threads"),
        "One stretch of the plain flip walk per scheme, to its plateau: (terms[B, R, 3], flips[B]).");
  m.def("brent_jacobian", &brent_jacobian, nb::arg("u"), nb::arg("v"), nb::arg("w"), nb::arg("column"),
        "Bit-packed rows uint64[I*J*K, words] of the Brent equations' Jacobian mod 2 (see gamify.lift).");
  nb::class_<Gf2System>(m, "Gf2System", "J x = e over GF(2) for many e, J bit-packed by rows; see gamify.lift.")
      .def(nb::init<In<uint64_t, nb::ndim<2>>, std::size_t>(), nb::arg("rows"), nb::arg("num_cols"))
      .def_prop_ro("rank", &Gf2System::rank)
      .def("solve", &Gf2System::solve, nb::arg("e"), "x with J x = e (free unknowns 0), or None.");
  m.def("ffi_targets", &ffi_targets, "XLA FFI handlers {name: PyCapsule} (empty when built without XLA headers).");
}
