// Kernels of the tensor-decomposition game on plain C arrays. Pure C++ (no Python, no XLA).
//
// A tensor of shape (I, J, K) is row-major: entry (i, j, k) at (i * J + j) * K + k. Every
// dimension is at most kMaxDim = 64, so a row of a matrix slice fits one uint64_t over GF(2).
// The slice-rank bound is min over the three modes of the sum of the ranks of the slices
// (mode 0: the I slices [J x K]; mode 1: the J slices [I x K]; mode 2: the K slices [I x J]),
// the same bound as gamify.games.tensor_decomposition.slice_rank_bound, bit for bit.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "gamify/gf2.hpp"

namespace gamify::tensor {

inline constexpr std::size_t kMaxDim = 64;

// Z: ranks are computed modulo these primes (each below sqrt(2^31)) and are exact over Q when
// the Hadamard bound of the slice is certified small (see certified() below).
inline constexpr std::array<uint32_t, 3> kPrimes = {46337, 46327, 46309};
// A slice is certified when every |entry| < kMaxCertifiedEntry and, along rows or along
// columns, the bit widths of the squared norms sum to less than kCertifiedBits: then every
// minor is below 2^(kCertifiedBits/2) <= 46337 * 46327 * 46309, so a nonzero minor cannot
// vanish modulo all three primes and the largest modular rank is the rank over Q.
inline constexpr int64_t kMaxCertifiedEntry = 4096;
inline constexpr int kCertifiedBits = 92;

struct Shape {
  std::size_t i, j, k;
  std::size_t size() const noexcept { return i * j * k; }
  bool valid() const noexcept {
    return i >= 1 && j >= 1 && k >= 1 && i <= kMaxDim && j <= kMaxDim && k <= kMaxDim;
  }
};

// ---- Z2 ---------------------------------------------------------------------------------

// The slice-rank bound of one tensor over GF(2); an entry counts as 1 when it is nonzero.
template <class T>
int32_t slice_rank_bound_z2(const T* t, Shape s) {
  thread_local std::vector<uint64_t> rows;  // mode 0: [I][J] over k; mode 1: [J][I] over k; mode 2: [K][I] over j
  rows.assign(s.i * s.j + s.j * s.i + s.k * s.i, 0);
  uint64_t* by_i = rows.data();
  uint64_t* by_j = by_i + s.i * s.j;
  uint64_t* by_k = by_j + s.j * s.i;
  for (std::size_t i = 0; i < s.i; ++i) {
    for (std::size_t j = 0; j < s.j; ++j) {
      const T* line = t + (i * s.j + j) * s.k;
      uint64_t bits = 0;
      for (std::size_t k = 0; k < s.k; ++k) bits |= static_cast<uint64_t>(line[k] != 0) << k;  // branch-free
      by_i[i * s.j + j] = bits;
      by_j[j * s.i + i] = bits;
      for (uint64_t x = bits; x != 0; x &= x - 1) by_k[std::countr_zero(x) * s.i + i] |= uint64_t{1} << j;
    }
  }
  int32_t sums[3] = {0, 0, 0};
  for (std::size_t i = 0; i < s.i; ++i) sums[0] += gf2::rank(by_i + i * s.j, s.j);
  for (std::size_t j = 0; j < s.j; ++j) sums[1] += gf2::rank(by_j + j * s.i, s.i);
  for (std::size_t k = 0; k < s.k; ++k) sums[2] += gf2::rank(by_k + k * s.i, s.i);
  return std::min({sums[0], sums[1], sums[2]});
}

// ---- Z ----------------------------------------------------------------------------------

// Rank modulo the prime P of a rows x cols matrix (row stride `stride`), by fraction-free
// Gaussian elimination (row <- pivot * row - entry * pivot_row: no inverses); `work` is
// scratch of rows * cols entries. P is a compile-time constant below 2^16, so every
// reduction is a multiply-shift, not a division.
template <uint32_t P>
int32_t rank_mod_prime(const int32_t* m, std::size_t rows, std::size_t cols, std::size_t stride, uint32_t* work) {
  static_assert(P < (1u << 16) && 2ull * P * P < (1ull << 32));
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const int64_t x = m[r * stride + c] % static_cast<int64_t>(P);
      work[r * cols + c] = static_cast<uint32_t>(x < 0 ? x + P : x);
    }
  }
  int32_t rank = 0;
  for (std::size_t c = 0; c < cols && static_cast<std::size_t>(rank) < rows; ++c) {
    std::size_t pivot = rank;
    while (pivot < rows && work[pivot * cols + c] == 0) ++pivot;
    if (pivot == rows) continue;
    if (pivot != static_cast<std::size_t>(rank)) {
      std::swap_ranges(work + pivot * cols, work + pivot * cols + cols, work + rank * cols);
    }
    const uint32_t* top = work + rank * cols;
    const uint32_t lead = top[c];
    for (std::size_t r = rank + 1; r < rows; ++r) {
      uint32_t* row = work + r * cols;
      const uint32_t factor = row[c];
      if (factor == 0) continue;
      // lead * row - factor * top, kept non-negative: below 2 * P * P < 2^32.
      for (std::size_t x = c; x < cols; ++x) row[x] = (lead * row[x] + P * P - factor * top[x]) % P;
    }
    ++rank;
  }
  return rank;
}

