// ringws-load's command line: URLs, source-address lists and ranges, defaults per mode, and
// a clear message for every bad argument.
#include "bench/load/options.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace ringws::load;

namespace {

std::optional<Options> parse(std::vector<std::string> args, std::string& error) {
  args.insert(args.begin(), "ringws-load");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  bool help = false;
  return parse_options(int(argv.size()), argv.data(), error, help);
}

std::string ip(in_addr a) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, b, sizeof b);
  return b;
}

}  // namespace

TEST(LoadOptions, Urls) {
  WsUrl u;
  std::string err;
  ASSERT_TRUE(parse_ws_url("ws://127.0.0.1:9000/chat?room=1", u, err)) << err;
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.path, "/chat?room=1");
  EXPECT_EQ(u.host_header, "127.0.0.1:9000");
  ASSERT_TRUE(parse_ws_url("ws://example.com", u, err));
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(u.host_header, "example.com");
  ASSERT_TRUE(parse_ws_url("ws://[::1]:8080/", u, err));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.host_header, "[::1]:8080");
  for (const char* bad : {"http://x/", "wss://x/", "ws://", "ws://:80/", "ws://x:0/", "ws://x:70000/", "ws://x:/",
                          "ws://x:8a/", "ws://[::1/", "ws://u@x/", "ws://x/a b"}) {
    err.clear();
    EXPECT_FALSE(parse_ws_url(bad, u, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(LoadOptions, SourceIpListsAndRanges) {
  std::vector<in_addr> v;
  std::string err;
  ASSERT_TRUE(parse_source_ips("127.0.0.1,127.0.0.5", v, err)) << err;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(ip(v[1]), "127.0.0.5");
  ASSERT_TRUE(parse_source_ips("127.0.0.1-127.0.0.8", v, err)) << err;
  ASSERT_EQ(v.size(), 8u);
  EXPECT_EQ(ip(v[0]), "127.0.0.1");
  EXPECT_EQ(ip(v[7]), "127.0.0.8");
  ASSERT_TRUE(parse_source_ips("127.0.0.254-127.0.1.1", v, err)) << err;  // across an octet
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(ip(v[2]), "127.0.1.0");
  ASSERT_TRUE(parse_source_ips("127.0.0.1-3,10.0.0.1", v, err)) << err;
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(ip(v[2]), "127.0.0.3");
  for (const char* bad : {"", "127.0.0.1,", "127.0.0.300", "127.0.0.8-127.0.0.1", "127.0.0.1-x", "10.0.0.0-10.1.0.0",
                          "::1"}) {
    err.clear();
    EXPECT_FALSE(parse_source_ips(bad, v, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(LoadOptions, DefaultsPerMode) {
  std::string err;
  auto idle = parse({"idle", "--url", "ws://127.0.0.1:1/"}, err);
  ASSERT_TRUE(idle) << err;
  EXPECT_EQ(idle->connections, 1000u);
  EXPECT_EQ(idle->rate, 5000);
  EXPECT_DOUBLE_EQ(idle->connect_timeout, 1000.0 / 5000 + 30);
  auto echo = parse({"echo", "--url", "ws://127.0.0.1:1/"}, err);
  ASSERT_TRUE(echo) << err;
  EXPECT_EQ(echo->connections, 100u);
  EXPECT_EQ(echo->rate, 0);  // closed loop
  auto bc = parse({"broadcast", "--url", "ws://127.0.0.1:1/"}, err);
  ASSERT_TRUE(bc) << err;
  EXPECT_EQ(bc->step, 1000u);
  EXPECT_EQ(bc->concurrent, 4u);
  EXPECT_EQ(bc->padding, 200u);
  EXPECT_EQ(bc->samples, 20u);
  EXPECT_EQ(bc->percentile, 95);
  EXPECT_EQ(bc->limit_ms, 500);
}

TEST(LoadOptions, AllFlagsParse) {
  std::string err;
  auto o = parse({"echo", "--url", "ws://h:2/p", "--connections", "7", "--rate", "100.5", "--size", "64", "--duration",
                  "3", "--messages", "900", "--protocol", "shootout", "--workers", "3", "--source-ips", "127.0.0.1-4",
                  "--json", "/tmp/x.json", "--quiet", "--handshake-timeout", "2", "--max-message", "4096"},
                 err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->mode, Mode::kEcho);
  EXPECT_EQ(o->connections, 7u);
  EXPECT_DOUBLE_EQ(o->rate, 100.5);
  EXPECT_EQ(o->size, 64u);
  EXPECT_EQ(o->messages, 900u);
  EXPECT_EQ(o->protocol, Protocol::kShootout);
  EXPECT_EQ(o->workers, 3u);
  EXPECT_EQ(o->source_ips.size(), 4u);
  EXPECT_EQ(o->json_path, "/tmp/x.json");
  EXPECT_TRUE(o->quiet);
  EXPECT_EQ(o->max_message, 4096u);
}

TEST(LoadOptions, PhaseSyncForEchoAndBroadcast) {
  std::string err;
  auto bc = parse({"broadcast", "--url", "ws://h/", "--step", "3000", "--max", "3000", "--samples", "400",
                   "--phase-sync", "--sync-timeout", "90"},
                  err);
  ASSERT_TRUE(bc) << err;
  EXPECT_TRUE(bc->phase_sync);
  EXPECT_DOUBLE_EQ(bc->sync_timeout, 90);
  auto echo = parse({"echo", "--url", "ws://h/", "--phase-sync"}, err);
  ASSERT_TRUE(echo) << err;
  EXPECT_TRUE(echo->phase_sync);
  EXPECT_DOUBLE_EQ(echo->sync_timeout, 300);  // the default
  auto plain = parse({"echo", "--url", "ws://h/"}, err);
  ASSERT_TRUE(plain) << err;
  EXPECT_FALSE(plain->phase_sync);
}

TEST(LoadOptions, BadArgumentsGiveAClearMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  } cases[] = {
      {{}, "MODE"},
      {{"flood", "--url", "ws://h/"}, "unknown mode"},
      {{"idle"}, "--url"},
      {{"idle", "--url", "https://h/"}, "ws://"},
      {{"idle", "--url", "ws://h/", "--connections", "0"}, "--connections"},
      {{"idle", "--url", "ws://h/", "--connections", "-5"}, "--connections"},
      {{"idle", "--url", "ws://h/", "--rate", "0"}, "--rate"},
      {{"idle", "--url", "ws://h/", "--rate", "nan"}, "--rate"},
      {{"idle", "--url", "ws://h/", "--hold"}, "needs a value"},
      {{"idle", "--url", "ws://h/", "--bogus", "1"}, "unknown option"},
      {{"idle", "--url", "ws://h/", "stray"}, "unexpected argument"},
      {{"echo", "--url", "ws://h/", "--size", "8"}, "--size"},
      {{"echo", "--url", "ws://h/", "--protocol", "mqtt"}, "--protocol"},
      {{"broadcast", "--url", "ws://h/", "--step", "500", "--max", "100"}, "--step"},
      {{"idle", "--url", "ws://h/", "--connections", "2", "--workers", "3"}, "--workers"},
      {{"idle", "--url", "ws://h/", "--source-ips", "1.2.3"}, "IPv4"},
      {{"idle", "--url", "ws://h/", "--phase-sync"}, "--phase-sync"},
      {{"storm", "--url", "ws://h/", "--phase-sync"}, "--phase-sync"},
      {{"echo", "--url", "ws://h/", "--sync-timeout", "0"}, "--sync-timeout"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_FALSE(parse(c.args, err)) << c.mentions;
    EXPECT_NE(err.find(c.mentions), std::string::npos) << "'" << err << "' should mention " << c.mentions;
  }
}

TEST(LoadOptions, HostileModesAndTheirDefaults) {
  std::string err;
  auto flood = parse({"ping-flood", "--url", "ws://h:1/"}, err);
  ASSERT_TRUE(flood) << err;
  EXPECT_EQ(flood->mode, Mode::kPingFlood);
  EXPECT_TRUE(is_attack(flood->mode));
  EXPECT_EQ(flood->connections, 1u);
  EXPECT_EQ(flood->payload, 125u);
  EXPECT_EQ(flood->rcvbuf, 4096u) << "a flooder's small window makes the server's sends block soon";
  auto slow = parse({"slowloris", "--url", "ws://h:1/", "--interval", "0.5"}, err);
  ASSERT_TRUE(slow) << err;
  EXPECT_EQ(slow->mode, Mode::kSlowloris);
  EXPECT_DOUBLE_EQ(slow->interval, 0.5);
  EXPECT_EQ(slow->rcvbuf, 0u);
  auto reset = parse({"connect-reset", "--url", "ws://h:1/", "--send-partial", "--connections", "50000"}, err);
  ASSERT_TRUE(reset) << err;
  EXPECT_EQ(reset->mode, Mode::kConnectReset);
  EXPECT_TRUE(reset->send_partial);
  EXPECT_FALSE(prints_ready(reset->mode));
  auto half = parse({"half-handshake", "--url", "ws://h:1/", "--hold", "3"}, err);
  ASSERT_TRUE(half) << err;
  EXPECT_EQ(half->mode, Mode::kHalfHandshake);
  EXPECT_TRUE(prints_ready(half->mode));
  auto part = parse({"partial-message", "--url", "ws://h:1/", "--tail", "10"}, err);
  ASSERT_TRUE(part) << err;
  EXPECT_EQ(part->mode, Mode::kPartialMessage);
  EXPECT_EQ(part->size, 1u << 20) << "partial-message declares 1 MiB unless told";
  EXPECT_EQ(part->tail, 10u);
  auto sized = parse({"partial-message", "--url", "ws://h:1/", "--size", "200", "--rcvbuf", "8192"}, err);
  ASSERT_TRUE(sized) << err;
  EXPECT_EQ(sized->size, 200u);
  EXPECT_EQ(sized->rcvbuf, 8192u);
  for (Mode m : {Mode::kIdle, Mode::kEcho, Mode::kBroadcast, Mode::kStorm}) EXPECT_FALSE(is_attack(m));
  for (const char* name : {"ping-flood", "slowloris", "connect-reset", "half-handshake", "partial-message"}) {
    auto o = parse({name, "--url", "ws://h:1/"}, err);
    ASSERT_TRUE(o) << name << ": " << err;
    EXPECT_STREQ(mode_name(o->mode), name);
    EXPECT_EQ(o->rate, 5000) << name;
  }
}

TEST(LoadOptions, HostileModeErrorsNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  } cases[] = {
      {{"ping-flood", "--url", "ws://h/", "--payload", "126"}, "--payload"},
      {{"ping-flood", "--url", "ws://h/", "--payload", "-1"}, "--payload"},
      {{"slowloris", "--url", "ws://h/", "--interval", "0"}, "--interval"},
      {{"slowloris", "--url", "ws://h/", "--interval", "soon"}, "--interval"},
      {{"partial-message", "--url", "ws://h/", "--size", "0"}, "--size"},
      {{"partial-message", "--url", "ws://h/", "--size", "100", "--tail", "101"}, "--tail"},
      {{"partial-message", "--url", "ws://h/", "--tail", "0"}, "--tail"},
      {{"half-handshake", "--url", "ws://h/", "--rcvbuf", "0"}, "--rcvbuf"},
      {{"idle", "--url", "ws://h/", "--payload", "10"}, "--payload applies to ping-flood only"},
      {{"ping-flood", "--url", "ws://h/", "--interval", "1"}, "--interval applies to slowloris only"},
      {{"idle", "--url", "ws://h/", "--send-partial"}, "--send-partial applies to connect-reset only"},
      {{"slowloris", "--url", "ws://h/", "--tail", "3"}, "--tail applies to partial-message only"},
      {{"slowloris", "--url", "ws://h/", "--rate", "0"}, "--rate"},
      {{"half-handshake", "--url", "ws://h/", "--connections", "2", "--workers", "3"}, "--workers"},
      {{"ping_flood", "--url", "ws://h/"}, "ping-flood"},  // the list of modes names the right spelling
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_FALSE(parse(c.args, err)) << c.mentions;
    EXPECT_NE(err.find(c.mentions), std::string::npos) << "'" << err << "' should mention " << c.mentions;
  }
}
