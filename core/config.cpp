#include "core/config.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace ringws {

namespace {

constexpr const char* kUsage =
    "usage: ringws [options]\n"
    "  --host ADDR              bind address, IPv4 or IPv6 (default 0.0.0.0)\n"
    "  --port N                 TCP port; 0 picks a free one (default 8080)\n"
    "  --threads N              reactors, one io_uring each (default: one per CPU)\n"
    "  --app NAME               chat | echo | shootout (default chat)\n"
    "  --max-message BYTES      largest message accepted; larger closes with 1009 (default 1048576)\n"
    "  --max-header-bytes BYTES largest HTTP request head; larger answers 431 (default 8192)\n"
    "  --handshake-timeout SEC  time allowed from connect to a complete request (default 10)\n"
    "  --ping-interval SEC      ping a client after this much silence (default 25)\n"
    "  --idle-timeout SEC       close a client silent this long (default 85)\n"
    "  --close-timeout SEC      wait this long for the peer's close frame (default 5)\n"
    "  --max-backlog BYTES      outgoing bytes queued per connection; over it closes with 1008 (default 1048576)\n"
    "  --drain-seconds SEC      on SIGTERM/SIGINT, window over which connections get close 1001;\n"
    "                           keep it below the ECS task's stopTimeout (default 25)\n"
    "  --buffer-size BYTES      size of each provided receive buffer (default 4096)\n"
    "  --buffer-count N         receive buffers per reactor, a power of two (default 1024)\n"
    "  --max-connections N      WebSocket connections per process; more get 503 (default: no cap)\n"
    "  --max-per-address N      WebSocket connections per client address; more get 429 (default: no cap)\n"
    "  --trust-proxy            client address = right-most X-Forwarded-For entry (behind a balancer)\n"
    "  --allowed-origins LIST   comma-separated Origin values allowed to upgrade; others get 403\n"
    "  --log-connections        log every WebSocket open and close\n"
    "  --max-rooms-per-connection N  chat: rooms one connection may join (default 16)\n"
    "  --max-room-name BYTES    chat: longest room name (default 64)\n"
    "  --max-publish-bytes BYTES  chat: largest published data (default 65536)\n"
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

}  // namespace

int parse_config(int argc, char** argv, Config& c, bool& exit_now) {
  exit_now = false;
  auto fail = [&](const char* flag, const char* what) {
    std::fprintf(stderr, "ringws: %s %s\n%s", flag, what, kUsage);
    exit_now = true;
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
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
    if (i + 1 >= argc) return fail(argv[i], "needs a value (or is unknown)");
    std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--host") c.host = value;
    else if (flag == "--port") ok = parse_number<uint16_t>(value, c.port, 0, 65535);
    else if (flag == "--threads") ok = parse_number<unsigned>(value, c.threads, 1, 64);
    else if (flag == "--app") {
      c.app = value;
      ok = c.app == "chat" || c.app == "echo" || c.app == "shootout";
    } else if (flag == "--max-message") ok = parse_number<uint64_t>(value, c.max_message, 1, 1ull << 31);
    else if (flag == "--max-header-bytes") ok = parse_number<uint32_t>(value, c.max_header_bytes, 256, 1u << 20);
    else if (flag == "--handshake-timeout") ok = parse_number<uint32_t>(value, c.handshake_timeout, 1, 3600);
    else if (flag == "--ping-interval") ok = parse_number<uint32_t>(value, c.ping_interval, 1, 86400);
    else if (flag == "--idle-timeout") ok = parse_number<uint32_t>(value, c.idle_timeout, 1, 86400);
    else if (flag == "--close-timeout") ok = parse_number<uint32_t>(value, c.close_timeout, 1, 3600);
    else if (flag == "--max-backlog") ok = parse_number<uint64_t>(value, c.max_backlog, 1024, 1ull << 32);
    else if (flag == "--drain-seconds") ok = parse_number<uint32_t>(value, c.drain_seconds, 0, 3600);
    else if (flag == "--buffer-size") ok = parse_number<uint32_t>(value, c.buffer_size, 512, 1u << 20);
    else if (flag == "--buffer-count") {
      ok = parse_number<uint32_t>(value, c.buffer_count, 16, 32768) && (c.buffer_count & (c.buffer_count - 1)) == 0;
    } else if (flag == "--max-connections") ok = parse_number<uint32_t>(value, c.max_connections, 1, 1u << 30);
    else if (flag == "--max-per-address") ok = parse_number<uint32_t>(value, c.max_per_address, 1, 1u << 30);
    else if (flag == "--allowed-origins") c.allowed_origins = value;
    else if (flag == "--max-rooms-per-connection") ok = parse_number<uint32_t>(value, c.max_rooms_per_connection, 1, 4096);
    else if (flag == "--max-room-name") ok = parse_number<uint32_t>(value, c.max_room_name, 1, 1024);
    else if (flag == "--max-publish-bytes") ok = parse_number<uint32_t>(value, c.max_publish_bytes, 1, 1u << 30);
    else if (flag == "--emf-interval") ok = parse_number<uint32_t>(value, c.emf_interval, 1, 86400);
    else if (flag == "--emf-namespace") ok = !(c.emf_namespace = value).empty();
    else if (flag == "--emf-dimensions") c.emf_dimensions = value;
    else return fail(argv[i - 1], "is not an option");
    if (!ok) return fail(argv[i - 1], "has an invalid value");
  }
  if (c.idle_timeout <= c.ping_interval)
    return fail("--idle-timeout", "must be longer than --ping-interval");
  return 0;
}

}  // namespace ringws
