// What a run measured: the counters each worker keeps, their sum, and the JSON and human
// summaries built from them. Plain data, so the summaries can be tested from a recorded run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/load/histogram.h"
#include "bench/load/options.h"

namespace ringws::load {

/// Trivially copyable: sent through the worker's pipe as bytes.
struct Counters {
  uint64_t attempted = 0;         ///< connections started
  uint64_t opened = 0;            ///< handshakes that completed (101 with the right accept)
  uint64_t open_now = 0;          ///< open at the time of the report
  uint64_t open_at_stop = 0;      ///< open when the run ended, before the client closed them
  uint64_t failed = 0;            ///< connect or handshake failures, timeouts included
  uint64_t failed_timeout = 0;    ///< of which: no 101 within --handshake-timeout
  uint64_t failed_refused = 0;    ///< of which: connect() errors (refused, no address, ...)
  uint64_t failed_handshake = 0;  ///< of which: a response that was not a valid 101
  uint64_t closed_by_server = 0;  ///< close frame or EOF from the server while open
  uint64_t closed_by_client = 0;  ///< closes we started (end of run, storm cycles)
  uint64_t protocol_errors = 0;   ///< bad frames from the server
  uint64_t msgs_sent = 0;
  uint64_t msgs_received = 0;     ///< data messages received
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t pings_received = 0;
  uint64_t bad_replies = 0;       ///< echo: a reply whose content or size was not what was sent
  uint64_t broadcasts_received = 0;  ///< broadcast: {"type":"broadcast"} messages received
  uint64_t results_received = 0;     ///< broadcast: {"type":"broadcastResult"} messages received
  uint64_t measured = 0;          ///< latency samples recorded (echo replies, broadcasts)
  uint64_t measure_ns = 0;        ///< length of the measurement phase
  uint64_t connect_phase_ns = 0;  ///< time from start until every connection was resolved
  // What the server answered (every mode) and what the hostile modes did.
  uint64_t http_503 = 0;          ///< HTTP 503 answers instead of a 101 (shed or refused)
  uint64_t http_other = 0;        ///< other HTTP answers instead of a 101 (408, 431, ...)
  uint64_t close_1008 = 0;        ///< server close frames by code: policy (slow consumer)
  uint64_t close_1009 = 0;        ///< message too big
  uint64_t close_1011 = 0;        ///< internal error
  uint64_t close_1013 = 0;        ///< try again later (memory pressure)
  uint64_t close_other = 0;       ///< any other code, or none
  uint64_t closed_no_frame = 0;   ///< the server ended TCP (EOF, RST) without a close frame
  uint64_t pings_sent = 0;        ///< ping-flood: complete ping frames written
  uint64_t slow_bytes = 0;        ///< slowloris: bytes dribbled
  uint64_t partial_sent = 0;      ///< half-handshake, partial-message: connections whose bytes all went out
  uint64_t resets = 0;            ///< connect-reset: connections ended with RST

  void add(const Counters& o);
  /// Counts a close frame from the server by its code (1005: it had none).
  void count_close(uint16_t code);
};

struct BroadcastStep {
  uint64_t clients = 0;
  uint64_t samples = 0;
  uint64_t timeouts = 0;  ///< broadcasts that did not reach every client in time
  uint64_t p50_ns = 0, p95_ns = 0, percentile_ns = 0, max_ns = 0;
  bool passed = false;
  uint64_t delivered = 0;  ///< broadcast messages the clients received during the step
  uint64_t results = 0;    ///< broadcastResult messages the senders received during the step
};

struct RunResult {
  Options options;
  unsigned workers_reported = 0;
  Counters total;
  Histogram rtt;        ///< echo: per message; broadcast: every sample of every step
  Histogram handshake;  ///< connect() to a checked 101
  Histogram closed_after;  ///< connect() to the server's close (slowloris: when it gave up on us)
  double elapsed_s = 0;
  bool interrupted = false;    ///< ended by SIGINT/SIGTERM
  bool target_reached = false; ///< idle/echo: all connections opened in time
  std::string last_error;      ///< one example failure, for the report
  std::vector<BroadcastStep> steps;
  uint64_t broadcast_capacity = 0;  ///< largest passing client count
  int exit_code = 0;
};

/// Messages per second of the measurement phase (received data messages / measure time).
double msgs_per_second(const RunResult& r);
/// Every figure and every setting, one JSON object.
std::string to_json(const RunResult& r);
/// The human summary printed at the end.
std::string to_text(const RunResult& r);

}  // namespace ringws::load
