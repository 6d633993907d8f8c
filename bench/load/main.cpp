// ringws-load: a WebSocket load generator for density and latency experiments. main parses
// the settings, forks the workers (each its own epoll loop, connections and open-files
// budget), aggregates their pipe reports, prints progress, READY and the summaries, and for
// broadcast drives the steps (websocket-shootout's method) across the workers.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/load/client_engine.h"
#include "bench/load/options.h"
#include "bench/load/report.h"
#include "bench/load/worker.h"

using namespace ringws::load;

namespace {

void on_signal(int) { g_stop = 1; }

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

bool read_exact(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

bool read_histogram(int fd, Histogram& h) {
  std::vector<uint64_t> counts(Histogram::kBuckets);
  uint64_t tail[3];
  if (!read_exact(fd, counts.data(), counts.size() * sizeof(uint64_t)) || !read_exact(fd, tail, sizeof tail)) return false;
  return h.assign(counts.data(), tail[0], tail[1], tail[2]);
}

struct Child {
  pid_t pid = -1;
  int fd = -1;       // reports from the worker
  int control = -1;  // commands to the worker (broadcast)
  bool ready = false, final = false, eof = false;
  bool measured = false;  // echo with --phase-sync: its measured phase has ended
  Counters counters;
  Histogram rtt, handshake, closed_after;
  std::string error;
};

using EventFn = std::function<void(unsigned worker, EventKind, uint64_t id, uint64_t t)>;

// Waits up to `timeout_ms` for reports and reads them all; false when no worker is left.
bool pump(std::vector<Child>& kids, int timeout_ms, const EventFn& on_event) {
  std::vector<pollfd> fds;
  std::vector<unsigned> who;
  for (unsigned i = 0; i < kids.size(); ++i)
    if (kids[i].fd >= 0 && !kids[i].eof) {
      fds.push_back({kids[i].fd, POLLIN, 0});
      who.push_back(i);
    }
  if (fds.empty()) return false;
  int n = ::poll(fds.data(), nfds_t(fds.size()), timeout_ms);
  for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
    if (!fds[i].revents) continue;
    Child& k = kids[who[i]];
    ReportHeader h;
    if (!read_exact(k.fd, &h, sizeof h) || h.magic != ReportHeader{}.magic) {
      k.eof = true;
      continue;
    }
    std::string err(h.error_len, '\0');
    if (h.error_len && !read_exact(k.fd, err.data(), err.size())) {
      k.eof = true;
      continue;
    }
    if (!err.empty()) k.error = err;
    k.counters = h.counters;
    if (h.kind == ReportKind::kReady) k.ready = true;
    if (h.kind == ReportKind::kMeasured) k.measured = true;
    if (h.kind == ReportKind::kEvent && on_event) on_event(who[i], h.event, h.event_id, h.event_ns);
    if (h.kind == ReportKind::kFinal) {
      k.final = true;
      static_assert(kFinalHistograms == 3);
      if (!read_histogram(k.fd, k.rtt) || !read_histogram(k.fd, k.handshake) || !read_histogram(k.fd, k.closed_after))
        k.eof = true;
    }
  }
  return true;
}

Counters sum_of(const std::vector<Child>& kids) {
  Counters s;
  for (const Child& k : kids) s.add(k.counters);
  return s;
}

struct Progress {
  double t0 = 0, last = 0, last_t = 0;
  uint64_t last_msgs = 0;
  void maybe_print(const Options& o, const std::vector<Child>& kids, const char* extra = "") {
    double t = now_s();
    if (o.quiet || t - last < 1.0) return;
    last = t;
    Counters c = sum_of(kids);
    // Hostile modes: what they send per second instead of messages received.
    uint64_t msgs = o.mode == Mode::kPingFlood      ? c.pings_sent
                    : o.mode == Mode::kSlowloris    ? c.slow_bytes
                    : o.mode == Mode::kConnectReset ? c.resets
                                                    : c.msgs_received;
    const char* what = o.mode == Mode::kPingFlood      ? "pings/s"
                       : o.mode == Mode::kSlowloris    ? "bytes/s"
                       : o.mode == Mode::kConnectReset ? "resets/s"
                                                       : "msgs/s";
    double rate = t > last_t ? double(msgs - last_msgs) / (t - last_t) : 0;
    last_msgs = msgs;
    last_t = t;
    std::fprintf(stderr,
                 "[%6.1fs] %s open=%" PRIu64 " opened=%" PRIu64 " failed=%" PRIu64 " closed_by_server=%" PRIu64
                 " %s=%.0f%s\n",
                 t - t0, mode_name(o.mode), c.open_now, c.opened, c.failed, c.closed_by_server, what, rate, extra);
  }
};

void send_command(Child& k, CommandKind kind, uint64_t value) {
  Command c{kind, value};
  if (k.control >= 0 && !write_all(k.control, &c, sizeof c)) k.eof = true;
}

// --phase-sync: prints `line` on stdout, then waits for one line on stdin while reading the
// workers' reports. EOF on stdin ends all waiting (the run goes on); so does --sync-timeout,
// with a warning.
void sync_point(const Options& o, std::vector<Child>& kids, const EventFn& on_event, const std::string& line) {
  static std::string buf;
  static bool stdin_eof = false;
  std::printf("SYNC %s\n", line.c_str());
  std::fflush(stdout);
  const double until = now_s() + o.sync_timeout;
  while (!g_stop && !stdin_eof) {
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      buf.erase(0, nl + 1);
      return;
    }
    if (now_s() > until) {
      std::fprintf(stderr, "ringws-load: no line on stdin within --sync-timeout %g s; going on\n", o.sync_timeout);
      return;
    }
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      char b[256];
      ssize_t n = ::read(STDIN_FILENO, b, sizeof b);
      if (n > 0) buf.append(b, size_t(n));
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) stdin_eof = true;
    }
    pump(kids, 0, on_event);
  }
}

