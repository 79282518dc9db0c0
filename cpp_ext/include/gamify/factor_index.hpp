// Hashed buckets of equal factors for the flip walkers (flips.hpp): a flip is drawn in O(1) and
// a move touches two buckets, not the whole scheme. Pure C++ (no Python).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gamify/scheme.hpp"

namespace gamify::flips {

// Buckets of factors with equal values, for the walkers: every factor has a code (3 * term +
// mode) and sits in the bucket of its value, a count and an intrusive doubly linked list of
// codes in an open-addressing hash table. With one table per mode (plain walks) a bucket holds
// the terms sharing that factor; with one table for all (symmetric walks) any two factors of
// equal value meet. The codes whose bucket holds another code are listed (flippable()), so a
// flip is drawn in O(1), and moving a factor touches only its old and new buckets.
class FactorIndex {
 public:
  static constexpr uint32_t kNone = ~uint32_t{0};

  // Indexes the factors of `terms`; per_mode: one table per mode, else one for all.
  void rebuild(const Scheme& terms, bool per_mode) {
    per_mode_ = per_mode;
    const std::size_t n = terms.size(), keys = per_mode ? n : 3 * n;
    std::size_t capacity = 64;
    while (capacity < 8 * keys) capacity *= 2;  // at most 1/8 full after a rebuild
    shift_ = 64 - std::countr_zero(capacity);
    for (auto& table : tables_) table.assign(per_mode || &table == &tables_[0] ? capacity : 0, Slot{});
    used_ = {0, 0, 0};
    where_.assign(3 * n, kNone);
    next_.assign(3 * n, kNone);
    prev_.assign(3 * n, kNone);
    slot_.assign(3 * n, kNone);
    flippable_.clear();
    for (uint32_t code = 0; code < 3 * n; ++code) link(code, find(code, terms[code / 3].f[code % 3]));
    for (uint32_t code = 0; code < 3 * n; ++code) listed(code);
  }

  // Whether emptied buckets fill a table so far that the next moves need a rebuild() first.
  bool stale() const { return 2 * std::max({used_[0], used_[1], used_[2]}) > tables_[0].size(); }

  // Moves factor `code` to the bucket of `value` (its term must already hold it).
  void move(uint32_t code, uint64_t value) {
    Slot& old = table(code)[where_[code]];
    unlink(code);
    if (old.count == 1) listed(old.head);  // its last factor lost its partner
    link(code, find(code, value));
    listed(code);
    if (count(code) == 2) listed(next_[code]);  // the other factor gained its first partner
  }

  uint32_t count(uint32_t code) const { return table(code)[where_[code]].count; }
  uint32_t head(uint32_t code) const { return table(code)[where_[code]].head; }
  uint32_t next(uint32_t code) const { return next_[code]; }
  const std::vector<uint32_t>& flippable() const { return flippable_; }

 private:
  struct Slot {
    uint64_t key = 0;
    uint32_t head = kNone, count = 0;
    bool used = false;
  };

  std::vector<Slot>& table(uint32_t code) { return tables_[per_mode_ ? code % 3 : 0]; }
  const std::vector<Slot>& table(uint32_t code) const { return tables_[per_mode_ ? code % 3 : 0]; }

  // The slot of `key` in the table of `code` (linear probing), added if missing. Emptied
  // buckets keep their slot until the next rebuild(), so slot indices stay valid.
  uint32_t find(uint32_t code, uint64_t key) {
    std::vector<Slot>& slots = table(code);
    const std::size_t mask = slots.size() - 1;
    for (std::size_t h = (key * 0x9e3779b97f4a7c15ull) >> shift_;; h = (h + 1) & mask) {
      Slot& slot = slots[h];
      if (!slot.used) {
        slot.used = true;
        slot.key = key;
        ++used_[per_mode_ ? code % 3 : 0];
        return static_cast<uint32_t>(h);
      }
      if (slot.key == key) return static_cast<uint32_t>(h);
    }
  }

  void link(uint32_t code, uint32_t at) {
    Slot& slot = table(code)[at];
    where_[code] = at;
    prev_[code] = kNone;
    next_[code] = slot.head;
    if (slot.head != kNone) prev_[slot.head] = code;
    slot.head = code;
    ++slot.count;
  }

  void unlink(uint32_t code) {
    Slot& slot = table(code)[where_[code]];
    (prev_[code] == kNone ? slot.head : next_[prev_[code]]) = next_[code];
    if (next_[code] != kNone) prev_[next_[code]] = prev_[code];
    --slot.count;
  }

  // Keeps the flippable list in step with the buckets: `code` is listed exactly when its bucket
  // holds another code.
  void listed(uint32_t code) {
    const bool in = slot_[code] != kNone;
    if (count(code) >= 2 && !in) {
      slot_[code] = static_cast<uint32_t>(flippable_.size());
      flippable_.push_back(code);
    } else if (count(code) < 2 && in) {
      const uint32_t last = flippable_.back();
      flippable_[slot_[code]] = last;
      slot_[last] = slot_[code];
      flippable_.pop_back();
      slot_[code] = kNone;
    }
  }

  bool per_mode_ = true;
  std::array<std::vector<Slot>, 3> tables_;
  std::array<std::size_t, 3> used_{};
  int shift_ = 58;
  std::vector<uint32_t> where_, next_, prev_, slot_, flippable_;  // by code
};

}  // namespace gamify::flips
