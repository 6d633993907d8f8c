#include "core/config.h"

#include "core/byte_size.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace ringws {

namespace {

constexpr const char* kUsageHead = "usage: ringws [options]\n";
constexpr const char* kCoreUsage =
    "  --host ADDR              bind address, IPv4 or IPv6 (default 0.0.0.0)\n"
    "  --port N                 TCP port; 0 picks a free one (default 8080)\n"
    "  --threads N              reactors, one event loop each (default: one per CPU)\n"
    "  --app NAME               chat | echo | shootout (default chat)\n"
    "  --backend NAME           auto | io_uring | epoll: auto uses io_uring and falls back to epoll\n"
    "                           where io_uring is refused or lacks a feature (default auto)\n"
    "  --epoll-mode MODE        level | edge: how the epoll backend waits (default level)\n"
    "  --uring-setup MODE       best | defer | coop | plain: the ring's task-running flags; best is\n"
    "                           DEFER_TASKRUN+SINGLE_ISSUER, else COOP_TASKRUN, else none (default best)\n"
    "  --uring-idle-wait MODE   poll | recv | recv-multishot: what an idle connection waits on (a\n"
    "                           multishot poll, or an armed receive, which costs more kernel memory)\n"
    "                           (default poll)\n"
    "  --uring-ring-fd MODE     registered | plain: enter the ring through a registered descriptor\n"
    "                           (default registered)\n"
    "  --uring-sqpoll           a kernel thread per ring polls its submissions (costs a core's worth\n"
    "                           of polling; for tuning comparisons)\n"
    "  --max-message BYTES      largest message accepted; larger closes with 1009 (default 1048576)\n"
    "  --max-header-bytes BYTES largest HTTP request head; larger answers 431 (default 8192)\n"
    "  --handshake-timeout SEC  time allowed from connect to a complete request (default 10)\n"
    "  --ping-interval SEC      ping a client after this much silence (default 25)\n"
    "  --idle-timeout SEC       close a client silent this long (default 85)\n"
    "  --close-timeout SEC      wait this long for the peer's close frame (default 5)\n"
    "  --max-backlog BYTES      outgoing bytes queued per connection, control frames included;\n"
    "                           over it closes with 1008 (default 1048576, at most 1073741824)\n"
    "  --drain-seconds SEC      on SIGTERM/SIGINT, window over which connections get close 1001;\n"
    "                           keep it below the ECS task's stopTimeout (default 25)\n"
    "  --buffer-size BYTES      size of each provided receive buffer (default 4096); the epoll\n"
    "                           backend reads into one buffer of max(64 KiB, this) per reactor\n"
    "  --buffer-count N         receive buffers for the whole process, split across the io_uring\n"
    "                           reactors (a power of two each, at least 16) (default 2048)\n"
    "  --max-connections N      connections per process, HTTP and WebSocket; more get 503\n"
    "                           (default: the memory limit / 3630 B, the kernel's own floor)\n"
    "  --max-per-address N      WebSocket connections per client address (IPv6: per /64); more get\n"
    "                           429 (default: no cap)\n"
    "  --memory-limit BYTES     memory to stay under; K/M/G/T are powers of 1000, Ki/Mi/Gi/Ti of\n"
    "                           1024 (default: the cgroup's limit, else physical memory; the\n"
    "                           smaller of the cgroup's and this when both exist)\n"
    "  --memory-high-water PCT  above this share of the limit, new connections, upgrades and\n"
    "                           message buffers are refused (default 85)\n"
    "  --trust-proxy            client address = right-most X-Forwarded-For entry (behind a balancer)\n"
    "  --allowed-origins LIST   comma-separated Origin values allowed to upgrade; others get 403\n"
    "  --log-connections        log every WebSocket open and close\n"
    "  --admin-listen ADDR:PORT the admin listener: /metrics, /healthz, POST /admin/drain; keep it\n"
    "                           private ([::1]:PORT for IPv6, port 0 picks one, off: none)\n"
    "                           (default 127.0.0.1:9090)\n"
    "  --demo                   serve the demo chat page at / on the public port\n"
    "  --auth MODE              none | jwt: jwt needs a signed token (RFC 7519) at the upgrade, in\n"
    "                           ?token= or Sec-WebSocket-Protocol: ringws.v1, bearer.TOKEN; a\n"
    "                           missing, bad or expired one gets 401 (default none, with a warning)\n"
    "  --jwt-secret-file FILE   --auth jwt with HS256 and the secret in FILE (32 bytes or more)\n"
    "  --jwt-public-key-file FILE  --auth jwt with the PEM public key in FILE: RSA for RS256,\n"
    "                           EC P-256 for ES256 (the key decides the algorithm, never the token);\n"
    "                           either key flag takes env:NAME for a key in environment variable NAME\n"
    "  --jwt-leeway SEC         clock skew allowed on exp, nbf and iat (default 30)\n"
    "  --token-grace SEC        {\"type\":\"token_expiring\"} this long before an open connection's\n"
    "                           token runs out, then close 4001 (default 60)\n"
    "  --dev-token-secret FILE  dev mode, with --auth jwt: HS256 with the secret in FILE, and GET\n"
    "                           /dev/token?name=NAME mints 10-minute tokens for any name (never\n"
    "                           in production: tokens come from your own backend)\n"
    "  --message-rate N         messages a second per connection, pings included; over it an\n"
    "                           error rate_limited, pings get no pong (default 50 with --app chat,\n"
    "                           0 (off) with echo and shootout)\n"
    "  --message-burst N        messages at once before --message-rate applies (default 100 with\n"
    "                           chat, else twice the rate)\n"
    "  --rate-limit-refusals N  requests a rate limit refused before the retry_after_ms of an\n"
    "                           earlier refusal had passed (a client that does not wait) before the\n"
    "                           connection is closed with 1008; the count restarts once its buckets\n"
    "                           refill (default 10, 0: never close)\n"
    "  --emf-interval SEC       print CloudWatch Embedded Metric Format lines every SEC seconds (default off)\n"
    "  --emf-namespace NAME     EMF namespace (default ringws)\n"
    "  --emf-dimensions LIST    EMF dimensions, Name=Value,... (default Service=ringws)\n"
    "  --help                   this text\n";

template <typename T>
bool parse_number(std::string_view text, T& out, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

/// ADDR:PORT, [IPv6]:PORT, or "off".
bool parse_listen_address(std::string_view text, std::string& host, uint16_t& port, bool& enabled) {
  if (text == "off") {
    enabled = false;
    return true;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view h = text.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return false;  // an IPv6 address needs its brackets
  }
  if (!parse_number<uint16_t>(text.substr(colon + 1), port, 0, 65535)) return false;
  host = h;
  enabled = true;
  return true;
}

/// "has an invalid value: expected an integer from MIN to MAX", for the error message.
template <typename T>
std::string range_text(T min, T max) {
  return "has an invalid value: expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

// The queue counter of a connection is 64-bit, but a backlog this large is a mistake.
constexpr uint64_t kMaxBacklog = 1ull << 30;

/// Applies one core flag; kUnknown for flags that are not the core's. On kBad, `why` may
/// name what was expected.
OptionGroup::Result set_core(Config& c, std::string_view flag, std::string_view value, std::string& why) {
  bool ok = true;
  auto number = [&]<typename T>(T& field, T min, T max) {
    why = range_text(min, max);
    return parse_number<T>(value, field, min, max);
  };
  if (flag == "--host") c.host = value;
  else if (flag == "--port") ok = number(c.port, uint16_t{0}, uint16_t{65535});
  else if (flag == "--threads") ok = number(c.threads, unsigned{1}, unsigned{64});
  else if (flag == "--app") {
    c.app = value;
    ok = c.app == "chat" || c.app == "echo" || c.app == "shootout";
    why = "has an invalid value: expected chat, echo or shootout";
  } else if (flag == "--backend") {
    if (value == "auto") c.backend = BackendChoice::kAuto;
    else if (value == "io_uring") c.backend = BackendChoice::kIoUring;
    else if (value == "epoll") c.backend = BackendChoice::kEpoll;
    else ok = false;
    why = "has an invalid value: expected auto, io_uring or epoll";
  } else if (flag == "--epoll-mode") {
    ok = value == "level" || value == "edge";
    c.epoll_edge_triggered = value == "edge";
    why = "has an invalid value: expected level or edge";
  } else if (flag == "--uring-setup") {
    using S = Config::UringSetup;
    ok = true;
    if (value == "best") c.uring_setup = S::kBest;
    else if (value == "defer") c.uring_setup = S::kDeferTaskrun;
    else if (value == "coop") c.uring_setup = S::kCoopTaskrun;
    else if (value == "plain") c.uring_setup = S::kPlain;
    else ok = false;
    why = "has an invalid value: expected best, defer, coop or plain";
  } else if (flag == "--uring-idle-wait") {
    using W = Config::UringIdleWait;
    ok = true;
    if (value == "poll") c.uring_idle_wait = W::kPoll;
    else if (value == "recv") c.uring_idle_wait = W::kRecv;
    else if (value == "recv-multishot") c.uring_idle_wait = W::kRecvMultishot;
    else ok = false;
    why = "has an invalid value: expected poll, recv or recv-multishot";
  } else if (flag == "--uring-ring-fd") {
    ok = value == "registered" || value == "plain";
    c.uring_register_ring_fd = value != "plain";
    why = "has an invalid value: expected registered or plain";
  } else if (flag == "--max-message") ok = number(c.max_message, uint64_t{1}, uint64_t{1ull << 31});
  else if (flag == "--max-header-bytes") ok = number(c.max_header_bytes, uint32_t{256}, uint32_t{1u << 20});
  else if (flag == "--handshake-timeout") ok = number(c.handshake_timeout, uint32_t{1}, uint32_t{3600});
  else if (flag == "--ping-interval") ok = number(c.ping_interval, uint32_t{1}, uint32_t{86400});
  else if (flag == "--idle-timeout") ok = number(c.idle_timeout, uint32_t{1}, uint32_t{86400});
  else if (flag == "--close-timeout") ok = number(c.close_timeout, uint32_t{1}, uint32_t{3600});
  else if (flag == "--max-backlog") ok = number(c.max_backlog, uint64_t{1024}, kMaxBacklog);
  else if (flag == "--drain-seconds") ok = number(c.drain_seconds, uint32_t{0}, uint32_t{3600});
  else if (flag == "--buffer-size") ok = number(c.buffer_size, uint32_t{512}, uint32_t{1u << 20});
  else if (flag == "--buffer-count") {
    ok = number(c.buffer_count, uint32_t{16}, uint32_t{1u << 20}) && (c.buffer_count & (c.buffer_count - 1)) == 0;
    why = "has an invalid value: expected a power of two from 16 to 1048576";
  } else if (flag == "--max-connections") ok = number(c.max_connections, uint32_t{1}, uint32_t{1u << 30});
  else if (flag == "--max-per-address") ok = number(c.max_per_address, uint32_t{1}, uint32_t{1u << 30});
  else if (flag == "--memory-limit") {
    ok = parse_size(value, c.memory_limit) && c.memory_limit >= (16u << 20);
    why = "has an invalid value: expected bytes of at least 16Mi, with an optional K/M/G/T or Ki/Mi/Gi/Ti suffix";
  } else if (flag == "--memory-high-water") ok = number(c.memory_high_water, uint32_t{10}, uint32_t{100});
  else if (flag == "--allowed-origins") c.allowed_origins = value;
  else if (flag == "--admin-listen") {
    why = "has an invalid value: expected ADDR:PORT (IPv6 as [ADDR]:PORT) or off";
    ok = parse_listen_address(value, c.admin_host, c.admin_port, c.admin_enabled);
  }
  else if (flag == "--auth") {
    ok = value == "none" || value == "jwt";
    c.auth = value == "jwt" ? AuthMode::kJwt : AuthMode::kNone;
    why = "has an invalid value: expected none or jwt";
  } else if (flag == "--jwt-secret-file") ok = !(c.jwt_secret_file = value).empty();
  else if (flag == "--jwt-public-key-file") ok = !(c.jwt_public_key_file = value).empty();
  else if (flag == "--dev-token-secret") ok = !(c.dev_token_secret_file = value).empty();
  else if (flag == "--jwt-leeway") ok = number(c.jwt_leeway, uint32_t{0}, uint32_t{3600});
  else if (flag == "--token-grace") ok = number(c.token_grace, uint32_t{0}, uint32_t{86400});
  else if (flag == "--message-rate") ok = number(c.message_rate, uint32_t{0}, uint32_t{1000000});
  else if (flag == "--message-burst") ok = number(c.message_burst, uint32_t{1}, uint32_t{1000000});
  else if (flag == "--rate-limit-refusals") ok = number(c.rate_limit_refusals, uint32_t{0}, uint32_t{1000000});
  else if (flag == "--emf-interval") ok = number(c.emf_interval, uint32_t{1}, uint32_t{86400});
  else if (flag == "--emf-namespace") ok = !(c.emf_namespace = value).empty();
  else if (flag == "--emf-dimensions") c.emf_dimensions = value;
  else return OptionGroup::Result::kUnknown;
  return ok ? OptionGroup::Result::kOk : OptionGroup::Result::kBad;
}

/// The key flags and --auth agree: jwt takes exactly one key, none takes none.
const char* check_auth(const Config& c) {
  int keys = !c.jwt_secret_file.empty() + !c.jwt_public_key_file.empty() + !c.dev_token_secret_file.empty();
  if (c.auth == AuthMode::kNone && keys)
    return "none: --jwt-secret-file, --jwt-public-key-file and --dev-token-secret need --auth jwt";
  if (c.auth == AuthMode::kJwt && keys == 0)
    return "jwt needs a key: --jwt-secret-file, --jwt-public-key-file or --dev-token-secret";
  if (c.auth == AuthMode::kJwt && keys > 1)
    return "jwt takes one key: one of --jwt-secret-file, --jwt-public-key-file, --dev-token-secret";
  return nullptr;
}

}  // namespace

int parse_config(int argc, char** argv, Config& c, bool& exit_now, std::span<OptionGroup* const> app_groups) {
  exit_now = false;
  auto usage = [&] {
    std::string text = kUsageHead;
    text += kCoreUsage;
    for (const OptionGroup* g : app_groups) text += g->usage();
    return text;
  };
  auto fail = [&](const char* flag, const char* what) {
    std::fprintf(stderr, "ringws: %s %s\n%s", flag, what, usage().c_str());
    exit_now = true;
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage().c_str(), stdout);
      exit_now = true;
      return 0;
    }
    if (flag == "--trust-proxy") {
      c.trust_proxy = true;
      continue;
    }
    if (flag == "--log-connections") {
      c.log_connections = true;
      continue;
    }
    if (flag == "--demo") {
      c.demo = true;
      continue;
    }
    if (flag == "--uring-sqpoll") {
      c.uring_sqpoll = true;
      continue;
    }
    OptionGroup* owner = nullptr;
    for (OptionGroup* g : app_groups)
      if (g->is_switch(flag)) owner = g;
    if (owner) {
      if (owner->set(flag, {}) != OptionGroup::Result::kOk) return fail(argv[i], "is not valid here");
      continue;
    }
    if (i + 1 >= argc) return fail(argv[i], "needs a value (or is unknown)");
    std::string_view value = argv[++i];
    std::string why;
    OptionGroup::Result result = set_core(c, flag, value, why);
    for (OptionGroup* g : app_groups)
      if (result == OptionGroup::Result::kUnknown) result = g->set(flag, value);
    if (result == OptionGroup::Result::kUnknown) return fail(argv[i - 1], "is not an option");
    if (result == OptionGroup::Result::kBad) return fail(argv[i - 1], why.empty() ? "has an invalid value" : why.c_str());
  }
  if (c.idle_timeout <= c.ping_interval) return fail("--idle-timeout", "must be longer than --ping-interval");
  if (const char* error = check_auth(c)) return fail("--auth", error);
  // The message limit protects chat's rooms; echo and shootout are the conformance and
  // benchmark targets, which send as fast as they can.
  if (c.message_rate == Config::kUnset) c.message_rate = c.app == "chat" ? 50 : 0;
  if (c.message_burst == Config::kUnset)
    c.message_burst = c.app == "chat" && c.message_rate == 50 ? 100 : std::max<uint32_t>(1, 2 * c.message_rate);
  for (const OptionGroup* g : app_groups)
    if (const char* error = g->validate()) return fail("", error);
  return 0;
}

}  // namespace ringws
