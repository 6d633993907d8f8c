// A Prometheus-style histogram with fixed buckets in seconds, written by one reactor and
// read by the metrics endpoint on any thread (relaxed atomics: a scrape may see a sample in
// the count a moment before the sum, which Prometheus tolerates).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ringws {

class LatencyHistogram {
 public:
  static constexpr std::array<double, 15> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};

  void observe_ns(uint64_t ns) {
    double seconds = static_cast<double>(ns) * 1e-9;
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);  // i == size(): the +Inf bucket
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  }
  /// Non-cumulative count of bucket `i` (kBounds.size() is +Inf).
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t sum_ns() const { return sum_ns_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace ringws
