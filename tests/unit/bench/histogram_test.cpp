// The load generator's latency histogram: known inputs give known percentiles within the
// stated relative error, and merging workers' histograms equals recording everything in one.
#include "bench/load/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using ringws::load::Histogram;

namespace {

// Nearest-rank percentile of sorted samples: the definition Histogram::percentile states.
uint64_t exact(const std::vector<uint64_t>& sorted, double q) {
  size_t rank = size_t(std::ceil(q / 100.0 * double(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within_bound(const Histogram& h, std::vector<uint64_t> samples) {
  std::sort(samples.begin(), samples.end());
  for (double q : {0.0, 1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0}) {
    double want = double(exact(samples, q));
    double got = double(h.percentile(q));
    EXPECT_LE(std::abs(got - want), want * Histogram::kMaxRelativeError) << "q=" << q << " want " << want;
  }
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.count(), samples.size());
}

}  // namespace

TEST(LoadHistogram, BucketsAreContiguousAndCoverTheirValues) {
  // Every value maps to a bucket whose range contains it, and bucket ranges tile the line.
  for (size_t i = 0; i + 1 < Histogram::kBuckets; ++i)
    ASSERT_EQ(Histogram::bucket_low(i) + Histogram::bucket_width(i), Histogram::bucket_low(i + 1)) << i;
  for (uint64_t v : std::initializer_list<uint64_t>{0, 1, 127, 128, 129, 255, 256, 1000, 123456789, (1ull << 40) + 7,
                                                  UINT64_MAX}) {
    size_t b = Histogram::bucket_of(v);
    ASSERT_LT(b, Histogram::kBuckets);
    EXPECT_GE(v, Histogram::bucket_low(b)) << v;
    EXPECT_LE(v - Histogram::bucket_low(b), Histogram::bucket_width(b) - 1) << v;
  }
}

TEST(LoadHistogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(90), 90u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LoadHistogram, KnownPercentilesWithinTheStatedError) {
  // 1..100000 microseconds in nanoseconds: p50 is 50000 us, p99.9 is 99900 us.
  Histogram h;
  std::vector<uint64_t> samples;
  for (uint64_t us = 1; us <= 100000; ++us) {
    h.record(us * 1000);
    samples.push_back(us * 1000);
  }
  EXPECT_NEAR(double(h.percentile(50)), 50'000'000.0, 50'000'000.0 * Histogram::kMaxRelativeError);
  EXPECT_NEAR(double(h.percentile(99.9)), 99'900'000.0, 99'900'000.0 * Histogram::kMaxRelativeError);
  expect_within_bound(h, samples);
}

TEST(LoadHistogram, RandomLogNormalWithinTheStatedError) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 2.0);  // ns: tens of us, long tail
  Histogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = uint64_t(dist(rng));
    h.record(v);
    samples.push_back(v);
  }
  expect_within_bound(h, samples);
}

TEST(LoadHistogram, MergeEqualsRecordingInOne) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> dist(0, 50'000'000);
  Histogram a, b, all;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 50000; ++i) {
    uint64_t v = dist(rng);
    (i % 3 ? a : b).record(v);
    all.record(v);
    samples.push_back(v);
  }
  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.counts(), all.counts());
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.sum(), all.sum());
  expect_within_bound(merged, samples);
}

TEST(LoadHistogram, EmptyAndMergeWithEmpty) {
  Histogram h, empty;
  EXPECT_EQ(h.percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  h.record(5000);
  h.merge(empty);
  EXPECT_EQ(h.min(), 5000u);
  EXPECT_EQ(h.max(), 5000u);
  EXPECT_EQ(h.percentile(50), 5000u);  // clamped to the one recorded value
}

TEST(LoadHistogram, AssignRoundTripsAndRejectsInconsistentState) {
  Histogram h;
  for (uint64_t v : std::initializer_list<uint64_t>{300, 7000, 7001, 123456}) h.record(v);
  Histogram copy;
  ASSERT_TRUE(copy.assign(h.counts().data(), h.min(), h.max(), h.sum()));
  EXPECT_EQ(copy.percentile(50), h.percentile(50));
  EXPECT_EQ(copy.count(), 4u);
  Histogram bad;
  EXPECT_FALSE(bad.assign(h.counts().data(), 1, h.max(), h.sum()));  // min not in any counted bucket
  EXPECT_FALSE(bad.assign(h.counts().data(), h.max(), h.min(), h.sum()));
}
