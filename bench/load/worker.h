// One worker: one epoll loop over its own non-blocking client sockets. Forked N times by
// main for idle, echo and storm (each worker has its own open-files budget and reports to
// the parent through a pipe); run in-process for broadcast, whose round-trip time needs
// every client's receipt in one place.
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
};

/// Pipe records, worker to parent: a header, `error_len` bytes of text, and for kFinal the
/// two histograms (counts, then min, max, sum).
enum class ReportKind : uint32_t { kProgress = 1, kReady = 2, kFinal = 3 };
struct ReportHeader {
  uint32_t magic = 0x6c6f6164;  // "load"
  ReportKind kind = ReportKind::kProgress;
  uint32_t worker = 0;
  uint32_t error_len = 0;
  Counters counters;
};

/// Set by SIGINT/SIGTERM: the worker closes its connections, reports and returns.
extern volatile sig_atomic_t g_stop;

/// Runs one forked worker for idle, echo or storm until done or g_stop; writes reports to
/// `report_fd`. Returns the process exit code.
int run_worker(const Options& o, const WorkerSpec& spec, int report_fd);

/// Runs broadcast mode in this process, printing progress to stderr unless --quiet.
RunResult run_broadcast(const Options& o);

/// Resolves the URL's host; false with `error` set when it does not resolve.
bool resolve_target(const Options& o, std::string& error);

/// Writes all of `n` bytes, retrying on EINTR and partial writes.
bool write_all(int fd, const void* data, size_t n);

}  // namespace ringws::load