// The rank bound of one slice over Q: the exact rank when certified, else the number of
// nonzero rows or columns (whichever is smaller).
inline int32_t slice_rank_z(const int32_t* m, std::size_t rows, std::size_t cols, std::size_t stride,
                            uint32_t* work) {
  std::array<int64_t, kMaxDim> row_sq, col_sq;
  std::fill_n(row_sq.begin(), rows, 0);
  std::fill_n(col_sq.begin(), cols, 0);
  bool small = true;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const int64_t x = m[r * stride + c];
      small &= std::llabs(x) < kMaxCertifiedEntry;
      row_sq[r] += x * x;
      col_sq[c] += x * x;
    }
  }
  int row_bits = 0, col_bits = 0, nonzero_rows = 0, nonzero_cols = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    row_bits += std::bit_width(static_cast<uint64_t>(row_sq[r]));
    nonzero_rows += row_sq[r] != 0;
  }
  for (std::size_t c = 0; c < cols; ++c) {
    col_bits += std::bit_width(static_cast<uint64_t>(col_sq[c]));
    nonzero_cols += col_sq[c] != 0;
  }
  const int32_t most = std::min(nonzero_rows, nonzero_cols);  // no rank exceeds it
  if (!small || std::min(row_bits, col_bits) >= kCertifiedBits || most == 0) return most;
  int32_t best = rank_mod_prime<kPrimes[0]>(m, rows, cols, stride, work);
  if (best < most) best = std::max(best, rank_mod_prime<kPrimes[1]>(m, rows, cols, stride, work));
  if (best < most) best = std::max(best, rank_mod_prime<kPrimes[2]>(m, rows, cols, stride, work));
  return best;
}

// The slice-rank bound of one integer tensor (ranks over Q, see slice_rank_z).
inline int32_t slice_rank_bound_z(const int32_t* t, Shape s) {
  thread_local std::vector<int32_t> slice;
  thread_local std::vector<uint32_t> work;
  work.resize(kMaxDim * kMaxDim);
  slice.resize(std::max({s.j * s.k, s.i * s.k, s.i * s.j}));
  int32_t sums[3] = {0, 0, 0};
  for (std::size_t i = 0; i < s.i; ++i) sums[0] += slice_rank_z(t + i * s.j * s.k, s.j, s.k, s.k, work.data());
  for (std::size_t j = 0; j < s.j; ++j) {  // slice j: [I x K], rows i
    for (std::size_t i = 0; i < s.i; ++i) {
      std::copy_n(t + (i * s.j + j) * s.k, s.k, slice.data() + i * s.k);
    }
    sums[1] += slice_rank_z(slice.data(), s.i, s.k, s.k, work.data());
  }
  for (std::size_t k = 0; k < s.k; ++k) {  // slice k: [I x J], rows i
    for (std::size_t i = 0; i < s.i; ++i) {
      for (std::size_t j = 0; j < s.j; ++j) slice[i * s.j + j] = t[(i * s.j + j) * s.k + k];
    }
    sums[2] += slice_rank_z(slice.data(), s.i, s.j, s.j, work.data());
  }
  return std::min({sums[0], sums[1], sums[2]});
}

// The bound over GF(2) when `z2`, else over Q (int32 tensors only; int8 tensors are Z2's).
template <class T>
int32_t slice_rank_bound(const T* t, Shape s, bool z2) {
  if constexpr (std::is_same_v<T, int32_t>) {
    if (!z2) return slice_rank_bound_z(t, s);
  }
  return slice_rank_bound_z2(t, s);
}

// ---- moves ------------------------------------------------------------------------------

// residual - u (x) v (x) w into `out` (which may be `residual`); over Z2 (modulo 2) when `Z2`.
// Returns false when a Z entry leaves the range of T (out then holds wrapped values).
template <bool Z2, class T>
bool subtract_term(const T* residual, const T* u, const T* v, const T* w, Shape s, T* out) {
  bool ok = true;
  for (std::size_t i = 0; i < s.i; ++i) {
    for (std::size_t j = 0; j < s.j; ++j) {
      const int64_t uv = static_cast<int64_t>(u[i]) * v[j];
      const std::size_t base = (i * s.j + j) * s.k;
      for (std::size_t k = 0; k < s.k; ++k) {
        if constexpr (Z2) {
          out[base + k] = static_cast<T>((residual[base + k] ^ (uv * w[k])) & 1);
        } else {
          const int64_t x = static_cast<int64_t>(residual[base + k]) - uv * w[k];
          out[base + k] = static_cast<T>(x);
          ok &= x == static_cast<int64_t>(out[base + k]);  // branch-free range check
        }
      }
    }
  }
  return ok;
}

