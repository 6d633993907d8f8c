#include "core/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringws {
namespace {

struct Parsed {
  int code;
  bool exit_now;
  Config config;
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ringws");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  Parsed p{};
  p.code = parse_config(static_cast<int>(argv.size()), argv.data(), p.config, p.exit_now);
  return p;
}

TEST(Config, DefaultsMatchTheDesign) {
  Parsed p = parse({});
  EXPECT_FALSE(p.exit_now);
  EXPECT_EQ(p.config.port, 8080);
  EXPECT_EQ(p.config.app, "chat");
  EXPECT_EQ(p.config.drain_seconds, 25u);  // below ECS's 30 s default stopTimeout
  EXPECT_EQ(p.config.max_message, 1u << 20);
  EXPECT_EQ(p.config.max_header_bytes, 8192u);
  EXPECT_EQ(p.config.handshake_timeout, 10u);
  EXPECT_EQ(p.config.ping_interval, 25u);
  EXPECT_EQ(p.config.idle_timeout, 85u);  // the ALB's 60 s plus one ping interval
  EXPECT_EQ(p.config.max_backlog, 1u << 20);
}

TEST(Config, ParsesEveryOption) {
  Parsed p = parse({"--host", "::1", "--port", "0", "--threads", "3", "--app", "shootout", "--max-message", "4096",
                    "--max-header-bytes", "1024", "--handshake-timeout", "2", "--ping-interval", "1",
                    "--idle-timeout", "3", "--max-backlog", "65536", "--buffer-count", "256"});
  ASSERT_FALSE(p.exit_now);
  EXPECT_EQ(p.config.host, "::1");
  EXPECT_EQ(p.config.port, 0);
  EXPECT_EQ(p.config.threads, 3u);
  EXPECT_EQ(p.config.app, "shootout");
  EXPECT_EQ(p.config.max_message, 4096u);
  EXPECT_EQ(p.config.max_header_bytes, 1024u);
  EXPECT_EQ(p.config.idle_timeout, 3u);
  EXPECT_EQ(p.config.buffer_count, 256u);
}

TEST(Config, RejectsBadInputWithUsageExitCode) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--port", "65536"}, {"--port", "80x"}, {"--threads", "0"}, {"--app", "nope"}, {"--bogus", "1"},
           {"--port"}, {"--buffer-count", "1000"}, {"--ping-interval", "30", "--idle-timeout", "30"},
           {"--threads", "65"}, {"--emf-interval", "0"}}) {
    Parsed p = parse(args);
    EXPECT_TRUE(p.exit_now) << args[0];
    EXPECT_EQ(p.code, 2) << args[0];
  }
}

TEST(Config, MaxBacklogFitsTheConnectionsQueueCounter) {
  // Connection::queued_bytes is 32-bit: a cap of 4 GiB or just under it would let it wrap.
  for (const char* v : {"4294967296", "4294967295", "2147483648", "1073741825"}) {
    Parsed p = parse({"--max-backlog", v});
    EXPECT_TRUE(p.exit_now) << v;
    EXPECT_EQ(p.code, 2) << v;
  }
  Parsed most = parse({"--max-backlog", "1073741824"});
  EXPECT_FALSE(most.exit_now);
  EXPECT_EQ(most.config.max_backlog, 1ull << 30);
}

TEST(Config, RefusedNumbersNameTheAcceptedRange) {
  testing::internal::CaptureStderr();
  Parsed p = parse({"--max-backlog", "4294967296"});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(err.find("--max-backlog"), std::string::npos) << err;
  EXPECT_NE(err.find("from 1024 to 1073741824"), std::string::npos) << err;
}

TEST(Config, FlagsWithoutValues) {
  Parsed p = parse({"--trust-proxy", "--log-connections", "--port", "9000"});
  ASSERT_FALSE(p.exit_now);
  EXPECT_TRUE(p.config.trust_proxy);
  EXPECT_TRUE(p.config.log_connections);
  EXPECT_EQ(p.config.port, 9000);
}

TEST(Config, HelpExitsZero) {
  Parsed p = parse({"--help"});
  EXPECT_TRUE(p.exit_now);
  EXPECT_EQ(p.code, 0);
}

}  // namespace
}  // namespace ringws

