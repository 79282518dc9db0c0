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
// transition x + y + p + p' + p''), and adds L's orbit to the scheme mod 2 (a term met an even
// number of times cancels): Σ_g g·L, or, when L itself is invariant under an involution or σ,
// the sum over coset representatives (the full sum would count L twice: not at all). Each g·L
// sums to zero, g being a symmetry of the tensor space, so the tensor is kept; the orbit is
// G-invariant, so the symmetry is kept; the rank changes by the terms added minus those
// removed. On 6-orbits a flip is six copies of a plain flip (rank kept). A term fixed by an
// involution, x = (a, aᵀ, c) in the right frame, takes identities of its own: a flip with y
// and the mirrored flip with τy together with a correcting term (corrected_flip), and a
// τ-invariant rewrite of all terms sharing the symmetric factor c (slice_identity). Moves that
// would raise the rank are declined; plus transitions are taken as they come.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "gamify/flips.hpp"

namespace gamify::flips {

// G's action on terms of ⟨n,n,n⟩ (n ≤ 8: a factor is an n×n matrix, entry (i, j) at bit i n + j).
class SixfoldGroup {
 public:
  explicit SixfoldGroup(std::size_t n) {
    if (n < 1 || n > 8) throw std::invalid_argument("sixfold walks need <n,n,n> with 1 <= n <= 8");
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
    slots_.assign(64, kEmpty);
    for (const Term& t : s) toggle(t);
  }

  // The orbit of a local identity L under G, mod 2, without terms that have a zero factor
  // (they are the zero tensor): Σ_g g·L, or Σ over coset representatives of L's stabilizer
  // when L (mod 2) is invariant under an involution or σ (the full sum would count it twice).
  // The result lives until the next call.
  const Scheme& orbit_sum(const Term* local, std::size_t size) {
    base_.clear();
    for (std::size_t k = 0; k < size; ++k) {
      if (local[k].f[0] && local[k].f[1] && local[k].f[2]) base_.push_back(local[k]);
    }
    keep_odd(base_);
    const auto fixed_by = [&](int k) {
      const Term first = group_.image(base_[0], k);  // cheap test first: is base[0]'s image in L?
      if (std::none_of(base_.begin(), base_.end(), [&](const Term& t) { return equal(t, first); })) return false;
      moved_.clear();
      for (const Term& t : base_) moved_.push_back(group_.image(t, k));
      keep_odd(moved_);
      return std::equal(moved_.begin(), moved_.end(), base_.begin(), base_.end(), equal);
    };
    static constexpr int kAll[] = {0, 1, 2, 3, 4, 5};
    std::span<const int> cosets = kAll;  // G / (L's stabilizer)
    if (!base_.empty() && (fixed_by(3) || fixed_by(4) || fixed_by(5))) {
      cosets = cosets.first(fixed_by(1) ? 1 : 3);  // 1, σ, σ²: representatives for any involution
    } else if (!base_.empty() && fixed_by(1)) {
      static constexpr int kTranspose[] = {0, 3};
      cosets = kTranspose;
    }
    delta_.clear();
    for (const Term& t : base_) {
      for (const int k : cosets) delta_.push_back(group_.image(t, k));
    }
    keep_odd(delta_);
    return delta_;
  }

