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
// A walk does random flips, restarts after a plateau of flips without a reduction (or makes a
// plus transition, when allowed and the rank is near its level), and keeps the lowest-rank
// scheme it has seen; walkers may share a pool of distinct schemes per rank to restart from
// (scheme_pool.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "gamify/factor_index.hpp"
#include "gamify/rng.hpp"
#include "gamify/scheme.hpp"
#include "gamify/scheme_pool.hpp"

namespace gamify::flips {

struct Options {
  std::size_t target_rank = 0;       // stop at this rank or below
  uint64_t max_flips = 0;            // per walker; 0: no limit
  uint64_t plateau = 1'000'000;      // flips without a reduction before a restart or plus move
  bool plus_transitions = false;
  uint64_t seed = 0;
  // Above `plateau`: each stretch between reductions draws its plateau log-uniformly from
  // [plateau, plateau_max], so no single plateau has to suit the format.
  uint64_t plateau_max = 0;
  std::size_t plus_levels = 1;       // plus moves while the rank is at most the walk's level + this many steps
  std::size_t pool_size = 0;         // > 0: walks restart from a SchemePool of this many schemes per rank
  double pool_greed = 0;             // the chance a restart draws from the pool's lowest level, open or not
  std::size_t side = 0;              // sixfold walks (sixfold.hpp): the n of ⟨n,n,n⟩
  // Stretch k's plateau is plateau × luby(k) (1, 1, 2, 1, 1, 2, 4, ...), capped at plateau_max
  // when set: within a log factor of the best fixed plateau, whichever it is (Luby, Sinclair &
  // Zuckerman 1993, for restarts of Las Vegas algorithms).
  bool luby = false;
};

// The Luby sequence, i >= 1: 2^(k-1) when i = 2^k - 1, else luby(i - 2^(k-1) + 1) for the k
// with 2^(k-1) <= i < 2^k - 1.
inline uint64_t luby(uint64_t i) {
  for (;;) {
    int k = 1;
    while ((uint64_t{1} << k) - 1 < i) ++k;
    if ((uint64_t{1} << k) - 1 == i) return uint64_t{1} << (k - 1);
    i -= (uint64_t{1} << (k - 1)) - 1;
  }
}

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

// Among `size` terms of s that share their m-factor (`group`, at most 64), if the factors in
// another mode p are linearly dependent (say the p-factor of term k is the sum of those of a set
// S), term k is folded into S: its third factor is added to theirs and k is dropped (rank - 1).
// Returns whether it did.
inline bool fold_dependent(Scheme& s, const uint32_t* group, std::size_t size, int m) {
  if (size < 3) return false;  // two terms are dependent only when equal: reduce() merges them
  for (int p : {(m + 1) % 3, (m + 2) % 3}) {
    const int q = 3 - m - p;
    // By leading bit: a basis vector and the group members it sums; `filled` marks the bits in
    // use (no zeroing of the arrays: this runs after most flips).
    std::array<uint64_t, 64> basis, combination;
    uint64_t filled = 0;
    for (std::size_t g = 0; g < size; ++g) {
      uint64_t x = s[group[g]].f[p], used = uint64_t{1} << g;
      while (x != 0) {
        const int h = 63 - std::countl_zero(x);
        if (!(filled >> h & 1)) {
          filled |= uint64_t{1} << h;
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
  return false;
}

// fold_dependent() on the terms sharing each of term t's factors.
inline bool reduce_dependent(Scheme& s, std::size_t t) {
  for (int m = 0; m < 3; ++m) {
    std::array<uint32_t, 64> group;
    std::size_t size = 0;
    for (std::size_t j = 0; j < s.size() && size < group.size(); ++j) {
      if (s[j].f[m] == s[t].f[m]) group[size++] = static_cast<uint32_t>(j);
    }
    if (fold_dependent(s, group.data(), size, m)) return true;
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

// The plus transition: x + y = (a + a') (x) b (x) c + a' (x) (b + b') (x) c + a' (x) b' (x) (c + c')
// for x = a (x) b (x) c, y = a' (x) b' (x) c' with the roles of a, b, c rotated so that a is mode m.
inline std::array<Term, 3> plus_terms(const Term& x, const Term& y, int m) {
  const int p = (m + 1) % 3, q = (m + 2) % 3;
  std::array<Term, 3> out{x, y, y};
  out[0].f[m] = x.f[m] ^ y.f[m];
  out[1].f[p] = x.f[p] ^ y.f[p];
  out[1].f[q] = x.f[q];
  out[2].f[q] = x.f[q] ^ y.f[q];
  return out;
}

// The loop both walkers share (CRTP): random flips, each followed by the reductions it made
// possible; after a plateau of flips without a reduction, a plus transition (when allowed and the
// rank is at most `plus_levels` plus steps above the walk's level) or a restart. A walk's level is
// the rank it started from. Without a pool, restarts go to the walker's best or its start and the
// level is its best rank; with a pool (attach()), every scheme a walk brings below its level goes
// into the pool and the walk restarts from the pool's lowest open level (a breadth-first descent).
// Self provides rank(state), can_flip(), step() (one flip and its reductions; returns the rank
// removed), plus() and reset(state).
template <class Self, class State>
class WalkLoop {
 public:
  const State& best() const { return best_; }
  const State& current() const { return current_; }
  const Stats& stats() const { return stats_; }
  // Walks from now on restart from `pool`, starting with a draw from it.
  void attach(SchemePool<State>* pool) {
    pool_ = pool;
    restart();
  }

  // Walks until the target rank, max_flips, or `stop` is set. Returns whether the target was reached.
  bool run(const std::atomic<bool>& stop, std::atomic<std::size_t>& global_best) {
    Self& self = static_cast<Self&>(*this);
    uint64_t& since_reduction = since_reduction_;  // kept across calls: the walk is one walk
    while (!stop.load(std::memory_order_relaxed)) {
      if (self.rank(best_) <= options_.target_rank) return true;
      if (options_.max_flips && stats_.flips >= options_.max_flips) return false;
      const uint64_t burst = options_.max_flips ? std::min<uint64_t>(1024, options_.max_flips - stats_.flips) : 1024;
      for (uint64_t k = 0; k < burst; ++k) {  // check `stop` every 1024 flips
        if (!self.can_flip()) {
          since_reduction = plateau_;  // no flip possible: escape at once
          break;
        }
        const std::size_t removed = self.step();
        ++stats_.flips;
        ++since_reduction;
        if (removed == 0) {
          if (since_reduction >= plateau_) break;  // the stretch ends at its plateau, not at the burst's end
          continue;
        }
        stats_.reductions += removed;
        since_reduction = 0;
        const std::size_t rank = self.rank(current_);
        const bool arrived = pool_ != nullptr && rank < level_;
        if (arrived) pool_->add(current_);
        if (rank < self.rank(best_)) {
          best_ = current_;
          std::size_t seen = global_best.load();
          while (rank < seen && !global_best.compare_exchange_weak(seen, rank)) {
          }
          if (rank <= options_.target_rank) return true;
        }
        if (arrived) restart();
      }
      if (since_reduction >= plateau_) {
        since_reduction = 0;
        const std::size_t rank = self.rank(current_), level = pool_ != nullptr ? level_ : self.rank(best_);
        if (options_.plus_transitions && rank <= level + options_.plus_levels * Self::kPlusStep && self.can_plus()) {
          self.plus();
          ++stats_.plus;
          draw_plateau();
        } else {
          restart();
          ++stats_.restarts;
        }
      }
    }
    return self.rank(best_) <= options_.target_rank;
  }

 protected:
  WalkLoop(State start, const Options& options) : start_(std::move(start)), options_(options), rng_(options.seed) {
    draw_plateau();
  }

  std::size_t pick(std::size_t n) { return rng_.pick(n); }

  // A new walk: from the pool's lowest open level, or from the best or the start scheme.
  void restart() {
    Self& self = static_cast<Self&>(*this);
    if (pool_ != nullptr) {
      const bool lowest = options_.pool_greed > 0 && static_cast<double>(rng_() >> 11) * 0x1.0p-53 < options_.pool_greed;
      pool_->draw(rng_, current_, lowest);
      self.reset(current_);
      level_ = self.rank(current_);
      if (level_ < self.rank(best_)) best_ = current_;  // a scheme handed to the pool
    } else {
      self.reset(self.rank(best_) < self.rank(start_) && (rng_() & 1) ? best_ : start_);
    }
    since_reduction_ = 0;
    draw_plateau();
  }

  // The plateau of the next stretch: fixed, the Luby sequence's next, or log-uniform in
  // [plateau, plateau_max].
  void draw_plateau() {
    plateau_ = options_.plateau;
    if (options_.luby) {
      const uint64_t factor = luby(++stretches_);
      plateau_ = factor > ~uint64_t{0} / plateau_ ? ~uint64_t{0} : plateau_ * factor;
      if (options_.plateau_max > 0) plateau_ = std::min(plateau_, options_.plateau_max);
    } else if (options_.plateau_max > options_.plateau) {
      const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
      plateau_ = static_cast<uint64_t>(options_.plateau * std::pow(static_cast<double>(options_.plateau_max) / options_.plateau, u));
    }
  }

  State start_, current_, best_;
  Options options_;
  Rng rng_;
  Stats stats_;
  uint64_t since_reduction_ = 0;  // flips since the last reduction
  uint64_t plateau_ = 0;          // this stretch's plateau
  uint64_t stretches_ = 0;        // stretches so far (the Luby sequence's index)
  std::size_t level_ = 0;         // with a pool: the rank this walk started from
  SchemePool<State>* pool_ = nullptr;
};

// The plain walk, with a FactorIndex of one table per mode: the terms a changed factor meets in
// its new bucket are the only ones that can make a reduction possible, and the groups of
// reduce_dependent() are buckets, so no move scans the whole scheme.
class Walker : public WalkLoop<Walker, Scheme> {
 public:
  static constexpr std::size_t kPlusStep = 1;

  Walker(Scheme start, const Options& options) : WalkLoop(std::move(start), options) {
    reduce_all(start_);
    best_ = start_;
    level_ = rank(start_);
    reset(start_);
  }

  static std::size_t rank(const Scheme& s) { return s.size(); }
  static Scheme reduced(Scheme s) {
    reduce_all(s);
    return s;
  }
  static uint64_t key(const Scheme& s) { return fingerprint(s); }
  bool can_flip() const { return !index_.flippable().empty(); }
  bool can_plus() const { return current_.size() >= 2; }

  // One flip and the reductions it made possible; returns the terms removed.
  std::size_t step() {
    if (index_.stale()) reset(current_);
    std::size_t removed = 0;
    const Found found = flip();
    if (found == Found::kSimple) {
      removed = reduce_all(current_);
    } else if (found == Found::kGroup) {
      for (std::size_t k = 0; removed == 0 && k < touched_.size(); ++k) {
        const std::size_t t = touched_[k];
        for (int m = 0; removed == 0 && m < 3; ++m) {
          const uint32_t code = static_cast<uint32_t>(3 * t + m), size = index_.count(code);
          if (size < 3 || size > 64) continue;
          std::array<uint32_t, 64> group;
          std::size_t g = 0;
          for (uint32_t c = index_.head(code); c != FactorIndex::kNone; c = index_.next(c)) group[g++] = c / 3;
          if (fold_dependent(current_, group.data(), size, m)) removed = 1 + reduce_all(current_);
        }
      }
    }
    if (removed > 0) reset(current_);
    return removed;
  }

  // Two random terms become three (rank + 1), see the header comment.
  void plus() {
    const std::size_t n = current_.size();
    const std::size_t i = pick(n);
    std::size_t j = pick(n - 1);
    if (j >= i) ++j;
    const auto terms = plus_terms(current_[i], current_[j], static_cast<int>(pick(3)));
    current_[i] = terms[0];
    current_[j] = terms[1];
    current_.push_back(terms[2]);
    stats_.reductions += reduce_all(current_);  // a degenerate split may cancel at once
    reset(current_);
  }

  // Makes `scheme` (or the current one, reduced) current and rebuilds the index.
  void reset(const Scheme& scheme) {
    if (&scheme != &current_) current_ = scheme;
    index_.rebuild(current_, true);
  }

 private:
  enum class Found { kNothing, kGroup, kSimple };  // by priority: a flip's two changes report the larger

  // A random flip: a random (term, mode) with partners, then a random partner sharing that factor.
  Found flip() {
    const auto& flippable = index_.flippable();
    const uint32_t code = flippable[pick(flippable.size())];
    const std::size_t i = code / 3;
    const int m = static_cast<int>(code % 3);
    std::size_t skip = pick(index_.count(code) - 1);
    uint32_t other = index_.head(code);
    for (;; other = index_.next(other)) {
      if (other != code && skip-- == 0) break;
    }
    const std::size_t j = other / 3;
    const int p = (m + 1 + static_cast<int>(pick(2))) % 3;  // the factor of i that absorbs j's
    const int q = 3 - m - p;                                // the factor of j that absorbs i's
    touched_ = {i, j};
    const Found first = change(i, p, current_[i].f[p] ^ current_[j].f[p]);
    const Found second = change(j, q, current_[j].f[q] ^ current_[i].f[q]);
    return std::max(first, second);
  }

  // Sets term t's x-factor to `value`. kSimple: the term now has a zero factor or shares two
  // factors with another (reduce() applies); kGroup: it shares some factor with at least two
  // others (reduce_dependent() may apply); else kNothing.
  Found change(std::size_t t, int x, uint64_t value) {
    const uint32_t code = static_cast<uint32_t>(3 * t + x);
    current_[t].f[x] = value;
    index_.move(code, value);
    const int y = (x + 1) % 3, z = (x + 2) % 3;
    const uint64_t fy = current_[t].f[y], fz = current_[t].f[z];
    bool simple = value == 0;
    for (uint32_t other = index_.next(code); other != FactorIndex::kNone; other = index_.next(other)) {
      const Term& partner = current_[other / 3];
      simple |= partner.f[y] == fy || partner.f[z] == fz;
    }
    if (simple) return Found::kSimple;
    const uint32_t first = static_cast<uint32_t>(3 * t);
    const bool group = index_.count(first) >= 3 || index_.count(first + 1) >= 3 || index_.count(first + 2) >= 3;
    return group ? Found::kGroup : Found::kNothing;
  }

  FactorIndex index_;
  std::array<std::size_t, 2> touched_{};
};

// One stretch of the plain walk, for the macro game (games/flip_graph.py): random flips from
// `start`, each followed by the reductions it made possible, until `plateau` flips in a row
// reduce nothing (a walker's stretch between its plateau escapes) or no flip is left; no plus
// transition and no restart, so the rank only falls. Returns the final scheme (the walk's end,
// from where the next decision is taken, not the first scheme of its rank) and the flips made.
inline std::pair<Scheme, uint64_t> walk_stretch(const Scheme& start, uint64_t seed, uint64_t plateau) {
  Options options;
  options.seed = seed;
  Walker walker(start, options);
  uint64_t made = 0;
  for (uint64_t since = 0; since < plateau && walker.can_flip(); ++made) since = walker.step() > 0 ? 0 : since + 1;
  return {walker.current(), made};
}

// A scheme for a tensor invariant under the cyclic shift of its modes, T[i, j, k] = T[j, k, i]
// (⟨n,n,n⟩ in gamify's convention), that is itself invariant (Moosbauer & Poole 2025): orbits
// {a (x) b (x) c, b (x) c (x) a, c (x) a (x) b}, each kept as one representative, and cubes
// x (x) x (x) x, which the shift fixes. Rank 3 * orbits + cubes.
struct SymmetricScheme {
  Scheme orbits;
  std::vector<uint64_t> cubes;
};

// The representative shifted by k places: f[s] = t.f[(s + k) % 3] (the same orbit).
inline Term rotated(const Term& t, int k) {
  return Term{{t.f[k % 3], t.f[(k + 1) % 3], t.f[(k + 2) % 3]}};
}

// Orbit by orbit, the reductions of reduce(): an orbit with a zero factor goes (rank - 3); an
// orbit a (x) a (x) a is three equal terms, one cube mod 2 (rank - 2; a cube met twice cancels);
// two orbits whose representatives, one shifted, share two factors merge (rank - 3), or cancel
// when they share all three (rank - 6). Returns the rank removed.
inline std::size_t reduce_symmetric(SymmetricScheme& s) {
  std::size_t removed = 0;
  const auto drop = [&](std::size_t t) {
    s.orbits[t] = s.orbits.back();
    s.orbits.pop_back();
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < s.orbits.size() && !changed; ++i) {
      const Term x = s.orbits[i];
      if (x.f[0] == 0 || x.f[1] == 0 || x.f[2] == 0) {
        drop(i);
        removed += 3;
        changed = true;
      } else if (x.f[0] == x.f[1] && x.f[1] == x.f[2]) {
        drop(i);
        const auto seen = std::find(s.cubes.begin(), s.cubes.end(), x.f[0]);
        if (seen == s.cubes.end()) {
          s.cubes.push_back(x.f[0]);
          removed += 2;
        } else {
          s.cubes.erase(seen);
          removed += 4;
        }
        changed = true;
      }
      for (std::size_t j = i + 1; j < s.orbits.size() && !changed; ++j) {
        for (int k = 0; k < 3 && !changed; ++k) {
          const Term y = rotated(s.orbits[j], k);
          const int same = (x.f[0] == y.f[0]) + (x.f[1] == y.f[1]) + (x.f[2] == y.f[2]);
          if (same < 2) continue;
          Term merged = x;
          for (int m = 0; m < 3; ++m) merged.f[m] ^= x.f[m] == y.f[m] ? 0 : y.f[m];
          if (same == 3) merged.f[0] = 0;  // equal orbits cancel mod 2; the zero orbit goes next pass
          s.orbits[i] = merged;
          drop(j);
          removed += 3;
          changed = true;
        }
      }
    }
  }
  return removed;
}

// Walks among cyclic-symmetric schemes: each move is applied to all three terms of the orbits
// it touches, so the scheme stays symmetric. A flip between orbits x and y (x != y) whose
// representatives share a factor, x_s = y_t: shifting y so that the shared factor sits in the
// same mode, b_x += b_y and c_y += c_x (or the other way round) as in the plain flip; the
// three shifted copies of the flip touch disjoint pairs of terms. Cubes are not moved. The
// orbits' factors sit in a FactorIndex with one table for all modes (a shared factor may sit in
// different modes of the two representatives).
class SymmetricWalker : public WalkLoop<SymmetricWalker, SymmetricScheme> {
 public:
  static constexpr std::size_t kPlusStep = 3;

  SymmetricWalker(SymmetricScheme start, const Options& options) : WalkLoop(std::move(start), options) {
    reduce_symmetric(start_);
    best_ = start_;
    level_ = rank(start_);
    reset(start_);
  }

  static std::size_t rank(const SymmetricScheme& s) { return 3 * s.orbits.size() + s.cubes.size(); }
  static SymmetricScheme reduced(SymmetricScheme s) {
    reduce_symmetric(s);
    return s;
  }
  // Orbits by their least rotation, cubes as terms: equal for equal schemes.
  static uint64_t key(const SymmetricScheme& s) {
    Scheme terms;
    for (const Term& t : s.orbits) terms.push_back(std::min({rotated(t, 0), rotated(t, 1), rotated(t, 2)}, by_factors));
    for (const uint64_t cube : s.cubes) terms.push_back({{cube, cube, cube}});
    return fingerprint(terms);
  }
  bool can_flip() const { return !stuck_; }
  bool can_plus() const { return current_.orbits.size() >= 2; }

  std::size_t step() {
    if (index_.stale()) index_.rebuild(current_.orbits, false);
    if (!flip()) {
      stuck_ = true;
      return 0;
    }
    if (!reducible(touched_[0]) && !reducible(touched_[1])) return 0;
    const std::size_t removed = reduce_symmetric(current_);
    reset(current_);
    return removed;
  }

  // A plus transition on two orbits (one shifted at random): rank + 3.
  void plus() {
    auto& orbits = current_.orbits;
    const std::size_t i = pick(orbits.size());
    std::size_t j = pick(orbits.size() - 1);
    if (j >= i) ++j;
    const auto terms = plus_terms(orbits[i], rotated(orbits[j], static_cast<int>(pick(3))), static_cast<int>(pick(3)));
    orbits[i] = terms[0];
    orbits[j] = terms[1];
    orbits.push_back(terms[2]);
    stats_.reductions += reduce_symmetric(current_);
    reset(current_);
  }

  void reset(const SymmetricScheme& scheme) {
    if (&scheme != &current_) current_ = scheme;
    stuck_ = current_.orbits.size() < 2;
    index_.rebuild(current_.orbits, false);
  }

 private:
  // A random symmetric flip; false when none was found in 64 tries.
  bool flip() {
    auto& orbits = current_.orbits;
    const auto& flippable = index_.flippable();
    for (int attempt = 0; attempt < 64 && !flippable.empty(); ++attempt) {
      const uint32_t code = flippable[pick(flippable.size())];
      const std::size_t i = code / 3;
      std::size_t matches = 0;  // equal factors of other orbits (the bucket may hold i's own)
      for (uint32_t other = index_.head(code); other != FactorIndex::kNone; other = index_.next(other)) {
        matches += other / 3 != i;
      }
      if (matches == 0) continue;
      uint32_t other = index_.head(code);
      for (std::size_t skip = pick(matches);; other = index_.next(other)) {
        if (other / 3 != i && skip-- == 0) break;
      }
      const std::size_t j = other / 3;
      const int s = static_cast<int>(code % 3), t = static_cast<int>(other % 3);
      const int shift = static_cast<int>(pick(2)) + 1;  // 1: x's next factor absorbs y's; 2: its previous
      const int xs = (s + shift) % 3, yt = (t + 3 - shift) % 3;
      orbits[i].f[xs] ^= orbits[j].f[(t + shift) % 3];
      index_.move(static_cast<uint32_t>(3 * i + xs), orbits[i].f[xs]);
      orbits[j].f[yt] ^= orbits[i].f[(s + 3 - shift) % 3];
      index_.move(static_cast<uint32_t>(3 * j + yt), orbits[j].f[yt]);
      touched_ = {i, j};
      return true;
    }
    return false;
  }

  // Whether orbit t can be reduced on its own (a zero factor, or a = b = c) or together with
  // another orbit (some shift of the other shares two factors with it; one of them is in a
  // bucket of t's factors).
  bool reducible(std::size_t t) const {
    const Term& x = current_.orbits[t];
    if (x.f[0] == 0 || x.f[1] == 0 || x.f[2] == 0 || (x.f[0] == x.f[1] && x.f[1] == x.f[2])) return true;
    for (int s = 0; s < 3; ++s) {
      const uint32_t code = static_cast<uint32_t>(3 * t + s);
      for (uint32_t other = index_.head(code); other != FactorIndex::kNone; other = index_.next(other)) {
        if (other / 3 == t) continue;
        const Term y = rotated(current_.orbits[other / 3], static_cast<int>(other % 3 + 3 - s) % 3);
        if ((x.f[0] == y.f[0]) + (x.f[1] == y.f[1]) + (x.f[2] == y.f[2]) >= 2) return true;
      }
    }
    return false;
  }

  FactorIndex index_;
  bool stuck_ = false;
  std::array<std::size_t, 2> touched_{};
};

}  // namespace gamify::flips
