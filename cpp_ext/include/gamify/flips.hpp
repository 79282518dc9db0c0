// Flip-graph random walks over GF(2) (Kauers & Moosbauer 2022). Pure C++ (no Python).
//
// A scheme is R terms a_r (x) b_r (x) c_r; each factor is a bit mask (dimensions <= 64).
// Moves, each keeping Σ_r a_r (x) b_r (x) c_r unchanged:
//   flip       two terms share a factor, a_i = a_j:  b_i += b_j, c_j += c_i
//              (a (x) b_i (x) c_i + a (x) b_j (x) c_j: the cross terms a (x) b_j (x) c_i cancel
//              mod 2); the same with the roles of a, b, c permuted;
//   reduction  a term with a zero factor is dropped; two terms sharing two factors merge
//              (a (x) b (x) c_i + a (x) b (x) c_j = a (x) b (x) (c_i + c_j)); more generally,
//              among terms sharing a, a term whose b is the sum of others' b's folds into
//              them (reduce_dependent): rank - 1, taken as soon as it appears;
//   plus       two terms become three, (a + a') (x) b (x) c + a' (x) (b + b') (x) c +
//              a' (x) b' (x) (c + c'): rank + 1, to leave a region with no useful flips.
// A walk does random flips, restarts from its start scheme after `plateau` flips without a
// reduction (or makes a plus transition, when allowed and the rank is at most the best
// found + 1), and keeps the lowest-rank scheme it has seen.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace gamify::flips {

struct Term {
  std::array<uint64_t, 3> f;  // a, b, c
};

using Scheme = std::vector<Term>;

struct Options {
  std::size_t target_rank = 0;       // stop at this rank or below
  uint64_t max_flips = 0;            // per walker; 0: no limit
  uint64_t plateau = 1'000'000;      // flips without a reduction before a restart or plus move
  bool plus_transitions = false;
  uint64_t seed = 0;
};

struct Stats {
  uint64_t flips = 0, reductions = 0, restarts = 0, plus = 0;
};

// Drops zero terms and merges terms sharing two factors, until none is left. Returns the
// number of terms removed.
inline std::size_t reduce(Scheme& s) {
  std::size_t removed = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::size_t i = 0; i < s.size() && !changed; ++i) {
      const Term& t = s[i];
      if (t.f[0] == 0 || t.f[1] == 0 || t.f[2] == 0) {
        s[i] = s.back();
        s.pop_back();
        ++removed;
        changed = true;
        break;
      }
      for (std::size_t j = i + 1; j < s.size(); ++j) {
        Term& u = s[j];
        int same = (t.f[0] == u.f[0]) + (t.f[1] == u.f[1]) + (t.f[2] == u.f[2]);
        if (same >= 2) {
          for (int m = 0; m < 3; ++m) {
            if (t.f[m] != u.f[m]) u.f[m] ^= t.f[m];  // the differing factor adds up
          }
          if (same == 3) u.f[0] = 0;  // equal terms cancel mod 2
          s[i] = s.back();
          s.pop_back();
          ++removed;
          changed = true;
          break;
        }
      }
    }
  }
  return removed;
}