  // A corrected flip when `x` is fixed by an involution of G: in the frame where it is
  // τ-fixed, x = (a, aᵀ, c) with c = cᵀ, a flip of x with y and the mirrored flip with τy
  // touch x twice, and one more τ-fixed term z makes up the difference:
  //   y = (b, d, c):  x + y + τy = (a+b, aᵀ+bᵀ, c) + (b, d+aᵀ, c) + τ(...) + (b, bᵀ, c)
  //   y = (a, d, e):  x + y + τy = (a+dᵀ, aᵀ+d, c) + (a, d, e+c) + τ(...) + (dᵀ, d, c)
  // (y sharing x's second factor is τy sharing its first). The identity is τ-invariant.
  // Returns false (and leaves `local` alone) when x is fixed by no involution or y by the same.
  bool corrected_flip(const Term& x, const Term& y, std::array<Term, 7>& local) const {
    if (const int k = tau_frame(x); k >= 0) {
      const Term rx = rotated(x, k);
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

  // The rotation k that makes x τ-fixed, x = (a, aᵀ, c) with c = cᵀ (x is fixed by the
  // involution σ^-k τ σ^k), or -1.
  int tau_frame(const Term& x) const {
    for (int k = 0; k < 3; ++k) {
      const Term r = rotated(x, k);
      if (equal(group_.image(r, 3), r)) return k;
    }
    return -1;
  }

  // A random rewrite of the slice of terms whose third factor is c by the fewest terms: they sum
  // to N (x) c with N = Σ a bᵀ (n² × n² over GF(2)), and peeling N by random pivots, each a Schur
  // complement, writes it as rank(N) terms. When c = cᵀ, τ maps the slice to itself and the
  // rewrite must be τ-invariant: with b' = bᵀ, N' = Σ a b'ᵀ is symmetric, and a pivot on its
  // diagonal gives u uᵀ (the τ-fixed term (u, uᵀ, c)), then, once the diagonal is zero, an
  // off-diagonal pivot gives u vᵀ + v uᵀ (the τ-pair (u, vᵀ, c), (v, uᵀ, c)). Else a pivot
  // N_ij = 1 gives (column j) (row i)ᵀ. `local` gets the old terms, then the new ones (an
  // identity, τ-invariant when c = cᵀ). Returns the number of old terms (0: nothing to rewrite).
  std::size_t slice_identity(uint64_t c, Rng& rng, Scheme& local) const {
    const bool symmetric = group_.transposed(c) == c;
    local.clear();
    std::array<uint64_t, 64> rows{};
    for (const Term& t : terms_) {
      if (t.f[2] != c) continue;
      local.push_back(t);
      const uint64_t b = symmetric ? group_.transposed(t.f[1]) : t.f[1];
      for (uint64_t a = t.f[0]; a != 0; a &= a - 1) rows[std::countr_zero(a)] ^= b;
    }
    const std::size_t old = local.size();
    if (old < 2) return 0;
    const auto random_bit = [&](uint64_t bits) {
      for (std::size_t skip = rng.pick(std::popcount(bits)); skip > 0; --skip) bits &= bits - 1;
      return std::countr_zero(bits);
    };
    const auto column = [&](int j) {
      uint64_t u = 0;
      for (int r = 0; r < 64; ++r) u |= (rows[r] >> j & 1) << r;
      return u;
    };
    for (;;) {
      uint64_t diagonal = 0, nonzero = 0;
      for (int r = 0; r < 64; ++r) {
        diagonal |= (rows[r] >> r & 1) << r;
        nonzero |= uint64_t{rows[r] != 0} << r;
      }
      if (nonzero == 0) return old;
      if (!symmetric) {
        const int i = random_bit(nonzero);
        const uint64_t u = column(random_bit(rows[i])), v = rows[i];
        local.push_back(Term{{u, v, c}});
        for (uint64_t r = u; r != 0; r &= r - 1) rows[std::countr_zero(r)] ^= v;
      } else if (diagonal != 0) {
        const uint64_t u = rows[random_bit(diagonal)];
        local.push_back(Term{{u, group_.transposed(u), c}});
        for (uint64_t r = u; r != 0; r &= r - 1) rows[std::countr_zero(r)] ^= u;
      } else {
        const int i = random_bit(nonzero);
        const uint64_t u = rows[i], v = rows[random_bit(rows[i])];
        local.push_back(Term{{u, group_.transposed(v), c}});
        local.push_back(Term{{v, group_.transposed(u), c}});
        for (uint64_t r = u; r != 0; r &= r - 1) rows[std::countr_zero(r)] ^= v;
        for (uint64_t r = v; r != 0; r &= r - 1) rows[std::countr_zero(r)] ^= u;
      }
    }
  }

  // The rank change of adding `delta` (an orbit_sum) mod 2.
  long change(const Scheme& delta) const {
    long d = 0;
    for (const Term& t : delta) d += contains(t) ? -1 : 1;
    return d;
  }

  void add(const Scheme& delta) {
    for (const Term& t : delta) toggle(t);
  }

  // Merges of `z` with terms sharing two of its factors, and of what they make, while each
  // lowers the rank. Returns the rank removed.
  std::size_t merge_from(Term z) {
    std::size_t removed = 0;
    todo_.assign(1, z);
    while (!todo_.empty()) {
      z = todo_.back();
      todo_.pop_back();
      if (!contains(z)) continue;
      for (std::size_t j = 0; j < terms_.size(); ++j) {
        const Term& w = terms_[j];
        const int same = (w.f[0] == z.f[0]) + (w.f[1] == z.f[1]) + (w.f[2] == z.f[2]);
        if (same != 2) continue;
        Term merged = z;
        for (int m = 0; m < 3; ++m) merged.f[m] ^= w.f[m] == z.f[m] ? 0 : w.f[m];
        const std::array<Term, 3> local{z, w, merged};
        const Scheme& delta = orbit_sum(local.data(), 3);
        const long d = change(delta);
        if (d >= 0) continue;
        add(delta);
        removed += static_cast<std::size_t>(-d);
        todo_.push_back(merged);
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
  static bool equal(const Term& u, const Term& v) { return u.f[0] == v.f[0] && u.f[1] == v.f[1] && u.f[2] == v.f[2]; }

  // Keeps the terms met an odd number of times, sorted.
  static void keep_odd(Scheme& all) {
    std::sort(all.begin(), all.end(), by_factors);
    std::size_t out = 0;
    for (std::size_t k = 0; k < all.size();) {
      std::size_t same = k + 1;
      while (same < all.size() && equal(all[same], all[k])) ++same;
      if ((same - k) % 2) all[out++] = all[k];
      k = same;
    }
    all.resize(out);
  }

  // Where term t sits: an open-addressing table of indices into terms_ (linear probing,
  // deletion by backward shift), at most half full.
  static constexpr uint32_t kEmpty = ~uint32_t{0};
  std::size_t home(const Term& t) const { return mix(mix(mix(0, t.f[0]), t.f[1]), t.f[2]) & (slots_.size() - 1); }

  // The slot holding t, or the empty slot where it would go.
  std::size_t slot(const Term& t) const {
    std::size_t at = home(t);
    while (slots_[at] != kEmpty && !equal(terms_[slots_[at]], t)) at = (at + 1) & (slots_.size() - 1);
    return at;
  }

  bool contains(const Term& t) const { return slots_[slot(t)] != kEmpty; }

  void toggle(const Term& t) {
    if (t.f[0] == 0 || t.f[1] == 0 || t.f[2] == 0) return;
    if (2 * (terms_.size() + 1) > slots_.size()) {  // grow and re-insert
      slots_.assign(std::max<std::size_t>(64, 2 * slots_.size()), kEmpty);
      for (uint32_t k = 0; k < terms_.size(); ++k) slots_[slot(terms_[k])] = k;
    }
    std::size_t at = slot(t);
    if (slots_[at] == kEmpty) {
      slots_[at] = static_cast<uint32_t>(terms_.size());
      terms_.push_back(t);
      return;
    }
    const uint32_t k = slots_[at];
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t next = (at + 1) & mask; slots_[next] != kEmpty; next = (next + 1) & mask) {
      const std::size_t want = home(terms_[slots_[next]]);
      if (((next - want) & mask) >= ((next - at) & mask)) {  // `next` may move back to `at`
        slots_[at] = slots_[next];
        at = next;
      }
    }
    slots_[at] = kEmpty;
    if (k + 1 != terms_.size()) {
      slots_[slot(terms_.back())] = k;
      terms_[k] = terms_.back();
    }
    terms_.pop_back();
  }

  SixfoldGroup group_;
  Scheme terms_, base_, moved_, delta_, todo_;  // the scheme; scratch space of the moves
  std::vector<uint32_t> slots_;
};

// The walk (WalkLoop of flips.hpp) on G-invariant schemes, stored whole as the State.
class SixfoldWalker : public WalkLoop<SixfoldWalker, Scheme> {
 public:
  static constexpr std::size_t kPlusStep = 6;

  SixfoldWalker(Scheme start, const Options& options) : WalkLoop(std::move(start), options), scheme_(options.side) {
    start_ = reduced(start_);
    best_ = start_;
    level_ = rank(start_);
    reset(start_);
  }

  static std::size_t rank(const Scheme& s) { return s.size(); }
  Scheme reduced(const Scheme& s) const {
    SixfoldScheme work(options_.side);
    work.assign(s);
    work.merge_all();
    return work.terms();
  }
  static uint64_t key(const Scheme& s) { return fingerprint(s); }
  bool can_flip() const { return !stuck_; }
  bool can_plus() const { return current_.size() >= 2; }

  // A random move (a flip, corrected when a term is fixed by an involution, or, half the time
  // on such a term, a rewrite of its slice), added as its orbit under G when that keeps or
  // lowers the rank, then the merges it made possible; returns the rank removed.
  std::size_t step() {
    const Scheme& terms = scheme_.terms();
    for (int attempt = 0; attempt < 64; ++attempt) {
      const std::size_t i = pick(terms.size());
      const int m = static_cast<int>(pick(3));
      // Half the moves on a term fixed by an involution rewrite its slice in the frame where it is
      // τ-fixed (slices of other factors, rewritten as often, did worse: RESULTS.md).
      if (const int k = scheme_.tau_frame(terms[i]); k >= 0 && pick(2) == 0) {
        const std::size_t made = scheme_.slice_identity(rotated(terms[i], k).f[2], rng_, slice_);
        if (made == 0) continue;
        const std::size_t old = scheme_.rank();
        const Scheme& delta = scheme_.orbit_sum(slice_.data(), slice_.size());
        if (scheme_.change(delta) > 0) return 0;
        scheme_.add(delta);
        for (std::size_t t = made; t < slice_.size(); ++t) scheme_.merge_from(slice_[t]);
        if (scheme_.rank() < old) sync();
        return old - scheme_.rank();
      }
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
      const Scheme& delta = scheme_.orbit_sum(local.data(), size);
      const long d = scheme_.change(delta);
      if (d > 0) return 0;  // a move that would add terms (on small orbits): declined
      scheme_.add(delta);
      std::size_t removed = static_cast<std::size_t>(-d);
      for (std::size_t k = made; k < size; ++k) removed += scheme_.merge_from(local[k]);
      if (removed > 0) sync();  // the loop reads current_ after reductions only (rank, pool, best)
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
  Scheme slice_;  // scratch space of slice moves
  bool stuck_ = false;
};

}  // namespace gamify::flips
