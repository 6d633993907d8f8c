// Counters one reactor keeps; other threads read them only roughly (relaxed), for /metrics.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/close_reason.h"
#include "core/latency_histogram.h"

namespace ringws {

struct EngineStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> upgraded{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> closed_by[static_cast<size_t>(CloseReason::kCount)]{};
  std::atomic<uint64_t> refused_by[static_cast<size_t>(RefuseReason::kCount)]{};
  std::atomic<uint64_t> buffer_starvations{0};  ///< io_uring: receives that found the buffer ring empty
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> messages_out{0};  ///< frames queued (data, control and HTTP)
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> sends{0};         ///< send operations (each carries one or more frames)
  std::atomic<uint64_t> fanout_deliveries{0};  ///< copies of a shared frame queued by fan-out
  std::atomic<uint64_t> slots_in_use{0};
  std::atomic<uint64_t> websocket_open{0};
  std::atomic<uint64_t> rate_refusals[4]{};     ///< requests refused, by RateLimiter class
  std::atomic<uint64_t> auth_failures[16]{};    ///< tokens refused, by JwtError
  std::atomic<uint64_t> token_refreshes{0};     ///< refresh_token calls that succeeded
  LatencyHistogram delivery_latency;  ///< a message's arrival to its last send completion
};

}  // namespace ringws