// Broadcast: asks every worker for its counters and waits (at most 10 s) for the answers, so
// that what follows reads counts as of now, not of the last periodic report.
void sync_counters(std::vector<Child>& kids, const EventFn& on_event) {
  for (Child& k : kids) {
    k.ready = false;
    send_command(k, CommandKind::kReport, 0);
  }
  const double until = now_s() + 10;
  while (!g_stop && now_s() < until &&
         !std::all_of(kids.begin(), kids.end(), [](const Child& k) { return k.ready || k.eof || k.final; }))
    if (!pump(kids, 20, on_event)) break;
}

std::string counts_text(const Counters& c) {
  char b[256];
  std::snprintf(b, sizeof b, "clients=%" PRIu64 " sent=%" PRIu64 " received=%" PRIu64, c.open_now, c.msgs_sent,
                c.msgs_received);
  return b;
}

// Idle, echo and storm: workers run on their own; the parent prints READY (idle), ends the
// hold, forwards signals.
// Idle, echo, storm and the hostile modes: workers run on their own; the parent prints
// READY (idle and the hostile modes that hold), ends idle's hold, forwards signals.
void run_plain(const Options& o, std::vector<Child>& kids, RunResult& r, Progress& prog) {
  bool ready_printed = false, timed_out = false, go_sent = false;
  double ready_at = 0;
  const bool sync = o.mode == Mode::kEcho && o.phase_sync;
  while (!std::all_of(kids.begin(), kids.end(), [](const Child& k) { return k.final || k.eof; })) {
    if (!pump(kids, 100, nullptr)) break;
    double t = now_s();
    Counters sum = sum_of(kids);
    bool all_ready = std::all_of(kids.begin(), kids.end(), [](const Child& k) { return k.ready || k.final; });
    if (prints_ready(o.mode) && !ready_printed && (all_ready || t - prog.t0 > o.connect_timeout)) {
      ready_printed = true;
      ready_at = t;
      timed_out = !all_ready;
      // On a timeout, connections still unresolved count as failed: they did not open in time.
      uint64_t unresolved = timed_out && o.connections > sum.opened + sum.failed ? o.connections - sum.opened - sum.failed : 0;
      std::printf("READY open=%" PRIu64 " failed=%" PRIu64 "\n", sum.open_now, sum.failed + unresolved);
      std::fflush(stdout);
    }
    if (sync && !go_sent && all_ready) {
      go_sent = true;
      sync_point(o, kids, nullptr, "connected " + counts_text(sum) + " failed=" + std::to_string(sum.failed));
      for (Child& k : kids) send_command(k, CommandKind::kGo, 0);
    }
    if (sync && go_sent &&
        std::all_of(kids.begin(), kids.end(), [](const Child& k) { return k.measured || k.final || k.eof; })) {
      char b[128];
      std::snprintf(b, sizeof b, " measured=%" PRIu64 " measure_s=%.6f", sum.measured, double(sum.measure_ns) / 1e9);
      sync_point(o, kids, nullptr, "done " + counts_text(sum) + b);
      break;  // the workers are told to stop and close
    }
    if (g_stop || (o.mode == Mode::kIdle && ready_printed && (sum.opened < o.connections || t - ready_at >= o.hold)))
      break;
    prog.maybe_print(o, kids);
  }
  r.target_reached = !timed_out && sum_of(kids).opened >= o.connections;
}

