// Flip-graph walks among schemes of ⟨n,n,n⟩ invariant under a 6-element group G of the
// tensor's symmetries: the cyclic shift σ(a, b, c) = (b, c, a) and the transposition
// τ(a, b, c) = (bᵀ, aᵀ, cᵀ) ((AB)ᵀ = BᵀAᵀ; gamify's ⟨n,n,n⟩ has C transposed, so both keep it).
// Pure C++ (no Python).
//
// Unlike the cyclic walker (flips.hpp), which keeps one representative per orbit, this walker
// keeps every term, because G's orbits come in four sizes: 6, 3 (terms fixed by a conjugate of
// τ, such as (a, aᵀ, c) with c = cᵀ), 2 ({x⊗x⊗x, xᵀ⊗xᵀ⊗xᵀ}) and 1. Strassen's ⟨2,2,2⟩ is
// 1 + 3 + 3 in G's terms, so the smaller orbits must move too. Every move is a local identity:
// a few terms L whose sum is the zero tensor (a flip x + y + x' + y', a merge z + w + m, a plus
// transition x + y + p + p' + p''). The move adds all of G·L to the scheme mod 2 (a term met
// an even number of times cancels). Each g·L sums to zero, because g is a symmetry of the
// tensor space, so the tensor is kept; G·L is G-invariant, so the symmetry is kept; and the
// rank changes by the terms added minus the terms removed. On a 6-orbit's terms a flip is the
// six copies of a plain flip (rank kept); on a smaller orbit's terms the copies meet and the
// rank may grow: such flips are declined, plus moves are taken as they come.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gamify/flips.hpp"

namespace gamify::flips {

// G's action on terms of ⟨n,n,n⟩ (n ≤ 8: a factor is an n×n matrix, entry (i, j) at bit i n + j).
class SixfoldGroup {
 public:
  // The side n of a scheme for ⟨n,n,n⟩: its factors cover all n² entries (every entry of the
  // tensor needs one), so n² is the bit width of their union.
  static std::size_t side_of(const Scheme& s) {
    uint64_t all = 0;
    for (const Term& t : s) all |= t.f[0] | t.f[1] | t.f[2];
    const std::size_t width = std::bit_width(all);
    std::size_t n = 1;
    while (n * n < width) ++n;
    if (n * n != width || n > 8) throw std::invalid_argument("a sixfold walk needs a scheme for <n,n,n>, n <= 8");
    return n;
  }

  explicit SixfoldGroup(std::size_t n) {
    for (std::size_t byte = 0; byte < 8; ++byte) {
      for (std::size_t value = 0; value < 256; ++value) {
        uint64_t out = 0;
        for (std::size_t bit = 0; bit < 8; ++bit) {
          const std::size_t e = 8 * byte + bit;
          if (value >> bit & 1 && e < n * n) out |= uint64_t{1} << ((e % n) * n + e / n);
        }
        transpose_[byte][value] = out;
      }
    }
  }

  uint64_t transposed(uint64_t x) const {
    uint64_t out = 0;
    for (std::size_t byte = 0; byte < 8 && x != 0; ++byte, x >>= 8) out |= transpose_[byte][x & 255];
    return out;
  }

  // g_k(t) for G's elements g_0..g_5 = 1, σ, σ², τ, τσ, τσ² (the last three: its involutions).
  Term image(const Term& t, int k) const {
    const Term r = rotated(t, k % 3);
    return k < 3 ? r : Term{{transposed(r.f[1]), transposed(r.f[0]), transposed(r.f[2])}};
  }

 private:
  std::array<std::array<uint64_t, 256>, 8> transpose_;
};

// A G-invariant scheme with every term, a hash index of its terms, and the moves as G-orbits of
// local identities.
class SixfoldScheme {
 public:
  explicit SixfoldScheme(std::size_t n) : group_(n) {}

  const Scheme& terms() const { return terms_; }
  std::size_t rank() const { return terms_.size(); }

  void assign(const Scheme& s) {
    terms_.clear();
    where_.clear();
    for (const Term& t : s) toggle(t);
  }

  // The orbit of a local identity L under G, mod 2, without terms that have a zero factor
  // (they are the zero tensor): Σ_g g·L, or Σ over coset representatives of L's stabilizer
  // when L (mod 2) is invariant under an involution or σ (the full sum would count it twice).
  Scheme orbit_sum(const Term* local, std::size_t size) const {
    Scheme base(local, local + size);
    base.erase(std::remove_if(base.begin(), base.end(), [](const Term& t) { return !t.f[0] || !t.f[1] || !t.f[2]; }),
               base.end());
    base = odd(std::move(base));
    const auto fixed_by = [&](int k) {
      Scheme moved;
      for (const Term& t : base) moved.push_back(group_.image(t, k));
      moved = odd(std::move(moved));
      return std::equal(moved.begin(), moved.end(), base.begin(), base.end(),
                        [](const Term& u, const Term& v) { return u.f == v.f; });
    };
    std::vector<int> cosets{0, 1, 2, 3, 4, 5};
    if (fixed_by(3) || fixed_by(4) || fixed_by(5)) {
      cosets = fixed_by(1) ? std::vector<int>{0} : std::vector<int>{0, 1, 2};
    } else if (fixed_by(1)) {
      cosets = {0, 3};
    }
    Scheme all;
    for (const Term& t : base) {
      for (const int k : cosets) all.push_back(group_.image(t, k));
    }
    return odd(std::move(all));
  }

