#include "alloc/slab.h"

#include <gtest/gtest.h>

#include <set>

namespace ringws {
namespace {

struct Counted {
  static inline int live = 0;
  int value;
  explicit Counted(int v) : value(v) { ++live; }
  ~Counted() { --live; }
};

TEST(Slab, AllocatesDistinctSlotsUpToCapacity) {
  Slab<Counted> slab(4);
  std::set<uint32_t> seen;
  for (int i = 0; i < 4; ++i) {
    uint32_t idx = slab.allocate(i);
    ASSERT_NE(idx, kNoSlot);
    EXPECT_TRUE(seen.insert(idx).second);
    EXPECT_EQ(slab.get(idx)->value, i);
  }
  EXPECT_EQ(slab.allocate(99), kNoSlot) << "a full slab refuses instead of growing";
  EXPECT_EQ(slab.live_count(), 4u);
}

TEST(Slab, FreedSlotIsReusedWithANewGeneration) {
  Slab<Counted> slab(2);
  uint32_t a = slab.allocate(1);
  uint16_t gen = slab.generation(a);
  slab.free(a);
  EXPECT_EQ(slab.get(a), nullptr);
  uint32_t b = slab.allocate(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(slab.generation(b), gen);
  EXPECT_EQ(slab.get(b, gen), nullptr) << "a stale generation must not resolve";
  EXPECT_EQ(slab.get(b, slab.generation(b))->value, 2);
}

TEST(Slab, DestructorDestroysLiveObjects) {
  Counted::live = 0;
  {
    Slab<Counted> slab(8);
    slab.allocate(1);
    slab.allocate(2);
    slab.free(slab.allocate(3));
    EXPECT_EQ(Counted::live, 2);
  }
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
}  // namespace ringws