namespace ringws {
namespace {

TEST(Config, TuningFlagsForTheBackends) {
  Parsed p = parse({"--backend", "io_uring", "--uring-setup", "coop", "--uring-idle-wait", "recv-multishot",
                    "--uring-ring-fd", "plain", "--uring-sqpoll", "--epoll-mode", "edge"});
  ASSERT_FALSE(p.exit_now);
  EXPECT_EQ(p.config.backend, BackendChoice::kIoUring);
  EXPECT_EQ(p.config.uring_setup, Config::UringSetup::kCoopTaskrun);
  EXPECT_EQ(p.config.uring_idle_wait, Config::UringIdleWait::kRecvMultishot);
  EXPECT_FALSE(p.config.uring_register_ring_fd);
  EXPECT_TRUE(p.config.uring_sqpoll);
  EXPECT_TRUE(p.config.epoll_edge_triggered);
  Parsed defaults = parse({});
  EXPECT_EQ(defaults.config.backend, BackendChoice::kAuto);
  EXPECT_EQ(defaults.config.uring_setup, Config::UringSetup::kBest);
  EXPECT_EQ(defaults.config.uring_idle_wait, Config::UringIdleWait::kPoll);
  EXPECT_TRUE(defaults.config.uring_register_ring_fd);
  EXPECT_FALSE(defaults.config.uring_sqpoll);
  for (auto args : std::vector<std::vector<std::string>>{{"--backend", "kqueue"},
                                                         {"--uring-setup", "fast"},
                                                         {"--uring-idle-wait", "sleep"},
                                                         {"--uring-ring-fd", "yes"},
                                                         {"--epoll-mode", "both"},
                                                         {"--admin-listen", "::1:9090"},
                                                         {"--admin-listen", "127.0.0.1"},
                                                         {"--memory-limit", "1Q"},
                                                         {"--memory-high-water", "101"}}) {
    Parsed bad = parse(args);
    EXPECT_TRUE(bad.exit_now) << args[0] << " " << args[1];
    EXPECT_EQ(bad.code, 2) << args[0] << " " << args[1];
  }
}

TEST(Config, AdminListenForms) {
  Parsed v6 = parse({"--admin-listen", "[::1]:0"});
  ASSERT_FALSE(v6.exit_now);
  EXPECT_EQ(v6.config.admin_host, "::1");
  EXPECT_EQ(v6.config.admin_port, 0);
  EXPECT_TRUE(v6.config.admin_enabled);
  Parsed off = parse({"--admin-listen", "off"});
  EXPECT_FALSE(off.config.admin_enabled);
  Parsed v4 = parse({"--admin-listen", "10.0.0.1:9191", "--memory-limit", "3500Mi"});
  EXPECT_EQ(v4.config.admin_host, "10.0.0.1");
  EXPECT_EQ(v4.config.admin_port, 9191);
  EXPECT_EQ(v4.config.memory_limit, 3500ull << 20);
}

TEST(ConfigAuth, DefaultsToNoneAndChatLimits) {
  Parsed p = parse({});
  EXPECT_EQ(p.config.auth, AuthMode::kNone);
  EXPECT_EQ(p.config.message_rate, 50u);
  EXPECT_EQ(p.config.message_burst, 100u);
  EXPECT_EQ(p.config.rate_limit_refusals, 10u);
  EXPECT_EQ(p.config.jwt_leeway, 30u);
  EXPECT_EQ(p.config.token_grace, 60u);
  // Echo and shootout are conformance and benchmark targets: no message limit unless asked.
  for (const char* app : {"echo", "shootout"}) {
    Parsed q = parse({"--app", app});
    EXPECT_EQ(q.config.message_rate, 0u) << app;
  }
  Parsed q = parse({"--app", "echo", "--message-rate", "7"});
  EXPECT_EQ(q.config.message_rate, 7u);
  EXPECT_EQ(q.config.message_burst, 14u);
  q = parse({"--message-rate", "0"});
  EXPECT_EQ(q.config.message_rate, 0u);
  q = parse({"--message-rate", "5", "--message-burst", "3"});
  EXPECT_EQ(q.config.message_burst, 3u);
}

TEST(ConfigAuth, JwtTakesExactlyOneKey) {
  Parsed p = parse({"--auth", "jwt", "--jwt-secret-file", "/k"});
  EXPECT_EQ(p.code, 0);
  EXPECT_EQ(p.config.auth, AuthMode::kJwt);
  EXPECT_EQ(p.config.jwt_secret_file, "/k");
  p = parse({"--auth", "jwt", "--jwt-public-key-file", "/pub.pem", "--jwt-leeway", "0", "--token-grace", "5"});
  EXPECT_EQ(p.code, 0);
  EXPECT_EQ(p.config.jwt_public_key_file, "/pub.pem");
  EXPECT_EQ(p.config.jwt_leeway, 0u);
  EXPECT_EQ(p.config.token_grace, 5u);
  p = parse({"--auth", "jwt", "--dev-token-secret", "/dev"});
  EXPECT_EQ(p.code, 0);
  EXPECT_EQ(parse({"--auth", "jwt"}).code, 2);
  EXPECT_EQ(parse({"--auth", "jwt", "--jwt-secret-file", "/k", "--jwt-public-key-file", "/p"}).code, 2);
  EXPECT_EQ(parse({"--auth", "jwt", "--jwt-secret-file", "/k", "--dev-token-secret", "/d"}).code, 2);
  EXPECT_EQ(parse({"--jwt-secret-file", "/k"}).code, 2);  // a key without --auth jwt
  EXPECT_EQ(parse({"--auth", "basic"}).code, 2);
  EXPECT_EQ(parse({"--message-burst", "0"}).code, 2);
}

}  // namespace
}  // namespace ringws
