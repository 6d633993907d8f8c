// A connection's outgoing frames: the backlog cap (control frames included), the one pending
// pong, gathering several frames into one send, partial sends, and a slow consumer's drop.
#include "core/engine/output_queue.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ringws {
namespace {

SharedFrame* frame_of(const std::string& bytes) {
  SharedFrame* f = SharedFrame::create(static_cast<uint32_t>(bytes.size()));
  std::memcpy(f->data(), bytes.data(), bytes.size());
  return f;
}

std::string gathered(OutputQueues& q, uint32_t handle, size_t max_iov = 64, size_t max_bytes = 1 << 20) {
  iovec iov[64];
  size_t bytes = 0;
  size_t n = q.gather(handle, iov, max_iov, max_bytes, bytes);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(out.size(), bytes);
  return out;
}

auto ignore = [](uint64_t) {};

TEST(OutputQueues, AQueueIsLentOnlyWhileSomethingIsQueued) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  EXPECT_TRUE(q.empty(h));
  ASSERT_EQ(q.push(h, frame_of("abc"), 100), OutputQueues::Push::kQueued);
  EXPECT_FALSE(q.empty(h));
  EXPECT_EQ(q.queued_bytes(h), 3u);
  q.consume(h, 3, ignore);
  EXPECT_EQ(h, 0u);  // given back
  EXPECT_EQ(q.frames_in_use(), 0u);
}

TEST(OutputQueues, GatherJoinsFramesAndResumesAfterAPartialSend) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  q.push(h, frame_of("hello"), 100);
  q.push(h, frame_of("world"), 100);
  EXPECT_EQ(gathered(q, h), "helloworld");
  q.consume(h, 7, ignore);  // all of "hello", 2 bytes of "world"
  EXPECT_EQ(gathered(q, h), "rld");
  EXPECT_EQ(q.queued_bytes(h), 3u);
  q.consume(h, 3, ignore);
  EXPECT_EQ(h, 0u);
}

TEST(OutputQueues, GatherRespectsItsLimitsButAlwaysTakesTheFirstFrame) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  q.push(h, frame_of(std::string(10, 'a')), 1000);
  q.push(h, frame_of(std::string(10, 'b')), 1000);
  q.push(h, frame_of(std::string(10, 'c')), 1000);
  EXPECT_EQ(gathered(q, h, 2), std::string(10, 'a') + std::string(10, 'b'));
  EXPECT_EQ(gathered(q, h, 64, 15), std::string(10, 'a'));
  EXPECT_EQ(gathered(q, h, 64, 5), std::string(10, 'a'));
  q.clear(h);
}

TEST(OutputQueues, TheCapCountsWhatWaitsAndAFrameAlwaysFitsAnEmptyQueue) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  EXPECT_EQ(q.push(h, frame_of(std::string(50, 'x')), 20), OutputQueues::Push::kQueued);
  EXPECT_EQ(q.push(h, frame_of("y"), 20), OutputQueues::Push::kOverCap);
  EXPECT_EQ(q.push(h, frame_of("close"), 20, /*exempt=*/true), OutputQueues::Push::kQueued);
  q.clear(h);
}

TEST(OutputQueues, APendingPongIsReplacedByTheLatest) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  q.push(h, frame_of("data"), 1000);
  for (int i = 0; i < 100; ++i) q.push_pong(h, frame_of("pong" + std::to_string(i % 10)), 1000);
  EXPECT_EQ(q.frames_in_use(), 2u);
  EXPECT_EQ(gathered(q, h), "datapong9");
  // Gathered into a send, the pong can no longer change: the next one is queued behind it.
  q.push_pong(h, frame_of("again"), 1000);
  EXPECT_EQ(q.frames_in_use(), 3u);
  q.clear(h);
}

TEST(OutputQueues, PongsCountAgainstTheCap) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  q.push(h, frame_of(std::string(100, 'd')), 120);
  EXPECT_EQ(q.push_pong(h, frame_of(std::string(30, 'p')), 120), OutputQueues::Push::kOverCap);
  q.clear(h);
}

TEST(OutputQueues, DropUnsentKeepsTheFramesInFlightAndAPartlyWrittenHead) {
  OutputQueues q(16, 4);
  uint32_t h = 0;
  q.push(h, frame_of("aaaa"), 1000);
  q.push(h, frame_of("bbbb"), 1000);
  q.push(h, frame_of("cccc"), 1000);
  q.set_in_flight(h, 6);  // "aaaa" and half of "bbbb" handed to a send
  q.drop_unsent(h);
  EXPECT_EQ(gathered(q, h), "aaaabbbb");
  q.consume(h, 8, ignore);
  EXPECT_EQ(h, 0u);

  q.push(h, frame_of("xxxx"), 1000);
  q.push(h, frame_of("yyyy"), 1000);
  q.consume(h, 2, ignore);  // written synchronously, nothing in flight
  q.drop_unsent(h);
  EXPECT_EQ(gathered(q, h), "xx");  // the head frame is finished, never cut
  q.clear(h);
}

TEST(OutputQueues, TheLastReleaseOfAFrameWithAnOriginIsObserved) {
  OutputQueues q(16, 4);
  uint32_t a = 0, b = 0;
  SharedFrame* shared = frame_of("msg");
  shared->set_origin_ns(123);
  shared->retain();
  q.push(a, shared, 100);
  q.push(b, shared, 100);
  int observed = 0;
  auto count = [&](uint64_t origin) {
    EXPECT_EQ(origin, 123u);
    ++observed;
  };
  q.consume(a, 3, count);
  EXPECT_EQ(observed, 0);  // another recipient still holds it
  q.consume(b, 3, count);
  EXPECT_EQ(observed, 1);
}

}  // namespace
}  // namespace ringws
