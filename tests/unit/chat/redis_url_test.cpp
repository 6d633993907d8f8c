#include "chat/redis_url.h"

#include <gtest/gtest.h>

namespace ringws {
namespace {

TEST(RedisUrl, HostPortAndDatabase) {
  RedisTarget t;
  std::string why;
  ASSERT_TRUE(parse_redis_url("redis://cache.internal:6380/2", t, why)) << why;
  EXPECT_EQ(t.host, "cache.internal");
  EXPECT_EQ(t.port, 6380);
  EXPECT_EQ(t.db, 2u);
  EXPECT_TRUE(t.password.empty());
}

TEST(RedisUrl, DefaultsAndCredentials) {
  RedisTarget t;
  std::string why;
  ASSERT_TRUE(parse_redis_url("redis://:s%40cret@10.0.0.5", t, why)) << why;
  EXPECT_EQ(t.host, "10.0.0.5");
  EXPECT_EQ(t.port, 6379);
  EXPECT_EQ(t.db, 0u);
  EXPECT_EQ(t.user, "");
  EXPECT_EQ(t.password, "s@cret");
  RedisTarget u;
  ASSERT_TRUE(parse_redis_url("redis://app:pw@[::1]:7000/0", u, why)) << why;
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7000);
  EXPECT_EQ(u.user, "app");
  EXPECT_EQ(u.password, "pw");
}

TEST(RedisUrl, RefusesWhatItCannotUse) {
  for (const char* bad : {"", "http://host", "rediss://host:6379", "redis://", "redis://host:0", "redis://host:70000",
                          "redis://host:x", "redis://host/abc", "redis://[::1"}) {
    RedisTarget t;
    std::string why;
    EXPECT_FALSE(parse_redis_url(bad, t, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(RedisUrl, NumericHostsResolveWithoutALookup) {
  RedisTarget t;
  std::string why;
  t.host = "127.0.0.1";
  ASSERT_TRUE(resolve_redis_host(t, why)) << why;
  EXPECT_EQ(t.address, "127.0.0.1");
  t.host = "no-such-host.invalid";
  EXPECT_FALSE(resolve_redis_host(t, why));
}

}  // namespace
}  // namespace ringws