  // A corrected flip when `x` is fixed by an involution of G: in the frame where it is
  // τ-fixed, x = (a, aᵀ, c) with c = cᵀ, a flip of x with y and the mirrored flip with τy
  // touch x twice, and one more τ-fixed term z makes up the difference:
  //   y = (b, d, c):  x + y + τy = (a+b, aᵀ+bᵀ, c) + (b, d+aᵀ, c) + τ(...) + (b, bᵀ, c)
  //   y = (a, d, e):  x + y + τy = (a+dᵀ, aᵀ+d, c) + (a, d, e+c) + τ(...) + (dᵀ, d, c)
  // (y sharing x's second factor is τy sharing its first). The identity is τ-invariant.
  // Returns false (and leaves `local` alone) when x is fixed by no involution or y by the same.
  bool corrected_flip(const Term& x, const Term& y, std::array<Term, 7>& local) const {
    for (int k = 0; k < 3; ++k) {
      const Term rx = rotated(x, k);
      if (group_.image(rx, 3).f != rx.f) continue;
      Term ry = rotated(y, k), ty = group_.image(ry, 3);
      if (ty.f == ry.f) return false;
      if (ry.f[0] != rx.f[0] && ry.f[2] != rx.f[2]) std::swap(ry, ty);
      const uint64_t a = rx.f[0], c = rx.f[2];
      if (ry.f[2] == c) {
        const uint64_t b = ry.f[0];
        local = {rx, ry, ty, Term{{a ^ b, group_.transposed(a ^ b), c}}, Term{{b, ry.f[1] ^ group_.transposed(a), c}},
                 Term{}, Term{{b, group_.transposed(b), c}}};
      } else if (ry.f[0] == a) {
        const uint64_t d = ry.f[1], dt = group_.transposed(d);
        local = {rx, ry, ty, Term{{a ^ dt, group_.transposed(a) ^ d, c}}, Term{{a, d, ry.f[2] ^ c}}, Term{},
                 Term{{dt, d, c}}};
      } else {
        return false;
      }
      local[5] = group_.image(local[4], 3);
      return true;
    }
    return false;
  }

  // The rank change of adding `delta` (an orbit_sum) mod 2.
  long change(const Scheme& delta) const {
    long d = 0;
    for (const Term& t : delta) d += where_.count(key(t)) ? -1 : 1;
    return d;
  }

  void add(const Scheme& delta) {
    for (const Term& t : delta) toggle(t);
  }

  // Merges of `z` with terms sharing two of its factors, and of what they make, while each
  // lowers the rank. Returns the rank removed.
  std::size_t merge_from(Term z) {
    std::size_t removed = 0;
    std::vector<Term> todo{z};
    while (!todo.empty()) {
      z = todo.back();
      todo.pop_back();
      if (!where_.count(key(z))) continue;
      for (std::size_t j = 0; j < terms_.size(); ++j) {
        const Term& w = terms_[j];
        const int same = (w.f[0] == z.f[0]) + (w.f[1] == z.f[1]) + (w.f[2] == z.f[2]);
        if (same != 2) continue;
        Term merged = z;
        for (int m = 0; m < 3; ++m) merged.f[m] ^= w.f[m] == z.f[m] ? 0 : w.f[m];
        const std::array<Term, 3> local{z, w, merged};
        const Scheme delta = orbit_sum(local.data(), 3);
        const long d = change(delta);
        if (d >= 0) continue;
        add(delta);
        removed += static_cast<std::size_t>(-d);
        todo.push_back(merged);
        break;
      }
    }
    return removed;
  }

  // merge_from() on every term until none merges.
  std::size_t merge_all() {
    std::size_t removed = 0;
    for (bool again = true; again;) {
      again = false;
      for (std::size_t k = 0; k < terms_.size() && !again; ++k) {
        const std::size_t r = merge_from(terms_[k]);
        removed += r;
        again = r > 0;
      }
    }
    return removed;
  }

 private:
  // The terms met an odd number of times, sorted.
  static Scheme odd(Scheme all) {
    std::sort(all.begin(), all.end(), by_factors);
    Scheme out;
    for (std::size_t k = 0; k < all.size();) {
      std::size_t same = k + 1;
      while (same < all.size() && all[same].f == all[k].f) ++same;
      if ((same - k) % 2) out.push_back(all[k]);
      k = same;
    }
    return out;
  }