template <class T>
bool subtract_term(const T* residual, const T* u, const T* v, const T* w, Shape s, bool z2, T* out) {
  return z2 ? subtract_term<true>(residual, u, v, w, s, out) : subtract_term<false>(residual, u, v, w, s, out);
}

// Bit-packed Z2 residual: word (i, j) holds the fibre residual[i, j, :] (bit k). A move flips
// the fibres where u_i = v_j = 1 by w's bits. Returns whether the residual became zero.
inline bool subtract_term_packed(uint64_t* words, uint64_t u, uint64_t v, uint64_t w, std::size_t dim_i,
                                 std::size_t dim_j) noexcept {
  uint64_t any = 0;
  for (std::size_t i = 0; i < dim_i; ++i) {
    const uint64_t mask_i = (u >> i) & 1 ? w : 0;
    uint64_t* row = words + i * dim_j;
    for (std::size_t j = 0; j < dim_j; ++j) {
      row[j] ^= (v >> j) & 1 ? mask_i : 0;
      any |= row[j];
    }
  }
  return any == 0;
}

// ---- schemes ----------------------------------------------------------------------------

// Checks Σ_r u_r (x) v_r (x) w_r = target entry by entry (mod 2 when `z2`), factors row-major
// [R, I], [R, J], [R, K]. Returns the flat index of the first violated entry (C order), or -1;
// `num_violated` gets their count. Over Z, returns -2 if a partial sum could overflow int64.
inline int64_t verify(const int64_t* u, const int64_t* v, const int64_t* w, std::size_t rank,
                      const int64_t* target, Shape s, bool z2, int64_t* num_violated) {
  std::vector<int64_t> sum(s.size(), 0);
  for (std::size_t r = 0; r < rank; ++r) {
    const int64_t* ur = u + r * s.i;
    const int64_t* vr = v + r * s.j;
    const int64_t* wr = w + r * s.k;
    for (std::size_t i = 0; i < s.i; ++i) {
      if (ur[i] == 0) continue;
      for (std::size_t j = 0; j < s.j; ++j) {
        int64_t uv;
        if (vr[j] == 0) continue;
        if (__builtin_mul_overflow(ur[i], vr[j], &uv)) return -2;
        int64_t* line = sum.data() + (i * s.j + j) * s.k;
        for (std::size_t k = 0; k < s.k; ++k) {
          int64_t term;
          if (z2) {
            line[k] ^= uv & wr[k] & 1;
          } else if (__builtin_mul_overflow(uv, wr[k], &term) || __builtin_add_overflow(line[k], term, &line[k])) {
            return -2;
          }
        }
      }
    }
  }
  int64_t first = -1, count = 0;
  for (std::size_t x = 0; x < s.size(); ++x) {
    const int64_t expected = z2 ? (target[x] & 1) : target[x];
    if (sum[x] != expected) {
      if (first < 0) first = static_cast<int64_t>(x);
      ++count;
    }
  }
  *num_violated = count;
  return first;
}

// The derivative mod 2 of the Brent equations Σ_r u_r (x) v_r (x) w_r = T at a scheme with
// 0/1 factors u [R, I], v [R, J], w [R, K]: one bit-packed row of `words` words per equation
// (i, j, k), row-major. Unknown x (Δu[r, i] at r * I + i, then Δv at R * I + r * J + j, then
// Δw) is column column[x]: d/dΔu[r, i'] of equation (i, j, k) is [i = i'] v[r, j] w[r, k].
inline void brent_jacobian(const uint8_t* u, const uint8_t* v, const uint8_t* w, std::size_t rank, Shape s,
                           const int64_t* column, std::size_t words, uint64_t* rows) {
  std::fill(rows, rows + s.size() * words, 0);
  const auto set = [&](std::size_t row, int64_t col) { rows[row * words + col / 64] |= uint64_t{1} << (col % 64); };
  for (std::size_t r = 0; r < rank; ++r) {
    const uint8_t *a = u + r * s.i, *b = v + r * s.j, *c = w + r * s.k;
    for (std::size_t i = 0; i < s.i; ++i) {
      for (std::size_t j = 0; j < s.j; ++j) {
        for (std::size_t k = 0; k < s.k; ++k) {
          const std::size_t row = (i * s.j + j) * s.k + k;
          if (b[j] & c[k]) set(row, column[r * s.i + i]);
          if (a[i] & c[k]) set(row, column[rank * s.i + r * s.j + j]);
          if (a[i] & b[j]) set(row, column[rank * (s.i + s.j) + r * s.k + k]);
        }
      }
    }
  }
}

}  // namespace gamify::tensor
