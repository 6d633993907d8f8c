#include "bench/load/options.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>

namespace ringws::load {

const char* const kUsage =
    "usage: ringws-load MODE --url ws://HOST:PORT/PATH [options]\n"
    "modes:\n"
    "  idle       open --connections N at --rate per second, hold them --hold seconds (or until\n"
    "             SIGINT/SIGTERM); prints 'READY open=<n> failed=<n>' on stdout when all are resolved\n"
    "  echo       --connections C send messages of --size bytes, one in flight each (closed loop)\n"
    "             or --rate messages/s in total, for --duration s or --messages replies\n"
    "  broadcast  websocket-shootout's method: add --step clients up to --max; at each step send\n"
    "             --samples broadcasts, --concurrent in flight; stop when the --percentile RTT\n"
    "             exceeds --limit-ms; report the largest passing client count\n"
    "  storm      connect, handshake and close at --rate per second for --duration s\n"
    "hostile modes (bounded in count and time; READY as for idle where marked *):\n"
    "  ping-flood*      --connections (default 1) complete the handshake, then send pings of\n"
    "                   --payload bytes as fast as possible for --duration s (or --messages pings\n"
    "                   in total), never reading (SO_RCVBUF --rcvbuf, default 4096)\n"
    "  slowloris*       --connections send an upgrade request head one byte every --interval s,\n"
    "                   never finishing it, for --duration s; counts the server's closes and when\n"
    "  connect-reset    --connections connect at --rate and close at once with RST (SO_LINGER 0),\n"
    "                   after half an upgrade request with --send-partial; for at most --duration s\n"
    "  half-handshake*  --connections send all of an upgrade request but its final CRLF, then\n"
    "                   hold --hold s\n"
    "  partial-message* --connections complete the handshake, send a masked binary frame header\n"
    "                   declaring --size bytes (default 1 MiB) and all its payload but --tail bytes,\n"
    "                   then hold --hold s; counts the server's closes by close code\n"
    "options:\n"
    "  --url URL               ws://host[:port][/path] (required)\n"
    "  --connections N         idle: connections; echo: clients (default idle 1000, echo 100)\n"
    "  --rate R                connections/s (idle default 5000, storm 1000, broadcast 10000);\n"
    "                          echo: messages/s in total (default 0: closed loop)\n"
    "  --hold SEC              idle: hold time after READY (default 10)\n"
    "  --connect-timeout SEC   time to open all connections (default N/rate + 30)\n"
    "  --handshake-timeout SEC one connection, connect to 101 (default 10)\n"
    "  --size BYTES            echo: message size (default 32; raw >= 16)\n"
    "  --duration SEC          echo, storm: run time (default 10)\n"
    "  --messages N            echo: stop after N replies in total (default: use --duration)\n"
    "  --protocol raw|shootout echo: raw echo (binary) or {\"type\":\"echo\",...} (default raw)\n"
    "  --workers N             worker processes, each with its own connections (default 1)\n"
    "  --source-ips LIST       bind to these IPv4 addresses round robin: a,b,c or a-b or a-8\n"
    "  --step N --max N        broadcast: client step (default 1000) and maximum (default 100000)\n"
    "  --concurrent N          broadcast: requests in flight (default 4)\n"
    "  --padding BYTES         broadcast: payload padding (default 200)\n"
    "  --samples N             broadcast: broadcasts per step (default 20)\n"
    "  --percentile P          broadcast: percentile held to the limit (default 95)\n"
    "  --limit-ms MS           broadcast: RTT limit (default 500)\n"
    "  --step-timeout SEC      broadcast: time allowed for one step's samples (default 60)\n"
    "  --max-message BYTES     largest server message accepted (default 16 MiB)\n"
    "  --payload BYTES         ping-flood: ping payload, 0-125 (default 125)\n"
    "  --interval SEC          slowloris: time between two bytes of one connection (default 1)\n"
    "  --send-partial          connect-reset: send half an upgrade request before the reset\n"
    "  --tail BYTES            partial-message: payload bytes never sent, 1..--size (default 1)\n"
    "  --rcvbuf BYTES          SO_RCVBUF of every client socket (default: the system's;\n"
    "                          ping-flood 4096, so the server's sends block soon)\n"
    "  --json FILE             write every figure and setting as JSON\n"
    "  --phase-sync            echo, broadcast: print 'SYNC connected ...' when the clients are open\n"
    "                          and 'SYNC done ...' when the measured phase (each broadcast step)\n"
    "                          has ended, each on stdout, and after each wait for a line on stdin\n"
    "                          (EOF: stop waiting), so that a script can sample the server over\n"
    "                          exactly that phase\n"
    "  --sync-timeout SEC      longest wait for that line; then the run goes on (default 300)\n"
    "  --quiet                 no progress line on stderr\n"
    "  --help                  this text\n";

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kIdle: return "idle";
    case Mode::kEcho: return "echo";
    case Mode::kBroadcast: return "broadcast";
    case Mode::kStorm: return "storm";
    case Mode::kPingFlood: return "ping-flood";
    case Mode::kSlowloris: return "slowloris";
    case Mode::kConnectReset: return "connect-reset";
    case Mode::kHalfHandshake: return "half-handshake";
    case Mode::kPartialMessage: return "partial-message";
  }
  return "?";
}

