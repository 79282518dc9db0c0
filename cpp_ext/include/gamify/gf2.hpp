// Linear algebra over GF(2) on bit-packed rows. Pure C++ (no Python).
//
// A matrix over GF(2) with at most 64 columns is stored as an array of rows,
// each row a uint64_t whose bit c is the entry in column c.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace gamify::gf2 {

// Rank over GF(2) of the matrix whose `num_rows` rows are `rows[0..num_rows)`.
//
// Builds an XOR basis indexed by leading bit: each row is reduced by the basis
// vectors of its current leading bit until it vanishes (dependent) or finds a
// free leading bit (a new basis vector). O(num_rows * 64) word operations.
// Any number of rows is accepted; the rank is at most min(num_rows, 64).
inline int32_t rank(const uint64_t* rows, std::size_t num_rows) noexcept {
  std::array<uint64_t, 64> basis{};  // basis[h] has leading bit h, or is 0
  int32_t r = 0;
  for (std::size_t i = 0; i < num_rows && r < 64; ++i) {
    uint64_t x = rows[i];
    while (x != 0) {
      const int h = 63 - std::countl_zero(x);
      if (basis[h] == 0) {
        basis[h] = x;
        ++r;
        break;
      }
      x ^= basis[h];
    }
  }
  return r;
}

// Ranks of `batch` matrices stored back to back (row-major [batch, num_rows]).
inline void rank_batch(const uint64_t* rows, std::size_t batch, std::size_t num_rows,
                       int32_t* out) noexcept {
  for (std::size_t b = 0; b < batch; ++b) {
    out[b] = rank(rows + b * num_rows, num_rows);
  }
}

}  // namespace gamify::gf2
