// One worker: one epoll loop over its own non-blocking client sockets. main forks N of them
// (each has its own open-files budget and reports to the parent through a pipe). For
// broadcast the parent drives the steps: it tells each worker how many clients to hold and
// which worker sends each broadcast; workers report when all their clients have it.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

#include "bench/load/histogram.h"
#include "bench/load/options.h"
#include "bench/load/report.h"

namespace ringws::load {

struct WorkerSpec {
  unsigned index = 0;         ///< 0..workers-1: picks the first source address
  uint64_t connections = 0;   ///< this worker's share
  double rate = 0;            ///< this worker's share of --rate
  uint64_t messages = 0;      ///< echo: this worker's share of --messages (0: duration)
  int control_fd = -1;        ///< broadcast: commands from the parent (non-blocking)
};

/// Commands, parent to worker, fixed size (atomic on a pipe). Broadcast: kConnect, kSend,
/// kReport (answer with a kReady report holding the current counters), kStop. Echo with
/// --phase-sync: kGo (start the measured phase), kStop.
enum class CommandKind : uint64_t { kConnect = 1, kSend = 2, kStop = 3, kReport = 4, kGo = 5 };
struct Command {
  CommandKind kind;
  uint64_t value;  ///< kConnect: clients this worker should hold; kSend: broadcast id
};

/// Pipe records, worker to parent: a header, `error_len` bytes of text, and for kFinal the
/// kFinalHistograms histograms (counts, then min, max, sum): rtt, handshake, closed_after.
/// kMeasured: echo with --phase-sync, the measured phase has ended (the connections stay open
/// until kStop).
enum class ReportKind : uint32_t { kProgress = 1, kReady = 2, kFinal = 3, kEvent = 4, kMeasured = 5 };
/// Broadcast events: a worker sent broadcast `id`, all its clients received it, or its
/// sender got the broadcastResult; with the CLOCK_MONOTONIC time (shared by all processes).
enum class EventKind : uint32_t { kNone = 0, kSent = 1, kLocalDone = 2, kResult = 3 };
struct ReportHeader {
  uint32_t magic = 0x6c6f6164;  // "load"
  ReportKind kind = ReportKind::kProgress;
  uint32_t worker = 0;
  uint32_t error_len = 0;
  EventKind event = EventKind::kNone;
  uint64_t event_id = 0;
  uint64_t event_ns = 0;
  Counters counters;
};

constexpr int kFinalHistograms = 3;

/// Writes one record to the parent. `finals` (kFinal only): rtt, handshake, closed_after.
void write_report(int fd, ReportKind kind, uint32_t worker, const Counters& counters, const std::string& last_error,
                  const Histogram* const* finals = nullptr, EventKind ev = EventKind::kNone, uint64_t id = 0,
                  uint64_t t = 0);

/// Set by SIGINT/SIGTERM: the worker closes its connections, reports and returns.
extern volatile sig_atomic_t g_stop;

/// Runs one forked worker until done or g_stop; writes reports to
/// `report_fd`. Returns the process exit code. The hostile modes run in attack.cpp.
int run_worker(const Options& o, const WorkerSpec& spec, int report_fd);

/// Writes all of `n` bytes, retrying on EINTR and partial writes.
bool write_all(int fd, const void* data, size_t n);

}  // namespace ringws::load