// If the terms sharing factor m with term t have linearly dependent factors in another mode
// p (say the p-factor of term k is the sum of those of a set S), term k is folded into S:
// its third factor is added to theirs and k is dropped (rank - 1). Returns whether it did.
inline bool reduce_dependent(Scheme& s, std::size_t t) {
  for (int m = 0; m < 3; ++m) {
    std::array<std::size_t, 64> group;
    std::size_t size = 0;
    for (std::size_t j = 0; j < s.size() && size < group.size(); ++j) {
      if (s[j].f[m] == s[t].f[m]) group[size++] = j;
    }
    if (size < 3) continue;  // two terms are dependent only when equal: reduce() merges them
    for (int p : {(m + 1) % 3, (m + 2) % 3}) {
      const int q = 3 - m - p;
      std::array<uint64_t, 64> basis{}, combination{};  // by leading bit: vector, which group members
      for (std::size_t g = 0; g < size; ++g) {
        uint64_t x = s[group[g]].f[p], used = uint64_t{1} << g;
        while (x != 0) {
          const int h = 63 - std::countl_zero(x);
          if (basis[h] == 0) {
            basis[h] = x;
            combination[h] = used;
            break;
          }
          x ^= basis[h];
          used ^= combination[h];
        }
        if (x != 0) continue;
        const std::size_t k = group[g];  // p-factor of k = sum of those of the other members of `used`
        for (uint64_t rest = used & ~(uint64_t{1} << g); rest != 0; rest &= rest - 1) {
          s[group[std::countr_zero(rest)]].f[q] ^= s[k].f[q];
        }
        s[k] = s.back();
        s.pop_back();
        return true;
      }
    }
  }
  return false;
}

// reduce() and reduce_dependent() until neither applies; returns the terms removed.
inline std::size_t reduce_all(Scheme& s) {
  std::size_t removed = reduce(s);
  for (bool again = true; again;) {
    again = false;
    for (std::size_t t = 0; t < s.size(); ++t) {
      if (reduce_dependent(s, t)) {
        removed += 1 + reduce(s);
        again = true;
        break;
      }
    }
  }
  return removed;
}

// xoshiro256** (Blackman & Vigna): a small, fast generator; pick() maps to [0, n) by a
// 128-bit multiply (Lemire), with a bias below n / 2^64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : state_) {  // splitmix64 seeding
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      word = z ^ (z >> 31);
    }
  }
  uint64_t operator()() {
    const uint64_t result = std::rotl(state_[1] * 5, 7) * 9, t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = std::rotl(state_[3], 45);
    return result;
  }
  std::size_t pick(std::size_t n) {
    return static_cast<std::size_t>((static_cast<unsigned __int128>((*this)()) * n) >> 64);
  }

 private:
  std::array<uint64_t, 4> state_;
};

class Walker {
 public:
  Walker(Scheme start, const Options& options)
      : start_(std::move(start)), options_(options), rng_(options.seed) {
    reduce_all(start_);
    current_ = start_;
    best_ = current_;
  }

  const Scheme& best() const { return best_; }
  const Stats& stats() const { return stats_; }

