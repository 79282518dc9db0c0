// The flip walkers' random-number generator (flips.hpp). Pure C++ (no Python).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace gamify::flips {

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

}  // namespace gamify::flips
