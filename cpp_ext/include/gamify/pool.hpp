// Flip-graph walkers run on threads until a deadline, the target rank, or their flip limit.
// Pure C++ (no Python).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gamify/flips.hpp"
#include "gamify/scheme_pool.hpp"

namespace gamify::flips {

// Walks from one scheme, one walker per thread (seeds seed, seed + 1, ...). The walkers persist
// between run() calls, so a caller can report progress without disturbing them.
template <class Walker, class State>
class WalkerPool {
 public:
  // `given`: more schemes for the pool (with options.pool_size > 0), e.g. an earlier run's.
  WalkerPool(const State& start, const Options& options, std::size_t threads, const std::vector<State>& given = {})
      : best_rank_(Walker::rank(start)) {
    for (std::size_t t = 0; t < std::max<std::size_t>(threads, 1); ++t) {
      Options seeded = options;
      seeded.seed += t;
      walkers_.emplace_back(start, seeded);
    }
    if (options.pool_size > 0) {
      schemes_ = std::make_unique<SchemePool<State>>(options.pool_size, &Walker::key, &Walker::rank);
      schemes_->add(walkers_[0].best(), true);  // the start, reduced
      for (const State& scheme : given) schemes_->add(walkers_[0].reduced(scheme), true);
      for (auto& walker : walkers_) walker.attach(schemes_.get());
    }
  }

  // Walks for up to `seconds`; returns whether a walker reached the target rank.
  bool run(double seconds) {
    std::atomic<bool> stop{false}, reached{false};
    std::atomic<std::size_t> running{walkers_.size()};
    std::vector<std::thread> pool;
    for (auto& walker : walkers_) {
      pool.emplace_back([&] {
        if (walker.run(stop, best_rank_)) reached = stop = true;
        --running;
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!stop && running > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop = true;
    for (auto& thread : pool) thread.join();
    return reached;
  }

  // The lowest-rank scheme of all walkers.
  const State& best() const {
    const Walker* best = &walkers_[0];
    for (const auto& walker : walkers_) {
      if (Walker::rank(walker.best()) < Walker::rank(best->best())) best = &walker;
    }
    return best->best();
  }

  // The shared pool's levels (empty without a pool).
  std::vector<typename SchemePool<State>::Count> levels() const {
    return schemes_ ? schemes_->counts() : std::vector<typename SchemePool<State>::Count>{};
  }

  // The shared pool's schemes of one rank (empty without a pool).
  std::vector<State> pooled(std::size_t rank) const { return schemes_ ? schemes_->at(rank) : std::vector<State>{}; }

  // Totals over the walkers.
  Stats stats() const {
    Stats total;
    for (const auto& walker : walkers_) {
      total.flips += walker.stats().flips;
      total.reductions += walker.stats().reductions;
      total.restarts += walker.stats().restarts;
      total.plus += walker.stats().plus;
    }
    return total;
  }

 private:
  std::vector<Walker> walkers_;
  std::unique_ptr<SchemePool<State>> schemes_;  // shared by the walkers; outlives their runs
  std::atomic<std::size_t> best_rank_;
};

}  // namespace gamify::flips
