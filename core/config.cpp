#include "core/config.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
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

// Connection::queued_bytes is 32-bit. A queue holds at most max(--max-backlog, one message
// frame) plus control frames, which are exempt from the cap; one message frame is at most
// --max-message (2 GiB) plus a 10-byte header. Capping the backlog at 1 GiB keeps the sum far
// below 4 GiB, so the counter cannot wrap and let a slow consumer queue without bound.
constexpr uint64_t kMaxBacklog = 1ull << 30;

template <typename T>
bool parse_number(std::string_view text, T& out, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

/// "has an invalid value: expected an integer from MIN to MAX", for the error message.
template <typename T>
std::string range_text(T min, T max) {
  return "has an invalid value: expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
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
    std::string range;  // the accepted range, named in the error when a number is refused
    auto number = [&]<typename T>(T& field, T min, T max) {
      range = range_text(min, max);
      return parse_number<T>(value, field, min, max);
    };
    if (flag == "--host") c.host = value;
    else if (flag == "--port") ok = number(c.port, uint16_t{0}, uint16_t{65535});
    else if (flag == "--threads") ok = number(c.threads, unsigned{1}, unsigned{64});
    else if (flag == "--app") {
      c.app = value;
      ok = c.app == "chat" || c.app == "echo" || c.app == "shootout";
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
      ok = number(c.buffer_count, uint32_t{16}, uint32_t{32768}) && (c.buffer_count & (c.buffer_count - 1)) == 0;
      range = "has an invalid value: expected a power of two from 16 to 32768";
    } else if (flag == "--max-connections") ok = number(c.max_connections, uint32_t{1}, uint32_t{1u << 30});
    else if (flag == "--max-per-address") ok = number(c.max_per_address, uint32_t{1}, uint32_t{1u << 30});
    else if (flag == "--allowed-origins") c.allowed_origins = value;
    else if (flag == "--max-rooms-per-connection") ok = number(c.max_rooms_per_connection, uint32_t{1}, uint32_t{4096});
    else if (flag == "--max-room-name") ok = number(c.max_room_name, uint32_t{1}, uint32_t{1024});
    else if (flag == "--max-publish-bytes") ok = number(c.max_publish_bytes, uint32_t{1}, uint32_t{1u << 30});
    else if (flag == "--emf-interval") ok = number(c.emf_interval, uint32_t{1}, uint32_t{86400});
    else if (flag == "--emf-namespace") ok = !(c.emf_namespace = value).empty();
    else if (flag == "--emf-dimensions") c.emf_dimensions = value;
    else return fail(argv[i - 1], "is not an option");
    if (!ok) return fail(argv[i - 1], range.empty() ? "has an invalid value" : range.c_str());
  }
  if (c.idle_timeout <= c.ping_interval)
    return fail("--idle-timeout", "must be longer than --ping-interval");
  return 0;
}

}  // namespace ringws
