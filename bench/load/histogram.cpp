#include "bench/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ringws::load {

size_t Histogram::bucket_of(uint64_t value) {
  if (value < kSub) return size_t(value);
  unsigned e = unsigned(std::bit_width(value)) - 1;  // e >= kSubBits
  unsigned shift = e - kSubBits;
  return size_t(kSub + uint64_t(shift) * kSub + ((value >> shift) - kSub));
}

uint64_t Histogram::bucket_low(size_t index) {
  if (index < kSub) return index;
  uint64_t shift = (index - kSub) / kSub;
  uint64_t sub = (index - kSub) % kSub;
  return (kSub + sub) << shift;
}

uint64_t Histogram::bucket_width(size_t index) {
  if (index < kSub) return 1;
  return uint64_t{1} << ((index - kSub) / kSub);
}

void Histogram::record(uint64_t value, uint64_t times) {
  if (times == 0) return;
  counts_[bucket_of(value)] += times;
  count_ += times;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value * times;
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  if (other.count_) {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  sum_ += other.sum_;
}

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 100.0);
  uint64_t rank = uint64_t(std::ceil(q / 100.0 * double(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t mid = bucket_low(i) + (bucket_width(i) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;  // unreachable while count_ equals the sum of counts_
}

bool Histogram::assign(const uint64_t* counts, uint64_t min, uint64_t max, uint64_t sum) {
  uint64_t total = 0;
  for (size_t i = 0; i < kBuckets; ++i) total += counts[i];
  if (total && (min > max || counts[bucket_of(min)] == 0 || counts[bucket_of(max)] == 0)) return false;
  std::copy(counts, counts + kBuckets, counts_.begin());
  count_ = total;
  min_ = total ? min : UINT64_MAX;
  max_ = total ? max : 0;
  sum_ = sum;
  return true;
}

}  // namespace ringws::load
