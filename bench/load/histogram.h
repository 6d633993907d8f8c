// A log-linear latency histogram (HdrHistogram's layout, fixed precision), mergeable across
// worker processes by adding counts.
//
// Layout: values below 2^kSubBits (128) each have their own bucket (exact). A value in
// [2^e, 2^(e+1)) with e >= kSubBits falls in one of 2^kSubBits equal sub-buckets of width
// 2^(e - kSubBits). A percentile is reported as the middle of its bucket, clamped to the
// recorded min and max, so it is within 2^-(kSubBits+1) = 1/256 (0.39%) relative error of
// the exact nearest-rank sample. Fixed size (7,424 counters, 58 KiB), no allocation per
// sample, covers all of uint64_t.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ringws::load {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kSub;
  /// The stated bound: |reported - exact| <= exact * kMaxRelativeError.
  static constexpr double kMaxRelativeError = 1.0 / double(kSub * 2);

  void record(uint64_t value, uint64_t times = 1);
  void merge(const Histogram& other);
  void reset() { *this = Histogram{}; }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  /// Nearest-rank percentile, q in [0, 100]: the value of the ceil(q/100 * count)-th smallest
  /// sample (at least the first), within kMaxRelativeError. 0 when empty.
  uint64_t percentile(double q) const;

  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_low(size_t index);
  static uint64_t bucket_width(size_t index);

  /// Raw state, for sending through a pipe: counts_ plus the four scalars.
  const std::array<uint64_t, kBuckets>& counts() const { return counts_; }
  uint64_t sum() const { return sum_; }
  /// Rebuilds from raw state; false if the state is inconsistent (counts do not add up).
  bool assign(const uint64_t* counts, uint64_t min, uint64_t max, uint64_t sum);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;  // wraps only after 584 years of nanoseconds
};

}  // namespace ringws::load
