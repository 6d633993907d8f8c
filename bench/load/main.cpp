// ringws-load: a WebSocket load generator for density and latency experiments. main parses
// the settings, forks the workers (each its own epoll loop, connections and open-files
// budget), aggregates their pipe reports, prints progress, READY, and the summaries.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

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
  int fd = -1;
  bool ready = false, final = false, eof = false;
  Counters counters;
  Histogram rtt, handshake;
  std::string error;
};

void progress(const Options& o, double t, const Counters& c, uint64_t& last_msgs, double& last_t) {
  double rate = t > last_t ? double(c.msgs_received - last_msgs) / (t - last_t) : 0;
  last_msgs = c.msgs_received;
  last_t = t;
  std::fprintf(stderr,
               "[%6.1fs] %s open=%" PRIu64 " opened=%" PRIu64 " failed=%" PRIu64 " closed_by_server=%" PRIu64
               " msgs/s=%.0f\n",
               t, mode_name(o.mode), c.open_now, c.opened, c.failed, c.closed_by_server, rate);
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
  uint64_t per_worker = (o.connections + o.workers - 1) / o.workers;
  if (o.mode != Mode::kStorm && o.mode != Mode::kBroadcast && per_worker + 64 > rl.rlim_cur) {
    std::fprintf(stderr,
                 "ringws-load: %" PRIu64 " connections per worker exceed the open-files limit (%" PRIu64
                 "): use --workers %" PRIu64 " or more\n",
                 per_worker, uint64_t(rl.rlim_cur), (o.connections + rl.rlim_cur - 65) / (rl.rlim_cur - 64));
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (o.mode == Mode::kBroadcast) {
    RunResult r = run_broadcast(o);
    if (r.exit_code == 0 && r.broadcast_capacity == 0) r.exit_code = 1;
    return finish(r);
  }

  const double t0 = now_s();
  std::vector<Child> kids(o.workers);
  for (unsigned i = 0; i < o.workers; ++i) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      std::fprintf(stderr, "ringws-load: pipe: %s\n", strerror(errno));
      return 1;
    }
    WorkerSpec spec;
    spec.index = i;
    spec.connections = o.connections / o.workers + (i < o.connections % o.workers ? 1 : 0);
    spec.rate = o.rate / o.workers;
    spec.messages = o.messages ? o.messages / o.workers + (i < o.messages % o.workers ? 1 : 0) : 0;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "ringws-load: fork: %s\n", strerror(errno));
      g_stop = 1;
      break;
    }
    if (pid == 0) {
      ::close(p[0]);
      for (unsigned j = 0; j < i; ++j) ::close(kids[j].fd);
      _exit(run_worker(o, spec, p[1]));
    }
    ::close(p[1]);
    kids[i].pid = pid;
    kids[i].fd = p[0];
  }

  bool ready_printed = false, stop_sent = false, timed_out = false;
  double ready_at = 0, stop_at = 0, last_progress = t0, last_t = 0;
  uint64_t last_msgs = 0;
  for (;;) {
    size_t live = 0;
    std::vector<pollfd> fds;
    for (Child& k : kids)
      if (k.fd >= 0 && !k.eof) {
        fds.push_back({k.fd, POLLIN, 0});
        ++live;
      }
    if (!live) break;
    int n = ::poll(fds.data(), nfds_t(fds.size()), 100);
    for (int i = 0; n > 0 && i < int(fds.size()); ++i) {
      if (!fds[i].revents) continue;
      Child* k = nullptr;
      for (Child& c : kids)
        if (c.fd == fds[i].fd) k = &c;
      ReportHeader h;
      if (!read_exact(k->fd, &h, sizeof h) || h.magic != ReportHeader{}.magic) {
        k->eof = true;
        continue;
      }
      std::string err(h.error_len, '\0');
      if (h.error_len && !read_exact(k->fd, err.data(), err.size())) {
        k->eof = true;
        continue;
      }
      if (!err.empty()) k->error = err;
      k->counters = h.counters;
      if (h.kind == ReportKind::kReady) k->ready = true;
      if (h.kind == ReportKind::kFinal) {
        k->ready = k->final = true;
        if (!read_histogram(k->fd, k->rtt) || !read_histogram(k->fd, k->handshake)) k->eof = true;
      }
    }
    double t = now_s();
    Counters sum;
    bool all_ready = true;
    for (const Child& k : kids) {
      sum.add(k.counters);
      all_ready &= k.ready;
    }
    if (o.mode == Mode::kIdle && !ready_printed && (all_ready || t - t0 > o.connect_timeout)) {
      ready_printed = true;
      ready_at = t;
      timed_out = !all_ready;
      // On a timeout, connections still unresolved count as failed: they did not open in time.
      uint64_t unresolved = timed_out && o.connections > sum.opened + sum.failed ? o.connections - sum.opened - sum.failed : 0;
      std::printf("READY open=%" PRIu64 " failed=%" PRIu64 "\n", sum.open_now, sum.failed + unresolved);
      std::fflush(stdout);
    }
    bool want_stop = g_stop;
    if (o.mode == Mode::kIdle && ready_printed && (sum.opened < o.connections || t - ready_at >= o.hold)) want_stop = true;
    if (want_stop && !stop_sent) {
      stop_sent = true;
      stop_at = t;
      for (Child& k : kids)
        if (k.pid > 0 && !k.final) kill(k.pid, SIGTERM);
    }
    if (stop_sent && t - stop_at > 20) {  // a worker that does not finish: end it
      for (Child& k : kids)
        if (k.pid > 0 && !k.final) kill(k.pid, SIGKILL);
      break;
    }
    if (!o.quiet && t - last_progress >= 1.0) {
      last_progress = t;
      progress(o, t - t0, sum, last_msgs, last_t);
    }
  }
  RunResult r;
  r.options = o;
  int worst = 0;
  for (Child& k : kids) {
    if (k.pid > 0) {
      int status = 0;
      waitpid(k.pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) worst = 1;
    }
    if (k.fd >= 0) ::close(k.fd);
    r.total.add(k.counters);
    r.rtt.merge(k.rtt);
    r.handshake.merge(k.handshake);
    if (k.final) r.workers_reported++;
    if (!k.error.empty()) r.last_error = k.error;
  }
  // open_now at the end is what was open when the workers last reported before closing.
  r.elapsed_s = now_s() - t0;
  r.interrupted = g_stop;
  r.target_reached = r.total.opened >= o.connections && !timed_out;
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
      break;
  }
  return finish(r);
}
