// What every reactor of one process shares: the settings, the drain flag, the process-wide
// connection counts behind --max-connections and --max-per-address, and gauges that
// applications keep for /metrics. Everything here is touched per connection or per
// request at most, never per message.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/address_limits.h"
#include "core/config.h"

namespace ringws {

class Reactor;

struct ServerState {
  explicit ServerState(const Config& c);

  const Config& config;
  std::atomic<bool> draining{false};
  std::atomic<bool> exit_now{false};  ///< the drain is over: reactors stop listening and return
  std::atomic<int64_t> websocket_open{0};  ///< upgraded connections in the process
  AddressLimits addresses;
  std::vector<std::string> allowed_origins;
  std::span<Reactor* const> reactors;
  uint64_t start_ms = 0;  ///< wall clock at start, for the EMF timestamp base

  // Kept by applications; read by /metrics.
  std::atomic<uint64_t> rooms{0};
  std::shared_ptr<void> app_shared;  ///< state an app shares across its per-reactor instances

  bool origin_allowed(std::string_view origin) const;
};

/// Prometheus text exposition of every figure (names prefixed ringws_).
std::string render_prometheus(const ServerState& state);
/// Counter values at the previous EMF line: EMF carries per-interval deltas, since CloudWatch
/// sums the values it receives within a period.
struct EmfCounters {
  uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0, slow_consumers = 0, refused = 0;
};
/// One CloudWatch Embedded Metric Format JSON line (no trailing newline); updates `previous`.
std::string render_emf(const ServerState& state, uint64_t now_ms, EmfCounters& previous);
/// Resident set size of this process, from /proc/self/statm.
uint64_t process_rss_bytes();

}  // namespace ringws