bool is_attack(Mode m) {
  return m == Mode::kPingFlood || m == Mode::kSlowloris || m == Mode::kConnectReset || m == Mode::kHalfHandshake ||
         m == Mode::kPartialMessage;
}

bool prints_ready(Mode m) { return m == Mode::kIdle || (is_attack(m) && m != Mode::kConnectReset); }

const char* protocol_name(Protocol p) { return p == Protocol::kRaw ? "raw" : "shootout"; }

namespace {

template <typename T>
bool parse_int(std::string_view s, T& out, T lo, T hi) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool parse_real(std::string_view s, double& out, double lo, double hi) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || !std::isfinite(v) || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

bool parse_ws_url(std::string_view url, WsUrl& out, std::string& error) {
  if (url.starts_with("wss://")) {
    error = "wss:// is not supported (no TLS in ringws-load); use ws://";
    return false;
  }
  if (!url.starts_with("ws://")) {
    error = "URL must start with ws://";
    return false;
  }
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.path.find_first_of(" \r\n#") != std::string::npos) {
    error = "URL path holds a space, CR, LF or '#'";
    return false;
  }
  std::string_view host, port;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [IPv6] host in URL";
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        error = "junk after ] in URL";
        return false;
      }
      port = after.substr(1);
      if (port.empty()) {
        error = "empty port in URL";
        return false;
      }
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) {
        error = "empty port in URL";
        return false;
      }
    }
  }
  if (host.empty() || host.find('@') != std::string_view::npos) {
    error = "URL has no host (or has user info, which is not supported)";
    return false;
  }
  out.port = 80;
  if (!port.empty() && !parse_int<uint16_t>(port, out.port, 1, 65535)) {
    error = "bad port in URL: " + std::string(port);
    return false;
  }
  out.host = std::string(host);
  bool v6 = out.host.find(':') != std::string::npos;
  out.host_header.clear();
  if (v6) out.host_header.append(1, '[').append(out.host).append(1, ']');
  else out.host_header = out.host;
  if (out.port != 80) out.host_header.append(1, ':').append(std::to_string(out.port));
  return true;
}

bool parse_source_ips(std::string_view text, std::vector<in_addr>& out, std::string& error) {
  constexpr size_t kMax = 4096;
  out.clear();
  auto addr = [&](std::string_view s, in_addr& a) {
    std::string z(s);
    if (inet_pton(AF_INET, z.c_str(), &a) != 1) {
      error = "not an IPv4 address: '" + z + "'";
      return false;
    }
    return true;
  };
  bool more = !text.empty();
  while (more) {  // every item, the empty one after a trailing comma included
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    more = comma != std::string_view::npos;
    text = more ? text.substr(comma + 1) : std::string_view{};
    if (item.empty()) {
      error = "empty item in --source-ips";
      return false;
    }
    size_t dash = item.find('-');
    in_addr a{};
    if (dash == std::string_view::npos) {
      if (!addr(item, a)) return false;
      out.push_back(a);
    } else {
      if (!addr(item.substr(0, dash), a)) return false;
      std::string_view right = item.substr(dash + 1);
      uint32_t first = ntohl(a.s_addr), last = 0;
      if (right.find('.') == std::string_view::npos) {
        uint32_t octet = 0;
        if (!parse_int<uint32_t>(right, octet, 0, 255)) {
          error = "bad range end in --source-ips: '" + std::string(right) + "'";
          return false;
        }
        last = (first & 0xffffff00u) | octet;
      } else {
        in_addr b{};
        if (!addr(right, b)) return false;
        last = ntohl(b.s_addr);
      }
      if (last < first) {
        error = "range end before its start in --source-ips: '" + std::string(item) + "'";
        return false;
      }
      if (last - first >= kMax) {
        error = "--source-ips range too large (at most 4096 addresses)";
        return false;
      }
      for (uint64_t x = first; x <= last; ++x) out.push_back(in_addr{htonl(uint32_t(x))});
    }
    if (out.size() > kMax) {
      error = "too many --source-ips (at most 4096)";
      return false;
    }
  }
  if (out.empty()) {
    error = "--source-ips is empty";
    return false;
  }
  return true;
}

