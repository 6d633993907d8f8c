// The server's figures for monitoring: Prometheus text for GET /metrics, and CloudWatch
// Embedded Metric Format lines for stdout (the awslogs driver turns them into metrics).
// Reads are relaxed: a scrape is a snapshot to within a few events.
#pragma once

#include <cstdint>
#include <string>

namespace ringws {

struct ServerState;

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