  using Key = std::array<uint64_t, 3>;
  struct Hash {
    std::size_t operator()(const Key& k) const { return mix(mix(mix(0, k[0]), k[1]), k[2]); }
  };
  static const Key& key(const Term& t) { return t.f; }

  void toggle(const Term& t) {
    if (t.f[0] == 0 || t.f[1] == 0 || t.f[2] == 0) return;
    const auto found = where_.find(key(t));
    if (found == where_.end()) {
      where_.emplace(key(t), static_cast<uint32_t>(terms_.size()));
      terms_.push_back(t);
      return;
    }
    const uint32_t k = found->second;
    where_.erase(found);
    if (k + 1 != terms_.size()) {
      terms_[k] = terms_.back();
      where_[key(terms_[k])] = k;
    }
    terms_.pop_back();
  }

  SixfoldGroup group_;
  Scheme terms_;
  std::unordered_map<Key, uint32_t, Hash> where_;
};

// The walk (WalkLoop of flips.hpp) on G-invariant schemes, stored whole as the State.
class SixfoldWalker : public WalkLoop<SixfoldWalker, Scheme> {
 public:
  static constexpr std::size_t kPlusStep = 6;

  SixfoldWalker(Scheme start, const Options& options)
      : WalkLoop(std::move(start), options), scheme_(SixfoldGroup::side_of(start_)) {
    start_ = reduced(start_);
    best_ = start_;
    level_ = rank(start_);
    reset(start_);
  }

  static std::size_t rank(const Scheme& s) { return s.size(); }
  static Scheme reduced(const Scheme& s) {
    SixfoldScheme work(SixfoldGroup::side_of(s));
    work.assign(s);
    work.merge_all();
    return work.terms();
  }
  static uint64_t key(const Scheme& s) { return fingerprint(s); }
  bool can_flip() const { return !stuck_; }
  bool can_plus() const { return current_.size() >= 2; }

  // A random flip, applied with its images under G when that keeps or lowers the rank, then the
  // merges it made possible; returns the rank removed.
  std::size_t step() {
    const Scheme& terms = scheme_.terms();
    for (int attempt = 0; attempt < 64; ++attempt) {
      const std::size_t i = pick(terms.size());
      const int m = static_cast<int>(pick(3));
      std::size_t partners = 0;
      for (std::size_t j = 0; j < terms.size(); ++j) partners += j != i && terms[j].f[m] == terms[i].f[m];
      if (partners == 0) continue;
      std::size_t j = 0;
      for (std::size_t skip = pick(partners);; ++j) {
        if (j != i && terms[j].f[m] == terms[i].f[m] && skip-- == 0) break;
      }
      std::array<Term, 7> local;
      std::size_t size = 7, made = 3;  // local[made..size): the new terms
      if (!scheme_.corrected_flip(terms[i], terms[j], local) && !scheme_.corrected_flip(terms[j], terms[i], local)) {
        const int p = (m + 1 + static_cast<int>(pick(2))) % 3, q = 3 - m - p;
        local[0] = local[2] = terms[i];
        local[1] = local[3] = terms[j];
        local[2].f[p] ^= terms[j].f[p];
        local[3].f[q] ^= terms[i].f[q];
        size = 4;
        made = 2;
      }
      const Scheme delta = scheme_.orbit_sum(local.data(), size);
      const long d = scheme_.change(delta);
      if (d > 0) return 0;  // a move that would add terms (on small orbits): declined
      scheme_.add(delta);
      std::size_t removed = static_cast<std::size_t>(-d);
      for (std::size_t k = made; k < size; ++k) removed += scheme_.merge_from(local[k]);
      sync();
      return removed;
    }
    stuck_ = true;
    return 0;
  }

  // A plus transition on two random terms, with its images: the rank grows (by 6 on a 6-orbit).
  void plus() {
    const Scheme& terms = scheme_.terms();
    const std::size_t i = pick(terms.size());
    std::size_t j = pick(terms.size() - 1);
    if (j >= i) ++j;
    const auto split = plus_terms(terms[i], terms[j], static_cast<int>(pick(3)));
    const std::array<Term, 5> local{terms[i], terms[j], split[0], split[1], split[2]};
    scheme_.add(scheme_.orbit_sum(local.data(), 5));
    for (const Term& t : split) stats_.reductions += scheme_.merge_from(t);
    sync();
  }

  void reset(const Scheme& scheme) {
    scheme_.assign(scheme);
    sync();
  }

 private:
  void sync() {
    current_ = scheme_.terms();
    stuck_ = current_.size() < 2;
  }

  SixfoldScheme scheme_;
  bool stuck_ = false;
};

}  // namespace gamify::flips