  // Walks until the target rank, max_flips, or `stop` is set. Returns whether the target was reached.
  bool run(const std::atomic<bool>& stop, std::atomic<std::size_t>& global_best) {
    uint64_t since_reduction = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (best_.size() <= options_.target_rank) return true;
      if (options_.max_flips && stats_.flips >= options_.max_flips) return false;
      const uint64_t burst = options_.max_flips ? std::min<uint64_t>(1024, options_.max_flips - stats_.flips) : 1024;
      for (uint64_t k = 0; k < burst; ++k) {  // check `stop` every 1024 flips
        if (!flip()) {
          since_reduction = options_.plateau;  // no flip possible: escape at once
          break;
        }
        ++stats_.flips;
        ++since_reduction;
        std::size_t removed = 0;
        const Found found = scan_touched();
        if (found == Found::kSimple) {
          removed = reduce_all(current_);
        } else if (found == Found::kGroup) {
          for (std::size_t t = 0; removed == 0 && t < touched_.size(); ++t) {
            if (reduce_dependent(current_, touched_[t])) removed = 1 + reduce_all(current_);
          }
        }
        if (removed > 0) {
          stats_.reductions += removed;
          since_reduction = 0;
          if (current_.size() < best_.size()) {
            best_ = current_;
            std::size_t seen = global_best.load();
            while (best_.size() < seen && !global_best.compare_exchange_weak(seen, best_.size())) {
            }
            if (best_.size() <= options_.target_rank) return true;
          }
        }
      }
      if (since_reduction >= options_.plateau) {
        since_reduction = 0;
        if (options_.plus_transitions && current_.size() <= best_.size() + 1 && current_.size() >= 2) {
          plus();
          ++stats_.plus;
        } else {
          current_ = best_.size() < start_.size() && (rng_() & 1) ? best_ : start_;
          ++stats_.restarts;
        }
      }
    }
    return best_.size() <= options_.target_rank;
  }

 private:
  std::size_t pick(std::size_t n) { return rng_.pick(n); }

  // A random flip: a random term and mode, then a random partner sharing that factor.
  bool flip() {
    const std::size_t n = current_.size();
    if (n < 2) return false;
    for (int attempt = 0; attempt < 64; ++attempt) {
      const std::size_t i = pick(n);
      const int m = static_cast<int>(pick(3));
      const uint64_t shared = current_[i].f[m];
      partners_.clear();
      for (std::size_t j = 0; j < n; ++j) {
        if (j != i && current_[j].f[m] == shared) partners_.push_back(j);
      }
      if (partners_.empty()) continue;
      const std::size_t j = partners_[pick(partners_.size())];
      const int p = (m + 1 + static_cast<int>(pick(2))) % 3;  // the factor of i that absorbs j's
      const int q = 3 - m - p;                                // the factor of j that absorbs i's
      current_[i].f[p] ^= current_[j].f[p];
      current_[j].f[q] ^= current_[i].f[q];
      touched_ = {i, j};
      return true;
    }
    return false;
  }

  enum class Found { kNothing, kSimple, kGroup };

  // One pass over the terms for both flipped terms: kSimple when one now has a zero factor or
  // shares two factors with another term (reduce() applies); kGroup when one shares a factor
  // with at least two others (reduce_dependent() may apply); else kNothing.
  Found scan_touched() const {
    std::array<std::array<int, 3>, 2> group{};  // terms sharing factor m with touched term t
    for (std::size_t t = 0; t < 2; ++t) {
      const Term& x = current_[touched_[t]];
      if (x.f[0] == 0 || x.f[1] == 0 || x.f[2] == 0) return Found::kSimple;
    }
    for (std::size_t j = 0; j < current_.size(); ++j) {
      const Term& y = current_[j];
      for (std::size_t t = 0; t < 2; ++t) {
        if (j == touched_[t]) continue;
        const Term& x = current_[touched_[t]];
        const int e0 = x.f[0] == y.f[0], e1 = x.f[1] == y.f[1], e2 = x.f[2] == y.f[2];
        if (e0 + e1 + e2 >= 2) return Found::kSimple;
        group[t][0] += e0;
        group[t][1] += e1;
        group[t][2] += e2;
      }
    }
    for (const auto& counts : group) {
      for (const int count : counts) {
        if (count >= 2) return Found::kGroup;
      }
    }
    return Found::kNothing;
  }

  // Two random terms become three (rank + 1), see the header comment.
  void plus() {
    const std::size_t n = current_.size();
    const std::size_t i = pick(n);
    std::size_t j = pick(n - 1);
    if (j >= i) ++j;
    const Term x = current_[i], y = current_[j];
    const int m = static_cast<int>(pick(3)), p = (m + 1) % 3, q = (m + 2) % 3;
    Term first = x, second = y, third = y;
    first.f[m] = x.f[m] ^ y.f[m];   // (a + a') (x) b (x) c
    second.f[p] = x.f[p] ^ y.f[p];  // a' (x) (b + b') (x) c
    second.f[q] = x.f[q];
    third.f[q] = x.f[q] ^ y.f[q];   // a' (x) b' (x) (c + c')
    current_[i] = first;
    current_[j] = second;
    current_.push_back(third);
    stats_.reductions += reduce_all(current_);  // a degenerate split may cancel at once
  }

  Scheme start_, current_, best_;
  Options options_;
  Rng rng_;
  Stats stats_;
  std::vector<std::size_t> partners_;
  std::array<std::size_t, 2> touched_{};
};

}  // namespace gamify::flips
