#include "chat/history.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/memory_governor.h"

namespace ringws {
namespace {

SharedFrame* frame(const char* text) {
  SharedFrame* f = SharedFrame::create(static_cast<uint32_t>(std::strlen(text)));
  std::memcpy(f->data(), text, std::strlen(text));
  return f;
}

TEST(History, KeepsTheLastNAndReplaysARange) {
  HistoryCounters counters;
  MemoryGovernor governor;
  {
    History h(counters, governor);
    for (uint64_t o = 1; o <= 5; ++o) h.push(o, 1000 + o, frame("m"), 3);
    EXPECT_EQ(counters.messages.load(), 3);
    std::vector<SharedFrame*> out;
    EXPECT_FALSE(h.range(1, 5, out));  // 2 is gone
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(h.range(2, 5, out));
    EXPECT_EQ(out.size(), 3u);
    for (SharedFrame* f : out) {
      EXPECT_EQ(f->ref_count(), 2u);  // the history's and the replay's
      f->release();
    }
    out.clear();
    EXPECT_TRUE(h.range(5, 5, out));  // nothing missed
    EXPECT_TRUE(out.empty());
  }
  EXPECT_EQ(counters.messages.load(), 0);
  EXPECT_EQ(counters.bytes.load(), 0);
}

TEST(History, ExpiresByAge) {
  HistoryCounters counters;
  MemoryGovernor governor;
  History h(counters, governor);
  h.push(1, 1000, frame("a"), 10);
  h.push(2, 5000, frame("b"), 10);
  h.expire(7000, 3000);  // the first is 6 s old, the second 2 s
  std::vector<SharedFrame*> out;
  EXPECT_FALSE(h.range(0, 2, out));
  EXPECT_TRUE(h.range(1, 2, out));
  ASSERT_EQ(out.size(), 1u);
  out[0]->release();
  EXPECT_EQ(counters.messages.load(), 1);
}

}  // namespace
}  // namespace ringws
