// Token buckets lent only while not full: exact refills at any call frequency, retry-after
// rounded up, refusals counted, and records given back once time refills every bucket.
#include "core/rate_limit.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringws {
namespace {

constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kS = 1000 * kMs;
constexpr uint64_t kT0 = 5000 * kS;

TEST(RateLimiter, AnUnlimitedClassLendsNothing) {
  RateLimiter l(16);
  uint32_t handle = 0;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(l.take(handle, 3, 0, kT0).allowed);
  EXPECT_EQ(handle, 0u);
  EXPECT_EQ(l.lent(), 0u);
}

TEST(RateLimiter, BurstThenRateWithRetryAfter) {
  RateLimiter l(16);
  l.define(1, {10, 5, "publish"});  // 10 a second, 5 at once
  uint32_t handle = 0;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.take(handle, 7, 1, kT0).allowed) << i;
  EXPECT_NE(handle, 0u);
  EXPECT_EQ(l.lent(), 1u);
  RateLimiter::Verdict v = l.take(handle, 7, 1, kT0);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_ms, 100u);  // one token at 10/s
  EXPECT_EQ(v.ignored, 0u);
  v = l.take(handle, 7, 1, kT0 + 40 * kMs);  // 60 ms too early: the first refusal was ignored
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_ms, 60u);
  EXPECT_EQ(v.ignored, 1u);
  v = l.take(handle, 7, 1, kT0 + 40 * kMs + 1);  // rounded up, never 0
  EXPECT_EQ(v.retry_after_ms, 60u);
  EXPECT_EQ(v.ignored, 2u);
  // Waiting as told: allowed, and the next refusal is not counted as ignored.
  EXPECT_TRUE(l.take(handle, 7, 1, kT0 + 100 * kMs + 1).allowed);
  v = l.take(handle, 7, 1, kT0 + 100 * kMs + 1);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.ignored, 2u);
}

TEST(RateLimiter, AClientThatWaitsAsToldIsNeverCountedAsIgnoring) {
  RateLimiter l(4);
  l.define(1, {10, 1, "publish"});
  uint32_t handle = 0;
  uint64_t t = kT0;
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) {
    RateLimiter::Verdict v = l.take(handle, 0, 1, t);
    allowed += v.allowed;
    EXPECT_EQ(v.ignored, 0u);
    if (!v.allowed) t += v.retry_after_ms * kMs;  // waits exactly as long as told
  }
  EXPECT_EQ(allowed, 500);  // every other request, at 10 a second
}

TEST(RateLimiter, RefillsAreExactHoweverOftenTheClientAsks) {
  // A client asking every 50 us at 10/s must still get exactly 10 tokens a second (a
  // refill rounded down to whole units at each call would never add anything).
  RateLimiter l(4);
  l.define(0, {10, 1, "messages"});
  uint32_t handle = 0;
  int allowed = 0;
  for (uint64_t t = 0; t < 3 * kS; t += 50000) allowed += l.take(handle, 0, 0, kT0 + t).allowed;
  EXPECT_EQ(allowed, 1 + 29);  // the full bucket, then one every 100 ms (the last at 2.9 s)
}

TEST(RateLimiter, ClassesAreSeparateBucketsInOneRecord) {
  RateLimiter l(4);
  l.define(0, {100, 100, "messages"});
  l.define(1, {1, 1, "publish"});
  l.define(2, {1, 2, "join"});
  uint32_t handle = 0;
  EXPECT_TRUE(l.take(handle, 1, 1, kT0).allowed);
  EXPECT_FALSE(l.take(handle, 1, 1, kT0).allowed);
  EXPECT_TRUE(l.take(handle, 1, 2, kT0).allowed);
  EXPECT_TRUE(l.take(handle, 1, 2, kT0).allowed);
  EXPECT_FALSE(l.take(handle, 1, 2, kT0).allowed);
  EXPECT_TRUE(l.take(handle, 1, 0, kT0).allowed);
  EXPECT_EQ(l.lent(), 1u);
  EXPECT_EQ(l.take(handle, 1, 2, kT0).ignored, 1u);  // asked again before the join retry time
  EXPECT_EQ(l.take(handle, 1, 1, kT0).ignored, 1u);  // the publish retry time was replaced by the join's
  EXPECT_EQ(l.take(handle, 1, 1, kT0).ignored, 2u);  // one count for the connection
}

