// What the chat module shares across its reactors' apps: the room registry, and the figures
// it adds to /metrics.
#pragma once

#include <atomic>
#include <cstdint>

#include "chat/history.h"
#include "chat/room_registry.h"
#include "core/latency_histogram.h"

namespace ringws {

/// The Redis backplane's figures, summed over reactors (each has its own connections).
struct BackplaneCounters {
  std::atomic<int64_t> reactors_up{0};       ///< reactors whose Redis connections are up
  std::atomic<uint64_t> published{0};        ///< publishes Redis numbered (script replies)
  std::atomic<uint64_t> received{0};         ///< messages that arrived from Redis
  std::atomic<uint64_t> reconnects{0};       ///< connections re-established after a loss
  std::atomic<uint64_t> local_only{0};       ///< publishes delivered locally only (backplane down)
  std::atomic<uint64_t> gaps{0};             ///< offset jumps seen on a channel (messages missed)
  std::atomic<uint64_t> commands{0};         ///< commands sent to Redis
  LatencyHistogram latency;                  ///< publisher's instance -> this instance (wall clocks)
};

struct ChatShared {
  RoomRegistry registry;
  HistoryCounters history;
  BackplaneCounters backplane;
  unsigned reactors = 0;  ///< the app's reactor count (set as apps are made)
};

}  // namespace ringws
