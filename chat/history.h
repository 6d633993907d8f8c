// A room's history without --redis: its last --history-size messages, each at most
// --history-ttl seconds old, as references to the frames already sent (a replay copies
// nothing). Kept by the room's home reactor; every byte is counted in ChatCounters (for
// /metrics) and charged to the memory governor, so history is bounded by
// rooms x --history-size x frame size and shows in the process's memory pressure.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <vector>

#include "alloc/shared_frame.h"

namespace ringws {

class MemoryGovernor;

/// Process-wide history figures (all reactors), for /metrics.
struct HistoryCounters {
  std::atomic<int64_t> messages{0};
  std::atomic<int64_t> bytes{0};
};

class History {
 public:
  History(HistoryCounters& counters, MemoryGovernor& governor) : counters_(&counters), governor_(&governor) {}
  ~History() { clear(); }
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// Appends message `offset` (frame: one reference, taken over), keeping at most `limit`.
  void push(uint64_t offset, uint64_t wall_ms, SharedFrame* frame, uint32_t limit);
  /// Drops messages older than `ttl_ms` at `now_ms`.
  void expire(uint64_t now_ms, uint64_t ttl_ms);
  /// The frames of offsets after..last (one reference each, appended to `out`) when the
  /// history holds every one of them; false (and nothing appended) when it does not.
  bool range(uint64_t after, uint64_t last, std::vector<SharedFrame*>& out) const;
  void clear();
  bool empty() const { return entries_.empty(); }
  uint64_t newest_ms() const { return entries_.empty() ? 0 : entries_.back().wall_ms; }

 private:
  struct Entry {
    uint64_t offset;
    uint64_t wall_ms;
    SharedFrame* frame;
  };
  void pop_front();

  HistoryCounters* counters_;
  MemoryGovernor* governor_;
  std::deque<Entry> entries_;
};

}  // namespace ringws
