// Server settings from the command line. Every limit the server enforces is here, with
// the default DESIGN.md gives for it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/options.h"

namespace ringws {

/// --backend: auto uses io_uring where it works and falls back to epoll where it is
/// refused (seccomp profiles in containers, kernel.io_uring_disabled, a missing feature).
enum class BackendChoice : uint8_t { kAuto, kIoUring, kEpoll };

/// --auth: who may open a WebSocket. none: anyone (the demo, benchmarks; a warning at start);
/// jwt: a signed token (RFC 7519) at the upgrade, else 401.
enum class AuthMode : uint8_t { kNone, kJwt };

struct Config {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;  ///< 0 picks a free port (shared by all reactors)
  unsigned threads = 0;  ///< 0: one reactor per online CPU
  std::string app = "chat";
  BackendChoice backend = BackendChoice::kAuto;
  bool epoll_edge_triggered = false;  ///< --epoll-mode edge
  // io_uring settings for tuning runs (DESIGN.md's choices are the defaults).
  enum class UringSetup : uint8_t { kBest, kDeferTaskrun, kCoopTaskrun, kPlain };
  enum class UringIdleWait : uint8_t { kPoll, kRecv, kRecvMultishot };
  UringSetup uring_setup = UringSetup::kBest;        ///< --uring-setup best|defer|coop|plain
  UringIdleWait uring_idle_wait = UringIdleWait::kPoll;  ///< --uring-idle-wait poll|recv|recv-multishot
  bool uring_register_ring_fd = true;  ///< --uring-ring-fd registered|plain
  bool uring_sqpoll = false;           ///< --uring-sqpoll

  uint64_t max_message = 1u << 20;      ///< bytes of one message (larger: close 1009)
  uint32_t max_header_bytes = 8192;     ///< HTTP request head (larger: 431)
  uint32_t handshake_timeout = 10;      ///< seconds from accept to a complete request
  uint32_t ping_interval = 25;          ///< seconds of client silence before a ping
  uint32_t idle_timeout = 85;           ///< seconds of client silence before closing
  uint32_t close_timeout = 5;           ///< seconds to wait for the peer's close frame
  uint64_t max_backlog = 1u << 20;      ///< queued outgoing bytes per connection, control frames
                                        ///< included (over: 1008); at most 1 GiB
  uint32_t drain_seconds = 25;          ///< on SIGTERM: window over which connections get 1001

  uint32_t buffer_size = 4096;   ///< bytes per provided receive buffer
  uint32_t buffer_count = 2048;  ///< receive buffers for the whole process, split across reactors
  uint32_t max_connections = 0;   ///< connections per process, every phase (over: 503); 0: derived
                                  ///< from the memory limit
  uint64_t memory_limit = 0;      ///< --memory-limit; 0: the cgroup's, else physical memory
  uint32_t memory_high_water = 85;  ///< percent of the limit above which new work is refused
  uint32_t max_per_address = 0;   ///< WebSocket connections per client address (over: 429); 0: no cap
  bool trust_proxy = false;       ///< take the client address from X-Forwarded-For's right-most entry
  std::string allowed_origins;    ///< comma-separated Origin values allowed to upgrade; empty: any
  bool log_connections = false;   ///< log every WebSocket open and close (debug volume)
  /// The admin listener (/metrics, /healthz, POST /admin/drain): host and port, or
  /// admin_enabled false for --admin-listen off. Port 0 picks a free one.
  std::string admin_host = "127.0.0.1";
  uint16_t admin_port = 9090;
  bool admin_enabled = true;
  bool demo = false;  ///< --demo: serve the demo chat page at / on the public port

  // Connection tokens (--auth jwt). Exactly one key: an HS256 secret, an RS256/ES256 public
  // key, or dev mode's secret (which also lets GET /dev/token mint tokens for any name).
  AuthMode auth = AuthMode::kNone;
  std::string jwt_secret_file;
  std::string jwt_public_key_file;
  std::string dev_token_secret_file;
  uint32_t jwt_leeway = 30;   ///< seconds of clock skew allowed on exp, nbf and iat
  uint32_t token_grace = 60;  ///< seconds before a token runs out that token_expiring is sent

  // The rate limit on every message a connection sends, pings and pongs included (the
  // engine's; apps add their own). 0: off. Defaults depend on the app (parse_config).
  static constexpr uint32_t kUnset = 0xffffffffu;
  uint32_t message_rate = kUnset;   ///< messages a second: chat 50, echo and shootout off
  uint32_t message_burst = kUnset;  ///< messages at once: chat 100, else twice the rate
  uint32_t rate_limit_refusals = 10;  ///< refusals not waited out before close 1008; 0: never

  // CloudWatch Embedded Metric Format on stdout.
  uint32_t emf_interval = 0;  ///< seconds between EMF lines; 0: off
  std::string emf_namespace = "ringws";
  std::string emf_dimensions = "Service=ringws";  ///< comma-separated Name=Value pairs

  /// A setting uses each direct client's TCP peer address: the per-address limit without a
  /// trusted proxy to name clients, or connection logs.
  bool needs_peer_address() const { return (max_per_address && !trust_proxy) || log_connections; }
};

/// Parses argv into `out`, offering flags the core does not know to `app_groups` (the
/// application's options). Returns 0 to run, or an exit code (0 after --help, 2 after an
/// error, with the message already printed to stderr).
int parse_config(int argc, char** argv, Config& out, bool& exit_now, std::span<OptionGroup* const> app_groups = {});

}  // namespace ringws
