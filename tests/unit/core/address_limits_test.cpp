#include "core/address_limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ringws {
namespace {

// The key the limits used before: unkeyed 32-bit FNV-1a of the text.
uint32_t old_fnv_key(std::string_view address) {
  uint32_t h = 2166136261u;
  for (unsigned char ch : address) {
    h ^= ch;
    h *= 16777619u;
  }
  return h ? h : 1;
}

TEST(AddressKey, Ipv4IsItsFourBytes) {
  EXPECT_EQ(address_key("203.0.113.7"), std::string("4\xcb\x00\x71\x07", 5));
  EXPECT_NE(address_key("203.0.113.7"), address_key("203.0.113.8"));
}

TEST(AddressKey, V4MappedIpv6IsTheIpv4Address) {
  EXPECT_EQ(address_key("::ffff:203.0.113.7"), address_key("203.0.113.7"));
  EXPECT_EQ(address_key("::FFFF:cb00:7107"), address_key("203.0.113.7"));
  EXPECT_EQ(address_key("0:0:0:0:0:ffff:203.0.113.7"), address_key("203.0.113.7"));
}

TEST(AddressKey, Ipv6IsItsSlash64) {
  const std::string k = address_key("2001:db8:1:2::1");
  EXPECT_EQ(k, std::string("6\x20\x01\x0d\xb8\x00\x01\x00\x02", 9));
  EXPECT_EQ(address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"), k);
  EXPECT_EQ(address_key("2001:DB8:1:2:0:0:0:abcd"), k);  // any spelling of the same prefix
  EXPECT_NE(address_key("2001:db8:1:3::1"), k);
  EXPECT_NE(address_key("::1"), address_key("127.0.0.1"));
}

TEST(AddressKey, OtherTextIsExact) {
  EXPECT_EQ(address_key("unknown"), "tunknown");
  EXPECT_NE(address_key("Unknown"), address_key("unknown"));
  // Not IP literals, so not parsed as one: a zone, a port, leading zeros, surrounding spaces.
  for (const char* text : {"fe80::1%eth0", "203.0.113.7:443", "203.0.113.007", " 203.0.113.7", "1.2.3"})
    EXPECT_EQ(address_key(text), std::string("t") + text) << text;
  // Text as long as the longest IPv6 literal and far longer.
  const std::string longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  EXPECT_EQ(address_key(longest)[0], '6');
  EXPECT_EQ(address_key(longest + "0")[0], 't');
  EXPECT_EQ(address_key(std::string(5000, 'a')), "t" + std::string(5000, 'a'));
}

TEST(AddressLimits, EnforcesTheLimit) {
  AddressLimits limits(2);
  uint32_t a = 0, b = 0, c = 0;
  EXPECT_TRUE(limits.try_acquire("203.0.113.7", a));
  EXPECT_TRUE(limits.try_acquire("203.0.113.7", b));
  EXPECT_NE(a, 0u);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(limits.try_acquire("203.0.113.7", c));
  EXPECT_EQ(c, 0u);
  EXPECT_EQ(limits.count("203.0.113.7"), 2u) << "a refusal counts nothing";
  EXPECT_TRUE(limits.try_acquire("203.0.113.8", c)) << "another address has its own count";
  limits.release(a);
  EXPECT_TRUE(limits.try_acquire("203.0.113.7", a));
}

TEST(AddressLimits, EmptyAddressIsNotCounted) {
  AddressLimits limits(1);
  for (int i = 0; i < 3; ++i) {
    uint32_t h = 99;
    EXPECT_TRUE(limits.try_acquire("", h));
    EXPECT_EQ(h, 0u);
  }
  EXPECT_EQ(limits.entries(), 0u);
  limits.release(0);  // does nothing
  EXPECT_EQ(limits.entries(), 0u);
}

TEST(AddressLimits, Ipv6ClientsShareTheirSlash64) {
  AddressLimits limits(3);
  uint32_t h[4];
  EXPECT_TRUE(limits.try_acquire("2001:db8:0:1::1", h[0]));
  EXPECT_TRUE(limits.try_acquire("2001:db8:0:1::2", h[1]));
  EXPECT_TRUE(limits.try_acquire("2001:db8:0:1:aaaa:bbbb:cccc:dddd", h[2]));
  EXPECT_FALSE(limits.try_acquire("2001:db8:0:1::ffff", h[3]));
  EXPECT_EQ(limits.count("2001:db8:0:1::42"), 3u);
  EXPECT_TRUE(limits.try_acquire("2001:db8:0:2::1", h[3])) << "the next /64 is another client";
  EXPECT_EQ(limits.entries(), 2u);
}

TEST(AddressLimits, V4MappedAndPlainIpv4ShareACount) {
  AddressLimits limits(2);
  uint32_t a = 0, b = 0, c = 0;
  EXPECT_TRUE(limits.try_acquire("198.51.100.4", a));
  EXPECT_TRUE(limits.try_acquire("::ffff:198.51.100.4", b));
  EXPECT_EQ(a, b);
  EXPECT_FALSE(limits.try_acquire("198.51.100.4", c));
  EXPECT_FALSE(limits.try_acquire("::ffff:198.51.100.4", c));
}

TEST(AddressLimits, AddressesThatCollidedUnderTheOldHashHaveTheirOwnCounts) {
  // Found by brute force over 10.x.y.z: the same FNV-1a key, so each used the other's count.
  const std::string victim = "10.0.107.237", attacker = "10.2.219.40";
  ASSERT_EQ(old_fnv_key(victim), old_fnv_key(attacker));
  AddressLimits limits(1);
  uint32_t a = 0, v = 0;
  EXPECT_TRUE(limits.try_acquire(attacker, a));
  EXPECT_TRUE(limits.try_acquire(victim, v)) << "the attacker's connection used the victim's place";
  EXPECT_NE(a, v);
  EXPECT_EQ(limits.count(victim), 1u);
  EXPECT_EQ(limits.count(attacker), 1u);
}

TEST(AddressLimits, ReleaseFreesEntriesAndHandlesAreReusedSafely) {
  AddressLimits limits(2);
  uint32_t a1 = 0, a2 = 0;
  ASSERT_TRUE(limits.try_acquire("192.0.2.1", a1));
  ASSERT_TRUE(limits.try_acquire("192.0.2.1", a2));
  EXPECT_EQ(limits.entries(), 1u);
  limits.release(a1);
  EXPECT_EQ(limits.count("192.0.2.1"), 1u);
  EXPECT_EQ(limits.entries(), 1u);
  limits.release(a2);
  EXPECT_EQ(limits.count("192.0.2.1"), 0u);
  EXPECT_EQ(limits.entries(), 0u);

  // The freed handle goes to the next new address, which starts from 0.
  uint32_t b = 0;
  ASSERT_TRUE(limits.try_acquire("192.0.2.2", b));
  EXPECT_EQ(b, a1);
  EXPECT_EQ(limits.count("192.0.2.2"), 1u);
  EXPECT_EQ(limits.count("192.0.2.1"), 0u);
  // The old address comes back under a new handle; releasing it leaves the other alone.
  uint32_t a3 = 0;
  ASSERT_TRUE(limits.try_acquire("192.0.2.1", a3));
  EXPECT_NE(a3, b);
  limits.release(a3);
  EXPECT_EQ(limits.count("192.0.2.2"), 1u);
  // A stray release of a free handle changes nothing.
  limits.release(a3);
  limits.release(12345);
  EXPECT_EQ(limits.count("192.0.2.2"), 1u);
  EXPECT_EQ(limits.entries(), 1u);
}

TEST(AddressLimits, MemoryStaysBoundedByOpenConnections) {
  AddressLimits limits(1);
  std::set<uint32_t> handles_seen;
  // 10,000 clients, never more than 10 open at once: at most 10 handles ever exist.
  std::vector<uint32_t> open;
  for (int i = 0; i < 10000; ++i) {
    uint32_t h = 0;
    ASSERT_TRUE(limits.try_acquire("client-" + std::to_string(i), h));
    handles_seen.insert(h);
    open.push_back(h);
    if (open.size() == 10) {
      for (uint32_t o : open) limits.release(o);
      open.clear();
    }
  }
  EXPECT_EQ(limits.entries(), 0u);
  EXPECT_LE(handles_seen.size(), 10u);
}

TEST(AddressLimits, ConcurrentAcquireAndReleaseKeepTheCount) {
  AddressLimits limits(4);
  std::vector<std::thread> threads;
  std::atomic<int> over{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        uint32_t h = 0;
        if (!limits.try_acquire("2001:db8::1", h)) continue;
        if (limits.count("2001:db8::2") > 4) over.fetch_add(1);
        limits.release(h);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_EQ(limits.entries(), 0u);
}

}  // namespace
}  // namespace ringws
