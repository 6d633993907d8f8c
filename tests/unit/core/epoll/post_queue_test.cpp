// The lock-free queue between epoll reactors: nothing lost, each producer's order kept, and
// exactly one "was empty" per drained batch (the wake-up rule).
#include "core/epoll/post_queue.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace ringws {
namespace {

TEST(PostQueue, DeliversInPostOrderAndTellsTheFirstPostOfABatch) {
  PostQueue q;
  SharedFrame* frames[3];
  for (auto& f : frames) f = SharedFrame::create(1);
  EXPECT_EQ(q.push(frames[0], 10), PostQueue::Pushed::kWasEmpty);
  EXPECT_EQ(q.push(frames[1], 11), PostQueue::Pushed::kQueued);
  EXPECT_EQ(q.push(frames[2], 12), PostQueue::Pushed::kQueued);
  std::vector<uint32_t> tags;
  EXPECT_EQ(q.drain([&](SharedFrame* f, uint32_t tag) {
              tags.push_back(tag);
              f->release();
            }),
            3u);
  EXPECT_EQ(tags, (std::vector<uint32_t>{10, 11, 12}));
  SharedFrame* again = SharedFrame::create(1);
  EXPECT_EQ(q.push(again, 13), PostQueue::Pushed::kWasEmpty);  // drained: the next one wakes
  q.drain([](SharedFrame* f, uint32_t) { f->release(); });
}

TEST(PostQueue, ManyProducersLoseNothingAndKeepTheirOwnOrder) {
  PostQueue q;
  constexpr int kProducers = 4, kEach = 20000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&q, p] {
      for (int i = 0; i < kEach; ++i) q.push(SharedFrame::create(1), static_cast<uint32_t>(p * kEach + i));
    });
  std::vector<int> next(kProducers, 0);
  int received = 0;
  bool ordered = true;
  auto take = [&](SharedFrame* f, uint32_t tag) {
    int p = static_cast<int>(tag) / kEach, i = static_cast<int>(tag) % kEach;
    if (i != next[p]) ordered = false;
    next[p] = i + 1;
    ++received;
    f->release();
  };
  while (received < kProducers * kEach) q.drain(take);
  for (auto& t : producers) t.join();
  q.drain(take);
  EXPECT_EQ(received, kProducers * kEach);
  EXPECT_TRUE(ordered);
}

TEST(PostQueue, ReleasesWhatNobodyTookWhenDestroyed) {
  // Under ASan's leak checker this fails if the frames are not released.
  PostQueue q;
  q.push(SharedFrame::create(64), 1);
  q.push(SharedFrame::create(64), 2);
}

}  // namespace
}  // namespace ringws
