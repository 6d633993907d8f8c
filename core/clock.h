// The two clocks the server reads: monotonic time for deadlines and latency, wall time for
// what clients and CloudWatch see. Loops read them once per iteration (STYLE.md habit 7).
#pragma once

#include <cstdint>
#include <ctime>

namespace ringws {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

/// Milliseconds since the Unix epoch.
inline uint64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

}  // namespace ringws