std::optional<Options> parse_options(int argc, char** argv, std::string& error, bool& help) {
  help = false;
  Options o;
  static constexpr const char* kModes =
      "idle, echo, broadcast, storm, ping-flood, slowloris, connect-reset, half-handshake or partial-message";
  if (argc < 2) {
    error = std::string("missing MODE (") + kModes + ")";
    return std::nullopt;
  }
  std::string_view m = argv[1];
  if (m == "--help" || m == "-h") {
    help = true;
    return std::nullopt;
  }
  if (m == "idle") o.mode = Mode::kIdle;
  else if (m == "echo") o.mode = Mode::kEcho;
  else if (m == "broadcast") o.mode = Mode::kBroadcast;
  else if (m == "storm") o.mode = Mode::kStorm;
  else if (m == "ping-flood") o.mode = Mode::kPingFlood;
  else if (m == "slowloris") o.mode = Mode::kSlowloris;
  else if (m == "connect-reset") o.mode = Mode::kConnectReset;
  else if (m == "half-handshake") o.mode = Mode::kHalfHandshake;
  else if (m == "partial-message") o.mode = Mode::kPartialMessage;
  else {
    error = "unknown mode '" + std::string(m) + "' (" + kModes + ")";
    return std::nullopt;
  }
  bool have_conns = false, have_rate = false, have_size = false, have_rcvbuf = false;
  // Flags that belong to one mode: given to another, they are a mistake worth naming.
  struct OwnFlag {
    const char* flag;
    Mode mode;
    bool given;
  } own[] = {{"--payload", Mode::kPingFlood, false},
             {"--interval", Mode::kSlowloris, false},
             {"--send-partial", Mode::kConnectReset, false},
             {"--tail", Mode::kPartialMessage, false}};
  auto mark = [&](std::string_view flag) {
    for (OwnFlag& f : own)
      if (flag == f.flag) f.given = true;
  };
  for (int i = 2; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      help = true;
      return std::nullopt;
    }
    if (flag == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (flag == "--no-nodelay") {
      o.tcp_nodelay = false;
      continue;
    }
    if (flag == "--phase-sync") {
      o.phase_sync = true;
      continue;
    }
    if (flag == "--send-partial") {
      o.send_partial = true;
      mark(flag);
      continue;
    }
    if (!flag.starts_with("--")) {
      error = "unexpected argument '" + std::string(flag) + "'";
      return std::nullopt;
    }
    if (i + 1 >= argc) {
      error = std::string(flag) + " needs a value";
      return std::nullopt;
    }
    std::string_view v = argv[++i];
    bool ok = true;
    if (flag == "--url") {
      o.url_text = v;
      ok = parse_ws_url(v, o.url, error);
      if (!ok) return std::nullopt;
    } else if (flag == "--connections" || flag == "--clients") {
      ok = parse_int<uint64_t>(v, o.connections, 1, 10'000'000);
      have_conns = true;
    } else if (flag == "--rate") {
      ok = parse_real(v, o.rate, 0, 1e9);
      have_rate = true;
    } else if (flag == "--hold") ok = parse_real(v, o.hold, 0, 7 * 86400);
    else if (flag == "--connect-timeout") ok = parse_real(v, o.connect_timeout, 0.001, 86400);
    else if (flag == "--handshake-timeout") ok = parse_real(v, o.handshake_timeout, 0.001, 3600);
    else if (flag == "--size") {
      ok = parse_int<uint64_t>(v, o.size, 0, 64u << 20);
      have_size = true;
    }
    else if (flag == "--duration") ok = parse_real(v, o.duration, 0.001, 7 * 86400);
    else if (flag == "--messages") ok = parse_int<uint64_t>(v, o.messages, 1, uint64_t{1} << 48);
    else if (flag == "--protocol") {
      if (v == "raw") o.protocol = Protocol::kRaw;
      else if (v == "shootout") o.protocol = Protocol::kShootout;
      else ok = false;
    } else if (flag == "--workers") ok = parse_int<unsigned>(v, o.workers, 1, 1024);
    else if (flag == "--source-ips") {
      o.source_ips_text = v;
      if (!parse_source_ips(v, o.source_ips, error)) return std::nullopt;
    } else if (flag == "--step") ok = parse_int<uint64_t>(v, o.step, 1, 10'000'000);
    else if (flag == "--max") ok = parse_int<uint64_t>(v, o.max_clients, 1, 10'000'000);
    else if (flag == "--concurrent") ok = parse_int<unsigned>(v, o.concurrent, 1, 1024);
    else if (flag == "--padding") ok = parse_int<uint64_t>(v, o.padding, 0, 1u << 20);
    else if (flag == "--samples") ok = parse_int<unsigned>(v, o.samples, 1, 1'000'000);
    else if (flag == "--percentile") ok = parse_real(v, o.percentile, 0, 100);
    else if (flag == "--limit-ms") ok = parse_real(v, o.limit_ms, 0.001, 3.6e6);
    else if (flag == "--step-timeout") ok = parse_real(v, o.step_timeout, 0.1, 86400);
    else if (flag == "--max-message") ok = parse_int<uint64_t>(v, o.max_message, 125, uint64_t{1} << 32);
    else if (flag == "--sync-timeout") ok = parse_real(v, o.sync_timeout, 0.001, 86400);
    else if (flag == "--payload") ok = parse_int<uint64_t>(v, o.payload, 0, 125);
    else if (flag == "--interval") ok = parse_real(v, o.interval, 0.001, 3600);
    else if (flag == "--tail") ok = parse_int<uint64_t>(v, o.tail, 1, 64u << 20);
    else if (flag == "--rcvbuf") {
      ok = parse_int<uint64_t>(v, o.rcvbuf, 1, 1u << 30);
      have_rcvbuf = true;
    } else if (flag == "--json") o.json_path = v;
    else {
      error = "unknown option " + std::string(flag);
      return std::nullopt;
    }
    if (!ok) {
      error = "bad value for " + std::string(flag) + ": '" + std::string(v) + "'";
      return std::nullopt;
    }
    mark(flag);
  }
  for (const OwnFlag& f : own)
    if (f.given && f.mode != o.mode) {
      error = std::string(f.flag) + " applies to " + mode_name(f.mode) + " only";
      return std::nullopt;
    }
  if (o.url_text.empty()) {
    error = "--url ws://HOST:PORT/PATH is required";
    return std::nullopt;
  }
  if (!have_conns) o.connections = o.mode == Mode::kEcho ? 100 : o.mode == Mode::kPingFlood ? 1 : 1000;
  if (!have_rate) {
    if (o.mode == Mode::kIdle || is_attack(o.mode)) o.rate = 5000;
    else if (o.mode == Mode::kStorm) o.rate = 1000;
    else if (o.mode == Mode::kBroadcast) o.rate = 10000;
  }
  if (o.mode == Mode::kPingFlood && !have_rcvbuf) o.rcvbuf = 4096;
  if (o.mode == Mode::kPartialMessage) {
    if (!have_size) o.size = 1u << 20;
    if (o.size == 0) {
      error = "--size must be at least 1 for partial-message (a frame with a payload to hold back)";
      return std::nullopt;
    }
    if (o.tail > o.size) {
      error = "--tail is larger than --size (it is the part of the payload never sent)";
      return std::nullopt;
    }
  }
  if (o.mode != Mode::kEcho && o.rate <= 0) {
    error = "--rate must be above 0 in this mode (connections per second)";
    return std::nullopt;
  }
  if (o.mode == Mode::kEcho && o.protocol == Protocol::kRaw && o.size < 16) {
    error = "--size must be at least 16 for raw echo (sequence number and timestamp)";
    return std::nullopt;
  }
  if (o.phase_sync && o.mode != Mode::kEcho && o.mode != Mode::kBroadcast) {
    error = "--phase-sync is for echo and broadcast (the modes with a measured phase)";
    return std::nullopt;
  }
  if (o.mode == Mode::kBroadcast && o.step > o.max_clients) {
    error = "--step is larger than --max";
    return std::nullopt;
  }
  if (o.workers > o.connections && o.mode != Mode::kStorm && o.mode != Mode::kBroadcast) {
    error = "--workers is larger than --connections";
    return std::nullopt;
  }
  if (o.connect_timeout == 0) {
    double n = double(o.mode == Mode::kBroadcast ? o.max_clients : o.connections);
    o.connect_timeout = (o.rate > 0 ? n / o.rate : 0) + 30;
  }
  return o;
}

}  // namespace ringws::load
