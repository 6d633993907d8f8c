#include "chat/posts.h"

#include <gtest/gtest.h>

#include "chat/room_home.h"

namespace ringws {
namespace {

TEST(ChatPosts, JoinPublishReleasedAndAckRoundTrip) {
  JoinPost j{1, {7, 3}, true, 42, "E", "lobby"};
  SharedFrame* f = encode(j);
  JoinPost j2;
  ASSERT_TRUE(decode(*f, j2));
  f->release();
  EXPECT_EQ(j2.reactor, 1u);
  EXPECT_EQ(j2.conn, (ConnId{7, 3}));
  EXPECT_TRUE(j2.has_since);
  EXPECT_EQ(j2.since_offset, 42u);
  EXPECT_EQ(j2.since_epoch, "E");
  EXPECT_EQ(j2.room, "lobby");

  PublishPost p{99, "lobby", "\"from\":\"x\",\"ts\":1,\"data\":2"};
  f = encode(p);
  PublishPost p2;
  ASSERT_TRUE(decode(*f, p2));
  f->release();
  EXPECT_EQ(p2.origin_ns, 99u);
  EXPECT_EQ(p2.body, p.body);

  SharedFrame* replayed = SharedFrame::create(4);
  JoinAckPost a;
  a.conn = {7, 3};
  a.recovered = 1;
  a.offset = 43;
  a.epoch = "E";
  a.room = "lobby";
  a.replay = {replayed};
  f = encode(a);
  EXPECT_TRUE(a.replay.empty());  // moved into the frame
  JoinAckPost a2;
  ASSERT_TRUE(decode(*f, a2));
  f->release();
  ASSERT_EQ(a2.replay.size(), 1u);
  EXPECT_EQ(a2.replay[0], replayed);
  EXPECT_EQ(a2.recovered, 1);
  replayed->release();
}

TEST(ChatPosts, HomeOfARoomIsStableAndSpread) {
  EXPECT_EQ(home_of("lobby", 1), 0u);
  EXPECT_EQ(home_of("lobby", 4), home_of("lobby", 4));
  int seen[4] = {};
  for (int i = 0; i < 400; ++i) ++seen[home_of("room" + std::to_string(i), 4)];
  for (int n : seen) EXPECT_GT(n, 50);
}

}  // namespace
}  // namespace ringws
