// A scheme over GF(2) as bit masks: the type shared by the flip walkers (flips.hpp) and their
// factor index (factor_index.hpp). Pure C++ (no Python).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace gamify::flips {

struct Term {
  std::array<uint64_t, 3> f;  // a, b, c
};

using Scheme = std::vector<Term>;

}  // namespace gamify::flips