// Broadcast: step the clients, keep --concurrent broadcasts in flight from random workers'
// clients; a broadcast is done when every worker reported all its clients have it and the
// sender got its broadcastResult.
void run_broadcast(const Options& o, std::vector<Child>& kids, RunResult& r, Progress& prog, uint64_t fd_limit) {
  struct Pending {
    uint64_t sent = 0, last = 0;
    unsigned done_workers = 0;
    bool result = false;
  };
  std::unordered_map<uint64_t, Pending> pending;
  std::mt19937_64 rng(std::random_device{}());
  Histogram step_hist;
  uint64_t step_done = 0, next_id = 1;
  unsigned active_workers = 0;
  auto finish_if_done = [&](uint64_t id) {
    auto it = pending.find(id);
    if (it == pending.end() || !it->second.sent || !it->second.result || it->second.done_workers < active_workers) return;
    // Times come from several processes' CLOCK_MONOTONIC: never let an ordering slip wrap.
    uint64_t rtt = it->second.last > it->second.sent ? it->second.last - it->second.sent : 0;
    step_hist.record(rtt);
    r.rtt.record(rtt);
    r.total.measured++;
    step_done++;
    pending.erase(it);
  };
  EventFn on_event = [&](unsigned, EventKind kind, uint64_t id, uint64_t t) {
    auto it = pending.find(id);
    if (it == pending.end()) return;  // timed out already
    Pending& p = it->second;
    if (kind == EventKind::kSent) p.sent = t;
    else if (kind == EventKind::kLocalDone) p.done_workers++;
    else if (kind == EventKind::kResult) p.result = true;
    if (kind != EventKind::kSent) p.last = std::max(p.last, t);
    finish_if_done(id);
  };
  const uint64_t deadline_connect = now_ns() + uint64_t(o.connect_timeout * 1e9);
  const uint64_t bc_timeout = uint64_t(std::max(o.limit_ms * 10 / 1e3, 5.0) * 1e9);
  uint64_t target = 0;
  while (!g_stop && target < o.max_clients) {
    target = std::min(target + o.step, o.max_clients);
    if ((target + kids.size() - 1) / kids.size() + 64 > fd_limit) {
      r.last_error = "stopped before " + std::to_string(target) +
                     " clients: that needs more --workers (open-files limit " + std::to_string(fd_limit) + " each)";
      break;
    }
    for (unsigned i = 0; i < kids.size(); ++i) {
      kids[i].ready = false;
      send_command(kids[i], CommandKind::kConnect, target / kids.size() + (i < target % kids.size() ? 1 : 0));
    }
    bool connected = false;
    while (!g_stop && !connected) {
      if (!pump(kids, 50, on_event)) break;
      connected = std::all_of(kids.begin(), kids.end(), [](const Child& k) { return k.ready; });
      if (now_ns() > deadline_connect && !connected) {
        r.last_error = "could not open " + std::to_string(target) + " clients within --connect-timeout";
        break;
      }
      prog.maybe_print(o, kids);
    }
    if (!connected) break;
    active_workers = 0;
    std::vector<unsigned> senders;
    for (unsigned i = 0; i < kids.size(); ++i)
      if (kids[i].counters.open_now) {
        active_workers++;
        senders.push_back(i);
      }
    step_hist.reset();
    step_done = 0;
    pending.clear();
    sync_counters(kids, on_event);
    const Counters at_start = sum_of(kids);
    if (o.phase_sync)
      sync_point(o, kids, on_event, "connected " + counts_text(at_start) + " step=" + std::to_string(r.steps.size() + 1));
    uint64_t sent = 0, timeouts = 0;
    const uint64_t t_step = now_ns(), step_limit = uint64_t(o.step_timeout * 1e9);
    while (!g_stop && step_done + timeouts < o.samples && now_ns() - t_step < step_limit) {
      uint64_t now = now_ns();
      for (auto it = pending.begin(); it != pending.end();) {
        if (now - (it->second.sent ? it->second.sent : now) > bc_timeout) {
          step_hist.record(now - it->second.sent);  // counted as a (failing) sample
          timeouts++;
          it = pending.erase(it);
        } else {
          ++it;
        }
      }
      while (pending.size() < o.concurrent && sent < o.samples && !senders.empty()) {
        uint64_t id = next_id++;
        pending[id] = Pending{};
        send_command(kids[senders[rng() % senders.size()]], CommandKind::kSend, id);
        sent++;
      }
      if (!pump(kids, 5, on_event)) break;
      prog.maybe_print(o, kids);
    }
    const uint64_t step_ns = now_ns() - t_step;
    r.total.measure_ns += step_ns;
    if (g_stop) break;  // an interrupted step is not a result
    sync_counters(kids, on_event);
    const Counters at_end = sum_of(kids);
    BroadcastStep st;
    st.delivered = at_end.broadcasts_received - at_start.broadcasts_received;
    st.results = at_end.results_received - at_start.results_received;
    st.clients = at_end.open_now;
    st.samples = step_done;
    st.timeouts = timeouts + (o.samples - std::min<uint64_t>(o.samples, step_done + timeouts));
    st.p50_ns = step_hist.percentile(50);
    st.p95_ns = step_hist.percentile(95);
    st.percentile_ns = step_hist.percentile(o.percentile);
    st.max_ns = step_hist.max();
    st.passed = st.timeouts == 0 && double(st.percentile_ns) / 1e6 <= o.limit_ms;
    r.steps.push_back(st);
    if (o.phase_sync) {
      char b[192];
      std::snprintf(b, sizeof b, " step=%zu completed=%" PRIu64 " timeouts=%" PRIu64 " delivered=%" PRIu64
                    " results=%" PRIu64 " measure_s=%.6f", r.steps.size(), st.samples, st.timeouts, st.delivered,
                    st.results, double(step_ns) / 1e9);
      sync_point(o, kids, on_event, "done " + counts_text(at_end) + b);
    }
    if (!o.quiet)
      std::fprintf(stderr, "[%6.1fs] broadcast clients=%" PRIu64 " p%g=%.1fms max=%.1fms %s\n", now_s() - prog.t0,
                   st.clients, o.percentile, double(st.percentile_ns) / 1e6, double(st.max_ns) / 1e6,
                   st.passed ? "pass" : "FAIL");
    if (!st.passed) break;
    r.broadcast_capacity = st.clients;
  }
  r.target_reached = r.broadcast_capacity > 0;
}

