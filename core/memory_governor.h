// Keeps the server under its memory limit by refusing new work above a high-water mark,
// rather than letting the kernel OOM-kill it (DESIGN.md, budget "memory under a cgroup
// limit").
//
// Usage is measured by the kernel (MemoryMeter) every ~100 ms on the main thread. Between
// two samples a burst (40k half-sent handshakes, 200 partial 1 MiB messages) can grow
// faster than that, so the server also charges what it lends and takes back (handshake
// buffers, message assembly) as it happens; the estimate only ever adds to the last
// measurement. Reactors check over_high_water() before taking on new work: one relaxed load
// of a flag that changes only when the mark is crossed, so the check does not bounce a
// cache line between cores.
//
// Hysteresis: once over the high-water mark, the server stays "over" until usage falls below
// the low-water mark (high water minus hysteresis_percent of the limit), so that it does not
// flap between refusing and accepting at every sample.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/memory_meter.h"

namespace ringws {

/// What the server refused for lack of memory.
enum class ShedWhat : uint8_t {
  kConnection,  ///< a TCP connection closed at accept
  kUpgrade,     ///< a WebSocket upgrade answered 503
  kMessage,     ///< a message (assembly) refused: the connection closed with 1013
  kCount
};

/// "connection", "upgrade", "message": the label value in metrics and logs.
const char* shed_name(ShedWhat what);

struct GovernorOptions {
  uint64_t limit_flag = 0;          ///< --memory-limit in bytes; 0: not given
  unsigned high_water_percent = 85;  ///< of the limit; 1..100
  unsigned hysteresis_percent = 5;   ///< of the limit, below high water; < high_water_percent
  MemoryPaths paths;                 ///< test hooks: fake /proc and /sys trees
};

class MemoryGovernor {
 public:
  /// Finds the limit and takes a first sample. Percentages out of range are clamped.
  explicit MemoryGovernor(GovernorOptions options = {});

  uint64_t limit() const { return meter_.limit(); }  ///< 0: unknown; then never over
  uint64_t high_water() const { return high_; }
  uint64_t low_water() const { return low_; }
  const std::string& limit_source() const { return meter_.limit_source(); }
  const std::string& usage_source() const { return meter_.usage_source(); }

  /// Reads usage from the kernel and recomputes the flag. One thread only (the main thread,
  /// every ~100 ms). Returns false if the reading failed; the last measurement then stands.
  bool sample();

  /// The hot-path check, from any thread: one relaxed load.
  bool over_high_water() const { return over_.load(std::memory_order_relaxed); }

  /// The last measurement plus what was charged since it (never less than the measurement).
  uint64_t used() const;
  uint64_t measured() const { return measured_.load(std::memory_order_relaxed); }

  /// From any thread: bytes the server has just taken (positive) or given back (negative),
  /// counted until the next sample measures them. Turns the flag on at once if the sum
  /// crosses the mark. Call it where memory is lent, not per byte: each call is an atomic
  /// add on a shared line.
  void charge(int64_t bytes);

  void count_shed(ShedWhat what) { shed_[static_cast<size_t>(what)].fetch_add(1, std::memory_order_relaxed); }
  uint64_t shed(ShedWhat what) const { return shed_[static_cast<size_t>(what)].load(std::memory_order_relaxed); }

 private:
  void update_flag();

  MemoryMeter meter_;
  uint64_t high_ = UINT64_MAX;
  uint64_t low_ = UINT64_MAX;
  // Written by every charge; apart from the flag, which the reactors read on every check.
  alignas(64) std::atomic<int64_t> charged_{0};  ///< bytes charged since the last sample
  std::atomic<uint64_t> measured_{0};
  alignas(64) std::atomic<bool> over_{false};
  alignas(64) std::atomic<uint64_t> shed_[static_cast<size_t>(ShedWhat::kCount)] = {};
};

}  // namespace ringws
