// Distinct schemes by rank, shared by the flip walkers of one search: the pool walks restart
// from (Kauers & Moosbauer's level-by-level search, run asynchronously). Pure C++ (no Python).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "gamify/rng.hpp"
#include "gamify/scheme.hpp"

namespace gamify::flips {

// 64-bit fingerprints of schemes as sets of terms (term order does not matter).
inline uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  return h * 0xbf58476d1ce4e5b9ull;
}

inline bool by_factors(const Term& x, const Term& y) { return x.f < y.f; }

inline uint64_t fingerprint(Scheme terms) {
  std::sort(terms.begin(), terms.end(), by_factors);
  uint64_t h = terms.size();
  for (const Term& t : terms) h = mix(mix(mix(h, t.f[0]), t.f[1]), t.f[2]);
  return h;
}

// A level opens (walks start from it) once it holds `capacity` schemes, or once `capacity`
// arrivals in a row were schemes it already had (its part of the flip graph is small). Walks
// start from the lowest open level.
template <class State>
class SchemePool {
 public:
  // key(state) is the state's fingerprint, rank(state) its rank.
  using Key = uint64_t (*)(const State&);
  using Rank = std::size_t (*)(const State&);

  SchemePool(std::size_t capacity, Key key, Rank rank) : capacity_(std::max<std::size_t>(capacity, 1)), key_(key), rank_(rank) {}

  // Adds `s` unless its level holds it already or is full; returns whether it was new. A
  // given scheme (a walk's start, or one handed in) opens its level at once.
  bool add(const State& s, bool given = false) {
    const std::size_t rank = rank_(s);
    const uint64_t key = key_(s);
    std::lock_guard lock(mutex_);
    Level& level = levels_[rank];
    if (given) level.open = true;
    if (level.keys.count(key)) {
      if (++level.repeats >= capacity_) level.open = true;
      return false;
    }
    level.repeats = 0;
    if (level.schemes.size() >= capacity_) return false;
    level.keys.insert(key);
    level.schemes.push_back(s);
    if (level.schemes.size() >= capacity_) level.open = true;
    return true;
  }

  // A random scheme of the lowest open level (lowest: of the lowest level) into `out`.
  void draw(Rng& rng, State& out, bool lowest = false) const {
    std::lock_guard lock(mutex_);
    for (const auto& [rank, level] : levels_) {
      if (level.open || lowest) {
        out = level.schemes[rng.pick(level.schemes.size())];
        return;
      }
    }
  }

  // The schemes held at `rank`.
  std::vector<State> at(std::size_t rank) const {
    std::lock_guard lock(mutex_);
    const auto level = levels_.find(rank);
    return level == levels_.end() ? std::vector<State>{} : level->second.schemes;
  }

  // (rank, schemes held, open) for each level, lowest rank first.
  struct Count {
    std::size_t rank, schemes;
    bool open;
  };
  std::vector<Count> counts() const {
    std::lock_guard lock(mutex_);
    std::vector<Count> out;
    for (const auto& [rank, level] : levels_) out.push_back({rank, level.schemes.size(), level.open});
    return out;
  }

 private:
  struct Level {
    std::vector<State> schemes;
    std::unordered_set<uint64_t> keys;
    std::size_t repeats = 0;  // arrivals in a row that were already held
    bool open = false;
  };

  std::size_t capacity_;
  Key key_;
  Rank rank_;
  std::map<std::size_t, Level> levels_;
  mutable std::mutex mutex_;
};

}  // namespace gamify::flips