int finish(RunResult& r) {
  std::fputs(to_text(r).c_str(), stdout);
  std::fflush(stdout);
  if (!r.options.json_path.empty()) {
    FILE* f = std::fopen(r.options.json_path.c_str(), "w");
    if (!f || std::fputs(to_json(r).c_str(), f) < 0 || std::fclose(f) != 0) {
      std::fprintf(stderr, "ringws-load: cannot write %s: %s\n", r.options.json_path.c_str(), strerror(errno));
      return 1;
    }
  }
  return r.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  bool help = false;
  auto parsed = parse_options(argc, argv, error, help);
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!parsed) {
    std::fprintf(stderr, "ringws-load: %s\n(ringws-load --help for the options)\n", error.c_str());
    return 2;
  }
  Options o = *parsed;
  if (!resolve_target(o, error)) {
    std::fprintf(stderr, "ringws-load: %s\n", error.c_str());
    return 2;
  }
  // Each process may use up to its hard limit of descriptors.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Broadcast checks each step instead: it stops, with the reason, before a step that needs
  // more descriptors than the workers have.
  uint64_t total = o.connections;
  uint64_t per_worker = (total + o.workers - 1) / o.workers;
  // Storm and connect-reset hold few connections at once, whatever their count.
  bool holds_all = o.mode != Mode::kStorm && o.mode != Mode::kBroadcast && o.mode != Mode::kConnectReset;
  if (holds_all && per_worker + 64 > rl.rlim_cur) {
    std::fprintf(stderr,
                 "ringws-load: %" PRIu64 " connections per worker exceed the open-files limit (%" PRIu64
                 "): use --workers %" PRIu64 " or more\n",
                 per_worker, uint64_t(rl.rlim_cur), (total + rl.rlim_cur - 65) / (rl.rlim_cur - 64));
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Progress prog;
  prog.t0 = prog.last = prog.last_t = now_s();
  std::vector<Child> kids(o.workers);
  for (unsigned i = 0; i < o.workers && !g_stop; ++i) {
    int p[2], c[2];
    if (pipe2(p, O_CLOEXEC) != 0 || pipe2(c, O_CLOEXEC) != 0) {
      std::fprintf(stderr, "ringws-load: pipe: %s\n", strerror(errno));
      g_stop = 1;
      break;
    }
    WorkerSpec spec;
    spec.index = i;
    spec.connections = o.connections / o.workers + (i < o.connections % o.workers ? 1 : 0);
    spec.rate = o.rate / o.workers;
    spec.messages = o.messages ? o.messages / o.workers + (i < o.messages % o.workers ? 1 : 0) : 0;
    spec.control_fd = c[0];
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "ringws-load: fork: %s\n", strerror(errno));
      g_stop = 1;
      break;
    }
    if (pid == 0) {
      // A worker must not outlive a parent killed without a chance to stop it.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() == 1) _exit(1);
      ::close(p[0]);
      ::close(c[1]);
      for (unsigned j = 0; j < i; ++j) {
        ::close(kids[j].fd);
        ::close(kids[j].control);
      }
      fcntl(c[0], F_SETFL, O_NONBLOCK);
      _exit(run_worker(o, spec, p[1]));
    }
    ::close(p[1]);
    ::close(c[0]);
    kids[i].pid = pid;
    kids[i].fd = p[0];
    kids[i].control = c[1];
  }

  RunResult r;
  r.options = o;
  if (!g_stop) {
    if (o.mode == Mode::kBroadcast) run_broadcast(o, kids, r, prog, uint64_t(rl.rlim_cur));
    else run_plain(o, kids, r, prog);
  }
  // Stop every worker that is still running and collect its final report (bounded wait).
  for (Child& k : kids) {
    if (k.pid <= 0 || k.final) continue;
    send_command(k, CommandKind::kStop, 0);
    kill(k.pid, SIGTERM);
  }
  const double stop_at = now_s();
  while (!std::all_of(kids.begin(), kids.end(), [](const Child& k) { return k.final || k.eof || k.pid <= 0; })) {
    if (!pump(kids, 100, nullptr)) break;
    if (now_s() - stop_at > 20) {  // a worker that does not finish: end it
      for (Child& k : kids)
        if (k.pid > 0 && !k.final) kill(k.pid, SIGKILL);
      break;
    }
  }
  int worst = 0;
  Histogram broadcast_rtt = r.rtt;
  uint64_t broadcast_measured = r.total.measured, broadcast_measure_ns = r.total.measure_ns;
  r.rtt.reset();
  r.total = Counters{};
  for (Child& k : kids) {
    if (k.pid > 0) {
      int status = 0;
      waitpid(k.pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) worst = 1;
    }
    if (k.fd >= 0) ::close(k.fd);
    if (k.control >= 0) ::close(k.control);
    r.total.add(k.counters);
    r.rtt.merge(k.rtt);
    r.handshake.merge(k.handshake);
    r.closed_after.merge(k.closed_after);
    if (k.final) r.workers_reported++;
    if (!k.error.empty() && r.last_error.empty()) r.last_error = k.error;
  }
  if (o.mode == Mode::kBroadcast) {  // the parent measured these, not the workers
    r.rtt = broadcast_rtt;
    r.total.measured = broadcast_measured;
    r.total.measure_ns = broadcast_measure_ns;
  }
  r.elapsed_s = now_s() - prog.t0;
  r.interrupted = g_stop;
  if (worst || r.workers_reported != o.workers) {
    r.exit_code = 1;
    if (r.last_error.empty()) r.last_error = "a worker ended without its final report";
  }
  switch (o.mode) {
    case Mode::kIdle:
    case Mode::kEcho:
      if (!r.target_reached) r.exit_code = 1;
      if (o.mode == Mode::kEcho && (r.total.measured == 0 || r.total.protocol_errors)) r.exit_code = 1;
      break;
    case Mode::kStorm:
      if (r.total.opened == 0) r.exit_code = 1;
      break;
    case Mode::kBroadcast:
      if (r.broadcast_capacity == 0) r.exit_code = 1;
      break;
    case Mode::kPingFlood:
    case Mode::kSlowloris:
    case Mode::kConnectReset:
    case Mode::kHalfHandshake:
    case Mode::kPartialMessage:
      // A hostile run succeeds when it attacked at all: whatever the server did to the
      // connections afterwards (closed, refused some) is what the run reports, not a failure.
      if (r.total.opened == 0) {
        r.exit_code = 1;
        if (r.last_error.empty()) r.last_error = "no connection reached the attack";
      }
      break;
  }
  return finish(r);
}