TEST(RateLimiter, SweepGivesRecordsBackOnlyOnceEveryBucketIsFull) {
  RateLimiter l(8);
  l.define(0, {10, 10, "messages"});
  l.define(1, {1, 2, "publish"});
  std::vector<uint32_t> handles(4, 0);
  for (uint32_t c = 0; c < 4; ++c) l.take(handles[c], c, 0, kT0);
  l.take(handles[2], 2, 1, kT0);  // connection 2 also published: its publish bucket needs 1 s
  EXPECT_EQ(l.lent(), 4u);
  std::vector<uint32_t> returned;
  l.sweep(kT0 + 50 * kMs, [&](uint32_t owner) { returned.push_back(owner); });
  EXPECT_TRUE(returned.empty());  // a message token comes back after 100 ms
  l.sweep(kT0 + 100 * kMs, [&](uint32_t owner) {
    returned.push_back(owner);
    handles[owner] = 0;
  });
  EXPECT_EQ(returned, (std::vector<uint32_t>{0, 1, 3}));
  EXPECT_EQ(l.lent(), 1u);
  l.sweep(kT0 + kS, [&](uint32_t owner) {
    returned.push_back(owner);
    handles[owner] = 0;
  });
  EXPECT_EQ(returned.back(), 2u);
  EXPECT_EQ(l.lent(), 0u);
  // A fresh record after the return: full buckets, refusals from zero.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(l.take(handles[2], 2, 0, kT0 + kS).allowed);
  EXPECT_EQ(l.take(handles[2], 2, 0, kT0 + kS).ignored, 0u);
  EXPECT_EQ(l.take(handles[2], 2, 0, kT0 + kS).ignored, 1u);
}

TEST(RateLimiter, ReleaseReturnsTheRecord) {
  RateLimiter l(2);
  l.define(0, {1, 1, "messages"});
  uint32_t a = 0, b = 0, c = 0;
  l.take(a, 0, 0, kT0);
  l.take(b, 1, 0, kT0);
  EXPECT_EQ(l.lent(), 2u);
  // No record left: allowed rather than refused (capacity is sized so this cannot happen).
  EXPECT_TRUE(l.take(c, 2, 0, kT0).allowed);
  EXPECT_TRUE(l.take(c, 2, 0, kT0).allowed);
  EXPECT_EQ(c, 0u);
  l.release(a);
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(l.lent(), 1u);
  l.release(a);  // twice is harmless
  EXPECT_EQ(l.lent(), 1u);
}

TEST(RateLimiter, LargeRatesAndLongGapsDoNotOverflow) {
  RateLimiter l(2);
  l.define(0, {RateLimiter::kMaxRate, RateLimiter::kMaxRate, "messages"});
  l.define(1, {4000000000u, 0, "clamped"});
  EXPECT_EQ(l.spec(1).per_second, RateLimiter::kMaxRate);
  EXPECT_EQ(l.spec(1).burst, 1u);
  uint32_t h = 0;
  EXPECT_TRUE(l.take(h, 0, 0, kT0).allowed);
  EXPECT_TRUE(l.take(h, 0, 0, kT0 + 100000 * kS).allowed);  // a day later
  EXPECT_TRUE(l.take(h, 0, 1, kT0 + 100000 * kS).allowed);
  RateLimiter::Verdict v = l.take(h, 0, 1, kT0 + 100000 * kS);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_ms, 1u);  // 1 us, rounded up to a millisecond
}

}  // namespace
}  // namespace ringws
