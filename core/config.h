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
  std::string app = "echo";

  uint64_t max_message = 1u << 20;      ///< bytes of one message (larger: close 1009)
  uint32_t max_header_bytes = 8192;     ///< HTTP request head (larger: 431)
  uint32_t handshake_timeout = 10;      ///< seconds from accept to a complete request
  uint32_t ping_interval = 25;          ///< seconds of client silence before a ping
  uint32_t idle_timeout = 85;           ///< seconds of client silence before closing
  uint32_t close_timeout = 5;           ///< seconds to wait for the peer's close frame
  uint64_t max_backlog = 1u << 20;      ///< queued outgoing bytes per connection (over: 1008)
  uint32_t drain_seconds = 5;           ///< on SIGTERM: time given to connections to close

  uint32_t buffer_size = 4096;   ///< bytes per provided receive buffer
  uint32_t buffer_count = 1024;  ///< buffers per reactor's ring (power of two)
  uint32_t max_connections = 0;  ///< per reactor; 0: as many as RLIMIT_NOFILE allows
};

/// Parses argv into `out`. Returns 0 to run, or an exit code (0 after --help, 2 after an
/// error, with the message already printed to stderr).
int parse_config(int argc, char** argv, Config& out, bool& exit_now);

}  // namespace ringws
