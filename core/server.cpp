#include "core/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/json_text.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/reactor.h"
#include "proto/ws_accept.h"

namespace ringws {

namespace {

const char* io_uring_hint(int err) {
  switch (err) {
    case EPERM:
      return "io_uring is refused (a seccomp profile such as Docker's default, or kernel.io_uring_disabled)";
    case ENOSYS:
      return "this kernel has no io_uring";
    case ENOMEM:
      return "not enough locked memory for the rings (raise RLIMIT_MEMLOCK)";
    case EMFILE:
      return "the fixed-file table exceeds RLIMIT_NOFILE";
    default:
      return "io_uring set-up failed";
  }
}

}  // namespace

int run_server(const Config& config) {
  // Direct-descriptor tables are capped by RLIMIT_NOFILE: take all the hard limit allows.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  unsigned threads = config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  // Page in the handshake's code (OpenSSL's SHA-1 and base64, ~2 MB of libcrypto) now, so
  // it is a fixed cost visible at start rather than growth that looks per-connection.
  char warm[kWebSocketAcceptLength];
  websocket_accept("dGhlIHNhbXBsZSBub25jZQ==", warm);

  // Signals go to the main thread only: reactors block them, main waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // --host is any text until it fails to parse as an address: escaped wherever it is logged.
  JsonEscaped<128> host_json(config.host);
  if (int err = check_port_free(config.host, config.port); err < 0) {
    log_event(LogLevel::kError, "listen_failed", "\"host\":%s,\"port\":%u,\"error\":\"%s\"", host_json.c_str(),
              config.port, strerror(-err));
    std::fprintf(stderr, "ringws: cannot listen on %s:%u: %s\n", config.host.c_str(), config.port, strerror(-err));
    return kExitListen;
  }

  ServerState state(config);
  state.start_ms = wall_ms();
  std::vector<std::unique_ptr<Reactor>> reactors;
  std::vector<Reactor*> peers;
  uint16_t port = config.port;
  for (unsigned i = 0; i < threads; ++i) {
    reactors.push_back(std::make_unique<Reactor>(state, i, make_app(config.app, state)));
    // The first listener resolves port 0; the others join it with SO_REUSEPORT.
    if (int err = reactors.back()->open_listener(port); err < 0) {
      log_event(LogLevel::kError, "listen_failed", "\"host\":%s,\"port\":%u,\"error\":\"%s\"", host_json.c_str(),
                port, strerror(-err));
      std::fprintf(stderr, "ringws: cannot listen on %s:%u: %s\n", config.host.c_str(), port, strerror(-err));
      return kExitListen;
    }
    peers.push_back(reactors.back().get());
  }
  for (auto& r : reactors) r->set_peers(peers);
  state.reactors = peers;

  // Each ring is set up on its own thread (SINGLE_ISSUER); main waits for all of them
  // before it announces the port, and lets the threads run only if every one succeeded.
  struct SetupResult {
    int err = 0;
    const char* what = "";
  };
  std::vector<SetupResult> results(threads);
  std::latch set_up(threads), go(1);
  std::atomic<bool> proceed{false};
  std::atomic<unsigned> running{threads};
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads; ++i) {
    Reactor* reactor = reactors[i].get();
    workers.emplace_back([reactor, i, &results, &set_up, &go, &proceed, &running] {
      results[i].err = reactor->setup_ring(results[i].what);
      set_up.count_down();
      go.wait();
      if (proceed.load()) reactor->run();
      running.fetch_sub(1);
    });
  }
  set_up.wait();
  for (unsigned i = 0; i < threads; ++i) {
    if (results[i].err == 0) continue;
    int err = -results[i].err;
    log_event(LogLevel::kError, "setup_failed", "\"reactor\":%u,\"step\":\"%s\",\"error\":\"%s\"", i,
              results[i].what, strerror(err));
    std::fprintf(stderr, "ringws: %s: %s: %s\n", results[i].what, strerror(err), io_uring_hint(err));
    go.count_down();
    for (auto& w : workers) w.join();
    return kExitIoUring;
  }
  proceed.store(true);
  go.count_down();
  if (config.needs_peer_address() && !reactors[0]->features().fixed_fd_install)
    log_event(LogLevel::kWarn, "peer_address_unavailable",
              "\"detail\":\"this kernel lacks IORING_OP_FIXED_FD_INSTALL (6.8+): direct clients have no address, "
              "so --max-per-address applies only to X-Forwarded-For addresses (with --trust-proxy)\"");

  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  log_event(LogLevel::kInfo, "listening",
            "\"host\":%s,\"port\":%u,\"threads\":%u,\"app\":\"%s\",\"backend\":\"io_uring\",\"ring_flags\":\"%s\","
            "\"connections_per_reactor\":%llu",
            host_json.c_str(), port, threads, config.app.c_str(), reactors[0]->features().describe().c_str(),
            static_cast<unsigned long long>(nofile.rlim_cur));

  int exit_code = kExitOk;
  bool draining = false;
  bool exiting = false;
  uint64_t drain_started_ns = 0;
  EmfCounters emf_previous;
  uint64_t next_emf_ms = state.start_ms + uint64_t(config.emf_interval) * 1000;
  auto start_drain = [&] {
    draining = true;
    state.draining.store(true);
    drain_started_ns = monotonic_ns();
    for (auto& r : reactors) r->request_stop();
  };
  // The main thread waits for signals, prints EMF lines, and notices reactors that end.
  for (;;) {
    timespec wait{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&stop_signals, nullptr, &wait);
    if ((sig == SIGINT || sig == SIGTERM) && !draining) {
      log_event(LogLevel::kInfo, "draining", "\"signal\":\"%s\",\"drain_seconds\":%u",
                sig == SIGINT ? "SIGINT" : "SIGTERM", config.drain_seconds);
      start_drain();
    }
    if (draining && !exiting) {
      // Exit once no reactor holds a WebSocket connection, or when the window and the close
      // deadline have passed; until then every reactor answers HTTP (503 on /healthz).
      uint64_t open = 0;
      for (auto& r : reactors) open += r->websocket_open();
      bool overdue = monotonic_ns() - drain_started_ns >
                     (uint64_t(config.drain_seconds) + config.close_timeout + 1) * 1000000000ull;
      if (open == 0 || overdue) {
        exiting = true;
        state.exit_now.store(true, std::memory_order_release);
        for (auto& r : reactors) r->request_stop();
      }
    }
    if (uint64_t now = wall_ms(); config.emf_interval && now >= next_emf_ms) {
      log_line(render_emf(state, now, emf_previous).c_str());
      next_emf_ms = now + uint64_t(config.emf_interval) * 1000;
    }
    if (running.load() == 0) break;
    if (!draining && running.load() < threads) {
      // A reactor returned without being asked to: drain the rest and report it.
      exit_code = kExitRuntime;
      start_drain();
    }
  }
  for (auto& w : workers) w.join();
  uint64_t accepted = 0, closed = 0;
  for (auto& r : reactors) {
    accepted += r->stats().accepted.load();
    closed += r->stats().closed.load();
  }
  log_event(LogLevel::kInfo, "stopped", "\"accepted\":%llu,\"closed\":%llu,\"exit_code\":%d",
            static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(closed), exit_code);
  return exit_code;
}

}  // namespace ringws
