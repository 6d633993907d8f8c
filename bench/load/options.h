// ringws-load's settings and their parsing: the command line, ws:// URLs and source-address
// lists. Pure functions: a bad value gives a clear message, never an exit from here.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringws::load {

enum class Mode {
  kIdle,
  kEcho,
  kBroadcast,
  kStorm,
  // Hostile clients (attack.h): each bounded in count and time.
  kPingFlood,       ///< handshake, then pings as fast as possible, never reading
  kSlowloris,       ///< a request head one byte every --interval, never finished
  kConnectReset,    ///< connect (optionally send part of a request), then RST
  kHalfHandshake,   ///< an upgrade request without its final CRLF, held
  kPartialMessage,  ///< handshake, then a frame declaring --size bytes short of --tail, held
};
enum class Protocol { kRaw, kShootout };

const char* mode_name(Mode m);
/// The hostile modes, run by attack.cpp instead of the client engine's modes.
bool is_attack(Mode m);
/// Modes that print READY once every connection is resolved (opened, or failed).
bool prints_ready(Mode m);
const char* protocol_name(Protocol p);

struct WsUrl {
  std::string host;       ///< as written, without brackets
  uint16_t port = 80;
  std::string path = "/";
  std::string host_header;  ///< Host: value (host, plus :port unless 80)
};

/// Parses ws://host[:port][/path]. wss:// is refused (no TLS in this tool).
bool parse_ws_url(std::string_view url, WsUrl& out, std::string& error);

/// Parses "a,b,c" and ranges "127.0.0.1-127.0.0.8" or "127.0.0.1-8" (IPv4), at most 4096.
bool parse_source_ips(std::string_view text, std::vector<in_addr>& out, std::string& error);

struct Options {
  Mode mode = Mode::kIdle;
  std::string url_text;
  WsUrl url;
  unsigned workers = 1;
  std::string source_ips_text;
  std::vector<in_addr> source_ips;
  uint64_t connections = 0;        ///< idle: N; echo: C
  double rate = 0;                 ///< idle/storm/broadcast: connects/s; echo: msgs/s (0 = closed loop)
  double hold = 10;                ///< idle, half-handshake, partial-message: seconds to hold after READY
  double connect_timeout = 0;      ///< idle/echo/broadcast: deadline to open all; 0 = N/rate + 30 s
  double handshake_timeout = 10;   ///< one connection: connect to 101
  uint64_t size = 32;              ///< echo: message bytes; partial-message: declared frame length (1 MiB)
  double duration = 10;            ///< echo, storm, ping-flood, slowloris, connect-reset: seconds
  uint64_t messages = 0;           ///< echo: total replies to wait for; ping-flood: pings to send (0 = run for duration)
  Protocol protocol = Protocol::kRaw;
  uint64_t step = 1000, max_clients = 100000;  ///< broadcast
  unsigned concurrent = 4;
  uint64_t padding = 200;
  unsigned samples = 20;
  double percentile = 95;
  double limit_ms = 500;
  double step_timeout = 60;        ///< broadcast: seconds allowed for one step's samples
  uint64_t max_message = 16u << 20;
  uint64_t payload = 125;          ///< ping-flood: ping payload bytes (at most 125)
  double interval = 1;             ///< slowloris: seconds between two bytes of one connection
  bool send_partial = false;       ///< connect-reset: send half an upgrade request before the RST
  uint64_t tail = 1;               ///< partial-message: payload bytes held back (1..size)
  uint64_t rcvbuf = 0;             ///< SO_RCVBUF of every client socket (0: the system's; ping-flood: 4096)
  std::string json_path;
  bool quiet = false;
  bool tcp_nodelay = true;
  /// echo, broadcast: print "SYNC connected ..." once the clients are open and "SYNC done ..."
  /// once the measured phase has ended (each broadcast step), and after each wait for a line
  /// on stdin, so that a script can sample the server over exactly that phase.
  bool phase_sync = false;
  double sync_timeout = 300;       ///< longest wait for stdin's line; then the run goes on
};

/// Parses argv (without the program name is NOT expected: pass argc/argv as main got them).
/// Returns nullopt with `error` set on a bad argument; `help` set when --help was asked.
std::optional<Options> parse_options(int argc, char** argv, std::string& error, bool& help);

extern const char* const kUsage;

}  // namespace ringws::load
