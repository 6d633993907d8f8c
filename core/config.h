// Server settings from the command line. Every limit the server enforces is here, with
// the default DESIGN.md gives for it.
#pragma once

#include <cstdint>
#include <string>

namespace ringws {

struct Config {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;  ///< 0 picks a free port (shared by all reactors)
  unsigned threads = 0;  ///< 0: one reactor per online CPU
  std::string app = "chat";

  uint64_t max_message = 1u << 20;      ///< bytes of one message (larger: close 1009)
  uint32_t max_header_bytes = 8192;     ///< HTTP request head (larger: 431)
  uint32_t handshake_timeout = 10;      ///< seconds from accept to a complete request
  uint32_t ping_interval = 25;          ///< seconds of client silence before a ping
  uint32_t idle_timeout = 85;           ///< seconds of client silence before closing
  uint32_t close_timeout = 5;           ///< seconds to wait for the peer's close frame
  uint64_t max_backlog = 1u << 20;      ///< queued outgoing bytes per connection (over: 1008);
                                        ///< at most 1 GiB, so the 32-bit queue counter cannot wrap
  uint32_t drain_seconds = 25;          ///< on SIGTERM: window over which connections get 1001

  uint32_t buffer_size = 4096;   ///< bytes per provided receive buffer
  uint32_t buffer_count = 1024;  ///< buffers per reactor's ring (power of two)
  uint32_t max_connections = 0;   ///< WebSocket connections per process (over: 503); 0: no cap
  uint32_t max_per_address = 0;   ///< WebSocket connections per client address (over: 429); 0: no cap
  bool trust_proxy = false;       ///< take the client address from X-Forwarded-For's right-most entry
  std::string allowed_origins;    ///< comma-separated Origin values allowed to upgrade; empty: any
  bool log_connections = false;   ///< log every WebSocket open and close (debug volume)

  // Chat app limits.
  uint32_t max_rooms_per_connection = 16;
  uint32_t max_room_name = 64;
  uint32_t max_publish_bytes = 65536;

  // CloudWatch Embedded Metric Format on stdout.
  uint32_t emf_interval = 0;  ///< seconds between EMF lines; 0: off
  std::string emf_namespace = "ringws";
  std::string emf_dimensions = "Service=ringws";  ///< comma-separated Name=Value pairs

  /// A setting uses each direct client's TCP peer address: the per-address limit without a
  /// trusted proxy to name clients, or connection logs.
  bool needs_peer_address() const { return (max_per_address && !trust_proxy) || log_connections; }
};

/// Parses argv into `out`. Returns 0 to run, or an exit code (0 after --help, 2 after an
/// error, with the message already printed to stderr).
int parse_config(int argc, char** argv, Config& out, bool& exit_now);

}  // namespace ringws
