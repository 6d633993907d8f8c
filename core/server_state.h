// What every reactor of one process shares: the settings, the stop flags, the process-wide
// connection counts behind --max-connections and --max-per-address, the memory governor,
// the backend in use, and the app module (for its /metrics figures). Everything here is
// touched per connection or per request at most, never per message.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/address_limits.h"
#include "core/auth/keys.h"
#include "core/backend.h"
#include "core/config.h"

namespace ringws {

class AppModule;
class Engine;
class MemoryGovernor;

struct ServerState {
  ServerState(const Config& c, MemoryGovernor& g);

  const Config& config;
  MemoryGovernor& governor;
  std::atomic<bool> draining{false};
  std::atomic<bool> exit_now{false};       ///< the drain is over: reactors stop listening and return
  std::atomic<bool> drain_requested{false};  ///< POST /admin/drain: the main thread starts a drain
  std::atomic<int64_t> websocket_open{0};  ///< upgraded connections in the process
  std::atomic<int64_t> connections{0};     ///< accepted connections not yet closed (all phases)
  uint32_t max_connections = 0;            ///< the cap on `connections`: --max-connections, or derived
  AddressLimits addresses;
  std::vector<std::string> allowed_origins;
  std::span<Engine* const> engines;
  AppModule* app = nullptr;
  BackendKind backend = BackendKind::kIoUring;
  std::string backend_reason;  ///< why this backend: "default", "configured", or the fallback's cause
  uint64_t start_ms = 0;       ///< wall clock at start, for the EMF timestamp base
  /// This process's name among instances: 12 hex digits (48 random bits) drawn at start, the
  /// first part of every connection id (format_conn_id), so ids differ across instances and
  /// restarts (two of 10,000 processes share a prefix with probability about 2e-7).
  std::string instance;
  AuthKeys auth;               ///< --auth jwt's key (each reactor verifies with a copy)

  bool origin_allowed(std::string_view origin) const;
};

}  // namespace ringws
