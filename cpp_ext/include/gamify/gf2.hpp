// Linear algebra over GF(2) on bit-packed rows. Pure C++ (no Python).
//
// A matrix over GF(2) with at most 64 columns is stored as an array of rows,
// each row a uint64_t whose bit c is the entry in column c; a wider matrix stores each
// row as consecutive words (bit c of a row is bit c % 64 of its word c / 64).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

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

// J x = e over GF(2) for one matrix J and many right-hand sides e (Hensel lifting solves
// one system per step with the same J). The constructor runs Gauss-Jordan elimination once
// and records, for each pivot, the set of rows it was added to; solve() replays those row
// operations on e (O(pivots * rows / 64) words) and reads the solution off the pivots.
class LinearSystem {
 public:
  // `rows`: num_rows rows of ceil(num_cols / 64) words each.
  LinearSystem(const uint64_t* rows, std::size_t num_rows, std::size_t num_cols)
      : num_rows_(num_rows), num_cols_(num_cols), words_((num_cols + 63) / 64), row_words_((num_rows + 63) / 64) {
    std::vector<uint64_t> m(rows, rows + num_rows * words_);
    std::vector<bool> used(num_rows, false);
    for (std::size_t c = 0; c < num_cols; ++c) {
      const std::size_t word = c / 64;
      const uint64_t bit = uint64_t{1} << (c % 64);
      std::size_t pivot = num_rows;
      for (std::size_t r = 0; r < num_rows; ++r) {
        if (!used[r] && (m[r * words_ + word] & bit)) {
          pivot = r;
          break;
        }
      }
      if (pivot == num_rows) continue;  // a free unknown: set to 0 in every solution
      used[pivot] = true;
      pivot_rows_.push_back(pivot);
      pivot_cols_.push_back(c);
      std::vector<uint64_t> added(row_words_, 0);
      // Columns before c are zero in the pivot row (earlier pivots were eliminated from it, and
      // earlier free columns are zero in every unused row), so the XOR starts at word c / 64.
      const uint64_t* source = &m[pivot * words_];
      for (std::size_t r = 0; r < num_rows; ++r) {
        uint64_t* target = &m[r * words_];
        if (r == pivot || !(target[word] & bit)) continue;
        for (std::size_t k = word; k < words_; ++k) target[k] ^= source[k];
        added[r / 64] |= uint64_t{1} << (r % 64);
      }
      added_.insert(added_.end(), added.begin(), added.end());
    }
    for (std::size_t r = 0; r < num_rows; ++r) {
      if (!used[r]) zero_rows_.push_back(r);
    }
  }

  std::size_t rank() const { return pivot_rows_.size(); }
  std::size_t num_rows() const { return num_rows_; }
  std::size_t num_cols() const { return num_cols_; }

  // Writes into x (ceil(num_cols / 64) words) the solution of J x = e (e: ceil(num_rows / 64)
  // words) whose free unknowns are 0; returns false, x unspecified, when there is none.
  bool solve(const uint64_t* e, uint64_t* x) const {
    std::vector<uint64_t> y(e, e + row_words_);
    const auto bit = [&](std::size_t r) { return (y[r / 64] >> (r % 64)) & 1; };
    for (std::size_t p = 0; p < pivot_rows_.size(); ++p) {
      if (!bit(pivot_rows_[p])) continue;
      const uint64_t* added = &added_[p * row_words_];
      for (std::size_t k = 0; k < row_words_; ++k) y[k] ^= added[k];
    }
    for (const std::size_t r : zero_rows_) {
      if (bit(r)) return false;  // this equation reduced to 0 = 1
    }
    std::fill(x, x + words_, 0);
    for (std::size_t p = 0; p < pivot_rows_.size(); ++p) {
      if (bit(pivot_rows_[p])) x[pivot_cols_[p] / 64] |= uint64_t{1} << (pivot_cols_[p] % 64);
    }
    return true;
  }

 private:
  std::size_t num_rows_, num_cols_, words_, row_words_;
  std::vector<std::size_t> pivot_rows_, pivot_cols_, zero_rows_;
  std::vector<uint64_t> added_;  // per pivot, the rows it was added to (row_words_ words)
};

}  // namespace gamify::gf2
